"""Queries and changes for settlements, milestones and meetings (all SQL for this domain)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlmodel import Session, col, func, or_, select

from bot.domain.settlements.models import (
    Meeting,
    Milestone,
    Settlement,
    UnmatchedSettlementName,
    name_key,
)


def count(*, session: Session) -> int:
    """Return how many settlements there are."""
    return session.exec(select(func.count()).select_from(Settlement)).one()


def get(*, session: Session, settlement_id: int) -> Settlement | None:
    """Return one settlement by id."""
    return session.get(Settlement, settlement_id)


def list_all(*, session: Session) -> Sequence[Settlement]:
    """Return every settlement, by name."""
    return session.exec(select(Settlement).order_by(col(Settlement.name_key))).all()


def by_name(
    *, session: Session, name: str, municipality: str | None = None
) -> Sequence[Settlement]:
    """Return the settlements whose name matches `name` (case- and space-insensitive)."""
    query = select(Settlement).where(Settlement.name_key == name_key(name))
    if municipality is not None:
        query = query.where(Settlement.municipality_key == name_key(municipality))
    return session.exec(query).all()


def milestones(*, session: Session, settlement_id: int) -> Sequence[Milestone]:
    """Return a settlement's milestones, by strand and target date."""
    query = (
        select(Milestone)
        .where(Milestone.settlement_id == settlement_id)
        .order_by(col(Milestone.strand), col(Milestone.target_date), col(Milestone.id))
    )
    return session.exec(query).all()


def upcoming_meetings(
    *,
    session: Session,
    settlement_id: int | None,
    ward: str | None,
    now: dt.datetime,
    limit: int = 5,
) -> Sequence[Meeting]:
    """Return the next meetings for a settlement, its ward forum and city forums."""
    reach = [Meeting.level == "city"]
    if settlement_id is not None:
        reach.append(Meeting.settlement_id == settlement_id)
    if ward:
        reach.append((Meeting.level == "ward") & (Meeting.ward == ward))
    query = (
        select(Meeting)
        .where(Meeting.starts_at >= now, or_(*reach))
        .order_by(col(Meeting.starts_at))
        .limit(limit)
    )
    return session.exec(query).all()


def record_unmatched_name(*, session: Session, text: str, resident_id: int | None) -> None:
    """Keep a settlement name that matched nothing, for officers to review."""
    session.add(UnmatchedSettlementName(text=text[:200], resident_id=resident_id))
