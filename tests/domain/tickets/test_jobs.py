"""The scheduled ticket jobs' newest: a wait on the resident nobody answers ends after
SIYAKHA_TICKET_WAIT_DAYS, the ticket back with staff, its clock running again."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from bot.config import Settings
from bot.db import session_scope
from bot.domain.outbox.models import Outbox
from bot.domain.tickets import jobs
from bot.domain.tickets import service as tickets
from bot.domain.tickets.models import Ticket, TicketEvent
from bot.engine import effects as fx
from tests.domain.tickets.factories import make_staff, make_ticket
from tests.factories import make_resident

NOW = dt.datetime(2025, 6, 2, 8, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
TEAM = "team@ubuntubay.example.org"


def _snapshot(engine: Engine) -> dict[str, tuple[str, dt.datetime | None, dt.datetime, int]]:
    """Return each ticket's status, wait start, resolve time and number of events."""
    with Session(engine) as session:
        events = dict(
            session.execute(
                select(TicketEvent.ticket_id, func.count()).group_by(col(TicketEvent.ticket_id))
            ).all()
        )
        return {
            t.reference: (t.status, t.waiting_since, t.resolve_due_at, events.get(t.id, 0))
            for t in session.execute(select(Ticket)).scalars()
        }


def test_an_unanswered_wait_ends_after_the_wait_days_and_nothing_else_changes(
    clean_db: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(update={"sla_team_email": TEAM})
    assert settings.ticket_wait_days == 14
    asked = NOW + H
    with session_scope(clean_db) as session:
        resident = make_resident(session, consented_at=NOW, consent_channel="sms", language="en")
        assert resident.id is not None
        worker, _ = make_staff(session)
        made = {}
        for name in ("assigned", "unassigned", "young", "answered"):
            ticket = make_ticket(
                session,
                resident_id=resident.id,
                now=NOW,
                category="water",
                assignee_id=None if name == "unassigned" else worker.id,
            )
            tickets.set_status(
                session=session,
                ticket=ticket,
                status="waiting_on_resident",
                staff=worker,
                now=asked + (2 * DAY if name == "young" else dt.timedelta(0)),
            )
            made[name] = ticket
        tickets.add_from_resident(  # the resident answers one on day 3: its wait is over
            session=session,
            resident_id=resident.id,
            effect=fx.AddToTicket(reference=made["answered"].reference, text="Number 12"),
            now=asked + 3 * DAY,
        )
        ref = {name: t.reference for name, t in made.items()}
        due_before = {name: t.resolve_due_at for name, t in made.items()}
    assert due_before["assigned"] == NOW + 72 * H  # water: 72 h from the opening
    run_at = asked + 14 * DAY + H  # 14 days and an hour after the question
    before = _snapshot(clean_db)
    with Session(clean_db) as session:
        queued = session.execute(select(func.count()).select_from(Outbox)).scalar_one()

    with caplog.at_level(logging.WARNING, logger="bot.domain.tickets.jobs"):
        assert jobs.end_unanswered_waits(engine=clean_db, settings=settings, now=run_at) == 2
    after = _snapshot(clean_db)
    waited = run_at - asked
    for name in ("assigned", "unassigned"):
        status, waiting_since, resolve_due, events = after[ref[name]]
        # As an answer leaves it: worked again, the deadline moved on by the wait.
        assert (status, waiting_since) == ("in_progress", None)
        assert resolve_due == due_before[name] + waited
        assert events == before[ref[name]][3] + 1
    # A wait of 12 days is kept; a wait the resident ended is left alone.
    assert after[ref["young"]] == before[ref["young"]]
    assert before[ref["young"]][:2] == ("waiting_on_resident", asked + 2 * DAY)
    assert after[ref["answered"]] == before[ref["answered"]]
    assert before[ref["answered"]][0] == "in_progress"

    with Session(clean_db) as session:
        last = {
            reference: (event.actor, event.data)
            for reference, event in session.execute(
                select(Ticket.reference, TicketEvent)
                .join(Ticket, col(Ticket.id) == col(TicketEvent.ticket_id))
                .where(col(TicketEvent.kind) == "status", col(TicketEvent.at) == run_at)
            ).all()
        }
        # The resident is not told: they were asked and said nothing.
        assert session.execute(select(func.count()).select_from(Outbox)).scalar_one() == queued
    reason = "no answer from the resident after 14 days"
    assert last == {
        ref["assigned"]: (
            "system",
            {
                "from": "waiting_on_resident",
                "to": "in_progress",
                "reason": reason,
                "notified": worker.email,
            },
        ),
        ref["unassigned"]: (
            "system",
            {
                "from": "waiting_on_resident",
                "to": "in_progress",
                "reason": reason,
                "notified": TEAM,
            },
        ),
    }
    emails = [r for r in caplog.records if r.getMessage().startswith("email: ")]
    assert {r.reference: (r.getMessage(), r.to, r.reason) for r in emails} == {
        ref["assigned"]: ("email: ticket back from waiting on the resident", worker.email, reason),
        ref["unassigned"]: ("email: ticket back from waiting on the resident", TEAM, reason),
    }

    # Twice: nothing more, and no second email.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.domain.tickets.jobs"):
        assert jobs.end_unanswered_waits(engine=clean_db, settings=settings, now=run_at) == 0
        assert jobs.end_unanswered_waits(engine=clean_db, settings=settings, now=run_at + H) == 0
    assert _snapshot(clean_db) == after
    assert not caplog.records


def test_the_wait_days_setting_decides_and_one_day_reads_as_one(
    clean_db: Engine, settings: Settings
) -> None:
    settings = settings.model_copy(update={"ticket_wait_days": 1})
    with session_scope(clean_db) as session:
        user, _ = make_staff(session)
        ticket = make_ticket(session, now=NOW, status="acknowledged", acknowledged_at=NOW)
        tickets.set_status(
            session=session, ticket=ticket, status="waiting_on_resident", staff=user, now=NOW
        )
        reference = ticket.reference
    assert jobs.end_unanswered_waits(engine=clean_db, settings=settings, now=NOW + 23 * H) == 0
    assert jobs.end_unanswered_waits(engine=clean_db, settings=settings, now=NOW + 25 * H) == 1
    with Session(clean_db) as session:
        ticket = tickets.get_by_reference(session=session, reference=reference)
        assert ticket is not None and ticket.status == "in_progress"
        reasons = [e.data.get("reason") for e in tickets.events(session=session, ticket=ticket)]
    assert reasons[-1] == "no answer from the resident after 1 day"


def test_the_job_is_scheduled_hourly(settings: Settings) -> None:
    job = {j["id"]: j for j in jobs.schedule(settings)}["tickets.end_unanswered_waits"]
    assert job["func"] == "bot.domain.tickets.jobs:run_end_unanswered_waits"
    assert (job["trigger"], job["minutes"]) == ("interval", 60)


def test_a_wait_the_resident_is_ending_meanwhile_is_left_to_their_answer(
    clean_db: Engine, settings: Settings
) -> None:
    with session_scope(clean_db) as session:
        resident = make_resident(session, consented_at=NOW, consent_channel="sms", language="en")
        assert resident.id is not None
        user, _ = make_staff(session)
        ticket = make_ticket(session, resident_id=resident.id, now=NOW, category="water")
        tickets.set_status(
            session=session, ticket=ticket, status="waiting_on_resident", staff=user, now=NOW
        )
        reference, resident_id = ticket.reference, resident.id
    late = NOW + 20 * DAY
    ended: list[int] = []

    def job() -> None:
        ended.append(jobs.end_unanswered_waits(engine=clean_db, settings=settings, now=late))

    with Session(clean_db) as one:
        tickets.add_from_resident(  # the answer, not committed yet: the row is theirs
            session=one,
            resident_id=resident_id,
            effect=fx.AddToTicket(reference=reference, text="Number 12"),
            now=late,
        )
        thread = threading.Thread(target=job)
        thread.start()  # PostgreSQL: skips the locked row; SQLite: waits for the write lock
        time.sleep(0.5)
        one.commit()
    thread.join(10)
    assert ended == [0]
    with Session(clean_db) as session:
        moves = session.execute(
            select(TicketEvent.actor).where(col(TicketEvent.kind) == "status")
        ).all()
        ticket = session.execute(select(Ticket)).scalar_one()
    assert [actor for (actor,) in moves] == ["staff", "resident"]
    assert ticket.status == "in_progress" and ticket.resolve_due_at == NOW + 72 * H + 20 * DAY
