"""Receive an inbound message: once per provider id, one resident at a time."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import String, Table, bindparam, cast, insert, or_, select, update
from sqlmodel import Session

from bot.domain.messages.models import DEIDENTIFIED, InboundMessage
from bot.domain.outbox import service as outbox
from bot.domain.residents import service as residents
from bot.engine.engine import Outcome
from bot.engine.messages import Inbound
from bot.engine.ports import ResidentView

log = logging.getLogger(__name__)

_MESSAGE: Table = InboundMessage.__table__  # type: ignore[attr-defined]
# The replies already given to a MessageSid (none if it is new: `replies` is never NULL).
_SEEN = select(_MESSAGE.c.replies).where(_MESSAGE.c.message_sid == bindparam("sid"))
# On SQLite, the resident and the replies in one statement: the transaction holds the write
# lock before it reads anything, so nothing can change between the two. Not on PostgreSQL,
# where a statement that waited for the resident's row lock still reads other tables as
# they were when it began: a parallel retry of the message would not see it stored.
_LOCK_AND_SEEN = residents.LOOKUP.add_columns(_SEEN.scalar_subquery().label("replayed"))
_STORE = insert(_MESSAGE)

Converse = Callable[[Inbound, ResidentView, dict[str, Any] | None, dt.datetime], Outcome]


def _personal_fields(inbound: Inbound, *, resident_id: int | None) -> dict[str, Any]:
    location = inbound.location
    return {
        "resident_id": resident_id,
        "body": inbound.text,
        "media": [{"url": m.url, "content_type": m.content_type} for m in inbound.media],
        "latitude": location.latitude if location else None,
        "longitude": location.longitude if location else None,
        "address": location.address if location else None,
        "label": location.label if location else None,
    }


def receive(
    *, session: Session, inbound: Inbound, converse: Converse, now: dt.datetime
) -> list[str]:
    """Store `inbound`, let the engine answer it, apply its effects; return the replies.

    A provider retry of a message already answered gets the stored replies and
    changes nothing. The resident's row is locked first, so two messages from one
    person are answered in turn and never interleave.
    """
    sid = {"sid": inbound.message_id}
    if session.connection().dialect.name == "sqlite":
        resident, created = residents.lock_or_create(
            session=session, phone=inbound.phone, now=now, lookup=_LOCK_AND_SEEN, **sid
        )
        replayed = resident["replayed"]
    else:
        resident, created = residents.lock_or_create(session=session, phone=inbound.phone, now=now)
        replayed = session.connection().execute(_SEEN, sid).scalar()
    if replayed is not None:
        log.info("replayed message %s answered from store", inbound.message_id)
        if created:  # a retry of the message that erased them: they stay erased
            residents.discard_new(session=session, resident_id=resident["id"])
        return list(replayed)
    if created:  # back after an erasure, perhaps: what they send now stays at Twilio
        outbox.spare_provider_messages(
            session=session,
            phone=inbound.phone,
            since=inbound.received_at,
            not_before=residents.PROVIDER_GRACE,
        )
    outcome = converse(
        inbound, residents.view(resident, is_new=created), resident["conversation"] or None, now
    )
    erased = not residents.record_turn(
        session=session,
        resident=resident,
        inbound=inbound,
        effects=outcome.effects,
        state=outcome.state,
        now=now,
    )
    # An erased resident's last message is kept only as a de-identified record.
    personal = DEIDENTIFIED if erased else _personal_fields(inbound, resident_id=resident["id"])
    session.connection().execute(
        _STORE,
        {
            "message_sid": inbound.message_id,
            "channel": inbound.channel,
            "received_at": inbound.received_at,
            **personal,
            # Kept even for an erased resident: a retry of their last message gets the
            # same goodbye, which quotes nothing of theirs.
            "replies": list(outcome.replies),
        },
    )
    log.info(
        "answered message %s on %s with %d repl%s",
        inbound.message_id,
        inbound.channel,
        len(outcome.replies),
        "y" if len(outcome.replies) == 1 else "ies",
    )
    return list(outcome.replies)


def forget_before(*, session: Session, before: dt.datetime, after_id: int, limit: int) -> list[int]:
    """De-identify up to `limit` of the messages received before `before` (POPIA s14
    retention), taking those with an id above `after_id` in id order: the body, media
    links, location, replies and the link to the resident go; the provider id, channel
    and time stay, so counts still add up. Return the ids changed, ascending; fewer than
    `limit` means none is left. The next batch starts after the last id, so it does not
    read again the rows this one forgot."""
    due = (
        select(_MESSAGE.c.id)
        .where(
            _MESSAGE.c.id > after_id,
            _MESSAGE.c.received_at < before,
            or_(
                _MESSAGE.c.resident_id.is_not(None),
                _MESSAGE.c.body != "",
                cast(_MESSAGE.c.media, String) != "[]",
                _MESSAGE.c.latitude.is_not(None),
                _MESSAGE.c.address.is_not(None),
                _MESSAGE.c.label.is_not(None),
                cast(_MESSAGE.c.replies, String) != "[]",
            ),
        )
        .order_by(_MESSAGE.c.id)
        .limit(limit)
    )
    forgotten = (
        update(_MESSAGE)
        .where(_MESSAGE.c.id.in_(due.scalar_subquery()))
        .values(**DEIDENTIFIED)
        .returning(_MESSAGE.c.id)
    )
    return sorted(session.execute(forgotten).scalars())
