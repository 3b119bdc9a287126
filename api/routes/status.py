"""Twilio status callbacks: the delivery state of proactive (outbox) messages."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import TWILIO_FORM_ERRORS, SessionDep, TwilioForm
from bot.db import MAX_ID
from bot.domain.outbox import service as outbox

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])


@router.post(
    "/status",
    response_class=Response,
    responses={
        200: {"description": "recorded, or ignored (an unknown or malformed MessageSid)"},
        **TWILIO_FORM_ERRORS,
    },
)
def status_callback(
    form: TwilioForm,
    session: SessionDep,
    outbox_id: int | None = Query(
        None, alias="outbox", ge=1, le=MAX_ID, description="the outbox row sent"
    ),
) -> Response:
    """Record a message status callback; out-of-order ones never move a message backwards."""
    outbox.record_status(session=session, form=form, outbox_id=outbox_id)
    return Response(status_code=200)
