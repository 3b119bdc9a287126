"""A yes saved while a reminder round is being queued (PostgreSQL: who waits for whom)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from bot.config import Settings
from bot.db import session_scope
from bot.domain.broadcasts import service as broadcasts
from bot.domain.outbox.models import Outbox
from bot.domain.residents import service as residents
from bot.domain.staff import scope as scopes
from tests.domain.broadcasts.factories import make_member
from tests.factories import make_meeting, make_settlement

STARTS = dt.datetime(2026, 3, 12, 16, 0, tzinfo=dt.UTC)
ROUND = dt.datetime(2026, 3, 9, 5, 0, tzinfo=dt.UTC)  # 07:00 local, three days before


@pytest.fixture
def scene(clean_db: Engine) -> tuple[int, str, int]:
    """A meeting and a resident of its settlement, committed: (meeting id, phone, id)."""
    if clean_db.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL (SQLite runs one writer at a time)")
    with session_scope(clean_db) as session:
        home = make_settlement(session, "Ubuhle Gardens", ward="14")
        meeting = make_meeting(session, STARTS, settlement_id=home.id, ward="14")
        resident = make_member(session, settlement_id=home.id, now=ROUND - dt.timedelta(days=1))
        assert meeting.id is not None and resident.id is not None
        return meeting.id, resident.phone, resident.id


def _in_thread(work: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_a_yes_saved_while_a_round_is_queued_gets_the_words_for_those_who_said_yes(
    clean_db: Engine, settings: Settings, scene: tuple[int, str, int]
) -> None:
    # The round's INSERT ... SELECT read who had said yes as of its start: a yes being
    # committed meanwhile was not seen, and "Reply 1 or ATTEND" went to that resident.
    meeting_id, phone, resident_id = scene
    saved, release = threading.Event(), threading.Event()

    def say_yes() -> None:  # the webhook's turn: the resident row, then the yes
        with session_scope(clean_db) as session:
            residents.lock_or_create(session=session, phone=phone, now=ROUND)
            broadcasts.record_attendance(
                session=session, resident_id=resident_id, meeting_id=meeting_id, starts_at=STARTS
            )
            saved.set()
            release.wait(10)

    def queue_round() -> None:
        with session_scope(clean_db) as session:
            broadcasts.send_reminders(session=session, settings=settings, now=ROUND)

    yes, yes_errors = _in_thread(say_yes)
    assert saved.wait(10), yes_errors
    round_, round_errors = _in_thread(queue_round)
    time.sleep(0.5)  # the round reaches the meeting (and waits for the yes)
    release.set()
    yes.join(10)
    round_.join(10)
    assert not yes_errors and not round_errors, (yes_errors, round_errors)
    with Session(clean_db) as session:
        [body] = session.execute(
            select(col(Outbox.body)).where(col(Outbox.resident_id) == resident_id)
        ).scalars()
    assert body is not None and "You said you will come. See you there." in body


def test_a_yes_waiting_for_a_round_does_not_hold_the_round_up(
    clean_db: Engine, scene: tuple[int, str, int]
) -> None:
    # A round holds the meeting and then queues a message for every resident it concerns
    # (its foreign key takes FOR KEY SHARE on each); a turn holds its resident and then
    # waits for the meeting with its yes. Had the turn held the resident FOR UPDATE, each
    # would wait for the other: a deadlock, one of them failed.
    meeting_id, phone, resident_id = scene
    blocked = threading.Event()

    def say_yes() -> None:
        with session_scope(clean_db) as session:
            residents.lock_or_create(session=session, phone=phone, now=ROUND)
            blocked.set()
            broadcasts.record_attendance(
                session=session, resident_id=resident_id, meeting_id=meeting_id, starts_at=STARTS
            )

    with clean_db.connect() as connection, connection.begin():
        connection.execute(text("SET LOCAL lock_timeout = '3s'"))
        connection.execute(
            text("SELECT id FROM meeting WHERE id = :id FOR UPDATE"), {"id": meeting_id}
        )
        yes, errors = _in_thread(say_yes)
        assert blocked.wait(10), errors
        time.sleep(0.5)  # the yes now waits for the meeting
        # What the round's INSERT of the resident's reminder takes on their row.
        connection.execute(
            text("SELECT id FROM resident WHERE id = :id FOR KEY SHARE"), {"id": resident_id}
        )
    yes.join(10)
    assert not yes.is_alive() and not errors, errors
    with Session(clean_db) as session:
        assert (
            broadcasts.attendance(session=session, scope=scopes.EVERYTHING, meeting_id=meeting_id)[
                0
            ]
            == 1
        )
