"""A ticket's conversation for staff: what the resident sent, what the bot answered in the
chat, and what was sent proactively (with its delivery status), oldest first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, or_, select
from sqlmodel import Session, col

from bot.domain.messages.models import InboundMessage
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.staff import scope as scopes
from bot.domain.tickets.models import Ticket
from bot.flows import report
from bot.logs import mask_phone

# The chat that led to a report starts a little before the ticket is opened.
LEAD_IN = dt.timedelta(hours=2)


@dataclass(frozen=True)
class Part:
    """One of the numbered SMS a proactive message went as, and how it fared."""

    number: int
    status: str
    error: str | None = None


@dataclass
class Entry:
    """One message in the conversation."""

    at: dt.datetime
    direction: str  # in | out
    channel: str
    body: str
    kind: str = "message"  # message | chat_reply | proactive
    status: str | None = None
    error: str | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    latitude: float | None = None
    longitude: float | None = None
    place: str = ""  # a pin's names: its Label, then its Address ("Standpipe 4, Ubuhle Gardens")
    # The numbered SMS a proactive message too long for one went as, in order.
    parts: list[Part] = field(default_factory=list)


def for_ticket(
    *, session: Session, ticket: Ticket, limit: int = 300, scope: scopes.Scope | None = None
) -> list[Entry]:
    """Return the resident's side of the conversation about a ticket, oldest first: the
    newest `limit` messages they sent and the newest `limit` sent to them.

    Never their number or WhatsApp name (a MY DATA answer quotes both): numbers are masked
    and the name replaced. With a `scope`, the chat stops where the resident's next report
    outside it begins (its LEAD_IN), and starts after one outside it opened before."""
    if ticket.resident_id is None:
        return []
    since = ticket.created_at - LEAD_IN
    until = None
    if scope is not None and not scope.unrestricted:
        for other in session.execute(
            select(Ticket).where(
                col(Ticket.resident_id) == ticket.resident_id,
                col(Ticket.id) != ticket.id,
                scopes.ticket_outside_condition(scope),
            )
        ).scalars():
            if other.created_at <= ticket.created_at:
                since = max(since, other.created_at)
            else:
                start = max(other.created_at - LEAD_IN, ticket.created_at)
                until = min(until or start, start)

    def window(column: object) -> ColumnElement[bool]:
        at = col(column)
        return and_(at >= since, at < until) if until is not None else at >= since

    entries: list[Entry] = []
    inbound = session.execute(
        select(InboundMessage)
        .where(
            col(InboundMessage.resident_id) == ticket.resident_id,
            window(InboundMessage.received_at),
        )
        .order_by(col(InboundMessage.received_at).desc(), col(InboundMessage.id).desc())
        .limit(limit)
    ).scalars()
    for message in reversed(inbound.all()):
        entries.append(
            Entry(
                at=message.received_at,
                direction="in",
                channel=message.channel,
                body=message.body,
                media=list(message.media),
                latitude=message.latitude,
                longitude=message.longitude,
                place=report.place_of("", label=message.label, address=message.address),
            )
        )
        for reply in message.replies:
            entries.append(
                Entry(
                    at=message.received_at,
                    direction="out",
                    channel=message.channel,
                    body=reply,
                    kind="chat_reply",
                    status="replied in chat",
                )
            )
    outbound = session.execute(
        select(Outbox)
        .where(
            col(Outbox.resident_id) == ticket.resident_id,
            or_(col(Outbox.ref) == f"ticket:{ticket.reference}", window(Outbox.created_at)),
        )
        .order_by(col(Outbox.created_at).desc(), col(Outbox.id).desc())
        .limit(limit)
    ).scalars()
    parts: dict[int, list[Part]] = {}
    sent = []
    for row in reversed(outbound.all()):
        if row.parent_id is None:
            sent.append(row)
            continue
        assert row.part is not None
        parts.setdefault(row.parent_id, []).append(Part(row.part, row.status, _error(row)))
    for row in sent:
        assert row.id is not None
        entries.append(
            Entry(
                at=row.created_at,
                direction="out",
                channel=row.sent_channel or row.channel,
                body=row.body or _without_words(row),
                kind="proactive",
                status=row.status,
                error=_error(row),
                parts=sorted(parts.get(row.id, []), key=lambda p: p.number),
            )
        )
    entries.sort(key=lambda e: (e.at, e.direction == "out"))
    resident = session.get(Resident, ticket.resident_id)
    name = resident.profile_name.strip() if resident and resident.profile_name else ""
    for entry in entries:
        entry.body = mask_phone(entry.body)
        if name and entry.direction == "out":
            entry.body = entry.body.replace(name, "(name)")
    return entries


@dataclass(frozen=True)
class Outside:
    """A resident's reports outside a scope and the stretches of their chat about them."""

    references: frozenset[str]
    spans: tuple[tuple[dt.datetime, dt.datetime | None], ...]

    def holds(self, at: dt.datetime) -> bool:
        """Return whether a message at `at` falls in the chat about one of those reports."""
        return any(at >= start and (end is None or at < end) for start, end in self.spans)


def outside(*, session: Session, resident_id: int, scope: scopes.Scope) -> Outside:
    """Return the resident's reports outside `scope` and their chat's stretches: each from
    the report's LEAD_IN to where the resident's next report inside the scope begins (its
    LEAD_IN, never before the report itself: as `for_ticket` starts that report's chat),
    or on to now."""
    theirs = col(Ticket.resident_id) == resident_id
    away = session.execute(
        select(col(Ticket.reference), col(Ticket.created_at))
        .where(theirs, scopes.ticket_outside_condition(scope))
        .order_by(col(Ticket.created_at))
    ).all()
    if not away:
        return Outside(references=frozenset(), spans=())
    inside = session.execute(
        select(col(Ticket.created_at)).where(theirs, scopes.ticket_condition(scope))
    ).scalars()
    starts = sorted(inside)
    spans = []
    for _, opened in away:
        later = [max(start - LEAD_IN, opened) for start in starts if start > opened]
        spans.append((opened - LEAD_IN, min(later) if later else None))
    return Outside(references=frozenset(ref for ref, _ in away), spans=tuple(spans))


def _error(row: Outbox) -> str | None:
    return f"{row.error_code or ''} {row.error_message or ''}".strip() or None


def _without_words(row: Outbox) -> str:
    if row.content_sid:
        return f"(template {row.content_sid})"
    return "(words removed after the retention period)"  # messages.forget blanked them


class WithMedia(Protocol):
    """Anything that carries media: a ticket event, stored or as the API shows it."""

    @property
    def media(self) -> Sequence[Mapping[str, Any]]:
        """The photos, voice notes and files (each with `url` and `content_type`)."""
        ...


def media_of(ticket: Ticket, events: Sequence[WithMedia]) -> list[dict[str, Any]]:
    """Return every photo, voice note or file on a ticket, once each, in order."""
    seen: set[str] = set()
    items: list[dict[str, Any]] = []
    for item in [*ticket.media, *(m for e in events for m in e.media)]:
        url = str(item.get("url", ""))
        if url and url not in seen:
            seen.add(url)
            items.append({"url": url, "content_type": str(item.get("content_type", ""))})
    return items
