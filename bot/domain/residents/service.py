"""Queries and changes for residents: find-and-lock, the engine's view, effects, erasure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import fields
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Select,
    String,
    Table,
    Update,
    bindparam,
    cast,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlmodel import Session, col

from bot.db import utcnow
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import MeetingAttendance
from bot.domain.messages.models import DEIDENTIFIED, InboundMessage
from bot.domain.outbox import routing
from bot.domain.outbox import service as outbox
from bot.domain.outbox.models import SENT_STATUSES, Outbox
from bot.domain.residents.models import Resident
from bot.domain.settlements import service as settlements
from bot.domain.settlements.models import Settlement, UnmatchedSettlementName
from bot.domain.tickets import service as tickets
from bot.engine import effects as fx
from bot.engine.messages import Inbound
from bot.engine.ports import DataSummary, ResidentView
from bot.engine.turn import MENU

RESIDENT: Table = Resident.__table__  # type: ignore[attr-defined]
# After an erasure, messages exchanged with the number up to this much later are deleted at
# the provider too: the reply to DELETE, given in TwiML, reaches Twilio after the erasure.
PROVIDER_GRACE = dt.timedelta(minutes=2)
# The webhook's hot path runs these for every message; built once, they skip statement
# construction and cache-key generation on each call.
# The columns a turn reads (turning each stored time back into a datetime costs): the
# engine's view of the resident, their state, and what an effect keeps or carries over.
_TURN_READS = (
    "id",
    "phone",
    "language",
    "settlement_id",
    "consented_at",
    "opted_out_at",
    "opted_out_channel",
    "conversation",
    "number_flag_code",
)
LOOKUP = (
    select(*(RESIDENT.c[name] for name in _TURN_READS))
    .where(RESIDENT.c.phone == bindparam("phone"))
    # FOR NO KEY UPDATE (PostgreSQL): a second message from the resident waits, but a job
    # queuing messages for them (its foreign key takes FOR KEY SHARE) does not; a meeting's
    # reminder round holds the meeting while it queues, and a "yes" waits for it, so each
    # waiting for the other would deadlock (`broadcasts.service._remind`).
    .with_for_update(key_share=True)
)


@lru_cache(maxsize=64)
def _save_turn(columns: tuple[str, ...]) -> Update:
    """Return the update of these resident columns (few combinations: the state, the time
    and the channel's last message, and now and then what an effect changed)."""
    values: dict[str, Any] = {column: bindparam(f"new_{column}") for column in columns}
    return update(RESIDENT).where(RESIDENT.c.id == bindparam("resident_id")).values(values)


def lock_or_create(
    *,
    session: Session,
    phone: str,
    now: dt.datetime,
    lookup: Select[Any] = LOOKUP,
    **params: Any,
) -> tuple[RowMapping, bool]:
    """Return the resident with `phone` (the columns of `LOOKUP`), created if new, locked
    for this transaction.

    Two messages from one person at the same moment are handled one after the other:
    the second waits for the first's transaction (row lock on PostgreSQL, the write lock
    on SQLite) and then sees its state. The webhook's hot path reads and writes the row
    with Core statements on the session's connection: the ORM's execution path and
    bookkeeping cost more than the work here. `lookup` may be `LOOKUP` with more columns
    (bound by `params`), read in the same statement.
    """
    connection = session.connection()
    params["phone"] = phone
    row = connection.execute(lookup, params).mappings().first()
    if row is not None:
        return row, False
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    values = {"phone": phone, "conversation": {}, "created_at": now, "updated_at": now}
    # RETURNING, not the row count: psycopg reports -1 for INSERT ... ON CONFLICT.
    added = insert(RESIDENT).values(**values).on_conflict_do_nothing().returning(RESIDENT.c.id)
    created = connection.execute(added).first() is not None
    return connection.execute(lookup, params).mappings().one(), created


def view(resident: RowMapping, *, is_new: bool) -> ResidentView:
    """Return the resident as the conversation engine sees them."""
    return ResidentView(
        phone=resident["phone"],
        language=resident["language"],
        settlement_id=resident["settlement_id"],
        consented=resident["consented_at"] is not None,
        opted_out=resident["opted_out_at"] is not None,
        opted_out_channel=resident["opted_out_channel"],
        is_new=is_new,
    )


def record_turn(
    *,
    session: Session,
    resident: RowMapping,
    inbound: Inbound,
    effects: list[fx.Effect],
    state: dict[str, Any],
    now: dt.datetime,
) -> bool:
    """Save a turn's effects and state in one update; return False if the resident was erased."""
    changes: dict[str, Any] = {
        "conversation": state,
        "updated_at": now,
        **_reached(inbound, number_flag_code=resident["number_flag_code"]),
    }
    for effect in effects:
        match effect:
            case fx.SetLanguage(language=language):
                changes["language"] = language
            case fx.SetSettlement(settlement_id=settlement_id):
                changes["settlement_id"] = settlement_id
            case fx.RecordUnknownSettlement(text=text):
                settlements.record_unmatched_name(
                    session=session, text=text, resident_id=resident["id"]
                )
            case fx.RecordConsent(channel=channel, notice_version=version):
                changes.update(
                    consented_at=now, consent_channel=channel, consent_notice_version=version
                )
            case fx.OptOut(channel=channel):
                # A second STOP (by SMS, after one by WhatsApp) keeps the first one's time.
                changes["opted_out_at"] = resident["opted_out_at"] or now
                changes["opted_out_channel"] = channel
            case fx.OptIn():
                changes.update(opted_out_at=None, opted_out_channel=None)
            case fx.AttendMeeting(meeting_id=meeting_id, starts_at=starts_at):
                broadcasts.record_attendance(
                    session=session,
                    resident_id=resident["id"],
                    meeting_id=meeting_id,
                    starts_at=starts_at,
                    now=now,
                )
            case fx.EraseResident():
                erase(session=session, resident_id=resident["id"])
                return False
            case fx.OpenTicket() | fx.AddToTicket() | fx.AnswerResolution():
                tickets.apply_effect(session=session, resident=resident, effect=effect, now=now)
    # The WhatsApp profile name only once they have agreed to the notice, which promises
    # nothing kept but the number before that.
    if inbound.profile_name and changes.get("consented_at", resident["consented_at"]):
        changes["profile_name"] = inbound.profile_name[:200]
    # Only what changed: the row is locked, and binding the unchanged columns again cost
    # 4 % of a turn's instructions (bench/HISTORY.md).
    values = {f"new_{column}": value for column, value in changes.items()}
    statement = _save_turn(tuple(sorted(changes)))
    session.connection().execute(statement, {"resident_id": resident["id"], **values})
    return True


def _reached(inbound: Inbound, *, number_flag_code: int | None) -> dict[str, Any]:
    """Return the resident's columns a message from them changes about reaching them: the
    channel's last message time (it lifts a block on that channel: outbox.routing), and a
    flag that the number cannot take SMS (30005/30006, 21614) or is invalid (21211), which
    an SMS from it disproves (the flag is often a passing network fault). A WhatsApp
    message disproves only "invalid": a number on WhatsApp may still be a landline's."""
    changes: dict[str, Any] = {f"last_inbound_{inbound.channel}_at": inbound.received_at}
    if number_flag_code is not None and (
        inbound.channel == "sms" or number_flag_code == routing.INVALID_NUMBER_CODE
    ):
        changes.update(number_flag_code=None, number_flagged_at=None)
    return changes


# A conversation state with these keys holds a resident's words: a draft's text, media
# links and pin ("data", or a report kept aside while STATUS answered, "draft"), or the
# unsent pages of a reply ("more", older "pages").
_STATE_WITH_WORDS = ('"data"', '"draft"', '"more"', '"pages"')


def forget_conversations_before(
    *, session: Session, before: dt.datetime, after_id: int, limit: int
) -> list[int]:
    """Set back to the main menu, up to `limit` of them with an id above `after_id`, the
    conversations of residents who last wrote before `before` (POPIA s14 retention) and
    still hold a draft or unsent pages: their data and pages go, the step becomes the main
    menu, the time they last wrote stays (the engine reads the rest as a fresh conversation,
    bot/engine/engine.py). Return the ids changed, ascending; fewer than `limit` means none
    is left. A resident whose message is being answered is skipped."""
    state = cast(RESIDENT.c.conversation, String)
    quiet = [
        or_(RESIDENT.c[column].is_(None), RESIDENT.c[column] < before)
        for column in ("last_inbound_sms_at", "last_inbound_whatsapp_at")
    ]
    due = (
        select(RESIDENT.c.id, RESIDENT.c.conversation)
        .where(
            RESIDENT.c.id > after_id,
            *quiet,
            or_(*(state.contains(key) for key in _STATE_WITH_WORDS)),
        )
        .order_by(RESIDENT.c.id)
        .limit(limit)
        # Locked as chosen: one being answered right now has just written, and is skipped
        # rather than having its new state overwritten. SQLite's single writer needs neither.
        .with_for_update(skip_locked=True)
    )
    changed = []
    for resident_id, conversation in session.execute(due).all():
        last_seen = conversation.get("last_seen") if isinstance(conversation, dict) else None
        if _wrote_since(last_seen, before):
            continue  # the state's own clock says they wrote since
        fresh: dict[str, Any] = {"step": MENU}
        if isinstance(last_seen, str):
            fresh["last_seen"] = last_seen
        session.execute(
            update(RESIDENT).where(RESIDENT.c.id == resident_id).values(conversation=fresh)
        )
        changed.append(resident_id)
    return changed


def _wrote_since(last_seen: object, before: dt.datetime) -> bool:
    """Return whether a state's `last_seen` (ISO-8601, or junk) is at or after `before`."""
    try:
        seen = dt.datetime.fromisoformat(last_seen) if isinstance(last_seen, str) else None
    except ValueError:
        return False
    return seen is not None and seen.tzinfo is not None and seen >= before


def erase(*, session: Session, resident_id: int) -> None:
    """Delete the resident and every message body, media link, typed settlement name and
    name kept about them.

    Their tickets stay, de-identified, for statistics (tickets.deidentify_for_resident).
    The resident's row is locked first: a message of theirs being answered meanwhile (a
    staff erase) commits before anything is cleared, so its words are cleared too.
    """
    phone = session.execute(
        select(RESIDENT.c.phone).where(RESIDENT.c.id == resident_id).with_for_update()
    ).scalar_one_or_none()
    now = utcnow()
    if phone is not None:  # what Twilio keeps of their messages goes too (outbox.jobs)
        before = now + PROVIDER_GRACE  # the goodbye, a TwiML reply, is sent after this
        outbox.queue_provider_deletion(session=session, phone=phone, before=before)
    tickets.deidentify_for_resident(session=session, resident_id=resident_id, now=now)
    session.execute(
        update(InboundMessage)
        .where(col(InboundMessage.resident_id) == resident_id)
        .values(**DEIDENTIFIED)
    )
    # The settlement names they typed are their words too ("Thandi, 14 Nkosi Street").
    session.execute(
        delete(UnmatchedSettlementName).where(
            col(UnmatchedSettlementName.resident_id) == resident_id
        )
    )
    session.execute(delete(RESIDENT).where(RESIDENT.c.id == resident_id))


def link_unsettled(
    *, session: Session, settlement_of: Mapping[int, int], now: dt.datetime
) -> list[Resident]:
    """Give each resident (by id) the settlement mapped to them if they still have none
    (one who chose meanwhile is left alone); return those given one."""
    by_settlement: dict[int, list[int]] = {}
    for resident_id, settlement_id in settlement_of.items():
        by_settlement.setdefault(settlement_id, []).append(resident_id)
    linked: list[int] = []
    for settlement_id, resident_ids in by_settlement.items():
        statement = (
            update(RESIDENT)
            .where(RESIDENT.c.id.in_(resident_ids), RESIDENT.c.settlement_id.is_(None))
            .values(settlement_id=settlement_id, updated_at=now)
            .returning(RESIDENT.c.id)
        )
        linked += session.execute(statement).scalars().all()
    if not linked:
        return []
    query = (
        select(Resident)
        .where(col(Resident.id).in_(linked))
        .order_by(col(Resident.id))
        .execution_options(populate_existing=True)
    )
    return list(session.execute(query).scalars().all())


def discard_new(*, session: Session, resident_id: int) -> None:
    """Remove a resident row this transaction has just created and nothing refers to yet
    (a provider's retry of the message that erased them must not bring them back)."""
    session.connection().execute(delete(RESIDENT).where(RESIDENT.c.id == resident_id))


def summarise(
    *, session: Session, resident: Resident, inbound: Inbound | None = None
) -> DataSummary:
    """Return what is kept about a resident, as it stands once `inbound`, their message
    being answered (MY DATA), is recorded: a message on a channel lifts a block on it."""
    settlement = session.get(Settlement, resident.settlement_id) if resident.settlement_id else None
    with_media = or_(
        cast(col(InboundMessage.media), String) != "[]", col(InboundMessage.latitude).is_not(None)
    )
    messages, media = session.execute(
        select(func.count(), func.count().filter(with_media)).where(
            col(InboundMessage.resident_id) == resident.id
        )
    ).one()
    sent = session.execute(
        select(func.count()).where(
            col(Outbox.resident_id) == resident.id,
            col(Outbox.status).in_(SENT_STATUSES),
            col(Outbox.parent_id).is_(None),  # a message sent as parts counts once
        )
    ).scalar_one()
    meetings = session.execute(
        select(func.count()).where(col(MeetingAttendance.resident_id) == resident.id)
    ).scalar_one()
    typed = session.execute(
        select(col(UnmatchedSettlementName.text))
        .where(col(UnmatchedSettlementName.resident_id) == resident.id)
        .group_by(col(UnmatchedSettlementName.text))
        .order_by(func.min(UnmatchedSettlementName.id))
    ).scalars()
    reached = _reached(inbound, number_flag_code=resident.number_flag_code) if inbound else {}
    recipient = routing.Recipient(
        **{
            name: reached.get(name, getattr(resident, name))
            for name in (f.name for f in fields(routing.Recipient))
        }
    )
    return DataSummary(
        phone=resident.phone,
        language=resident.language,
        settlement_name=settlement.name if settlement else None,
        consented_at=resident.consented_at,
        opted_out=resident.opted_out_at is not None,
        first_seen=resident.created_at,
        messages=messages,
        reports=tickets.count_for_resident(session=session, resident_id=resident.id)
        if resident.id is not None
        else 0,
        profile_name=resident.profile_name,
        media=media,
        sent=sent,
        meetings=meetings,
        names_typed=tuple(typed),
        sms_blocked=routing.sms_block_reason(recipient) is not None,
        whatsapp_blocked=routing.whatsapp_block(recipient) is not None,
    )


class SqlResidentData:
    """The engine's ResidentData port, read from the database."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def summary(self, inbound: Inbound) -> DataSummary | None:
        """Return what is kept about the sender of `inbound`."""
        resident = self.session.execute(
            select(Resident).where(col(Resident.phone) == inbound.phone)
        ).scalar_one_or_none()
        if resident is None:
            return None
        return summarise(session=self.session, resident=resident, inbound=inbound)
