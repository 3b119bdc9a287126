"""The triage queue: urgency order, every filter, counts per filter choice, scopes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event
from sqlmodel import Session

from bot.config import Settings
from bot.domain.staff import queue
from bot.domain.staff import scope as scopes
from bot.domain.staff import service as staff
from bot.domain.tickets import service as tickets
from tests.domain.tickets.factories import make_ticket
from tests.factories import make_settlement

NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)


def test_urgency_order_filters_and_counts(session: Session, settings: Settings) -> None:
    here = make_settlement(session, "Ubuhle Gardens", ward="14")
    there = make_settlement(session, "Kwa-Thema", ward="22")
    user = staff.create_user(session=session, email="t@example.org", role="triage")
    hour = dt.timedelta(hours=1)
    calm = make_ticket(session, now=NOW, settlement_id=here.id, language="xh", source="sms")
    breached = make_ticket(session, now=NOW - 100 * hour, settlement_id=there.id, source="whatsapp")
    soon = make_ticket(session, now=NOW - 60 * hour, settlement_id=here.id, category="roads")
    soon.ack_due_at = NOW + 2 * hour  # due soonest of the running clocks
    urgent = make_ticket(session, now=NOW - 2 * hour, urgent=True, settlement_id=here.id)
    done = make_ticket(session, now=NOW - 300 * hour, status="resolved", settlement_id=here.id)
    done.resolved_at = NOW - 299 * hour
    calm.assignee_id = user.id
    session.flush()

    rows, total = queue.search(
        session=session, filters=queue.QueueFilters(), now=NOW, settings=settings
    )
    order = [t.reference for t in rows]
    assert total == 5
    assert order[0] == breached.reference and order[-1] == done.reference
    assert order.index(urgent.reference) < order.index(soon.reference) < order.index(calm.reference)

    def refs(**filters: object) -> set[str]:
        found, _ = queue.search(
            session=session,
            filters=queue.QueueFilters(**filters),  # type: ignore[arg-type]
            now=NOW,
            settings=settings,
        )
        return {t.reference for t in found}

    assert refs(ward="22") == {breached.reference}
    assert refs(settlement_id=there.id) == {breached.reference}
    assert refs(language="xh") == {calm.reference}
    assert refs(channel="whatsapp") == {breached.reference}
    assert refs(sla="breached") == {breached.reference}
    assert refs(sla="met") == {done.reference}
    assert refs(category=["roads"]) == {soon.reference}
    assert refs(priority=["high"]) == {urgent.reference}
    assert refs(assignee_email="T@example.org") == {calm.reference}
    assert len(refs(unassigned=True)) == 4
    assert refs(status=["resolved"]) == {done.reference}

    counts = queue.counts(
        session=session,
        filters=queue.QueueFilters(settlement_id=here.id),
        now=NOW,
        settings=settings,
    )
    assert counts["settlement_id"] == {str(here.id): 4, str(there.id): 1}  # own filter ignored
    assert counts["status"] == {"new": 3, "resolved": 1}
    assert counts["sla"]["met"] == 1 and counts["sla"]["breached"] == 0
    assert counts["assignee"] == {"t@example.org": 1, "": 3}
    assert counts["channel"] == {"sms": 4}
    assert counts["ward"] == {"14": 4}  # the settlement filter still applies
    by_ward = queue.counts(
        session=session, filters=queue.QueueFilters(ward="22"), now=NOW, settings=settings
    )
    assert by_ward["ward"] == {"14": 4, "22": 1} and by_ward["status"] == {"new": 1}

    ward14 = scopes.Scope(wards=frozenset({"14"}))
    scoped, total = queue.search(
        session=session, filters=queue.QueueFilters(), scope=ward14, now=NOW, settings=settings
    )
    assert breached.reference not in {t.reference for t in scoped} and total == 4
    only_there = scopes.Scope(settlement_ids=frozenset({there.id or 0}))
    assert queue.counts(
        session=session, filters=queue.QueueFilters(), scope=only_there, now=NOW, settings=settings
    )["settlement_id"] == {str(there.id): 1}


def test_scope_rows(session: Session) -> None:
    here = make_settlement(session, "Ubuhle Gardens", ward="14")
    user = staff.create_user(session=session, email="s@example.org", role="officer")
    assert scopes.for_user(session=session, user=user).unrestricted
    assert here.id is not None
    scope = scopes.set_scope(
        session=session, user=user, settlement_ids=[here.id], wards=[" 7 ", ""]
    )
    assert scopes.for_user(session=session, user=user) == scope
    assert scope.describe() == f"settlement #{here.id}, ward 7"
    assert scopes.allows_settlement(session=session, scope=scope, settlement_id=here.id)
    assert not scopes.allows_settlement(session=session, scope=scope, settlement_id=None)
    scopes.set_scope(session=session, user=user, settlement_ids=[], wards=[])
    assert scopes.for_user(session=session, user=user).unrestricted


def test_scopes_of_several_users_in_one_query(session: Session) -> None:
    here = make_settlement(session, "Ubuhle Gardens", ward="14")
    users = [
        staff.create_user(session=session, email=f"s{n}@example.org", role="officer")
        for n in range(3)
    ]
    ids = [u.id for u in users if u.id is not None]
    assert here.id is not None
    scopes.set_scope(session=session, user=users[0], settlement_ids=[here.id], wards=["7"])
    scopes.set_scope(session=session, user=users[1], settlement_ids=[], wards=["9", "10"])
    statements: list[str] = []

    def count(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        found = scopes.for_users(session=session, user_ids=ids)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert found == {
        ids[0]: scopes.Scope(settlement_ids=frozenset({here.id}), wards=frozenset({"7"})),
        ids[1]: scopes.Scope(wards=frozenset({"9", "10"})),
        ids[2]: scopes.EVERYTHING,
    }
    assert all(found[u.id] == scopes.for_user(session=session, user=u) for u in users if u.id)


def test_a_ticket_waiting_on_the_resident_comes_after_every_running_clock(
    session: Session, settings: Settings
) -> None:
    hour = dt.timedelta(hours=1)
    calm = make_ticket(session, now=NOW)
    waiting = make_ticket(session, now=NOW - 90 * hour, status="waiting_on_resident")
    waiting.acknowledged_at = waiting.waiting_since = NOW - 89 * hour  # its deadline is near
    # Even one that breached before its wait began: staff can do nothing until the resident
    # answers.
    late = make_ticket(session, now=NOW - 200 * hour, status="waiting_on_resident")
    late.acknowledged_at, late.waiting_since = NOW - 199 * hour, NOW - 100 * hour
    done = make_ticket(session, now=NOW - 300 * hour, status="closed")
    session.flush()
    assert tickets.sla_state(late, now=NOW, settings=settings) == "breached"
    rows, _ = queue.search(
        session=session, filters=queue.QueueFilters(), now=NOW, settings=settings
    )
    assert [t.reference for t in rows] == [
        calm.reference,
        late.reference,
        waiting.reference,
        done.reference,
    ]
