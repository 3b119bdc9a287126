"""Queries and changes for residents: find-and-lock, the engine's view, effects, erasure."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from bot.domain.messages.models import InboundMessage
from bot.domain.residents.models import Resident
from bot.domain.settlements import service as settlements
from bot.domain.settlements.models import Settlement, UnmatchedSettlementName
from bot.engine import effects as fx
from bot.engine.messages import Channel
from bot.engine.ports import DataSummary, ResidentView


def lock_or_create(*, session: Session, phone: str, now: dt.datetime) -> tuple[Resident, bool]:
    """Return the resident with `phone`, created if new, locked for this transaction.

    Two messages from one person at the same moment are handled one after the other:
    the second waits for the first's transaction (row lock on PostgreSQL, the write lock
    on SQLite) and then sees its state.
    """
    lookup = (
        select(Resident)
        .where(col(Resident.phone) == phone)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    resident = session.execute(lookup).scalar_one_or_none()
    if resident is not None:
        return resident, False
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"phone": phone, "conversation": {}, "created_at": now, "updated_at": now}
    result = session.execute(insert(Resident).values(**values).on_conflict_do_nothing())
    created = result.rowcount == 1  # type: ignore[attr-defined]
    return session.execute(lookup).scalar_one(), created


def view(resident: Resident, *, is_new: bool) -> ResidentView:
    """Return the resident as the conversation engine sees them."""
    return ResidentView(
        phone=resident.phone,
        language=resident.language,
        settlement_id=resident.settlement_id,
        consented=resident.consented_at is not None,
        opted_out=resident.opted_out_at is not None,
        is_new=is_new,
    )


def note_inbound(*, resident: Resident, channel: Channel, at: dt.datetime) -> None:
    """Remember when the resident last wrote on `channel` (the WhatsApp window opens then)."""
    if channel == "whatsapp":
        resident.last_inbound_whatsapp_at = at
    else:
        resident.last_inbound_sms_at = at


def apply_effects(
    *, session: Session, resident: Resident, effects: list[fx.Effect], now: dt.datetime
) -> bool:
    """Apply what the engine asked for; return False when the resident was erased."""
    for effect in effects:
        match effect:
            case fx.SetLanguage(language=language):
                resident.language = language
            case fx.SetSettlement(settlement_id=settlement_id):
                resident.settlement_id = settlement_id
            case fx.RecordUnknownSettlement(text=text):
                settlements.record_unmatched_name(
                    session=session, text=text, resident_id=resident.id
                )
            case fx.RecordConsent(channel=channel, notice_version=version):
                resident.consented_at = now
                resident.consent_channel = channel
                resident.consent_notice_version = version
            case fx.OptOut():
                resident.opted_out_at = resident.opted_out_at or now
            case fx.OptIn():
                resident.opted_out_at = None
            case fx.EraseResident():
                erase(session=session, resident=resident)
                return False
    resident.updated_at = now
    return True


def erase(*, session: Session, resident: Resident) -> None:
    """Delete the resident and every message body, media link and name kept about them."""
    session.execute(
        update(InboundMessage)
        .where(col(InboundMessage.resident_id) == resident.id)
        .values(resident_id=None, body="", media=[], latitude=None, longitude=None, address=None)
    )
    session.execute(
        update(UnmatchedSettlementName)
        .where(col(UnmatchedSettlementName.resident_id) == resident.id)
        .values(resident_id=None)
    )
    session.delete(resident)
    session.flush()


class SqlResidentData:
    """The engine's ResidentData port, read from the database."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def summary(self, phone: str) -> DataSummary | None:
        """Return what is kept about the resident with this phone."""
        resident = self.session.execute(
            select(Resident).where(col(Resident.phone) == phone)
        ).scalar_one_or_none()
        if resident is None:
            return None
        settlement = (
            self.session.get(Settlement, resident.settlement_id) if resident.settlement_id else None
        )
        messages = self.session.execute(
            select(func.count())
            .select_from(InboundMessage)
            .where(col(InboundMessage.resident_id) == resident.id)
        ).scalar_one()
        return DataSummary(
            phone=resident.phone,
            language=resident.language,
            settlement_name=settlement.name if settlement else None,
            consented_at=resident.consented_at,
            opted_out=resident.opted_out_at is not None,
            first_seen=resident.created_at,
            messages=messages,
            reports=0,
        )
