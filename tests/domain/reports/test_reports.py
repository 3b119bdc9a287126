"""Reports: weekly counts by category and settlement, medians, SLA share, safe CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

from sqlmodel import Session

from bot.config import Settings
from bot.domain.reports import service as reports
from bot.domain.staff import queue
from bot.domain.staff.models import StaffUser
from bot.domain.staff.scope import Scope
from bot.domain.tickets import service as tickets
from bot.domain.tickets.models import Ticket
from tests.domain.tickets.factories import make_staff, make_ticket
from tests.factories import make_settlement

H = dt.timedelta(hours=1)
NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)  # a Thursday


def test_weekly_counts_medians_and_sla_share(session: Session) -> None:
    here = make_settlement(session, "Ubuhle Gardens", ward="14")
    there = make_settlement(session, "=HYPERLINK(1)", ward="22")
    monday = dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC)
    last_week = monday - dt.timedelta(days=5)
    a = make_ticket(session, now=last_week, settlement_id=here.id, category="water")
    a.acknowledged_at = last_week + dt.timedelta(hours=2)
    a.resolved_at = last_week + dt.timedelta(hours=10)  # within 72 h
    a.status = "resolved"
    b = make_ticket(session, now=monday, settlement_id=there.id, category="roads")
    b.acknowledged_at = monday + dt.timedelta(hours=4)
    c = make_ticket(session, now=monday, settlement_id=here.id, category="water")
    c.resolved_at = monday + dt.timedelta(days=30)  # after the 72 h target
    c.resolve_due_at = monday + dt.timedelta(hours=72)
    c.status = "resolved"
    old = make_ticket(session, now=NOW - dt.timedelta(weeks=20), settlement_id=here.id)
    assert old.id
    session.flush()

    report = reports.weekly(session=session, now=NOW, weeks=4)
    assert report.weeks[-1] == dt.date(2026, 11, 23) and report.weeks[0] == dt.date(2026, 11, 2)
    assert report.opened == [0, 0, 1, 2]
    assert report.resolved == [0, 0, 1, 0]  # c resolves in the future, past the window
    assert report.opened_by_category == {"roads": [0, 0, 0, 1], "water": [0, 0, 1, 1]}
    assert report.opened_by_settlement["Ubuhle Gardens"] == [0, 0, 1, 1]
    assert report.resolved_by_settlement == {"Ubuhle Gardens": [0, 0, 1, 0]}
    assert report.resolved_by_category == {"water": [0, 0, 1, 0]}
    assert report.median_ack_hours == 3.0
    assert report.median_resolve_hours == (10 + 30 * 24) / 2
    assert (report.finished, report.within_sla, report.sla_share) == (2, 1, 0.5)

    scoped = reports.weekly(session=session, now=NOW, weeks=4, scope=Scope(wards=frozenset({"14"})))
    assert scoped.opened == [0, 0, 1, 1] and "=HYPERLINK(1)" not in scoped.opened_by_settlement

    rows = list(csv.reader(io.StringIO(reports.weekly_csv(report))))
    assert rows[0] == ["week_starting", "breakdown", "name", "opened", "resolved"]
    names = {row[2] for row in rows[1:]}
    assert "'=HYPERLINK(1)" in names and "=HYPERLINK(1)" not in names


def test_neutralise_formula_cells() -> None:
    for risky in ("=1+1", "+27821234567", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert reports.neutralise(risky) == "'" + risky
    assert reports.neutralise("Ubuhle") == "Ubuhle"
    assert reports.neutralise(None) == ""
    assert reports.neutralise(3) == "3"
    text = reports.write_csv(["a"], [["=cmd|' /C calc'!A0"]])
    assert text.splitlines()[1].startswith("'=cmd")


def test_week_start_uses_johannesburg_time() -> None:
    sunday_night_utc = dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)  # Monday 01:30 SAST
    assert reports.week_start(sunday_night_utc) == dt.date(2026, 11, 23)


MONDAY = dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC)


def _moved(
    session: Session,
    user: StaffUser,
    steps: tuple[tuple[str, int], ...],
    ticket: Ticket | None = None,
) -> Ticket:
    """Return a roads ticket opened on MONDAY (or `ticket`), moved by `user` to each status
    at its hours after MONDAY."""
    ticket = ticket or make_ticket(session, now=MONDAY, category="roads")
    for status, hours in steps:
        tickets.set_status(
            session=session, ticket=ticket, status=status, staff=user, now=MONDAY + hours * H
        )
    return ticket


def test_time_to_acknowledge_a_reopened_report_runs_from_its_reopening(
    session: Session,
) -> None:
    user, _ = make_staff(session)
    ticket = _moved(session, user, (("in_progress", 2), ("resolved", 3), ("reopened", 50)))
    report = reports.weekly(session=session, now=NOW, weeks=1)
    assert report.median_ack_hours is None  # not acknowledged since it was reopened
    _moved(session, user, (("in_progress", 55),), ticket)
    report = reports.weekly(session=session, now=NOW, weeks=1)
    assert report.median_ack_hours == 5.0  # from the reopening, not 55 h from the opening


def test_time_to_resolve_a_resolved_reopened_resolved_report_runs_from_its_reopening(
    session: Session,
) -> None:
    # Resolved after 3 h, reopened ("not fixed") 47 h later, resolved again 10 h after that:
    # the report and the CSV counted 60 h, the time it sat resolved included.
    steps = (("in_progress", 2), ("resolved", 3), ("reopened", 50), ("in_progress", 52))
    user, _ = make_staff(session)
    ticket = _moved(session, user, (*steps, ("resolved", 60)))
    report = reports.weekly(session=session, now=NOW, weeks=1)
    assert (report.median_ack_hours, report.median_resolve_hours) == (2.0, 10.0)
    assert (report.finished, report.within_sla) == (1, 1)  # its SLA clock ran from +50 h too
    assert ticket.id is not None
    reopened = tickets.last_reopenings(session=session, ticket_ids=[ticket.id])
    assert reopened == {ticket.id: MONDAY + 50 * H}
    row = dict(
        zip(
            reports.TICKET_COLUMNS,
            reports.ticket_row(
                ticket, settlement="", assignee="", sla_state="met", reopened_at=reopened[ticket.id]
            ),
            strict=True,
        )
    )
    assert (row["hours_to_acknowledge"], row["hours_to_resolve"]) == ("2.0", "10.0")
    once = _moved(session, user, (("resolved", 4),))  # never reopened: from the opening
    assert reports.hours_to_resolve(once, None) == 4.0
    assert reports.weekly(session=session, now=NOW, weeks=1).median_resolve_hours == 7.0


def test_an_acknowledgement_from_before_the_last_reopening_is_not_counted(
    session: Session,
) -> None:
    # Reopened before 086b4bb, which kept the acknowledgement of its first opening: it has
    # not been acknowledged since, and no negative time to acknowledge may come of it.
    user, _ = make_staff(session)
    ticket = _moved(session, user, (("resolved", 2), ("reopened", 3)))
    ticket.acknowledged_at = MONDAY + H  # as the old code left it
    assert reports.hours_to_acknowledge(ticket, MONDAY + 3 * H) is None
    assert reports.weekly(session=session, now=NOW, weeks=1).median_ack_hours is None


def test_the_sla_share_counts_the_tickets_the_queue_calls_met_or_missed(
    session: Session, settings: Settings
) -> None:
    monday = dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC)
    user, _ = make_staff(session)
    spam, late, fixed = (make_ticket(session, now=monday, category="water") for _ in "abc")
    for ticket, status, hours in (
        (spam, "closed", 1),  # closed straight from new, within the 72 h: met
        (late, "closed", 80),  # after them: missed
        (fixed, "resolved", 2),  # met
    ):
        tickets.set_status(
            session=session,
            ticket=ticket,
            status=status,
            staff=user,
            now=monday + dt.timedelta(hours=hours),
        )
    states = queue.counts(
        session=session, filters=queue.QueueFilters(), now=NOW, settings=settings
    )["sla"]
    assert (states["met"], states["missed"]) == (2, 1)
    report = reports.weekly(session=session, now=NOW, weeks=1)
    assert (report.within_sla, report.finished, report.closed_unresolved) == (2, 3, 2)
    assert report.resolved == [1]  # resolved is still resolved: a close is no resolution
