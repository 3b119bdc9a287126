"""The development simulator: a phone-like page that talks to the same engine as the webhooks.

`create_app` mounts it only when SIYAKHA_ENV=dev.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from api.deps import ConverseDep, SessionDep
from bot import sms
from bot.db import CleanText, utcnow
from bot.domain.messages import service as messages
from bot.domain.outbox import service as outbox
from bot.engine.messages import Inbound
from bot.phones import InvalidPhone, normalise

templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")


router = APIRouter(prefix="/simulator", tags=["simulator"])


class SimulatedMessage(BaseModel):
    """A message typed into the simulator."""

    channel: Literal["sms", "whatsapp"]
    phone: str = Field(min_length=3, max_length=30)
    text: CleanText = Field(max_length=1600)


class SimulatedReply(BaseModel):
    """One reply as the phone would get it, with its SMS cost."""

    text: str
    encoding: str
    segments: int


class SimulatorAnswer(BaseModel):
    """The replies to a simulated message."""

    phone: str
    replies: list[SimulatedReply]


class ProactiveMessage(BaseModel):
    """A message Siyakha sent on its own initiative (through the outbox) to the phone."""

    id: int
    purpose: str
    channel: str
    status: str
    text: str


@router.get("/outbox", response_model=list[ProactiveMessage])
def proactive(
    phone: Annotated[str, Query(min_length=3, max_length=30)],
    session: SessionDep,
    after: Annotated[int, Query(ge=0)] = 0,
) -> list[ProactiveMessage]:
    """List the proactive messages to a simulated phone (updates, reminders), oldest first."""
    try:
        number = normalise(phone)
    except InvalidPhone as exc:
        raise HTTPException(422, f"phone: {exc}") from None
    rows = outbox.list_for_phone(session=session, phone=number)
    return [
        ProactiveMessage(
            id=row.id or 0,
            purpose=row.purpose,
            channel=row.sent_channel or row.channel,
            status=row.status,
            text=(row.sms_body if row.sent_channel == "sms" and row.sms_body else row.body)
            or f"[WhatsApp template {row.content_sid}]",
        )
        for row in reversed(rows)
        if (row.id or 0) > after
    ]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def page(request: Request) -> HTMLResponse:
    """Show the phone-like simulator page."""
    return templates.TemplateResponse(request, "simulator.html", {})


@router.post("/messages", response_model=SimulatorAnswer)
def send(message: SimulatedMessage, session: SessionDep, converse: ConverseDep) -> SimulatorAnswer:
    """Deliver a simulated message to the engine and return its replies."""
    try:
        phone = normalise(message.phone)
    except InvalidPhone as exc:
        raise HTTPException(422, f"phone: {exc}") from None
    now = utcnow()
    inbound = Inbound(
        message_id="SIM" + secrets.token_hex(16),
        phone=phone,
        channel=message.channel,
        text=message.text,
        received_at=now,
    )
    replies = messages.receive(session=session, inbound=inbound, converse=converse, now=now)
    return SimulatorAnswer(
        phone=phone,
        replies=[
            SimulatedReply(text=r, encoding=sms.encoding(r), segments=sms.segments(r))
            for r in replies
        ],
    )
