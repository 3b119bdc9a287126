"""Scopes: the settlements and wards a scoped staff user may see, as SQL conditions.

A user with no scope rows sees everything (so a settlement named in a scope cannot be
deleted: `StaffScope`). A scoped user sees tickets, settlements,
meetings and residents of their settlements and of every settlement in their wards,
in the dashboard and the API alike; anything else is answered as if it did not exist.
The one exception is read-only: the city and ward forums their residents are invited
to (`meeting_read_condition`), which they see but may not change; who will come to one,
and who was reminded, they count among their own residents only (`resident_id_condition`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, false, or_, select, true
from sqlmodel import Session, col

from bot.domain.residents.models import Resident
from bot.domain.settlements import service as settlements
from bot.domain.settlements.models import Meeting, Settlement
from bot.domain.staff.models import StaffScope, StaffUser
from bot.domain.tickets.models import Ticket


@dataclass(frozen=True)
class Scope:
    """What a user may see; empty sets mean no restriction."""

    settlement_ids: frozenset[int] = frozenset()
    wards: frozenset[str] = frozenset()

    @property
    def unrestricted(self) -> bool:
        """Return whether the user sees everything."""
        return not self.settlement_ids and not self.wards

    def describe(self) -> str:
        """Return the scope in words, for pages and the audit log."""
        if self.unrestricted:
            return "everything"
        parts = [f"settlement #{i}" for i in sorted(self.settlement_ids)]
        parts += [f"ward {w}" for w in sorted(self.wards)]
        return ", ".join(parts)


EVERYTHING = Scope()


def for_user(*, session: Session, user: StaffUser) -> Scope:
    """Return a user's scope."""
    assert user.id is not None
    return for_users(session=session, user_ids=[user.id])[user.id]


def for_users(*, session: Session, user_ids: Iterable[int]) -> dict[int, Scope]:
    """Return the scopes of several users, by user id, in one query."""
    ids = set(user_ids)
    ids_of: dict[int, set[int]] = {user_id: set() for user_id in ids}
    wards_of: dict[int, set[str]] = {user_id: set() for user_id in ids}
    rows = session.execute(
        select(col(StaffScope.user_id), col(StaffScope.settlement_id), col(StaffScope.ward)).where(
            col(StaffScope.user_id).in_(ids)
        )
    ).all()
    for user_id, settlement_id, ward in rows:
        if settlement_id is not None:
            ids_of[user_id].add(settlement_id)
        if ward is not None:
            wards_of[user_id].add(ward)
    return {
        user_id: Scope(
            settlement_ids=frozenset(ids_of[user_id]), wards=frozenset(wards_of[user_id])
        )
        for user_id in ids
    }


def set_scope(
    *, session: Session, user: StaffUser, settlement_ids: Iterable[int], wards: Iterable[str]
) -> Scope:
    """Replace a user's scope (both empty: unrestricted); its wards are stored as the
    settlements spell them (`settlements.as_spelt`), which is how they are compared."""
    assert user.id is not None
    session.execute(delete(StaffScope).where(col(StaffScope.user_id) == user.id))
    ids = sorted({int(i) for i in settlement_ids})
    spellings = settlements.ward_spellings(session=session)
    names = sorted({settlements.as_spelt(w, spellings) for w in wards if w.strip()})
    for settlement_id in ids:
        session.add(StaffScope(user_id=user.id, settlement_id=settlement_id))
    for ward in names:
        session.add(StaffScope(user_id=user.id, ward=ward[:50]))
    session.flush()
    return Scope(settlement_ids=frozenset(ids), wards=frozenset(names))


def has_ward(scope: Scope, ward: str) -> bool:
    """Return whether `ward`, spelt as the settlements spell it (`settlements.as_spelt`), is
    one of a scoped user's wards: the comparison `settlement_condition` and
    `meeting_condition` make in SQL, exact on both sides' one spelling."""
    return ward in scope.wards


def settlement_condition(scope: Scope) -> ColumnElement[bool]:
    """Return the condition on Settlement rows the scope allows."""
    if scope.unrestricted:
        return true()
    parts: list[ColumnElement[bool]] = []
    if scope.settlement_ids:
        parts.append(col(Settlement.id).in_(sorted(scope.settlement_ids)))
    if scope.wards:
        parts.append(col(Settlement.ward).in_(sorted(scope.wards)))
    return or_(*parts)


def settlement_id_condition(column: object, scope: Scope) -> ColumnElement[bool]:
    """Return the condition that a settlement id column is within the scope."""
    if scope.unrestricted:
        return true()
    allowed = select(col(Settlement.id)).where(settlement_condition(scope))
    return col(column).in_(allowed.scalar_subquery())


def ticket_condition(scope: Scope) -> ColumnElement[bool]:
    """Return the condition on Ticket rows the scope allows (no settlement: hidden)."""
    return settlement_id_condition(Ticket.settlement_id, scope)


def ticket_outside_condition(scope: Scope) -> ColumnElement[bool]:
    """Return the condition on Ticket rows the scope does not allow: `ticket_condition`'s
    opposite, a ticket with no settlement included (NOT IN alone would miss it)."""
    if scope.unrestricted:
        return false()
    return or_(col(Ticket.settlement_id).is_(None), ~ticket_condition(scope))


def resident_condition(scope: Scope) -> ColumnElement[bool]:
    """Return the condition on Resident rows the scope allows."""
    return settlement_id_condition(Resident.settlement_id, scope)


def resident_id_condition(column: object, scope: Scope) -> ColumnElement[bool]:
    """Return the condition that a resident id column names a resident within the scope
    (one with no settlement: only when unrestricted), for counts of other tables' rows."""
    if scope.unrestricted:
        return true()
    allowed = select(col(Resident.id)).where(resident_condition(scope))
    return col(column).in_(allowed.scalar_subquery())


def meeting_condition(scope: Scope) -> ColumnElement[bool]:
    """Return the condition on the Meeting rows of the scope's own places, which a scoped
    user may change: neighbourhood meetings of its settlements and ward forums of its wards.
    Never a city forum, which concerns everyone, nor another ward's forum, which reaches the
    whole ward, even an old one that names a settlement of theirs."""
    if scope.unrestricted:
        return true()
    in_settlement = and_(
        col(Meeting.level) == "neighbourhood",
        settlement_id_condition(Meeting.settlement_id, scope),
    )
    in_ward = (
        and_(col(Meeting.level) == "ward", col(Meeting.ward).in_(sorted(scope.wards)))
        if scope.wards
        else false()
    )
    return or_(in_settlement, in_ward)


def meeting_read_condition(scope: Scope) -> ColumnElement[bool]:
    """Return the condition on the Meeting rows a scoped user may see: their own places'
    (`meeting_condition`) and, read-only, the forums their residents are invited to as
    well: city forums, and the ward forums of the wards their settlements lie in."""
    if scope.unrestricted:
        return true()
    city_forum = col(Meeting.level) == "city"
    their_wards = select(col(Settlement.ward)).where(settlement_condition(scope))
    ward_forum = and_(
        col(Meeting.level) == "ward",
        col(Meeting.ward) != "",
        col(Meeting.ward).in_(their_wards.scalar_subquery()),
    )
    return or_(meeting_condition(scope), city_forum, ward_forum)


def allows_settlement(*, session: Session, scope: Scope, settlement_id: int | None) -> bool:
    """Return whether the scope includes a settlement (None: only when unrestricted)."""
    if scope.unrestricted:
        return True
    if settlement_id is None:
        return False
    found = session.execute(
        select(col(Settlement.id)).where(
            col(Settlement.id) == settlement_id, settlement_condition(scope)
        )
    ).first()
    return found is not None


def allowed_settlement_ids(
    *, session: Session, scope: Scope, among: Collection[int] | None = None
) -> set[int]:
    """Return the ids of the settlements a (scoped) scope allows, in one query; with `among`,
    only those of them."""
    query = select(col(Settlement.id)).where(settlement_condition(scope))
    if among is not None:
        query = query.where(col(Settlement.id).in_(sorted(among)))
    return set(session.execute(query).scalars())


def allows_ticket(*, session: Session, scope: Scope, ticket: Ticket) -> bool:
    """Return whether the scope includes a ticket."""
    return allows_settlement(session=session, scope=scope, settlement_id=ticket.settlement_id)


def visible_settlements(*, session: Session, scope: Scope) -> list[Settlement]:
    """Return the settlements the scope allows, by name."""
    return list(
        session.execute(
            select(Settlement).where(settlement_condition(scope)).order_by(col(Settlement.name_key))
        ).scalars()
    )
