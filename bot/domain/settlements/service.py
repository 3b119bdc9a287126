"""Queries and changes for settlements, milestones and meetings (all SQL for this domain)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Table
from sqlalchemy import select as select_columns
from sqlmodel import Session, func, or_, select

from bot.domain.settlements.models import (
    Meeting,
    Milestone,
    Settlement,
    UnmatchedSettlementName,
    name_key,
)

SETTLEMENT: Table = Settlement.__table__  # type: ignore[attr-defined]
MILESTONE: Table = Milestone.__table__  # type: ignore[attr-defined]
MEETING: Table = Meeting.__table__  # type: ignore[attr-defined]


def count(*, session: Session) -> int:
    """Return how many settlements there are."""
    return session.exec(select(func.count()).select_from(Settlement)).one()


def get(*, session: Session, settlement_id: int) -> Settlement | None:
    """Return one settlement by id."""
    return session.get(Settlement, settlement_id)


def refs(*, session: Session) -> Sequence[Row[Any]]:
    """Return (id, name, aliases) of every settlement, by name."""
    c = SETTLEMENT.c
    return session.execute(select_columns(c.id, c.name, c.aliases).order_by(c.name_key)).all()


def summary(*, session: Session, settlement_id: int) -> Row[Any] | None:
    """Return what a resident may learn about one settlement, as a row."""
    c = SETTLEMENT.c
    query = select_columns(
        c.id, c.name, c.ward, c.municipality, c.category, c.category_note, c.current_phase
    ).where(c.id == settlement_id)
    return session.execute(query).first()


def by_name(
    *, session: Session, name: str, municipality: str | None = None
) -> Sequence[Settlement]:
    """Return the settlements whose name matches `name` (case- and space-insensitive)."""
    query = select(Settlement).where(Settlement.name_key == name_key(name))
    if municipality is not None:
        query = query.where(Settlement.municipality_key == name_key(municipality))
    return session.exec(query).all()


def milestones(*, session: Session, settlement_id: int) -> Sequence[Row[Any]]:
    """Return a settlement's milestones (strand, title, target_date, status, note) in order."""
    c = MILESTONE.c
    query = (
        select_columns(c.strand, c.title, c.target_date, c.status, c.note)
        .where(c.settlement_id == settlement_id)
        .order_by(c.strand, c.target_date, c.id)
    )
    return session.execute(query).all()


def upcoming_meetings(
    *,
    session: Session,
    settlement_id: int | None,
    ward: str | None,
    now: dt.datetime,
    limit: int = 5,
) -> Sequence[Row[Any]]:
    """Return the next meetings for a settlement, its ward forum and city forums, as rows."""
    c = MEETING.c
    reach = [c.level == "city"]
    if settlement_id is not None:
        reach.append(c.settlement_id == settlement_id)
    if ward:
        reach.append((c.level == "ward") & (c.ward == ward))
    query = (
        select_columns(c.title, c.level, c.starts_at, c.venue, c.cancelled, c.ward)
        .where(c.starts_at >= now, or_(*reach))
        .order_by(c.starts_at)
        .limit(limit)
    )
    return session.execute(query).all()


def record_unmatched_name(*, session: Session, text: str, resident_id: int | None) -> None:
    """Keep a settlement name that matched nothing, for officers to review."""
    session.add(UnmatchedSettlementName(text=text[:200], resident_id=resident_id))
