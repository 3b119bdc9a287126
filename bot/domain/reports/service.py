"""Ticket statistics for the reports page and CSV export (all SQL for reports)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session, col

from bot.domain.settlements.models import Settlement
from bot.domain.staff.scope import EVERYTHING, Scope, ticket_condition
from bot.domain.tickets import service as tickets
from bot.domain.tickets.models import Ticket
from bot.i18n import TIMEZONE

# A cell starting with one of these is a formula to a spreadsheet (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    """Return a cell as text that no spreadsheet will run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Return CSV text with every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()


def week_start(moment: dt.datetime) -> dt.date:
    """Return the Monday (local time) of the week a moment falls in."""
    day = moment.astimezone(TIMEZONE).date()
    return day - dt.timedelta(days=day.weekday())


@dataclass
class Report:
    """Everything the reports page shows for a run of weeks."""

    weeks: list[dt.date]
    opened: list[int]
    resolved: list[int]
    opened_by_category: dict[str, list[int]] = field(default_factory=dict)
    opened_by_settlement: dict[str, list[int]] = field(default_factory=dict)
    resolved_by_category: dict[str, list[int]] = field(default_factory=dict)
    resolved_by_settlement: dict[str, list[int]] = field(default_factory=dict)
    median_ack_hours: float | None = None
    median_resolve_hours: float | None = None
    finished: int = 0
    within_sla: int = 0
    closed_unresolved: int = 0

    @property
    def sla_share(self) -> float | None:
        """Return the share of finished tickets (resolved, or closed without being resolved:
        the queue's met and missed) finished within their SLA (None if none)."""
        return self.within_sla / self.finished if self.finished else None


def _hours(start: dt.datetime, end: dt.datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds() / 3600


def _since_clock_start(
    ticket: Ticket, reopened_at: dt.datetime | None, end: dt.datetime | None
) -> float | None:
    """Return the hours from the ticket's opening, or its last reopening (`reopened_at`), to
    `end` (None: `end` is None or came before, so not since)."""
    start = reopened_at or ticket.created_at
    return None if end is None or end < start else _hours(start, end)


def hours_to_acknowledge(ticket: Ticket, reopened_at: dt.datetime | None) -> float | None:
    """Return the hours from the ticket's opening, or its last reopening (`reopened_at`), to
    the acknowledgement that followed (None: not acknowledged since): reopening starts the
    acknowledge clock again, and clears the acknowledgement before it (one kept from before
    the reopening, as before 086b4bb, is none since)."""
    return _since_clock_start(ticket, reopened_at, ticket.acknowledged_at)


def hours_to_resolve(ticket: Ticket, reopened_at: dt.datetime | None) -> float | None:
    """Return the hours from the ticket's opening, or its last reopening (`reopened_at`), to
    its resolution (None: not resolved): reopening starts the resolve clock again, as it does
    the SLA's, so the time a ticket sat resolved before its resident said "not fixed" is no
    time spent resolving it. Time waiting on the resident counts (elapsed hours), though the
    SLA's resolve clock stands still meanwhile."""
    return _since_clock_start(ticket, reopened_at, ticket.resolved_at)


def weekly(
    *, session: Session, now: dt.datetime, weeks: int = 12, scope: Scope = EVERYTHING
) -> Report:
    """Return per-week counts, medians and SLA share for the last `weeks` weeks (this one too)."""
    first = week_start(now) - dt.timedelta(weeks=weeks - 1)
    start = dt.datetime.combine(first, dt.time(), TIMEZONE).astimezone(dt.UTC)
    days = [first + dt.timedelta(weeks=i) for i in range(weeks)]
    index = {day: i for i, day in enumerate(days)}
    reopened = tickets.last_reopening_sql()
    query = (
        select(Ticket, Settlement.name, reopened.c.at)  # type: ignore[call-overload]
        .outerjoin(Settlement, col(Settlement.id) == col(Ticket.settlement_id))
        .outerjoin(reopened, reopened.c.ticket_id == col(Ticket.id))
        .where(
            or_(
                col(Ticket.created_at) >= start,
                col(Ticket.resolved_at) >= start,
                col(Ticket.closed_at) >= start,
            )
        )
    )
    if not scope.unrestricted:
        query = query.where(ticket_condition(scope))
    report = Report(weeks=days, opened=[0] * weeks, resolved=[0] * weeks)
    ack_hours: list[float] = []
    resolve_hours: list[float] = []
    by_cat: defaultdict[str, list[int]] = defaultdict(lambda: [0] * weeks)
    by_place: defaultdict[str, list[int]] = defaultdict(lambda: [0] * weeks)
    res_cat: defaultdict[str, list[int]] = defaultdict(lambda: [0] * weeks)
    res_place: defaultdict[str, list[int]] = defaultdict(lambda: [0] * weeks)
    for ticket, settlement_name, reopened_at in session.execute(query).all():
        if ticket.created_at >= start:
            i = index[week_start(ticket.created_at)]
            report.opened[i] += 1
            by_cat[ticket.category][i] += 1
            by_place[settlement_name or "(no settlement)"][i] += 1
            ack = hours_to_acknowledge(ticket, reopened_at)
            if ack is not None:
                ack_hours.append(ack)
        if ticket.resolved_at is not None and ticket.resolved_at >= start:
            i = index.get(week_start(ticket.resolved_at), -1)
            if i >= 0:
                report.resolved[i] += 1
                res_cat[ticket.category][i] += 1
                res_place[settlement_name or "(no settlement)"][i] += 1
            hours = hours_to_resolve(ticket, reopened_at)
            if hours is not None:
                resolve_hours.append(hours)
        # The SLA share counts what the queue, the API and the CSV call met or missed: a
        # ticket closed without being resolved too, finished when it was closed.
        finished = tickets.finished_at(ticket)
        if finished is not None and finished >= start:
            report.finished += 1
            report.within_sla += finished <= ticket.resolve_due_at
            report.closed_unresolved += ticket.resolved_at is None
    report.opened_by_category = dict(sorted(by_cat.items()))
    report.opened_by_settlement = dict(sorted(by_place.items()))
    report.resolved_by_category = dict(sorted(res_cat.items()))
    report.resolved_by_settlement = dict(sorted(res_place.items()))
    report.median_ack_hours = statistics.median(ack_hours) if ack_hours else None
    report.median_resolve_hours = statistics.median(resolve_hours) if resolve_hours else None
    return report


def weekly_csv(report: Report) -> str:
    """Return the weekly counts as CSV: one row per week and category/settlement."""
    header = ["week_starting", "breakdown", "name", "opened", "resolved"]
    rows: list[list[Any]] = []
    for i, day in enumerate(report.weeks):
        rows.append([day.isoformat(), "all", "all", report.opened[i], report.resolved[i]])
        for name in sorted(set(report.opened_by_category) | set(report.resolved_by_category)):
            opened = report.opened_by_category.get(name, [0] * len(report.weeks))[i]
            resolved = report.resolved_by_category.get(name, [0] * len(report.weeks))[i]
            rows.append([day.isoformat(), "category", name, opened, resolved])
        for name in sorted(set(report.opened_by_settlement) | set(report.resolved_by_settlement)):
            opened = report.opened_by_settlement.get(name, [0] * len(report.weeks))[i]
            resolved = report.resolved_by_settlement.get(name, [0] * len(report.weeks))[i]
            rows.append([day.isoformat(), "settlement", name, opened, resolved])
    return write_csv(header, rows)


TICKET_COLUMNS = (
    "reference",
    "opened_at",
    "status",
    "category",
    "priority",
    "settlement",
    "channel",
    "language",
    "assignee",
    "sla_state",
    "hours_to_acknowledge",
    "hours_to_resolve",
    "description",
    "where",
    "kind",  # last: added after the others, so a sheet that reads columns by place still works
)


def tickets_csv(rows: Iterable[Sequence[Any]]) -> str:
    """Return tickets as CSV (rows in TICKET_COLUMNS order); residents' words neutralised."""
    return write_csv(TICKET_COLUMNS, rows)


def ticket_row(
    ticket: Ticket,
    *,
    settlement: str,
    assignee: str,
    sla_state: str,
    reopened_at: dt.datetime | None = None,
) -> list[Any]:
    """Return one ticket's CSV row, in TICKET_COLUMNS order (times in Johannesburg;
    `reopened_at`: when it was last reopened, see `hours_to_acknowledge`, `hours_to_resolve`)."""
    ack = hours_to_acknowledge(ticket, reopened_at)
    resolved = hours_to_resolve(ticket, reopened_at)
    return [
        ticket.reference,
        ticket.created_at.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M"),
        ticket.status,
        ticket.category,
        ticket.priority,
        settlement,
        ticket.source,
        ticket.language or "",
        assignee,
        sla_state,
        f"{ack:.1f}" if ack is not None else "",
        f"{resolved:.1f}" if resolved is not None else "",
        ticket.description,
        ticket.location_text,
        ticket.kind,
    ]
