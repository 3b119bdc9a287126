"""Receive an inbound message: once per provider id, one resident at a time."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, select

from bot.domain.messages.models import InboundMessage
from bot.domain.residents import service as residents
from bot.engine.engine import Outcome
from bot.engine.messages import Inbound
from bot.engine.ports import ResidentView

log = logging.getLogger(__name__)

Converse = Callable[[Inbound, ResidentView, dict[str, Any] | None, dt.datetime], Outcome]


def receive(
    *, session: Session, inbound: Inbound, converse: Converse, now: dt.datetime
) -> list[str]:
    """Store `inbound`, let the engine answer it, apply its effects; return the replies.

    A provider retry of a message already answered gets the stored replies and
    changes nothing. The resident's row is locked first, so two messages from one
    person are answered in turn and never interleave.
    """
    resident, created = residents.lock_or_create(session=session, phone=inbound.phone, now=now)
    seen = session.exec(
        select(InboundMessage).where(InboundMessage.message_sid == inbound.message_id)
    ).first()
    if seen is not None:
        log.info("replayed message %s answered from store", inbound.message_id)
        return list(seen.replies)
    message = InboundMessage(
        message_sid=inbound.message_id,
        resident_id=resident.id,
        channel=inbound.channel,
        body=inbound.text,
        media=[{"url": m.url, "content_type": m.content_type} for m in inbound.media],
        latitude=inbound.location.latitude if inbound.location else None,
        longitude=inbound.location.longitude if inbound.location else None,
        address=inbound.location.address if inbound.location else None,
        received_at=inbound.received_at,
    )
    session.add(message)
    residents.note_inbound(resident=resident, channel=inbound.channel, at=inbound.received_at)
    if inbound.profile_name:
        resident.profile_name = inbound.profile_name[:200]
    session.flush()
    outcome = converse(
        inbound, residents.view(resident, is_new=created), resident.conversation or None, now
    )
    message.replies = list(outcome.replies)
    if residents.apply_effects(
        session=session, resident=resident, effects=outcome.effects, now=now
    ):
        resident.conversation = outcome.state
    session.flush()
    log.info(
        "answered message %s on %s with %d repl%s",
        inbound.message_id,
        inbound.channel,
        len(outcome.replies),
        "y" if len(outcome.replies) == 1 else "ies",
    )
    return list(outcome.replies)
