"""One resident's data, found by phone and exported whole (POPIA access requests)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session, col

from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import Broadcast, MeetingAttendance
from bot.domain.messages.models import InboundMessage
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.settlements.models import Meeting, Settlement, UnmatchedSettlementName
from bot.domain.staff import conversation as conversations
from bot.domain.staff import scope as scopes
from bot.domain.tickets.models import Ticket
from bot.engine.turn import MENU


def find_by_phone(
    *, session: Session, phone: str, condition: ColumnElement[bool]
) -> Resident | None:
    """Return the resident with this E.164 number if they meet `condition` (a scope)."""
    return session.execute(
        select(Resident).where(col(Resident.phone) == phone, condition)
    ).scalar_one_or_none()


def get(*, session: Session, resident_id: int, condition: ColumnElement[bool]) -> Resident | None:
    """Return one resident if they meet `condition`."""
    return session.execute(
        select(Resident).where(col(Resident.id) == resident_id, condition)
    ).scalar_one_or_none()


# How many of a resident's latest broadcasts and meetings their page lists.
LATEST = 10


def broadcasts_sent(
    *, session: Session, resident_id: int, scope: scopes.Scope, limit: int = LATEST
) -> tuple[list[tuple[Broadcast, Outbox]], int]:
    """Return the latest `limit` broadcasts sent (or being sent) to a resident that a user
    of `scope` may see, newest first, each with its message to them (channel, status), and
    how many broadcasts they were sent in all. A scoped user's list leaves out those whose
    audience is outside their scope (a city-wide one, one to where the resident lived
    before), as the broadcast pages answer 404 for them."""
    rows = list(
        session.execute(
            select(Outbox)
            .where(col(Outbox.resident_id) == resident_id, col(Outbox.purpose) == "broadcast")
            .order_by(col(Outbox.id).desc())
        ).scalars()
    )
    numbers = [(row.ref or "").removeprefix(broadcasts.REF_PREFIX) for row in rows]
    ids = {int(number) for number in numbers if number.isdecimal()}
    by_id = {
        found.id: found
        for found in session.execute(select(Broadcast).where(col(Broadcast.id).in_(ids))).scalars()
    }
    shown: list[tuple[Broadcast, Outbox]] = []
    for row, number in zip(rows, numbers, strict=True):
        found = by_id.get(int(number)) if number.isdecimal() else None
        if found is not None and broadcasts.within_scope(
            session=session, scope=scope, broadcast=found
        ):
            shown.append((found, row))
            if len(shown) == limit:
                break
    return shown, len(rows)


def meetings_attending(
    *, session: Session, resident_id: int, scope: scopes.Scope, limit: int = LATEST
) -> tuple[list[tuple[Meeting, MeetingAttendance]], int]:
    """Return the latest `limit` meetings (by start) a resident said they will attend that
    a user of `scope` may see, with when they said so, and how many they said in all."""
    attending = col(MeetingAttendance.resident_id) == resident_id
    shown = session.execute(
        select(Meeting, MeetingAttendance)
        .join(MeetingAttendance, col(MeetingAttendance.meeting_id) == col(Meeting.id))
        .where(attending, scopes.meeting_read_condition(scope))
        .order_by(col(Meeting.starts_at).desc(), col(Meeting.id).desc())
        .limit(limit)
    ).all()
    total = session.execute(select(func.count()).where(attending)).scalar_one()
    return [(meeting, said) for meeting, said in shown], total


@dataclass(frozen=True)
class Counted:
    """How many of a resident's reports, and of the messages they sent, a user sees, and
    how many their scope hides (`export` leaves out the same ones)."""

    reports: int
    reports_outside: int
    messages: int
    messages_outside: int


def counted(*, session: Session, resident_id: int, scope: scopes.Scope) -> Counted:
    """Return how many of a resident's reports and messages a user of `scope` sees and how
    many it hides: the reports outside it (another settlement's, or none) and the chat about
    them, as `export` cuts them."""
    away = conversations.outside(session=session, resident_id=resident_id, scope=scope)
    reports = session.execute(
        select(func.count()).where(col(Ticket.resident_id) == resident_id)
    ).scalar_one()
    received = session.execute(
        select(col(InboundMessage.received_at)).where(
            col(InboundMessage.resident_id) == resident_id
        )
    ).scalars()
    held = [away.holds(at) for at in received]
    return Counted(
        reports=reports - len(away.references),
        reports_outside=len(away.references),
        messages=held.count(False),
        messages_outside=held.count(True),
    )


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


# What a step keeps to read the next answer, not what the resident said: the settlement
# ids and report numbers last listed, whether the report shown was resolved.
_STATE_NOISE = frozenset({"choices", "refs", "resolved"})


def _pending(conversation: object, shown: set[str], *, whole: bool) -> dict[str, Any] | None:
    """Return the step a resident is at and what it keeps of theirs (a report's words,
    media links and pin, a settlement name typed, a report kept aside while STATUS or
    ATTEND answered, the reply's pages not yet sent), or None at the main menu with
    nothing kept. A report number is shown only if the report is (`shown`), and the unsent
    pages only if the export is `whole` (they may quote any report): see `export`."""
    if not isinstance(conversation, dict):
        return None
    step = conversation.get("step")
    data = _kept(conversation.get("data"), shown)
    draft = conversation.get("draft")
    more = conversation.get("more") if whole else None
    if not data and not more and not draft and step in (None, MENU):
        return None
    pending = {"step": step, "last_message_at": conversation.get("last_seen"), "data": data}
    if isinstance(draft, dict):
        pending["kept_draft"] = {
            "step": draft.get("step"),
            "kept_at": draft.get("kept_at"),
            "data": _kept(draft.get("data"), shown),
        }
    if more:
        pending["unsent_pages"] = more
    return pending


def _kept(data: object, shown: set[str]) -> dict[str, Any]:
    """Return what step data keeps of the resident's (`_pending`)."""
    return {
        key: value
        for key, value in (data.items() if isinstance(data, dict) else ())
        if key not in _STATE_NOISE and (key != "reference" or value in shown)
    }


def export(
    *, session: Session, resident: Resident, scope: scopes.Scope = scopes.EVERYTHING
) -> dict[str, Any]:
    """Return everything kept about a resident, as JSON-ready data, for a user of `scope`.

    A scoped user finds a resident through their current settlement, but the resident may
    have reported elsewhere (before moving, or for a relative): those reports are left
    out, as the ticket pages answer 404 for them, with the messages about them (the chat
    about each, as the ticket pages cut it, and the updates and replies sent for it), and
    `reports_outside_scope` and `messages_outside_scope` say how many, so the export is
    known to be partial."""
    settlement = session.get(Settlement, resident.settlement_id) if resident.settlement_id else None
    assert resident.id is not None
    away = conversations.outside(session=session, resident_id=resident.id, scope=scope)
    away_refs = {f"ticket:{reference}" for reference in away.references}
    received = session.execute(
        select(InboundMessage)
        .where(col(InboundMessage.resident_id) == resident.id)
        .order_by(col(InboundMessage.received_at))
    ).scalars()
    messages, hidden = [], 0
    for message in received:
        if away.holds(message.received_at):
            hidden += 1
        else:
            messages.append(message)
    reports = list(
        session.execute(
            select(Ticket)
            .where(col(Ticket.resident_id) == resident.id, scopes.ticket_condition(scope))
            .order_by(col(Ticket.id))
        ).scalars()
    )
    sent = []
    # A message sent as several SMS is listed once, in its words, with how each part fared.
    parts: dict[int, list[dict[str, Any]]] = {}
    for row in session.execute(
        select(Outbox).where(col(Outbox.resident_id) == resident.id).order_by(col(Outbox.id))
    ).scalars():
        if row.parent_id is not None:
            if row.ref not in away_refs:
                parts.setdefault(row.parent_id, []).append({"part": row.part, "status": row.status})
        elif row.ref in away_refs:
            hidden += 1
        else:
            sent.append(row)
    attending = session.execute(
        # The start they said yes to, which the meeting may have moved from since.
        select(
            col(Meeting.title), col(MeetingAttendance.starts_at), col(MeetingAttendance.created_at)
        )
        .join(Meeting, col(Meeting.id) == col(MeetingAttendance.meeting_id))
        .where(col(MeetingAttendance.resident_id) == resident.id)
        .order_by(col(MeetingAttendance.starts_at))
    ).all()
    typed = session.execute(
        select(UnmatchedSettlementName)
        .where(col(UnmatchedSettlementName.resident_id) == resident.id)
        .order_by(col(UnmatchedSettlementName.id))
    ).scalars()
    return {
        "phone": resident.phone,
        "name": resident.profile_name,
        "language": resident.language,
        "settlement": settlement.name if settlement else None,
        "consented_at": _when(resident.consented_at),
        "consent_channel": resident.consent_channel,
        "consent_notice_version": resident.consent_notice_version,
        "opted_out_at": _when(resident.opted_out_at),
        "opted_out_channel": resident.opted_out_channel,
        "sms_opted_out_at": _when(resident.sms_opted_out_at),
        "whatsapp_opted_out_at": _when(resident.whatsapp_opted_out_at),
        "number_flag_code": resident.number_flag_code,
        "number_flagged_at": _when(resident.number_flagged_at),
        "first_seen": _when(resident.created_at),
        "messages_received": [
            {
                "at": _when(m.received_at),
                "channel": m.channel,
                "body": m.body,
                "media": m.media,
                "latitude": m.latitude,
                "longitude": m.longitude,
                "address": m.address,
                "label": m.label,
                "replies": m.replies,
            }
            for m in messages
        ],
        "reports": [
            {
                "reference": t.reference,
                "category": t.category,
                "status": t.status,
                "description": t.description,
                "where": t.location_text,
                "latitude": t.latitude,
                "longitude": t.longitude,
                "opened_at": _when(t.created_at),
            }
            for t in reports
        ],
        "reports_outside_scope": len(away.references),
        "messages_outside_scope": hidden,
        "conversation": _pending(
            resident.conversation, {t.reference for t in reports}, whole=not away.references
        ),
        "messages_sent": [
            {
                "at": _when(o.created_at),
                "channel": o.sent_channel or o.channel,
                "purpose": o.purpose,
                "body": o.body,
                "sms_body": o.sms_body,
                "template_values": o.content_variables,
                "status": o.status,
                **({"sms_parts": parts[o.id]} if o.id in parts else {}),
            }
            for o in sent
        ],
        "meetings_attending": [
            {"meeting": title, "starts_at": _when(starts_at), "said_at": _when(said_at)}
            for title, starts_at, said_at in attending
        ],
        "settlement_names_typed": [{"text": u.text, "at": _when(u.created_at)} for u in typed],
    }
