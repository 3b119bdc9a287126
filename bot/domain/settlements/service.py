"""Queries and changes for settlements, milestones and meetings (all SQL for this domain)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Row, Table, bindparam, delete
from sqlalchemy import select as select_columns
from sqlmodel import Session, SQLModel, col, func, or_, select

from bot.domain.settlements.models import (
    Meeting,
    Milestone,
    Settlement,
    UnmatchedSettlementName,
    name_key,
)
from bot.names import same_name_key

SETTLEMENT: Table = Settlement.__table__  # type: ignore[attr-defined]
MILESTONE: Table = Milestone.__table__  # type: ignore[attr-defined]
MEETING: Table = Meeting.__table__  # type: ignore[attr-defined]


def count(*, session: Session) -> int:
    """Return how many settlements there are."""
    return session.exec(select(func.count()).select_from(Settlement)).one()


def get(*, session: Session, settlement_id: int) -> Settlement | None:
    """Return one settlement by id."""
    return session.get(Settlement, settlement_id)


_C = SETTLEMENT.c
_REFS = select_columns(_C.id, _C.name, _C.aliases).order_by(_C.name_key)
_SUMMARY = select_columns(
    _C.id, _C.name, _C.ward, _C.municipality, _C.category, _C.category_note, _C.current_phase
).where(_C.id == bindparam("settlement_id"))
_MILESTONES = (
    select_columns(
        MILESTONE.c.strand,
        MILESTONE.c.title,
        MILESTONE.c.target_date,
        MILESTONE.c.status,
        MILESTONE.c.note,
    )
    .where(MILESTONE.c.settlement_id == bindparam("settlement_id"))
    .order_by(MILESTONE.c.strand, MILESTONE.c.target_date.nulls_last(), MILESTONE.c.id)
)
# One statement for every resident: a NULL settlement or an empty ward matches nothing.
_UPCOMING = (
    select_columns(
        MEETING.c.id.label("meeting_id"),
        MEETING.c.title,
        MEETING.c.level,
        MEETING.c.starts_at,
        MEETING.c.venue,
        MEETING.c.cancelled,
        MEETING.c.ward,
    )
    .where(
        MEETING.c.starts_at >= bindparam("now"),
        or_(
            MEETING.c.level == "city",
            MEETING.c.settlement_id == bindparam("settlement_id"),
            (MEETING.c.level == "ward")
            & (MEETING.c.ward != "")
            & (MEETING.c.ward == bindparam("ward")),
        ),
    )
    .order_by(MEETING.c.starts_at)
    .limit(bindparam("limit"))
)


def refs(*, session: Session) -> Sequence[Row[Any]]:
    """Return (id, name, aliases) of every settlement, by name."""
    return session.execute(_REFS).all()


def summary(*, session: Session, settlement_id: int) -> Row[Any] | None:
    """Return what a resident may learn about one settlement, as a row."""
    return session.execute(_SUMMARY, {"settlement_id": settlement_id}).first()


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
    return session.execute(_MILESTONES, {"settlement_id": settlement_id}).all()


def upcoming_meetings(
    *,
    session: Session,
    settlement_id: int | None,
    ward: str | None,
    now: dt.datetime,
    limit: int = 5,
) -> Sequence[Row[Any]]:
    """Return the next meetings for a settlement, its ward forum and city forums, as rows."""
    params = {"now": now, "settlement_id": settlement_id, "ward": ward or "", "limit": limit}
    return session.execute(_UPCOMING, params).all()


class UnknownWard(ValueError):
    """No settlement is in the ward named: a forum or a scope there would reach no one."""


def ward_spellings(*, session: Session) -> dict[str, str]:
    """Return how the settlements spell each ward, by its folded key (`name_key`): as the
    first settlement in it (the lowest id) does, on every database (migration 0023 respelt
    the others so)."""
    wards = session.execute(
        select_columns(_C.ward).where(_C.ward != "").group_by(_C.ward).order_by(func.min(_C.id))
    ).scalars()
    spellings: dict[str, str] = {}
    for ward in wards:
        spellings.setdefault(name_key(ward), ward)
    return spellings


def as_spelt(ward: str, spellings: Mapping[str, str]) -> str:
    """Return a ward as the settlements spell it ("Ward 5" for "ward 5 " or "WARD 5"), or
    as typed, spaces collapsed, if no settlement is in it. The one rule wards are compared
    by: every ward stored (settlements, meetings, scopes, audiences) or compared with one is
    first spelt so, then compared exactly (`scope.has_ward`, the scopes' SQL)."""
    return spellings.get(name_key(ward), " ".join(ward.split()))


def spell_wards(
    *, session: Session, wards: Iterable[str], spellings: Mapping[str, str] | None = None
) -> list[str]:
    """Return each ward as the settlements spell it ("Ward 5" for "ward 5"), blanks left
    out; raise UnknownWard for one no settlement is in. Wards are compared as stored
    (forums, scopes, broadcast audiences): one spelling each is what lets them match."""
    if spellings is None:
        spellings = ward_spellings(session=session)
    spelt = []
    for ward in wards:
        if not ward.strip():
            continue
        if name_key(ward) not in spellings:
            raise UnknownWard(f"no settlement is in ward {' '.join(ward.split())}")
        spelt.append(as_spelt(ward, spellings))
    return spelt


def unmatched_names(*, session: Session, limit: int = 50) -> Sequence[Row[Any]]:
    """Return names typed that matched no settlement: (text, times, last), commonest first."""
    table: Table = UnmatchedSettlementName.__table__  # type: ignore[attr-defined]
    folded = func.lower(func.trim(table.c.text))
    query = (
        select_columns(
            func.min(table.c.text).label("text"),
            func.count().label("times"),
            func.max(table.c.created_at).label("last"),
        )
        .group_by(folded)
        .order_by(func.count().desc(), func.max(table.c.created_at).desc())
        .limit(limit)
    )
    return session.execute(query).all()


def called_by(*, session: Session) -> dict[str, list[tuple[int, str]]]:
    """Return the settlements (id, name) each name or alias reads as to residents' matching
    (`same_name_key`), by that key; two under one key are two a resident could mean."""
    called: dict[str, list[tuple[int, str]]] = {}
    for id_, name, aliases in session.execute(_REFS).all():
        keys = {same_name_key(value) for value in (name, *(aliases or []))}
        for key in keys - {""}:
            called.setdefault(key, []).append((id_, name))
    return called


def now_known(*, session: Session, texts: Iterable[str]) -> dict[str, list[str]]:
    """Return, of these typed names, those a settlement is now called by (its name or an
    alias added since, as residents' matching reads them), with the names of the
    settlements so called: the officers' list says which it became (more than one: no
    resident who typed it is linked), and the next resident is matched."""
    texts = list(texts)
    if not texts:  # a scoped user's page lists none: no need to read every settlement
        return {}
    called = called_by(session=session)
    found = {text: called.get(same_name_key(text), []) for text in texts}
    return {text: [name for _id, name in refs] for text, refs in found.items() if refs}


def unmatched_names_of_unsettled(*, session: Session) -> Sequence[Row[Any]]:
    """Return the names typed that matched nothing (id, text, resident_id) by residents
    who have no settlement now, oldest first."""
    table: Table = UnmatchedSettlementName.__table__  # type: ignore[attr-defined]
    resident: Table = SQLModel.metadata.tables["resident"]
    query = (
        select_columns(table.c.id, table.c.text, table.c.resident_id)
        .join(resident, resident.c.id == table.c.resident_id)
        .where(resident.c.settlement_id.is_(None))
        .order_by(table.c.id)
    )
    return session.execute(query).all()


def forget_unmatched_names_of(*, session: Session, resident_ids: Collection[int]) -> int:
    """Delete the names these residents typed that matched nothing; return how many."""
    if not resident_ids:
        return 0
    gone = delete(UnmatchedSettlementName).where(
        col(UnmatchedSettlementName.resident_id).in_(resident_ids)
    )
    return len(session.execute(gone.returning(col(UnmatchedSettlementName.id))).all())


def forget_unmatched_names_before(*, session: Session, before: dt.datetime) -> int:
    """Delete the settlement names typed before `before` that matched nothing (POPIA s14
    retention: they are a resident's own words); return how many."""
    old = delete(UnmatchedSettlementName).where(col(UnmatchedSettlementName.created_at) < before)
    return len(session.execute(old.returning(col(UnmatchedSettlementName.id))).all())


def record_unmatched_name(*, session: Session, text: str, resident_id: int | None) -> None:
    """Keep a settlement name that matched nothing, for officers to review."""
    session.add(UnmatchedSettlementName(text=text[:200], resident_id=resident_id))
