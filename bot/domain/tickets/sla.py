"""SLA clocks: when a ticket must be acknowledged and resolved, and how it stands.

Acknowledgement is due within SIYAKHA_SLA_ACK_WORKING_DAYS working days (Monday to Friday
in South Africa, public holidays excluded, and the days of SIYAKHA_SLA_EXTRA_HOLIDAYS:
one-off holidays the President declares, days the municipality closes); urgent (high
priority) tickets within SIYAKHA_SLA_URGENT_ACK_HOURS hours. The resolve target is per
category (content's `sla_hours`, overridden by SIYAKHA_SLA_RESOLVE_HOURS), at most
SIYAKHA_SLA_URGENT_RESOLVE_HOURS for urgent tickets. Staff acknowledge a ticket by moving
it past new, by a public reply to its resident or by linking it as a duplicate (an
internal note is no acknowledgement).

Both clocks run from the ticket's clock start: when it was opened, or last reopened (fresh
clocks: reopening clears the acknowledgement, so a reopened ticket is to be acknowledged
again as well as resolved). A change of category or priority sets the clocks again from that
start, not from now.

While a ticket waits on the resident its resolve clock is paused: it stands as it did when
the wait began (breached only if it already was, and never "due soon": staff can do
nothing until the resident answers), and when the ticket moves on, its clock start and
resolve time move later by the time spent waiting. The resolve target is in plain hours,
so the wait counts in plain hours too; the acknowledgement clock (working days) never
needs pausing, as asking the resident something acknowledges the ticket.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Set as AbstractSet
from functools import lru_cache

from bot.config import Settings
from bot.content import load

SAST = dt.timezone(dt.timedelta(hours=2), "SAST")
DEFAULT_RESOLVE_HOURS = 336.0


def _easter(year: int) -> dt.date:
    """Return Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@lru_cache(maxsize=64)
def public_holidays(year: int) -> frozenset[dt.date]:
    """Return South Africa's public holidays in a year (a Sunday holiday moves to Monday)."""
    fixed = [
        (1, 1),
        (3, 21),
        (4, 27),
        (5, 1),
        (6, 16),
        (8, 9),
        (9, 24),
        (12, 16),
        (12, 25),
        (12, 26),
    ]
    days = {dt.date(year, m, d) for m, d in fixed}
    days |= {day + dt.timedelta(days=1) for day in list(days) if day.weekday() == 6}
    easter = _easter(year)
    days |= {easter - dt.timedelta(days=2), easter + dt.timedelta(days=1)}
    return frozenset(days)


def is_working_day(day: dt.date, extra_holidays: AbstractSet[dt.date] = frozenset()) -> bool:
    """Return whether a date is a South African working day (`extra_holidays`: days off
    beside the statutory ones, SIYAKHA_SLA_EXTRA_HOLIDAYS)."""
    return day.weekday() < 5 and day not in public_holidays(day.year) and day not in extra_holidays


def add_working_days(
    start: dt.datetime, days: int, extra_holidays: AbstractSet[dt.date] = frozenset()
) -> dt.datetime:
    """Return `start` moved on by `days` working days (same local time; UTC out). A start on
    a day that is no working day counts from the beginning of the next working day: a
    report sent on Saturday at 10:00 has Monday and Tuesday, as one sent on Friday at 16:00
    has Monday and Tuesday until 16:00 (before, Saturday's was due at 10:00 on Tuesday)."""
    local = start.astimezone(SAST)
    if not is_working_day(local.date(), extra_holidays):
        local = dt.datetime.combine(local.date(), dt.time(), tzinfo=SAST)
        while not is_working_day(local.date(), extra_holidays):
            local += dt.timedelta(days=1)
    while days > 0:
        local += dt.timedelta(days=1)
        if is_working_day(local.date(), extra_holidays):
            days -= 1
    return local.astimezone(dt.UTC)


def resolve_hours(settings: Settings, category: str) -> float:
    """Return the resolve target in hours for a category."""
    if category in settings.sla_resolve_hours:
        return float(settings.sla_resolve_hours[category])
    for entry in load().fact("ticket_categories"):
        if entry["code"] == category:
            return float(entry.get("sla_hours", DEFAULT_RESOLVE_HOURS))
    return DEFAULT_RESOLVE_HOURS


def due_times(
    settings: Settings, *, start: dt.datetime, category: str, urgent: bool
) -> tuple[dt.datetime, dt.datetime]:
    """Return (acknowledge by, resolve by) for a ticket opened (or reopened) at `start`."""
    hours = resolve_hours(settings, category)
    if urgent:
        ack = start + dt.timedelta(hours=settings.sla_urgent_ack_hours)
        hours = min(hours, settings.sla_urgent_resolve_hours)
    else:
        ack = add_working_days(start, settings.sla_ack_working_days, settings.sla_extra_holidays)
    return ack, start + dt.timedelta(hours=hours)


def state(
    *,
    status: str,
    now: dt.datetime,
    waiting_since: dt.datetime | None = None,
    ack_due_at: dt.datetime,
    resolve_due_at: dt.datetime,
    acknowledged_at: dt.datetime | None,
    resolved_at: dt.datetime | None,
    due_soon: dt.timedelta,
) -> str:
    """Return on_track, due_soon or breached for an open ticket; met or missed once done
    (`waiting_since`: its clock is paused since then, see above)."""
    if status in ("resolved", "closed"):
        return "met" if resolved_at is not None and resolved_at <= resolve_due_at else "missed"
    dues = [resolve_due_at] + ([ack_due_at] if acknowledged_at is None else [])
    if waiting_since is not None:
        return "breached" if any(waiting_since > due for due in dues) else "on_track"
    if any(now > due for due in dues):
        return "breached"
    if any(due - now <= due_soon for due in dues):
        return "due_soon"
    return "on_track"
