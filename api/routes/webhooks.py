"""Twilio webhooks: inbound messages answered in TwiML."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from api.deps import ConverseDep, SessionDep, TwilioForm
from bot.channels.twilio import MalformedWebhook, parse_inbound, twiml
from bot.db import utcnow
from bot.domain.messages import service as messages

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])


@router.post("/messages", response_class=Response)
def inbound_message(form: TwilioForm, session: SessionDep, converse: ConverseDep) -> Response:
    """Answer an inbound SMS or WhatsApp message with TwiML (idempotent on MessageSid)."""
    now = utcnow()
    try:
        inbound = parse_inbound(form, received_at=now)
    except MalformedWebhook as exc:
        raise HTTPException(400, str(exc)) from None
    replies = messages.receive(session=session, inbound=inbound, converse=converse, now=now)
    return Response(twiml(replies), media_type="text/xml")
