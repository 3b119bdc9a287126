"""Ticket service: lifecycle, events, jobs (SLA breaches, unanswered resolutions), erasure."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from bot import sms
from bot.config import Settings
from bot.content import load
from bot.db import session_scope
from bot.domain.outbox import budget
from bot.domain.outbox.models import Outbox
from bot.domain.reports import service as reports
from bot.domain.staff import scope as scopes
from bot.domain.staff import service as staff
from bot.domain.staff.models import StaffUser
from bot.domain.tickets import jobs, sla
from bot.domain.tickets import service as tickets
from bot.domain.tickets.models import Ticket, TicketEvent, TicketUpdate
from bot.domain.tickets.ports import SqlTicketDesk
from bot.engine import effects as fx
from bot.engine.messages import Location
from bot.flows import report_notices
from bot.i18n import get_translator
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


def test_the_same_reply_sent_twice_at_once_reaches_the_resident_once(session: Session) -> None:
    resident = make_resident(session)
    user, _ = make_staff(session)
    ticket = make_ticket(session, resident_id=resident.id, now=NOW)

    def send(at: dt.datetime, **words: str) -> int:
        event = tickets.reply(session=session, ticket=ticket, staff=user, now=at, **words)
        assert event.id is not None
        return event.id

    first = send(NOW, body="A plumber comes on Tuesday.")
    assert send(NOW + dt.timedelta(seconds=2), body=" A plumber comes on Tuesday. ") == first
    assert send(NOW + dt.timedelta(seconds=3), canned="seen") != first  # other words: sent
    canned = send(NOW + dt.timedelta(seconds=4), canned="seen")
    later = send(NOW + tickets.REPLY_REPEAT + dt.timedelta(seconds=5), canned="seen")
    assert later != canned  # said again a while later: meant
    replies = session.execute(select(Outbox).where(Outbox.purpose == "staff_reply")).all()
    assert len(replies) == 3
    with pytest.raises(tickets.TicketError, match="not both"):
        send(NOW, canned="seen", body="and my own words")


def test_the_report_screen_shows_a_canned_reply_in_the_residents_language(
    session: Session,
) -> None:
    # It showed the stored English text to a resident who was sent the isiXhosa one.
    from api.deps import converse_for
    from bot.domain.messages import service as messages
    from bot.engine.messages import Inbound

    resident = make_resident(session, language="xh", consented_at=NOW, consent_channel="sms")
    user, _ = make_staff(session)
    ticket = make_ticket(session, resident_id=resident.id, now=NOW)
    tickets.reply(
        session=session, ticket=ticket, staff=user, canned="contractor_appointed", now=NOW
    )
    status = Inbound(
        message_id="SM" + "5" * 32,
        phone=resident.phone,
        channel="whatsapp",
        text=f"STATUS {ticket.reference}",
        received_at=NOW,
    )
    [reply] = messages.receive(
        session=session, inbound=status, converse=converse_for(session), now=NOW
    )
    isixhosa = report_notices.canned_text(load(), get_translator("xh"), "contractor_appointed")
    assert isixhosa == "Kuqeshwe ikontraka ukuba ilungise oku."
    assert isixhosa in reply
    assert "A contractor has been appointed" not in reply
    assert ticket.last_public_note == "A contractor has been appointed to fix this."  # staff's


def test_priority_change_recomputes_clocks(session: Session) -> None:
    user, _ = make_staff(session)
    ticket = make_ticket(session, now=NOW, category="roads")
    assert ticket.resolve_due_at == NOW + dt.timedelta(hours=720)
    tickets.change(
        session=session, ticket=ticket, update_in=TicketUpdate(priority="high"), staff=user, now=NOW
    )
    assert ticket.resolve_due_at == NOW + dt.timedelta(hours=24)
    assert ticket.ack_due_at == NOW + dt.timedelta(hours=4)


def test_a_declared_holiday_moves_the_acknowledge_time_a_day_later(
    session: Session, settings: Settings
) -> None:
    # 29 May 2024 (election day) was declared a public holiday; counted as a working day, a
    # ticket opened on the Monday was due on it, a day early, and its breach email unfair.
    monday = dt.datetime(2024, 5, 27, 8, 0, tzinfo=dt.UTC)  # 10:00 SAST
    declared = settings.model_copy(update={"sla_extra_holidays": frozenset([dt.date(2024, 5, 29)])})
    ticket = tickets.open_ticket(
        session=session,
        reference=tickets.new_reference(session=session),
        kind="problem",
        category="roads",
        description="A pothole",
        source="sms",
        now=monday,
        settings=declared,
    )
    thursday = dt.datetime(2024, 5, 30, 8, 0, tzinfo=dt.UTC)
    assert ticket.ack_due_at == thursday
    # A change that sets the clocks again (urgent, then not) counts the holiday as well.
    user, _ = make_staff(session)
    for priority in ("high", "normal"):
        tickets.change(
            session=session,
            ticket=ticket,
            update_in=TicketUpdate(priority=priority),
            staff=user,
            now=monday + dt.timedelta(hours=1),
            settings=declared,
        )
    assert ticket.ack_due_at == thursday
    # Without the setting the day is a working day, as the statutory calendar has it.
    plain = make_ticket(session, now=monday, category="roads")
    assert plain.ack_due_at == dt.datetime(2024, 5, 29, 8, 0, tzinfo=dt.UTC)


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


def test_a_resolved_or_closed_ticket_takes_no_duplicates(session: Session) -> None:
    user, _ = make_staff(session)
    parent, child = make_ticket(session, now=NOW), make_ticket(session, now=NOW)
    for status in ("resolved", "closed"):
        tickets.set_status(session=session, ticket=parent, status=status, staff=user, now=NOW)
        with pytest.raises(tickets.TicketError, match=f"is {status}: reopen it"):
            tickets.link(
                session=session, ticket=child, parent=parent, staff=user, now=NOW, scope=None
            )
        assert child.parent_id is None
    tickets.set_status(session=session, ticket=parent, status="reopened", staff=user, now=NOW)
    tickets.link(session=session, ticket=child, parent=parent, staff=user, now=NOW, scope=None)
    assert child.parent_id == parent.id


def test_a_resolved_or_closed_ticket_is_not_linked_as_a_duplicate(session: Session) -> None:
    user, _ = make_staff(session)
    parent, child = make_ticket(session, now=NOW), make_ticket(session, now=NOW)
    for status in ("resolved", "closed"):
        tickets.set_status(session=session, ticket=child, status=status, staff=user, now=NOW)
        with pytest.raises(tickets.TicketError, match=f"is {status}: reopen it first"):
            tickets.link(
                session=session, ticket=child, parent=parent, staff=user, now=NOW, scope=None
            )
        assert child.parent_id is None
        assert [e.kind for e in tickets.events(session=session, ticket=parent)] == ["created"]
    tickets.set_status(session=session, ticket=child, status="reopened", staff=user, now=NOW)
    tickets.link(session=session, ticket=child, parent=parent, staff=user, now=NOW, scope=None)
    assert child.parent_id == parent.id


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


H = dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("first", "second", "refused"),
    [
        ("resolved", "resolved", None),  # a double-clicked Save
        ("closed", "waiting_on_resident", "a closed ticket cannot become waiting_on_resident"),
    ],
)
def test_two_changes_at_once_run_one_after_the_other(
    clean_db: Engine, settings: Settings, first: str, second: str, refused: str | None
) -> None:
    with session_scope(clean_db) as session:
        resident = make_resident(session, consented_at=NOW, consent_channel="sms", language="en")
        make_staff(session)
        ticket = make_ticket(
            session, resident_id=resident.id, now=NOW, status="in_progress", acknowledged_at=NOW
        )
        reference = ticket.reference

    def save(session: Session, status: str) -> None:
        ticket = tickets.get_by_reference(session=session, reference=reference)
        assert ticket is not None
        user = session.execute(select(StaffUser)).scalar_one()
        tickets.change(
            session=session,
            ticket=ticket,
            update_in=TicketUpdate(status=status),
            staff=user,
            now=NOW + H,
            settings=settings,
        )

    outcome: list[str] = []

    def other() -> None:
        try:
            with session_scope(clean_db) as session:
                save(session, second)
            outcome.append("saved")
        except tickets.InvalidTransition as exc:
            outcome.append(str(exc))

    with Session(clean_db) as one:
        save(one, first)  # not committed yet: the ticket is still in_progress to others
        thread = threading.Thread(target=other)
        thread.start()  # on PostgreSQL it reads in_progress, then waits for the row
        time.sleep(0.5)
        one.commit()
    thread.join(10)
    assert outcome == [refused or "saved"]
    with Session(clean_db) as session:
        moves = session.execute(select(TicketEvent).where(TicketEvent.kind == "status")).all()
        notices = session.execute(select(Outbox).where(Outbox.purpose == "ticket_update")).all()
        assert session.execute(select(Ticket.status)).scalar_one() == first
    assert len(moves) == len(notices) == 1  # the resident is told once


def test_a_reopened_tickets_fresh_clock_survives_a_change_of_category(session: Session) -> None:
    user, _ = make_staff(session)
    ticket = make_ticket(
        session, now=NOW, category="water", status="in_progress", acknowledged_at=NOW
    )
    tickets.set_status(session=session, ticket=ticket, status="resolved", staff=user, now=NOW)
    reopened = NOW + 20 * 24 * H  # the resident says it is not fixed, 20 days on
    tickets.move_status(session, ticket, "reopened", now=reopened, actor="resident")
    assert ticket.resolve_due_at == reopened + 72 * H
    tickets.change(
        session=session,
        ticket=ticket,
        update_in=TicketUpdate(category="electricity"),  # 48 h
        staff=user,
        now=reopened + H,
    )
    assert ticket.resolve_due_at == reopened + 48 * H
    assert tickets.sla_state(ticket, now=reopened + H) == "on_track"


def test_a_closed_tickets_clocks_stay_stopped_when_its_category_changes(session: Session) -> None:
    user, _ = make_staff(session)
    ticket = make_ticket(session, now=NOW, category="water", status="new")
    closed = NOW + 200 * H  # closed unanswered, long after both clocks ran out
    tickets.set_status(session=session, ticket=ticket, status="closed", staff=user, now=closed)
    ack_due, resolve_due = ticket.ack_due_at, ticket.resolve_due_at
    assert tickets.finished_at(ticket) == closed
    tickets.change(
        session=session,
        ticket=ticket,
        update_in=TicketUpdate(category="electricity"),  # put right for the statistics
        staff=user,
        now=closed + H,
    )
    assert ticket.category == "electricity"
    # Before, the clocks were set again from the opening (48 h for electricity): a closed
    # ticket showed "Resolve by ... (in 24 h)", and a missed deadline moved.
    assert (ticket.ack_due_at, ticket.resolve_due_at) == (ack_due, resolve_due)


def test_a_breach_flag_is_cleared_when_its_clock_moves_later(
    clean_db: Engine, settings: Settings
) -> None:
    with session_scope(clean_db) as session:
        user, _ = make_staff(session)
        ticket = make_ticket(
            session, now=NOW, category="electricity", status="in_progress", acknowledged_at=NOW
        )  # 48 h
        reference = ticket.reference
    assert jobs.flag_breaches(engine=clean_db, settings=settings, now=NOW + 50 * H) == 1

    def recategorise(category: str, at: dt.datetime) -> Ticket:
        with session_scope(clean_db) as session:
            ticket = tickets.get_by_reference(session=session, reference=reference)
            assert ticket is not None
            tickets.change(
                session=session,
                ticket=ticket,
                update_in=TicketUpdate(category=category),
                staff=session.merge(user),
                now=at,
                settings=settings,
            )
            return ticket

    # Still past due on the new clock (water, 72 h): the flag stands.
    assert recategorise("water", NOW + 80 * H).resolve_breach_flagged_at is not None
    # It was about a footpath (roads, 720 h): not breached after all, until 720 h pass.
    assert recategorise("roads", NOW + 81 * H).resolve_breach_flagged_at is None
    assert jobs.flag_breaches(engine=clean_db, settings=settings, now=NOW + 700 * H) == 0
    assert jobs.flag_breaches(engine=clean_db, settings=settings, now=NOW + 721 * H) == 1


def test_the_resolve_clock_pauses_while_waiting_on_the_resident(session: Session) -> None:
    resident = make_resident(session)
    user, _ = make_staff(session)
    ticket = make_ticket(session, resident_id=resident.id, now=NOW, category="water")  # 72 h
    tickets.set_status(
        session=session, ticket=ticket, status="waiting_on_resident", staff=user, now=NOW + H
    )
    # Four days on, the 72 h have passed, but the clock is paused.
    later = NOW + 4 * 24 * H
    assert tickets.sla_state(ticket, now=later) == "on_track"

    def found(sla: str) -> bool:
        rows, _ = tickets.search(session=session, filters=tickets.TicketFilters(sla=sla), now=later)
        return ticket in rows

    assert found("on_track") and not found("breached") and not found("due_soon")
    # The resident answers: the clock runs again, moved on by the wait (4 days less an hour).
    tickets.add_from_resident(
        session=session,
        resident_id=resident.id,
        effect=fx.AddToTicket(reference=ticket.reference, text="It is the tap by number 12"),
        now=later,
    )
    waited = later - (NOW + H)
    assert ticket.status == "in_progress" and ticket.waiting_since is None
    assert ticket.resolve_due_at == NOW + 72 * H + waited
    assert ticket.clock_started_at == NOW + waited
    # A change of category later counts from the moved clock start too.
    tickets.change(
        session=session,
        ticket=ticket,
        update_in=TicketUpdate(category="sanitation"),  # 72 h as well
        staff=user,
        now=later + H,
    )
    assert ticket.resolve_due_at == NOW + 72 * H + waited
    tickets.set_status(session=session, ticket=ticket, status="resolved", staff=user, now=later + H)
    assert tickets.sla_state(ticket, now=later + H) == "met"
    report = reports.weekly(session=session, now=later + H, weeks=2)
    assert (report.finished, report.within_sla) == (1, 1)


def _told(session: Session, resident_id: int | None) -> list[str]:
    """Return what the outbox holds for a resident, oldest first."""
    return list(
        session.execute(
            select(Outbox.body).where(Outbox.resident_id == resident_id).order_by(Outbox.id)
        ).scalars()
    )


def _parent_and_duplicate(session: Session) -> tuple[StaffUser, Ticket, Ticket]:
    """Return a staff user and two tickets of two residents, the second a duplicate."""
    user, _ = make_staff(session)
    parent, child = (
        make_ticket(session, resident_id=make_resident(session, phone=phone).id, now=NOW)
        for phone in ("+27820000001", "+27820000002")
    )
    tickets.link(session=session, ticket=child, parent=parent, staff=user, now=NOW, scope=None)
    return user, parent, child


def test_a_duplicate_does_not_wait_on_the_parents_resident(session: Session) -> None:
    user, parent, child = _parent_and_duplicate(session)
    a, b = parent.resident_id, child.resident_id
    assert a is not None and b is not None
    tickets.set_status(
        session=session, ticket=parent, status="waiting_on_resident", staff=user, now=NOW + H
    )
    # The question is for the parent's reporter: the duplicate's clock runs on, and its
    # reporter, asked nothing, is told nothing.
    assert parent.waiting_since == NOW + H
    assert (child.status, child.waiting_since) == ("new", None)
    assert _told(session, b) == []
    tickets.add_from_resident(
        session=session,
        resident_id=a,
        effect=fx.AddToTicket(reference=parent.reference, text="The tap by number 12"),
        now=NOW + 2 * H,
    )
    assert (parent.status, parent.waiting_since) == ("in_progress", None)
    assert (child.status, child.waiting_since) == ("new", None)


def test_a_resident_who_reported_a_problem_twice_is_told_each_thing_once(
    session: Session,
) -> None:
    a = make_resident(session, phone="+27820000001")
    b = make_resident(session, phone="+27820000002")
    user, _ = make_staff(session)
    parent = make_ticket(session, resident_id=a.id, now=NOW)
    again = make_ticket(session, resident_id=a.id, now=NOW + H)  # the same problem again
    other = make_ticket(session, resident_id=b.id, now=NOW + H)
    for child in (again, other):
        tickets.link(session=session, ticket=child, parent=parent, staff=user, now=NOW, scope=None)
    tickets.reply(session=session, ticket=parent, staff=user, now=NOW + 2 * H, body="Tuesday")
    tickets.set_status(
        session=session, ticket=parent, status="resolved", staff=user, now=NOW + 3 * H
    )
    # One reply and one "fixed?" question, about the first report; each ticket keeps both.
    told = _told(session, a.id)
    assert len(told) == 2 and all(parent.reference in body for body in told)
    assert len(_told(session, b.id)) == 2
    for ticket in (parent, again, other):
        kinds = [e.kind for e in tickets.events(session=session, ticket=ticket)]
        assert kinds.count("reply") == 1 and ticket.status == "resolved"


@pytest.mark.parametrize("fixed", [True, False])
def test_a_residents_answer_holds_for_their_own_linked_report_too(
    session: Session, fixed: bool
) -> None:
    # Asked once about a problem they reported twice: the other report stayed resolved, and
    # the job later closed it with one more notice, also after "not fixed".
    a = make_resident(session, phone="+27820000003")
    b = make_resident(session, phone="+27820000004")
    user, _ = make_staff(session)
    parent = make_ticket(session, resident_id=a.id, now=NOW)
    again = make_ticket(session, resident_id=a.id, now=NOW + H)
    other = make_ticket(session, resident_id=b.id, now=NOW + H)
    for child in (again, other):
        tickets.link(session=session, ticket=child, parent=parent, staff=user, now=NOW, scope=None)
    tickets.set_status(
        session=session, ticket=parent, status="resolved", staff=user, now=NOW + 2 * H
    )
    assert a.id is not None
    effect = fx.AnswerResolution(reference=again.reference, fixed=fixed, text="Still leaking")
    tickets.answer_resolution(session=session, resident_id=a.id, effect=effect, now=NOW + 3 * H)
    expected = "closed" if fixed else "reopened"
    assert (parent.status, again.status, other.status) == (expected, expected, "resolved")
    kind = "confirmed_fixed" if fixed else "not_fixed"
    for ticket in (parent, again):
        assert [e.kind for e in tickets.events(session=session, ticket=ticket)].count(kind) == 1


def test_a_reply_on_the_parent_skips_a_closed_duplicate(session: Session) -> None:
    user, parent, child = _parent_and_duplicate(session)
    a, b = parent.resident_id, child.resident_id
    assert a is not None and b is not None
    tickets.set_status(session=session, ticket=parent, status="resolved", staff=user, now=NOW + H)
    # The duplicate's reporter says it is fixed; the parent's says it is not.
    for resident, ticket, fixed in ((b, child, True), (a, parent, False)):
        effect = fx.AnswerResolution(reference=ticket.reference, fixed=fixed, text="")
        tickets.answer_resolution(session=session, resident_id=resident, effect=effect, now=NOW)
    assert (parent.status, child.status) == ("reopened", "closed")
    before = _told(session, b)
    tickets.reply(session=session, ticket=parent, staff=user, now=NOW + 4 * H, body="Monday")
    assert _told(session, b) == before and child.last_public_note == ""
    assert "Monday" in _told(session, a)[-1]
    assert [e.kind for e in tickets.events(session=session, ticket=child)][-1] != "reply"
    # A reply on the closed ticket itself reaches its reporter: staff chose to answer them.
    tickets.reply(session=session, ticket=child, staff=user, now=NOW + 5 * H, body="Thanks")
    assert "Thanks" in _told(session, b)[-1]


def test_a_pin_added_by_the_resident_keeps_its_address_and_label(session: Session) -> None:
    resident = make_resident(session)
    ticket = make_ticket(session, resident_id=resident.id, now=NOW, category="water")
    pin = Location(-33.97, 18.63, address="Ubuhle Gardens", label="Standpipe 4")
    event = tickets.add_from_resident(
        session=session,
        resident_id=resident.id,
        effect=fx.AddToTicket(reference=ticket.reference, text="", location=pin),
        now=NOW + H,
    )
    assert event is not None and event.data == {
        "latitude": -33.97,
        "longitude": 18.63,
        "address": "Ubuhle Gardens",
        "label": "Standpipe 4",
    }
    assert (ticket.latitude, ticket.longitude) == (-33.97, 18.63)


def test_a_clock_paused_after_its_breach_stays_breached(
    clean_db: Engine, settings: Settings
) -> None:
    with session_scope(clean_db) as session:
        user, _ = make_staff(session)
        late = make_ticket(session, now=NOW, category="water", acknowledged_at=NOW)
        paused = make_ticket(session, now=NOW, category="water", acknowledged_at=NOW)
        for ticket, at in ((late, NOW + 80 * H), (paused, NOW + H)):
            tickets.set_status(
                session=session, ticket=ticket, status="waiting_on_resident", staff=user, now=at
            )
        assert tickets.sla_state(late, now=NOW + 100 * H) == "breached"
        late_reference = late.reference
    assert jobs.flag_breaches(engine=clean_db, settings=settings, now=NOW + 100 * H) == 1
    with Session(clean_db) as session:
        flagged = session.execute(
            select(Ticket.reference).where(col(Ticket.resolve_breach_flagged_at).is_not(None))
        ).scalar_one()
    assert flagged == late_reference


def test_leaving_resolved_for_work_clears_resolved_at(session: Session) -> None:
    user, _ = make_staff(session)
    now = dt.datetime.now(dt.UTC) - 48 * H
    ticket = make_ticket(session, now=now, status="in_progress", acknowledged_at=now)
    tickets.set_status(session=session, ticket=ticket, status="resolved", staff=user, now=now + H)
    tickets.set_status(
        session=session, ticket=ticket, status="in_progress", staff=user, now=now + 2 * H
    )
    assert ticket.resolved_at is None
    report = reports.weekly(session=session, now=dt.datetime.now(dt.UTC), weeks=2)
    assert (report.finished, sum(report.resolved)) == (0, 0)
    # Closing a resolved ticket keeps when it was resolved.
    tickets.set_status(session=session, ticket=ticket, status="resolved", staff=user, now=now + H)
    tickets.set_status(session=session, ticket=ticket, status="closed", staff=user, now=now + H)
    assert ticket.resolved_at == now + H


def test_a_move_into_an_urgent_category_makes_it_high_priority(session: Session) -> None:
    user, _ = make_staff(session)
    ticket = make_ticket(session, now=NOW, category="other")

    def recategorise(category: str, priority: str | None = None) -> None:
        tickets.change(
            session=session,
            ticket=ticket,
            update_in=TicketUpdate(category=category, priority=priority),
            staff=user,
            now=NOW + H,
        )

    recategorise("fire")
    assert ticket.priority == "high"
    assert ticket.ack_due_at == NOW + 4 * H and ticket.resolve_due_at == NOW + 24 * H
    kinds = [(e.kind, e.data) for e in tickets.events(session=session, ticket=ticket)]
    assert ("priority", {"from": "normal", "to": "high"}) in kinds
    recategorise("water", priority="normal")
    recategorise("fire", priority="low")  # staff who set the priority themselves decide
    assert ticket.priority == "low"


def test_not_fixed_words_are_kept_when_the_ticket_left_resolved_meanwhile(
    session: Session,
) -> None:
    resident = make_resident(session)
    user, _ = make_staff(session)
    ticket = make_ticket(
        session, resident_id=resident.id, now=NOW, status="in_progress", acknowledged_at=NOW
    )
    tickets.set_status(session=session, ticket=ticket, status="resolved", staff=user, now=NOW)
    # The resident says "not fixed"; before they say what is wrong, staff take it back.
    tickets.set_status(
        session=session, ticket=ticket, status="in_progress", staff=user, now=NOW + H
    )
    words = "The tap still leaks at the bottom"
    tickets.answer_resolution(
        session=session,
        resident_id=resident.id,
        effect=fx.AnswerResolution(reference=ticket.reference, fixed=False, text=words),
        now=NOW + 2 * H,
    )
    last = tickets.events(session=session, ticket=ticket)[-1]
    assert (last.kind, last.actor, last.body, last.public) == (
        "resident_message",
        "resident",
        words,
        True,
    )
    assert ticket.status == "in_progress"


def test_not_fixed_words_end_a_wait_on_the_resident_started_meanwhile(session: Session) -> None:
    resident = make_resident(session)
    user, _ = make_staff(session)
    ticket = make_ticket(
        session, resident_id=resident.id, now=NOW, status="in_progress", acknowledged_at=NOW
    )
    tickets.set_status(session=session, ticket=ticket, status="resolved", staff=user, now=NOW)
    for status in ("in_progress", "waiting_on_resident"):  # staff take it back, ask something
        tickets.set_status(session=session, ticket=ticket, status=status, staff=user, now=NOW + H)
    due = ticket.resolve_due_at
    tickets.answer_resolution(
        session=session,
        resident_id=resident.id,
        effect=fx.AnswerResolution(reference=ticket.reference, fixed=False, text="Still leaks"),
        now=NOW + 3 * H,
    )
    assert (ticket.status, ticket.waiting_since) == ("in_progress", None)
    assert ticket.resolve_due_at == due + 2 * H  # the clock stood still while it waited


def test_closing_unanswered_tells_the_resident_once(clean_db: Engine, settings: Settings) -> None:
    with session_scope(clean_db) as session:
        resident = make_resident(session, consented_at=NOW, consent_channel="sms", language="en")
        user, _ = make_staff(session)
        ticket = make_ticket(
            session, resident_id=resident.id, now=NOW, status="in_progress", acknowledged_at=NOW
        )
        tickets.set_status(session=session, ticket=ticket, status="resolved", staff=user, now=NOW)
        reference = ticket.reference
    week_on = NOW + dt.timedelta(days=settings.ticket_confirm_days, hours=1)
    assert jobs.close_unanswered(engine=clean_db, settings=settings, now=week_on) == 1
    assert jobs.close_unanswered(engine=clean_db, settings=settings, now=week_on) == 0
    with Session(clean_db) as session:
        bodies = session.execute(
            select(Outbox.body).where(Outbox.purpose == "ticket_update").order_by(Outbox.id)
        ).scalars()
        closed = report_notices.status_notice(
            load(), get_translator("en"), status="closed", reference=reference, category="water"
        )
        assert list(bodies)[1:] == [closed]


def test_staff_reopening_a_closed_report_tells_the_resident(session: Session) -> None:
    resident = make_resident(session, consented_at=NOW, consent_channel="sms", language="en")
    user, _ = make_staff(session)
    ticket = make_ticket(session, resident_id=resident.id, now=NOW, status="closed")
    tickets.set_status(session=session, ticket=ticket, status="reopened", staff=user, now=NOW)
    [body] = session.execute(select(Outbox.body).where(Outbox.purpose == "ticket_update")).scalars()
    assert body == (
        f"Siyakha: the municipality has opened your report {ticket.reference} (Water) again"
        " and will follow up."
    )


def _question_told(
    session: Session, *, language: str, category: str, status: str
) -> tuple[str, str]:
    """Move a question of a resident speaking `language` to `status`; return its number and
    what the resident is told."""
    resident = make_resident(session, consented_at=NOW, consent_channel="sms", language=language)
    user, _ = make_staff(session)
    question = make_ticket(
        session, resident_id=resident.id, now=NOW, kind="question", category=category
    )
    tickets.set_status(session=session, ticket=question, status=status, staff=user, now=NOW)
    [body] = session.execute(select(Outbox.body).where(Outbox.purpose == "ticket_update")).scalars()
    return question.reference, body


@pytest.mark.parametrize(
    ("language", "asked", "not_said"),
    [
        ("en", "Is your question answered?", "fixed"),
        ("xh", "Ingaba uwuphendulile umbuzo wakho?", "ilungisiwe"),
    ],
)
def test_resolving_a_question_asks_whether_it_was_answered_not_whether_it_is_fixed(
    session: Session, language: str, asked: str, not_said: str
) -> None:
    # "When will we get electricity?" answered and resolved told the resident "the
    # municipality says your report (Electricity) is fixed. Is it fixed?"
    reference, body = _question_told(
        session, language=language, category="electricity", status="resolved"
    )
    assert reference in body and asked in body
    assert not_said not in body


@pytest.mark.parametrize(
    ("language", "told"),
    [
        ("en", "the municipality is working on your question"),
        ("af", "die munisipaliteit werk aan jou vraag"),
    ],
)
def test_work_starting_on_a_question_is_told_as_work_on_a_question(
    session: Session, language: str, told: str
) -> None:
    reference, body = _question_told(
        session, language=language, category="housing_list", status="in_progress"
    )
    # Was "work has started on your report": no work starts on a question.
    assert reference in body and told in body


@pytest.mark.parametrize(
    ("was", "becomes", "told", "not_told"),
    [
        ("problem", "question", "Is your question answered?", "Is it fixed?"),
        ("question", "problem", "Is it fixed?", "Is your question answered?"),
    ],
)
def test_a_change_of_kind_words_the_residents_later_notices_for_the_new_kind(
    session: Session, was: str, becomes: str, told: str, not_told: str
) -> None:
    resident = make_resident(session, consented_at=NOW, consent_channel="sms", language="en")
    user, _ = make_staff(session)
    ticket = make_ticket(
        session, resident_id=resident.id, now=NOW, kind=was, category="housing_list"
    )
    applied = tickets.change(
        session=session, ticket=ticket, update_in=TicketUpdate(kind=becomes), staff=user, now=NOW
    )
    assert tickets.audit_detail(applied) == {"kind": becomes}
    [event] = [e for e in tickets.events(session=session, ticket=ticket) if e.kind == "kind"]
    assert (event.data, event.public, event.staff_user_id) == (
        {"from": was, "to": becomes},
        False,
        user.id,
    )
    assert session.execute(select(Outbox)).first() is None  # the change itself is internal
    tickets.set_status(session=session, ticket=ticket, status="resolved", staff=user, now=NOW + H)
    [body] = session.execute(select(Outbox.body).where(Outbox.purpose == "ticket_update")).scalars()
    assert told in body and not_told not in body


def test_a_change_of_kind_moves_no_clock(session: Session, settings: Settings) -> None:
    # The SLA does not depend on the kind: a question is due as a problem is. Setting the
    # clocks again on a change of kind would move them to SLA settings changed since.
    user, _ = make_staff(session)
    ticket = make_ticket(session, now=NOW, category="water")  # 72 h
    due = (ticket.ack_due_at, ticket.resolve_due_at)
    flagged = ticket.resolve_breach_flagged_at = NOW + 73 * H
    later = settings.model_copy(update={"sla_resolve_hours": {"water": 200.0}})
    tickets.change(
        session=session,
        ticket=ticket,
        update_in=TicketUpdate(kind="question"),
        staff=user,
        now=NOW + 80 * H,
        settings=later,
    )
    assert ticket.kind == "question"
    assert (ticket.ack_due_at, ticket.resolve_due_at) == due
    assert ticket.resolve_breach_flagged_at == flagged
    tickets.change(
        session=session,
        ticket=ticket,
        update_in=TicketUpdate(category="water", priority="low"),  # a timed change: set again
        staff=user,
        now=NOW + 81 * H,
        settings=later,
    )
    assert ticket.resolve_due_at == NOW + 200 * H


def test_a_change_from_a_stale_page_applies_only_what_it_changed(session: Session) -> None:
    user, _ = make_staff(session)
    admin, _ = make_staff(session, "admin@ubuntubay.example.org", "admin")
    ticket = make_ticket(session, now=NOW)
    shown = TicketUpdate(status="new", priority="normal", category="water", assignee_email="")

    def save(**fields: str) -> TicketUpdate:
        form = {**shown.model_dump(), **fields}
        return tickets.change(
            session=session,
            ticket=ticket,
            update_in=TicketUpdate.model_validate(form),
            loaded=shown,
            staff=admin,
            now=NOW + H,
        )

    # Meanwhile triage take it and raise its priority.
    tickets.change(
        session=session,
        ticket=ticket,
        update_in=TicketUpdate(assignee_email=user.email, priority="high"),
        staff=user,
        now=NOW,
    )
    assert save(status="acknowledged") == TicketUpdate(status="acknowledged")
    assert (ticket.status, ticket.priority, ticket.assignee_id) == ("acknowledged", "high", user.id)
    assert save(priority="high") == TicketUpdate(priority="high")  # what they did too: fine
    with pytest.raises(tickets.ChangedMeanwhile, match=r"\(assignee is now triage@"):
        save(assignee_email="admin@ubuntubay.example.org")
    assert ticket.assignee_id == user.id


def test_a_public_reply_acknowledges_the_ticket_and_an_internal_note_does_not(
    session: Session, settings: Settings
) -> None:
    user, _ = make_staff(session)
    noted, replied = (make_ticket(session, now=NOW, category="roads") for _ in "ab")
    tickets.note(session=session, ticket=noted, staff=user, body="Ask roads", now=NOW + H)
    assert noted.acknowledged_at is None
    tickets.reply(session=session, ticket=replied, staff=user, body="We saw it", now=NOW + H)
    assert (replied.acknowledged_at, replied.status) == (NOW + H, "acknowledged")
    # Three days on the acknowledge time (2 working days) has passed: only the noted one
    # breached, and the reply stays the acknowledgement.
    later = NOW + 3 * 24 * H
    assert tickets.sla_state(noted, now=later, settings=settings) == "breached"
    assert tickets.sla_state(replied, now=later, settings=settings) == "on_track"
    tickets.reply(session=session, ticket=replied, staff=user, body="A crew comes", now=later)
    assert replied.acknowledged_at == NOW + H


@pytest.mark.parametrize("status", ["new", "reopened"])
def test_a_reply_moves_a_ticket_nobody_answered_to_acknowledged_without_a_second_message(
    session: Session, status: str
) -> None:
    # The queue's "new" filter held tickets staff had answered (their status stayed new),
    # though the resident already read them as seen.
    resident = make_resident(session, phone="+27820000008")
    user, _ = make_staff(session)
    ticket = make_ticket(session, resident_id=resident.id, now=NOW, status=status)
    tickets.reply(session=session, ticket=ticket, staff=user, body="We saw it", now=NOW + H)
    assert ticket.status == "acknowledged"
    events = session.execute(
        select(TicketEvent.kind, TicketEvent.data).where(TicketEvent.ticket_id == ticket.id)
    ).all()
    assert ("status", {"from": status, "to": "acknowledged"}) in events
    bodies = session.execute(select(Outbox.purpose, Outbox.body)).all()
    assert [purpose for purpose, _ in bodies] == ["staff_reply"]  # the reply is the news
    assert "We saw it" in bodies[0][1]
    # A ticket staff took up keeps its status: a reply is no status change.
    tickets.set_status(
        session=session, ticket=ticket, status="in_progress", staff=user, now=NOW + 2 * H
    )
    tickets.reply(
        session=session, ticket=ticket, staff=user, body="Crew on Monday", now=NOW + 3 * H
    )
    assert ticket.status == "in_progress"


def test_a_resident_hears_a_report_answered_by_staff_is_seen_not_waiting_to_be_seen(
    session: Session,
) -> None:
    resident = make_resident(session, phone="+27820000007")
    user, _ = make_staff(session)
    report = make_ticket(session, resident_id=resident.id, now=NOW, category="roads")
    desk = SqlTicketDesk(session)
    assert [info.status for info in desk.open_for(resident.phone)] == ["new"]
    tickets.reply(session=session, ticket=report, staff=user, body="We saw it", now=NOW + H)
    session.flush()
    # The reply acknowledged it: "waiting to be seen" would contradict the answer the
    # resident just got.
    assert [info.status for info in desk.open_for(resident.phone)] == ["acknowledged"]
    found = desk.find(resident.phone, report.reference)
    assert found is not None and found.status == "acknowledged"


def test_a_duplicate_linked_to_a_ticket_being_worked_is_acknowledged_and_worked_too(
    session: Session, settings: Settings
) -> None:
    a = make_resident(session, phone="+27820000005")
    b = make_resident(session, phone="+27820000006")
    user, _ = make_staff(session)
    parent = make_ticket(session, resident_id=a.id, now=NOW, category="roads")
    tickets.set_status(
        session=session, ticket=parent, status="in_progress", staff=user, now=NOW + H
    )
    again = make_ticket(session, resident_id=a.id, now=NOW + 2 * H, category="roads")
    other = make_ticket(session, resident_id=b.id, now=NOW + 2 * H, category="roads")
    for child in (again, other):
        tickets.link(
            session=session, ticket=child, parent=parent, staff=user, now=NOW + 3 * H, scope=None
        )
        # Linking it is triage: acknowledged, and worked as its parent is, as if it had been
        # linked before the parent moved on.
        assert (child.acknowledged_at, child.status) == (NOW + 3 * H, "in_progress")
        assert tickets.sla_state(child, now=NOW + 4 * 24 * H, settings=settings) == "on_track"
        status = [e for e in tickets.events(session=session, ticket=child) if e.kind == "status"]
        assert [e.data for e in status] == [
            {"from": "new", "to": "in_progress", "via": parent.reference}
        ]
    # Its reporter hears it as they would have then; the parent's, who reported it twice and
    # heard it of the parent, not again.
    english = get_translator("en")
    being_worked = report_notices.status_notice(
        load(), english, status="in_progress", reference=other.reference, category="roads"
    )
    assert _told(session, b.id) == [being_worked]
    assert len(_told(session, a.id)) == 1 and parent.reference in _told(session, a.id)[0]
    # A parent waiting on its resident: the duplicate is acknowledged, and waits on nobody.
    tickets.set_status(
        session=session, ticket=parent, status="waiting_on_resident", staff=user, now=NOW + 4 * H
    )
    late = make_ticket(session, now=NOW + 5 * H, category="roads")
    tickets.link(
        session=session, ticket=late, parent=parent, staff=user, now=NOW + 6 * H, scope=None
    )
    assert (late.acknowledged_at, late.status, late.waiting_since) == (NOW + 6 * H, "new", None)


def test_a_breach_is_told_to_the_team_when_the_assignee_can_no_longer_work_the_ticket(
    clean_db: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(update={"sla_team_email": "team@ubuntubay.example.org"})
    with session_scope(clean_db) as session:
        here = make_settlement(session, "Ubuhle Gardens", ward="14")
        admin, _ = make_staff(session, "admin@ubuntubay.example.org", "admin")
        left, _ = make_staff(session, "left@ubuntubay.example.org")
        moved, _ = make_staff(session, "ward14@ubuntubay.example.org")
        stays, _ = make_staff(session, "stays@ubuntubay.example.org")
        scopes.set_scope(session=session, user=moved, settlement_ids=[], wards=["14"])
        assigned = {}
        for user in (left, moved, stays):
            ticket = make_ticket(session, now=NOW, settlement_id=here.id)
            tickets.change(
                session=session,
                ticket=ticket,
                update_in=TicketUpdate(assignee_email=user.email),
                staff=admin,
                now=NOW,
            )
            assigned[ticket.reference] = user.email
        staff.update_user(session=session, user=left, role="triage", is_active=False)
        here.ward = "22"  # a re-import moved the settlement: ward 14's user no longer sees it
    with caplog.at_level(logging.WARNING, logger="bot.domain.tickets.jobs"):
        jobs.flag_breaches(engine=clean_db, settings=settings, now=NOW + 5 * 24 * H)
    told = {r.reference: r.to for r in caplog.records if r.getMessage().startswith("email")}
    team = "team@ubuntubay.example.org"
    assert told == {ref: email if email == stays.email else team for ref, email in assigned.items()}
    with Session(clean_db) as session:
        notified = session.execute(
            select(Ticket.reference, TicketEvent.data)
            .join(Ticket, col(Ticket.id) == col(TicketEvent.ticket_id))
            .where(TicketEvent.kind == "sla_breach")
        ).all()
    assert {ref: data["notified"] for ref, data in notified} == told


def test_a_reopened_ticket_must_be_acknowledged_again(
    clean_db: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with session_scope(clean_db) as session:
        resident = make_resident(session)
        user, _ = make_staff(session)
        ticket = make_ticket(session, resident_id=resident.id, now=NOW, category="roads")
        reference, resident_id = ticket.reference, resident.id
    # Nobody saw it for three days: the acknowledge clock is flagged, once.
    assert jobs.flag_breaches(engine=clean_db, settings=settings, now=NOW + 72 * H) == 1
    reopened = NOW + 21 * 24 * H  # a Monday, three weeks on
    with session_scope(clean_db) as session:
        ticket = tickets.get_by_reference(session=session, reference=reference)
        assert ticket is not None
        user = session.merge(user)
        for status in ("in_progress", "resolved"):
            tickets.set_status(
                session=session, ticket=ticket, status=status, staff=user, now=NOW + 73 * H
            )
        tickets.answer_resolution(
            session=session,
            resident_id=resident_id,
            effect=fx.AnswerResolution(reference=reference, fixed=False, text="Still a hole"),
            now=reopened,
        )
        # Both clocks start again: it must be seen again within 2 working days, and fixed
        # within roads' 720 h.
        assert (ticket.status, ticket.acknowledged_at) == ("reopened", None)
        assert ticket.ack_due_at == sla.add_working_days(reopened, 2)
        assert ticket.resolve_due_at == reopened + 720 * H
        assert ticket.ack_breach_flagged_at is None
        assert tickets.sla_state(ticket, now=reopened + 24 * H, settings=settings) == "due_soon"
        assert tickets.sla_state(ticket, now=reopened + 72 * H, settings=settings) == "breached"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.domain.tickets.jobs"):
        assert jobs.flag_breaches(engine=clean_db, settings=settings, now=reopened + 72 * H) == 1
    assert [r.clock for r in caplog.records if r.getMessage().startswith("email")] == [
        "acknowledge"
    ]
    with session_scope(clean_db) as session:
        ticket = tickets.get_by_reference(session=session, reference=reference)
        assert ticket is not None
        tickets.set_status(
            session=session,
            ticket=ticket,
            status="in_progress",
            staff=session.merge(user),
            now=reopened + 80 * H,
        )
        assert ticket.acknowledged_at == reopened + 80 * H
        assert tickets.sla_state(ticket, now=reopened + 81 * H, settings=settings) == "on_track"


# --- replies within the SMS budget ------------------------------------------------------


def _frame(ticket: Ticket, language: str = "en") -> int:
    """Return how many characters the reply's frame (the report number) adds to the words."""
    framed = report_notices.update_notice(
        load(), get_translator(language), reference=ticket.reference, note=""
    )
    return len(framed)


def test_a_reply_whose_sms_would_pass_three_segments_is_refused_naming_the_count(
    session: Session,
) -> None:
    resident = make_resident(session, consented_at=NOW, last_inbound_sms_at=NOW)
    user, _ = make_staff(session)
    ticket = make_ticket(session, resident_id=resident.id, now=NOW)
    room = 3 * 153 - _frame(ticket)  # GSM-7: 459 characters in three segments

    with pytest.raises(budget.TooManySegments) as refused:
        tickets.reply(session=session, ticket=ticket, staff=user, now=NOW, body="a" * (room + 1))
    [problem] = refused.value.problems
    assert problem.field == ("body",) and problem.size.segments == 4
    assert problem.size.encoding == "GSM-7" and problem.size.characters == 460
    assert str(refused.value).startswith(
        f"body: the SMS of this reply to the resident of report {ticket.reference} would be "
        "4 SMS segments (GSM-7, 460 characters): at most 3 segments"
    )
    assert refused.value.errors()[0]["loc"] == ["body", "body"]
    assert session.execute(select(Outbox)).first() is None
    assert [e.kind for e in tickets.events(session=session, ticket=ticket)] == ["created"]

    tickets.reply(session=session, ticket=ticket, staff=user, now=NOW, body="a" * room)
    [row] = session.execute(select(Outbox)).scalars()
    assert row.channel == "sms" and len(row.body or "") == 459


def test_one_character_outside_gsm7_counts_the_reply_in_ucs2_and_is_named(
    session: Session,
) -> None:
    resident = make_resident(session, consented_at=NOW, consent_channel="sms")
    user, _ = make_staff(session)
    ticket = make_ticket(session, resident_id=resident.id, now=NOW)
    # 300 characters fit GSM-7's three segments; with an emoji they need five of UCS-2's.
    words = "The crew comes on Tuesday. " * 11 + "🙏"
    with pytest.raises(budget.TooManySegments) as refused:
        tickets.reply(session=session, ticket=ticket, staff=user, now=NOW, body=words)
    assert refused.value.problems[0].size.encoding == "UCS-2"
    assert "UCS-2 because of 🙏" in str(refused.value)
    # Curly quotes are sent as straight ones (plain punctuation): they cost nothing more.
    curly = "The crew comes on Tuesday. " * 11 + "\u201cThanks\u201d"
    tickets.reply(session=session, ticket=ticket, staff=user, now=NOW, body=curly)
    [row] = session.execute(select(Outbox)).scalars()
    sent = sms.plain_punctuation(row.body or "")
    assert sms.encoding(sent) == "GSM-7" and sms.segments(sent) == 3


def test_a_long_reply_goes_to_a_resident_whatsapp_reaches_but_not_by_sms_fallback(
    session: Session, settings: Settings
) -> None:
    recent = NOW - dt.timedelta(hours=2)
    user, _ = make_staff(session)
    chatting = make_resident(session, consented_at=NOW, last_inbound_whatsapp_at=recent)
    ticket = make_ticket(session, resident_id=chatting.id, now=NOW)
    long_words = "The crew will come to your lane on Tuesday morning. " * 15  # 780 characters
    # Within the 24-hour window: free-form WhatsApp, as long as a reply may be.
    tickets.reply(session=session, ticket=ticket, staff=user, now=NOW, body=long_words)
    [row] = session.execute(select(Outbox)).scalars()
    assert row.channel == "whatsapp" and long_words.strip() in (row.body or "")

    # A day later, with no template for staff replies, it would fall back to SMS: refused.
    later = NOW + dt.timedelta(days=2)
    with pytest.raises(budget.TooManySegments):
        tickets.reply(session=session, ticket=ticket, staff=user, now=later, body=long_words)
    # With an approved template that takes the words, it goes as the template: sent.
    templated = settings.model_copy(
        update={"whatsapp_templates": {"staff_reply": {"en": "HX" + "1" * 32}}}
    )
    tickets.reply(
        session=session,
        ticket=ticket,
        staff=user,
        now=later,
        body=long_words + "Thanks.",
        settings=templated,
    )
    assert len(session.execute(select(Outbox)).all()) == 2


def test_a_reply_to_a_ticket_is_measured_for_every_linked_reporter(session: Session) -> None:
    user, _ = make_staff(session)
    chatting = make_resident(session, consented_at=NOW, last_inbound_whatsapp_at=NOW)
    texting = make_resident(session, "+27827654321", consented_at=NOW, consent_channel="sms")
    parent = make_ticket(session, resident_id=chatting.id, now=NOW)
    child = make_ticket(session, resident_id=texting.id, now=NOW)
    tickets.link(session=session, ticket=child, parent=parent, staff=user, now=NOW, scope=None)
    words = "The crew will come to your lane on Tuesday morning. " * 10  # 520 characters

    framed = report_notices.update_notice(
        load(), get_translator("en"), reference=child.reference, note=words.strip()
    )
    said = tickets.reply_sms(session=session, ticket=parent, staff=user, now=NOW, body=words)
    assert said.by_sms and not said.fits
    assert (said.segments, said.encoding, said.characters) == (4, "GSM-7", len(framed))
    assert said.detail is not None and f"report {child.reference} would be 4" in said.detail
    with pytest.raises(budget.TooManySegments) as refused:
        tickets.reply(session=session, ticket=parent, staff=user, now=NOW, body=words)
    assert f"resident of report {child.reference}" in str(refused.value)
    # A public note sent with a change is the same reply, named as the note.
    with pytest.raises(budget.TooManySegments) as refused:
        tickets.change(
            session=session,
            ticket=parent,
            update_in=TicketUpdate(status="in_progress", note=words),
            staff=user,
            now=NOW,
        )
    assert refused.value.problems[0].field == ("note",)
