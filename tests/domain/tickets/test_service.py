"""Ticket service: lifecycle, events, jobs (SLA breaches, unanswered resolutions), erasure."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.config import Settings
from bot.db import session_scope
from bot.domain.outbox.models import Outbox
from bot.domain.staff import scope as scopes
from bot.domain.staff import service as staff
from bot.domain.tickets import jobs
from bot.domain.tickets import service as tickets
from bot.domain.tickets.models import Ticket, TicketUpdate
from tests.domain.tickets.factories import make_staff, make_ticket
from tests.factories import make_resident, make_settlement

NOW = dt.datetime(2025, 6, 2, 8, 0, tzinfo=dt.UTC)


def test_lifecycle_events_and_notices(session: Session) -> None:
    resident = make_resident(session, language="xh", consented_at=NOW, consent_channel="sms")
    user, _ = make_staff(session)
    ticket = make_ticket(session, resident_id=resident.id, now=NOW)
    tickets.change(
        session=session,
        ticket=ticket,
        update_in=TicketUpdate(status="in_progress"),
        staff=user,
        now=NOW,
    )
    assert ticket.acknowledged_at == NOW  # starting work acknowledges it
    with pytest.raises(tickets.InvalidTransition):
        tickets.set_status(session=session, ticket=ticket, status="new", staff=user, now=NOW)
    tickets.reply(
        session=session, ticket=ticket, staff=user, canned="contractor_appointed", now=NOW
    )
    events = tickets.events(session=session, ticket=ticket)
    assert [e.kind for e in events] == ["created", "status", "reply"]
    assert events[1].data == {"from": "new", "to": "in_progress"}
    assert events[2].body == "A contractor has been appointed to fix this."
    rows = session.execute(select(Outbox).order_by(Outbox.id)).scalars().all()
    assert [r.purpose for r in rows] == ["ticket_update", "staff_reply"]
    assert all(r.language == "xh" and r.ref == f"ticket:{ticket.reference}" for r in rows)
    assert ticket.reference in rows[0].body


def test_priority_change_recomputes_clocks(session: Session) -> None:
    user, _ = make_staff(session)
    ticket = make_ticket(session, now=NOW, category="roads")
    assert ticket.resolve_due_at == NOW + dt.timedelta(hours=720)
    tickets.change(
        session=session, ticket=ticket, update_in=TicketUpdate(priority="high"), staff=user, now=NOW
    )
    assert ticket.resolve_due_at == NOW + dt.timedelta(hours=24)
    assert ticket.ack_due_at == NOW + dt.timedelta(hours=4)


def test_search_filters(session: Session) -> None:
    user, _ = make_staff(session)
    late = make_ticket(session, now=NOW - dt.timedelta(days=10), category="water")
    fresh = make_ticket(session, now=NOW, category="roads", assignee_id=user.id)

    def refs(**kw: object) -> list[str]:
        rows, _ = tickets.search(
            session=session,
            filters=tickets.TicketFilters(**kw),
            now=NOW,  # type: ignore[arg-type]
        )
        return [t.reference for t in rows]

    assert refs(sla="breached") == [late.reference]
    assert refs(sla="on_track") == [fresh.reference]
    assert refs(assignee_email=user.email) == [fresh.reference]
    assert refs(unassigned=True) == [late.reference]
    assert refs(created_from=NOW - dt.timedelta(days=1)) == [fresh.reference]
    assert refs(category=["water"], status=["new"]) == [late.reference]


def test_flag_breaches_once_and_close_unanswered(
    clean_db: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with session_scope(clean_db) as session:
        make_ticket(session, now=NOW - dt.timedelta(days=40), category="water")
        make_ticket(session, now=NOW, category="water")
        old = make_ticket(session, now=NOW - dt.timedelta(days=9), status="resolved")
        old.resolved_at = NOW - dt.timedelta(days=8)
        recent = make_ticket(session, now=NOW - dt.timedelta(days=2), status="resolved")
        recent.resolved_at = NOW - dt.timedelta(days=1)
        old_ref, recent_ref = old.reference, recent.reference
    settings = settings.model_copy(update={"sla_team_email": "team@ubuntubay.example.org"})
    with caplog.at_level(logging.WARNING, logger="bot.domain.tickets.jobs"):
        assert jobs.flag_breaches(engine=clean_db, settings=settings, now=NOW) == 2
    assert jobs.flag_breaches(engine=clean_db, settings=settings, now=NOW) == 0
    breach_logs = [r for r in caplog.records if r.getMessage() == "email: ticket SLA breached"]
    assert {r.clock for r in breach_logs} == {"acknowledge", "resolve"}
    assert {r.to for r in breach_logs} == {"team@ubuntubay.example.org"}
    assert jobs.close_unanswered(engine=clean_db, settings=settings, now=NOW) == 1
    with Session(clean_db) as session:
        statuses = dict(session.execute(select(Ticket.reference, Ticket.status)).all())
    assert statuses[old_ref] == "closed" and statuses[recent_ref] == "resolved"


def test_linking_flattens_to_the_root(session: Session) -> None:
    user, _ = make_staff(session)
    a, b, c = (make_ticket(session, now=NOW) for _ in range(3))
    tickets.link(session=session, ticket=b, parent=a, staff=user, now=NOW, scope=None)
    assert tickets.link(session=session, ticket=c, parent=b, staff=user, now=NOW, scope=None) is a
    assert c.parent_id == a.id
    with pytest.raises(tickets.TicketError):
        tickets.link(session=session, ticket=a, parent=c, staff=user, now=NOW, scope=None)
    tickets.unlink(session=session, ticket=c, staff=user, now=NOW)
    assert c.parent_id is None


def test_linking_never_reaches_a_ticket_outside_the_users_scope(session: Session) -> None:
    user, _ = make_staff(session)
    mine, theirs = make_settlement(session, "Ubuhle Gardens"), make_settlement(session, "Zenzele")
    scope = scopes.Scope(settlement_ids=frozenset({mine.id}))
    root = make_ticket(session, now=NOW, settlement_id=theirs.id)
    parent, ticket, other = (make_ticket(session, now=NOW, settlement_id=mine.id) for _ in "abc")
    tickets.link(
        session=session, ticket=parent, parent=root, staff=user, now=NOW, scope=None
    )  # unscoped
    with pytest.raises(tickets.TicketError, match="outside your scope"):
        tickets.link(
            session=session, ticket=ticket, parent=parent, staff=user, now=NOW, scope=scope
        )
    assert ticket.parent_id is None
    tickets.link(session=session, ticket=ticket, parent=other, staff=user, now=NOW, scope=scope)
    assert ticket.parent_id == other.id
    # Nor may a ticket in scope carry along a duplicate of its own that lies outside it.
    outside = make_ticket(session, now=NOW, settlement_id=theirs.id)
    tickets.link(
        session=session, ticket=outside, parent=other, staff=user, now=NOW, scope=None
    )  # unscoped
    target = make_ticket(session, now=NOW, settlement_id=mine.id)
    with pytest.raises(tickets.TicketError, match="outside your scope"):
        tickets.link(session=session, ticket=other, parent=target, staff=user, now=NOW, scope=scope)
    assert (other.parent_id, outside.parent_id) == (None, other.id)


def test_a_ticket_goes_only_to_someone_who_works_tickets_and_may_see_it(session: Session) -> None:
    user, _ = make_staff(session)
    here, there = make_settlement(session, "Ubuhle Gardens"), make_settlement(session, "Zenzele")
    ticket = make_ticket(session, now=NOW, settlement_id=here.id)
    officer, _ = make_staff(session, "officer@ubuntubay.example.org", "officer")
    elsewhere, _ = make_staff(session, "zenzele@ubuntubay.example.org", "triage")
    scopes.set_scope(session=session, user=elsewhere, settlement_ids=[there.id], wards=[])

    def assign(email: str) -> None:
        tickets.change(
            session=session,
            ticket=ticket,
            update_in=TicketUpdate(assignee_email=email),
            staff=user,
            now=NOW,
        )

    for email in (officer.email, elsewhere.email):
        with pytest.raises(tickets.TicketError, match="role or scope excludes it"):
            assign(email)
    assert ticket.assignee_id is None
    # The ticket page offers only those it can go to.
    assert [u.email for u in staff.assignable(session=session, ticket=ticket)] == [user.email]
    assign(user.email)
    assert ticket.assignee_id == user.id
    # Their scope narrows later: the ticket stays theirs, and a form that sends them back
    # unchanged (with a new status, say) still works.
    scopes.set_scope(session=session, user=user, settlement_ids=[there.id], wards=[])
    assign(user.email)
    assert ticket.assignee_id == user.id
    assert user in staff.assignable(session=session, ticket=ticket)  # still offered: theirs
