"""Who a broadcast reaches, selected in SQL: consented, not opted out, matching the filters.

A resident's channel is the one they last wrote on (else the one they consented on, else
SMS), the same rule as `bot.domain.outbox.service.preferred_channel`; their language is
the one they chose, English when unknown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, case, func, or_, select
from sqlmodel import Session

from bot.domain.residents.models import Resident
from bot.domain.settlements.models import Settlement
from bot.i18n import DEFAULT_LOCALE

resident_table: Table = Resident.__table__  # type: ignore[attr-defined]
settlement_table: Table = Settlement.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Member:
    """One resident a broadcast reaches."""

    resident_id: int
    language: str
    channel: str
    last_inbound_whatsapp_at: dt.datetime | None


def channel_column() -> ColumnElement[str]:
    """Return the SQL expression for a resident's preferred channel."""
    r = resident_table
    wa, sms = r.c.last_inbound_whatsapp_at, r.c.last_inbound_sms_at
    return case(
        (and_(wa.is_not(None), or_(sms.is_(None), wa >= sms)), "whatsapp"),
        (sms.is_not(None), "sms"),
        else_=func.coalesce(r.c.consent_channel, "sms"),
    )


def language_column() -> ColumnElement[str]:
    """Return the SQL expression for a resident's language (English when unknown)."""
    return func.coalesce(resident_table.c.language, DEFAULT_LOCALE)


def reachable() -> ColumnElement[bool]:
    """Return the condition every recipient meets: consent on record, not opted out."""
    r = resident_table
    return and_(r.c.consented_at.is_not(None), r.c.opted_out_at.is_(None))


def conditions(audience: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """Return the WHERE conditions that select an audience's residents."""
    r, s = resident_table, settlement_table
    conditions = [reachable()]
    if audience.get("everyone"):
        return conditions
    if audience.get("settlement_ids"):
        conditions.append(r.c.settlement_id.in_(list(audience["settlement_ids"])))
    in_settlements = []
    if audience.get("wards"):
        in_settlements.append(s.c.ward.in_(list(audience["wards"])))
    if audience.get("categories"):
        in_settlements.append(s.c.category.in_(list(audience["categories"])))
    if in_settlements:
        conditions.append(r.c.settlement_id.in_(select(s.c.id).where(*in_settlements)))
    if audience.get("languages"):
        conditions.append(language_column().in_(list(audience["languages"])))
    if audience.get("channels"):
        conditions.append(channel_column().in_(list(audience["channels"])))
    return conditions


def takes_settlement(audience: Mapping[str, Any], settlement: Settlement) -> bool:
    """Return whether an audience may reach residents of `settlement`, as `conditions`
    selects them: its settlement, ward and category filters let it in (languages and
    channels choose among its residents)."""
    if audience.get("everyone"):
        return True
    chosen = (
        ("settlement_ids", settlement.id),
        ("wards", settlement.ward),
        ("categories", settlement.category),
    )
    return all(not audience.get(key) or value in audience[key] for key, value in chosen)


def select_members(audience: Mapping[str, Any]) -> Select[Any]:
    """Return the query for (id, language, channel, last WhatsApp inbound) of the audience."""
    r = resident_table
    return (
        select(
            r.c.id,
            language_column().label("language"),
            channel_column().label("channel"),
            r.c.last_inbound_whatsapp_at,
        )
        .where(*conditions(audience))
        .order_by(r.c.id)
    )


def members(*, session: Session, audience: Mapping[str, Any]) -> Iterator[Member]:
    """Yield every resident the audience reaches, in id order."""
    result = session.execute(select_members(audience))
    for row in result:
        yield Member(row[0], row[1], row[2], row[3])


def languages(*, session: Session, audience: Mapping[str, Any]) -> list[str]:
    """Return the distinct languages of the residents the audience reaches."""
    query = select(language_column()).where(*conditions(audience)).distinct()
    return [str(language) for language in session.execute(query).scalars()]


def count(*, session: Session, audience: Mapping[str, Any]) -> int:
    """Return how many residents the audience reaches."""
    query = select(func.count()).select_from(resident_table).where(*conditions(audience))
    return int(session.execute(query).scalar_one())


def summary(
    *, session: Session, audience: Mapping[str, Any], window_start: dt.datetime
) -> list[tuple[str, str, int, int]]:
    """Return (language, channel, recipients, WhatsApp recipients outside the 24 h window)."""
    r = resident_table
    language, channel = language_column(), channel_column()
    outside = case(
        (
            or_(
                r.c.last_inbound_whatsapp_at.is_(None),
                r.c.last_inbound_whatsapp_at <= window_start,
            ),
            1,
        ),
        else_=0,
    )
    # Group over a subquery: PostgreSQL does not match an expression with bound literals
    # in GROUP BY to the same expression in the select list.
    inner = (
        select(language.label("language"), channel.label("channel"), outside.label("outside"))
        .where(*conditions(audience))
        .subquery()
    )
    query = select(
        inner.c.language, inner.c.channel, func.count(), func.sum(inner.c.outside)
    ).group_by(inner.c.language, inner.c.channel)
    return [
        (str(lang), str(ch), int(n), int(out or 0) if ch == "whatsapp" else 0)
        for lang, ch, n, out in session.execute(query).all()
    ]
