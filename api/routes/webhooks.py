"""Twilio webhooks: inbound messages answered in TwiML."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlmodel import Session

from api.deps import TWILIO_FORM_ERRORS, TwilioForm, UnitOfWork, converse_for
from bot.channels.twilio import MalformedWebhook, parse_inbound, twiml
from bot.db import utcnow
from bot.domain.messages import service as messages

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])


@router.post(
    "/messages",
    response_class=Response,
    responses={
        200: {"content": {"text/xml": {"schema": {"type": "string"}}}, "description": "TwiML"},
        **TWILIO_FORM_ERRORS,
        400: {
            **TWILIO_FORM_ERRORS[400],
            "description": "the body is not UTF-8 form encoding, or a Twilio field is "
            "malformed (no From, no MessageSid, a bad NumMedia or pin), or the message is on "
            "a channel other than SMS and WhatsApp (RCS)",
        },
    },
)
async def inbound_message(request: Request, form: TwilioForm) -> Response:
    """Answer an inbound SMS or WhatsApp message with TwiML (idempotent on MessageSid);
    refuse (400) one on another channel, such as RCS."""
    uow: UnitOfWork = request.app.state.unit_of_work  # what UnitOfWorkDep gives, unresolved
    now = utcnow()
    try:
        inbound = parse_inbound(form, received_at=now)
    except MalformedWebhook as exc:
        raise HTTPException(400, str(exc)) from None

    def answer(session: Session) -> list[str]:
        converse = converse_for(session)
        return messages.receive(session=session, inbound=inbound, converse=converse, now=now)

    replies = await uow.run(answer)
    return Response(twiml(replies), media_type="text/xml")
