"""Migrations build the whole schema from empty, match the models exactly, and keep rows."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, delete, insert, inspect, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from bot import migrate
from bot.db import make_engine, session_scope
from bot.domain.outbox import service as outbox
from bot.domain.outbox.models import Outbox
from bot.domain.residents import service as residents
from bot.domain.residents.models import Resident
from bot.domain.settlements.importer import import_csv
from bot.domain.settlements.models import ImportedRow, Meeting, Milestone, Settlement
from bot.domain.staff import scope as scopes
from bot.domain.staff.models import StaffScope, StaffUser
from bot.domain.tickets.models import Ticket, TicketEvent
from tests.conftest import _postgres_database
from tests.factories import make_resident

NOW = dt.datetime(2025, 6, 2, 8, 0, tzinfo=dt.UTC)


def _old_row(session: Session, row: SQLModel) -> int:
    """Add a row to a database at an older revision: only the columns its table has there
    (the models describe the newest schema). Return its id."""
    model = type(row)
    table = model.__table__  # type: ignore[attr-defined]
    columns = {c["name"] for c in inspect(session.connection()).get_columns(table.name)}
    values = {k: v for k, v in row.model_dump().items() if k in columns and k != "id"}
    # The table as it is there: a newer column with a default would be inserted too.
    old = Table(table.name, MetaData(), *(c._copy() for c in table.columns if c.name in columns))
    return int(session.execute(insert(old).values(values).returning(old.c.id)).scalar_one())


def _old_ticket(session: Session, status: str = "new", resident_id: int | None = None) -> int:
    """Add a ticket to a database at an older revision."""
    ticket = Ticket(
        reference=str(secrets.randbelow(9_000_000) + 1_000_000),
        resident_id=resident_id,
        category="water",
        status=status,
        source="sms",
        created_at=NOW,
        updated_at=NOW,
        ack_due_at=NOW + dt.timedelta(days=2),
        resolve_due_at=NOW + dt.timedelta(hours=72),
    )
    return _old_row(session, ticket)


def test_migrations_from_empty_create_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() is not None


_UPGRADE_ON_A_LINE = """
import sys
from bot import migrate
from bot.db import make_engine
engine = make_engine(sys.argv[1])
engine.connect().close()
print("ready", flush=True)
sys.stdin.readline()
migrate.upgrade(engine)
"""


def test_upgrades_started_together_on_a_fresh_database_all_end_at_head(
    database_url: str, tmp_path: Path
) -> None:
    """Replicas of `siyakha serve` start together and each migrates: one at a time (an
    advisory lock), the others waiting and then finding the schema at head, none crashing
    on the alembic_version row the first one wrote. Processes, as replicas are: Alembic's
    `context` is one per process."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (runs in the PostgreSQL pass)")
    with contextmanager(_postgres_database)(os.environ["TEST_DATABASE_URL"], "upgrade") as url:
        upgrades = [
            subprocess.Popen(
                [sys.executable, "-c", _UPGRADE_ON_A_LINE, url],
                cwd=tmp_path,  # not the checkout's ./.env
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        for upgrade in upgrades:  # loaded and connected
            assert upgrade.stdout is not None and upgrade.stdout.readline() == b"ready\n"
        for upgrade in upgrades:  # go, all together
            assert upgrade.stdin is not None
            upgrade.stdin.write(b"go\n")
            upgrade.stdin.flush()
        outputs = [upgrade.communicate(timeout=180)[0].decode() for upgrade in upgrades]
        assert [upgrade.returncode for upgrade in upgrades] == [0, 0, 0], outputs
        engine = make_engine(url)
        try:
            assert migrate.is_current(engine)
        finally:
            engine.dispose()


def test_an_erased_residents_ids_are_never_given_to_the_next_person(clean_db: Engine) -> None:
    """Migration 0006 rebuilds `resident` and `outbox` on SQLite (AUTOINCREMENT) and keeps
    every row, including the rows of other tables that point at them."""
    migrate.downgrade(clean_db, "0005")
    try:
        with session_scope(clean_db) as session:
            kept, erased = (
                _old_row(session, Resident(phone=phone))
                for phone in ("+27821110090", "+27821110091")
            )
            ticket_id = _old_ticket(session, resident_id=kept)
            queued = [
                _old_row(
                    session,
                    Outbox(
                        resident_id=resident_id,
                        channel="sms",
                        purpose="notice",
                        dedupe_key=str(resident_id),
                        body="Hi",
                    ),
                )
                for resident_id in (kept, erased)
            ]
            ids = {"kept": kept, "erased": erased, "ticket": ticket_id}
    finally:
        migrate.upgrade(clean_db)
    with session_scope(clean_db) as session:
        assert session.get(Ticket, ids["ticket"]).resident_id == ids["kept"]
        assert {row.id for row in session.exec(select(Outbox))} == set(queued)
        residents.erase(session=session, resident_id=ids["erased"])  # the newest of each
    with session_scope(clean_db) as session:
        newcomer = make_resident(session, "+27821110092")
        row = outbox.enqueue(
            session=session, resident=newcomer, purpose="notice", dedupe_key="new", body="Hi"
        )
        assert newcomer.id > ids["erased"] and row.id > max(queued)
        assert session.get(Ticket, ids["ticket"]).resident_id == ids["kept"]
    if clean_db.dialect.name == "sqlite":
        with clean_db.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_migrations_refuse_to_rebuild_a_sqlite_table_with_foreign_keys_on(
    clean_db: Engine,
) -> None:
    if clean_db.dialect.name != "sqlite":
        pytest.skip("only SQLite rebuilds tables (runs in the SQLite pass)")
    cfg = migrate.alembic_config()
    # Foreign keys on, as every app connection has them; the failure rolls everything back.
    with pytest.raises(RuntimeError, match="cascade"), clean_db.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0005")
    assert migrate.is_current(clean_db)


def test_tickets_clocks_start_at_their_last_reopening_and_a_wait_goes_on(clean_db: Engine) -> None:
    """Migration 0009 gives each ticket its clock start (its last reopening, else its
    opening) and a ticket waiting on the resident the time it began to."""
    migrate.downgrade(clean_db, "0008")
    try:
        with session_scope(clean_db) as session:
            ids = {s: _old_ticket(session, s) for s in ("new", "reopened", "waiting_on_resident")}
            moves = [
                ("reopened", "reopened", 5),
                ("reopened", "reopened", 9),  # the last reopening counts
                ("waiting_on_resident", "waiting_on_resident", 3),
                ("new", "waiting_on_resident", 1),  # no longer waiting: nothing to pause
            ]
            for ticket, to, day in moves:
                session.add(
                    TicketEvent(
                        ticket_id=ids[ticket],
                        at=NOW + dt.timedelta(days=day),
                        actor="staff",
                        kind="status",
                        data={"from": "in_progress", "to": to},
                    )
                )
    finally:
        migrate.upgrade(clean_db)
    with Session(clean_db) as session:
        rows = {t.id: t for t in session.exec(select(Ticket))}
    new, reopened, waiting = (rows[ids[s]] for s in ("new", "reopened", "waiting_on_resident"))
    assert (new.clock_started_at, new.waiting_since) == (NOW, None)
    assert (reopened.clock_started_at, reopened.waiting_since) == (NOW + dt.timedelta(days=9), None)
    assert waiting.clock_started_at == NOW
    assert waiting.waiting_since == NOW + dt.timedelta(days=3)


def test_tickets_remember_whether_their_last_public_reply_was_canned(clean_db: Engine) -> None:
    """Migration 0010 gives each ticket the canned code of its last public reply, if that
    reply was canned."""
    migrate.downgrade(clean_db, "0009")
    try:
        with session_scope(clean_db) as session:
            ids = {name: _old_ticket(session) for name in ("canned", "then_free", "none")}
            replies = [
                ("canned", True, {"canned": "visit_soon"}),
                ("canned", False, {}),  # an internal note after it changes nothing
                ("then_free", True, {"canned": "visit_soon"}),
                ("then_free", True, {}),  # the last public reply was free text
            ]
            for ticket, public, data in replies:
                session.add(
                    TicketEvent(
                        ticket_id=ids[ticket],
                        at=NOW,
                        actor="staff",
                        kind="reply",
                        public=public,
                        data=data,
                    )
                )
    finally:
        migrate.upgrade(clean_db)
    with Session(clean_db) as session:
        rows = {t.id: t.last_public_canned for t in session.exec(select(Ticket))}
    assert [rows[ids[n]] for n in ("canned", "then_free", "none")] == ["visit_soon", "", ""]


def test_opt_outs_kept_before_their_channel_have_none(clean_db: Engine) -> None:
    """Migration 0012 adds `resident.opted_out_channel` in place: an existing opt-out has
    none, a channel other than SMS or WhatsApp is refused, and on SQLite an erased
    resident's id is still never given again (a rebuilt table counts on from the highest
    id left)."""
    migrate.downgrade(clean_db, "0011")
    try:
        with session_scope(clean_db) as session:
            opted_out, erased = (
                _old_row(session, Resident(phone=phone, opted_out_at=opted_out_at))
                for phone, opted_out_at in (("+27821110097", NOW), ("+27821110098", None))
            )
            session.execute(delete(Resident).where(col(Resident.id) == erased))
    finally:
        migrate.upgrade(clean_db)
    with session_scope(clean_db) as session:
        resident = session.get(Resident, opted_out)
        assert resident is not None
        assert (resident.opted_out_at, resident.opted_out_channel) == (NOW, None)
        assert make_resident(session, "+27821110099").id > erased
    fax = update(Resident).where(col(Resident.id) == opted_out).values(opted_out_channel="fax")
    with pytest.raises(IntegrityError, match="ck_opted_out_channel"), session_scope(clean_db) as s:
        s.execute(fax)


def test_taking_outbox_columns_back_keeps_its_ids_from_being_given_again(
    clean_db: Engine,
) -> None:
    """The downgrades of 0011 and 0008 drop their `outbox` columns in place: on SQLite a
    rebuilt table would lose AUTOINCREMENT (migration 0006), and a message's id, which the
    worker's claims and the delivery log name, would be given to the next message."""
    migrate.downgrade(clean_db, "0007")
    try:
        with session_scope(clean_db) as session:
            resident = _old_row(session, Resident(phone="+27821110093"))
            kept, dropped = (
                _old_row(
                    session,
                    Outbox(
                        resident_id=resident,
                        channel="sms",
                        purpose="notice",
                        dedupe_key=key,
                        body="Hi",
                    ),
                )
                for key in ("kept", "dropped")
            )
            session.execute(delete(Outbox).where(col(Outbox.id) == dropped))
    finally:
        migrate.upgrade(clean_db)
    assert _next_message_id(clean_db, "+27821110094") > dropped > kept


def _next_message_id(engine: Engine, phone: str) -> int:
    """Queue a message for a new resident; return its id."""
    with session_scope(engine) as session:
        newcomer = make_resident(session, phone)
        row = outbox.enqueue(
            session=session, resident=newcomer, purpose="notice", dedupe_key="new", body="Hi"
        )
        assert row.id is not None
        return row.id


def test_duplicates_left_waiting_on_their_parents_reporter_are_taken_back(
    clean_db: Engine,
) -> None:
    """Migration 0014: a duplicate put on waiting on the resident through its parent (before
    43b592e), and still waiting so, goes back to the status it had, its clock running as if
    it had never paused; a wait staff set on a ticket itself stays."""
    migrate.downgrade(clean_db, "0013")
    day = dt.timedelta(days=1)
    try:
        with session_scope(clean_db) as session:
            parent = _old_ticket(session, "waiting_on_resident")
            names = ("from_new", "from_in_progress", "unlinked", "asked", "answered")
            ids = {name: _old_ticket(session, "waiting_on_resident") for name in names}
            ids["resumed"] = _old_ticket(session, "in_progress")
            moves = [  # ticket, from, to, via the parent
                ("from_in_progress", "new", "in_progress", True),
                ("from_in_progress", "in_progress", "waiting_on_resident", True),
                ("from_new", "new", "waiting_on_resident", True),
                ("unlinked", "acknowledged", "waiting_on_resident", True),
                ("asked", "acknowledged", "waiting_on_resident", False),  # staff asked them
                ("answered", "new", "waiting_on_resident", True),
                ("answered", "waiting_on_resident", "in_progress", False),  # they answered
                ("answered", "in_progress", "waiting_on_resident", False),  # asked again
                ("resumed", "new", "waiting_on_resident", True),
                ("resumed", "waiting_on_resident", "in_progress", True),
            ]
            for at, (name, before, to, via) in enumerate(moves, start=1):
                data = {"from": before, "to": to} | ({"via": "1000001"} if via else {})
                session.add(
                    TicketEvent(
                        ticket_id=ids[name],
                        at=NOW + at * day,
                        actor="staff",
                        kind="status",
                        public=True,
                        data=data,
                    )
                )
            # When each last moved: a ticket still waiting, since then.
            waits = {name: NOW + at * day for at, (name, *_) in enumerate(moves, start=1)}
            for name, ticket_id in ids.items():
                session.execute(
                    update(Ticket)
                    .where(col(Ticket.id) == ticket_id)
                    .values(
                        parent_id=None if name in ("unlinked", "asked") else parent,
                        clock_started_at=NOW,
                        acknowledged_at=NOW + day if name != "from_new" else waits[name],
                        waiting_since=waits[name] if name != "resumed" else None,
                    )
                )
    finally:
        migrate.upgrade(clean_db)
    with Session(clean_db) as session:
        rows = {t.id: t for t in session.exec(select(Ticket))}
        history = {
            name: [
                (e.actor, e.public, e.data.get("from"), e.data.get("to"))
                for e in session.exec(
                    select(TicketEvent)
                    .where(TicketEvent.ticket_id == ticket_id)
                    .order_by(col(TicketEvent.id))
                )
            ]
            for name, ticket_id in ids.items()
        }
    due = NOW + dt.timedelta(hours=72)  # as opened: the clock never paused
    state = {
        name: (t.status, t.waiting_since, t.acknowledged_at, t.resolve_due_at, t.clock_started_at)
        for name, t in ((name, rows[ticket_id]) for name, ticket_id in ids.items())
    }
    # Still acknowledged, as linking acknowledges since 13c0456: no breach email for it now.
    assert state["from_new"] == ("new", None, waits["from_new"], due, NOW)
    assert state["from_in_progress"] == ("in_progress", None, NOW + day, due, NOW)
    assert state["unlinked"] == ("acknowledged", None, NOW + day, due, NOW)
    assert state["asked"] == ("waiting_on_resident", waits["asked"], NOW + day, due, NOW)
    assert state["answered"][:2] == ("waiting_on_resident", waits["answered"])
    assert state["resumed"][:2] == ("in_progress", None)
    assert rows[parent].status == "waiting_on_resident"
    # The history says so, as an internal change: the resident is told nothing.
    for name, back in (("from_new", "new"), ("from_in_progress", "in_progress")):
        assert history[name][-1] == ("system", False, "waiting_on_resident", back)
    for name in ("asked", "answered", "resumed"):
        assert history[name][-1][0] == "staff"


def test_tickets_reopened_before_086b4bb_are_to_be_acknowledged_again(clean_db: Engine) -> None:
    """Migration 0015: a ticket still reopened that kept its earlier opening's
    acknowledgement loses it and gets a fresh acknowledge time after its reopening; one
    acknowledged since, or moved on, is left."""
    migrate.downgrade(clean_db, "0014")
    day = dt.timedelta(days=1)
    reopened_at = NOW + 5 * day
    try:
        with session_scope(clean_db) as session:
            ids = {
                name: _old_ticket(session, status)
                for name, status in (
                    ("stale", "reopened"),
                    ("seen_since", "reopened"),
                    ("moved_on", "in_progress"),
                )
            }
            for name, ticket_id in ids.items():
                session.execute(
                    update(Ticket)
                    .where(col(Ticket.id) == ticket_id)
                    .values(
                        clock_started_at=reopened_at,
                        acknowledged_at=reopened_at + day if name == "seen_since" else NOW,
                        ack_breach_flagged_at=NOW + 3 * day,
                    )
                )
    finally:
        migrate.upgrade(clean_db)
    with Session(clean_db) as session:
        state = {
            name: (t.acknowledged_at, t.ack_due_at, t.ack_breach_flagged_at)
            for name, t in ((n, session.get(Ticket, i)) for n, i in ids.items())
            if t is not None
        }
    first_window = dt.timedelta(days=2)  # _old_ticket: acknowledge by 2 days after opening
    assert state["stale"] == (None, reopened_at + first_window, None)
    assert state["seen_since"] == (reopened_at + day, NOW + first_window, NOW + 3 * day)
    assert state["moved_on"] == (NOW, NOW + first_window, NOW + 3 * day)


def test_meetings_and_milestones_stored_before_0016_have_no_former_keys(clean_db: Engine) -> None:
    """Migration 0016 adds `former_keys` in place: meetings and milestones already there
    have none (the keys of changes made before were not kept), and imports read them."""
    migrate.downgrade(clean_db, "0015")
    try:
        with session_scope(clean_db) as session:
            town = Settlement(
                name="Old Town", name_key="old town", municipality="Bay", municipality_key="bay"
            )
            settlement = _old_row(session, town)
            forum = Meeting(level="city", title="Forum", starts_at=NOW, natural_key="forum")
            meeting = _old_row(session, forum)
            taps = Milestone(
                settlement_id=settlement, strand="services", title="Taps", title_key="taps"
            )
            milestone = _old_row(session, taps)
    finally:
        migrate.upgrade(clean_db)
    with session_scope(clean_db) as session:
        stored = session.get(Meeting, meeting), session.get(Milestone, milestone)
        assert [row.former_keys for row in stored if row is not None] == [[], []]
        again = (
            "settlement,strand,title,target_date,status,note\nOld Town,services,Taps,,planned,\n"
        )
        result = import_csv(session=session, kind="milestones", data=again)
        assert (result.unchanged, result.kept) == (["Old Town: Taps"], [])


def test_a_settlement_a_user_is_scoped_to_cannot_be_deleted_from_under_them(
    clean_db: Engine,
) -> None:
    """Migration 0018: `staff_scope.settlement_id` restricts. It cascaded: deleting the one
    settlement an officer was scoped to deleted their last scope row, and a user with no
    rows is unrestricted (they saw everything). Rows and the one-target check are kept, on
    SQLite (the table rebuilt) too."""
    migrate.downgrade(clean_db, "0017")
    try:
        with session_scope(clean_db) as session:
            kept = Settlement(name="K", name_key="k", municipality="B", municipality_key="b")
            settlement = _old_row(session, kept)
            officer = _old_row(session, StaffUser(email="scoped@example.org", role="officer"))
            _old_row(session, StaffScope(user_id=officer, settlement_id=settlement))
    finally:
        migrate.upgrade(clean_db)
    gone = delete(Settlement).where(col(Settlement.id) == settlement)
    with pytest.raises(IntegrityError), session_scope(clean_db) as session:
        session.execute(gone)
    two_targets = StaffScope(user_id=officer, settlement_id=settlement, ward="7")
    one_target = pytest.raises(IntegrityError, match="ck_staff_scope_one_target")
    with one_target, session_scope(clean_db) as session:
        _old_row(session, two_targets)
    with session_scope(clean_db) as session:
        user = session.get(StaffUser, officer)
        assert user is not None
        assert scopes.for_user(session=session, user=user).settlement_ids == {settlement}
        # Given another scope first, as an admin would, the settlement goes.
        scopes.set_scope(session=session, user=user, settlement_ids=[], wards=["7"])
        session.execute(gone)
    with session_scope(clean_db) as session:
        assert session.get(Settlement, settlement) is None


def test_yeses_stored_before_0019_are_for_the_meeting_s_start_as_it_is(clean_db: Engine) -> None:
    """Migration 0019 keeps the start a yes was given for: rows already there take their
    meeting's start (what they meant until then), and count as before."""
    from bot.domain.broadcasts import service as broadcasts
    from bot.domain.broadcasts.models import MeetingAttendance

    migrate.downgrade(clean_db, "0018")
    starts = NOW + dt.timedelta(days=3, seconds=30)
    try:
        with session_scope(clean_db) as session:
            forum = Meeting(level="city", title="Forum", starts_at=starts, natural_key="forum")
            meeting = _old_row(session, forum)
            resident = _old_row(session, Resident(phone="+27821234567"))
            said = MeetingAttendance(meeting_id=meeting, resident_id=resident, starts_at=NOW)
            _old_row(session, said)
    finally:
        migrate.upgrade(clean_db)
    with session_scope(clean_db) as session:
        [row] = session.exec(select(MeetingAttendance)).all()
        assert row.starts_at == starts
        assert broadcasts.attendance(
            session=session, scope=scopes.EVERYTHING, meeting_id=meeting
        ) == (1, 0)


def test_rows_imported_before_0021_are_updated_by_their_next_import_as_before(
    clean_db: Engine,
) -> None:
    """Migration 0021 adds what the last import wrote (`imported_row`), empty: for a row
    imported before it, no one can tell a person's change from the import's, so its next
    import updates it as imports did, and remembers what it wrote from then on."""
    migrate.downgrade(clean_db, "0020")
    try:
        assert "imported_row" not in inspect(clean_db).get_table_names()
        with session_scope(clean_db) as session:
            town = Settlement(
                name="Old Town", name_key="old town", municipality="Bay", municipality_key="bay"
            )
            settlement = _old_row(session, town)
            done = Milestone(
                settlement_id=settlement, strand="services", title="Taps", title_key="taps"
            )
            done.status = "done"  # changed on the dashboard since it was imported as planned
            _old_row(session, done)
    finally:
        migrate.upgrade(clean_db)
    planned = "settlement,strand,title,target_date,status,note\nOld Town,services,Taps,,planned,\n"
    with session_scope(clean_db) as session:
        result = import_csv(session=session, kind="milestones", data=planned)
        assert (result.updated, result.overwritten) == (["Old Town: Taps"], [])
        assert [row.imported["status"] for row in session.exec(select(ImportedRow))] == ["planned"]


def test_messages_queued_before_0022_are_whole_messages_and_its_columns_go_in_place(
    clean_db: Engine,
) -> None:
    """Migration 0022 adds the outbox's part columns: a message queued before is no part of
    another, and is claimed as before. Its downgrade drops them in place (no rebuild that
    would lose SQLite's AUTOINCREMENT), parts and all."""
    migrate.downgrade(clean_db, "0021")
    try:
        assert {"parent_id", "part"}.isdisjoint(
            c["name"] for c in inspect(clean_db).get_columns("outbox")
        )
        with session_scope(clean_db) as session:
            resident = _old_row(session, Resident(phone="+27821110095", consented_at=NOW))
            queued = Outbox(
                resident_id=resident, channel="sms", purpose="notice", dedupe_key="old", body="Hi"
            )
            kept = _old_row(session, queued)
    finally:
        migrate.upgrade(clean_db)
    assert "ix_outbox_parent_id" in {i["name"] for i in inspect(clean_db).get_indexes("outbox")}
    with session_scope(clean_db) as session:
        (claimed,) = outbox.claim(
            session=session, worker_id="w", channel="sms", limit=5, lease=dt.timedelta(seconds=30)
        )
        row = session.get(Outbox, kept)
        assert claimed.id == kept and row is not None and (row.parent_id, row.part) == (None, None)
        parts = [
            Outbox(
                resident_id=resident,
                channel="sms",
                purpose="notice",
                dedupe_key=f"old:part:{n}",
                body=f"({n}/2) Hi",
                parent_id=kept,
                part=n,
            )
            for n in (1, 2)
        ]
        session.add_all(parts)
        session.flush()
        session.execute(delete(Outbox).where(col(Outbox.parent_id) == kept))
    migrate.downgrade(clean_db, "0021")
    try:
        assert {"parent_id", "part"}.isdisjoint(
            c["name"] for c in inspect(clean_db).get_columns("outbox")
        )
    finally:
        migrate.upgrade(clean_db)
    assert _next_message_id(clean_db, "+27821110096") > max(p.id or 0 for p in parts)


def test_wards_stored_before_585da9e_take_their_first_settlement_s_spelling(
    clean_db: Engine,
) -> None:
    """Migration 0023: settlements, meetings, staff scopes and broadcasts' audiences stored
    with another spelling of a ward take its first settlement's, as new writes do since
    585da9e and as scopes and forums are compared; a ward no settlement is in is left. A
    scope of "WARD 14" saw none of "Ward 14"'s settlements, a forum of "ward 14" reached
    none of its residents. Downgrade keeps the new spellings."""
    from bot.domain.broadcasts.models import Broadcast

    migrate.downgrade(clean_db, "0022")
    try:
        with session_scope(clean_db) as session:
            ids: dict[str, int] = {}
            places = (
                ("first", "Ward 14"),
                ("shouted", "WARD 14"),
                ("loose", "ward  14"),
                ("nine", "9"),
            )
            for name, ward in places:
                row = Settlement(
                    name=name, name_key=name, municipality="B", municipality_key="b", ward=ward
                )
                ids[name] = _old_row(session, row)
            for title, ward in (("forum", "ward 14"), ("nowhere", "Ward  99")):
                meeting = Meeting(
                    level="ward", ward=ward, title=title, starts_at=NOW, natural_key=title
                )
                ids[title] = _old_row(session, meeting)
            officer = _old_row(session, StaffUser(email="ward14@example.org", role="officer"))
            for ward in ("WARD 14", "ward 14", " 9 "):
                _old_row(session, StaffScope(user_id=officer, ward=ward))
            audience = {"wards": ["WARD 14", "Ward 14", "Ward  99"], "languages": ["en"]}
            ids["broadcast"] = _old_row(session, Broadcast(audience=audience, send_at=NOW))
    finally:
        migrate.upgrade(clean_db)
    for step in ("after upgrade", "after downgrade"):
        with Session(clean_db) as session:
            wards = {
                name: row.ward
                for name in ("first", "shouted", "loose", "nine")
                if (row := session.get(Settlement, ids[name])) is not None
            }
            assert wards == {
                "first": "Ward 14",
                "shouted": "Ward 14",
                "loose": "Ward 14",
                "nine": "9",
            }
            forum, nowhere = (session.get(Meeting, ids[t]) for t in ("forum", "nowhere"))
            assert forum is not None and forum.ward == "Ward 14", step
            assert nowhere is not None and nowhere.ward == "Ward  99", step
            scoped = session.exec(
                select(StaffScope.ward)
                .where(StaffScope.user_id == officer)
                .order_by(col(StaffScope.id))
            ).all()
            assert scoped == ["Ward 14", "9"], step
            broadcast = session.get(Broadcast, ids["broadcast"])
            assert broadcast is not None
            assert broadcast.audience == {"wards": ["Ward 14", "Ward  99"], "languages": ["en"]}
            user = session.get(StaffUser, officer)
            assert user is not None
            seen = scopes.visible_settlements(
                session=session, scope=scopes.for_user(session=session, user=user)
            )
            assert sorted(s.name for s in seen) == ["first", "loose", "nine", "shouted"], step
        migrate.downgrade(clean_db, "0022")
        migrate.upgrade(clean_db)
