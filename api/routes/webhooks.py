"""Twilio webhooks: inbound messages answered in TwiML."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlmodel import Session

from api.deps import TwilioForm, UnitOfWork, converse_for
from bot.channels.twilio import MalformedWebhook, parse_inbound, twiml
from bot.db import utcnow
from bot.domain.messages import service as messages

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])


@router.post("/messages", response_class=Response)
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
