"""The daily job that erases numbers which never agreed to the privacy notice."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.config import Settings
from bot.db import session_scope
from bot.domain.messages.models import InboundMessage
from bot.domain.residents import jobs
from bot.domain.residents.models import Resident
from tests.domain.tickets.factories import make_ticket
from tests.factories import make_resident

NOW = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)


def test_numbers_that_never_agreed_are_erased_after_30_quiet_days(
    clean_db: Engine, settings: Settings
) -> None:
    old, recent = NOW - dt.timedelta(days=31), NOW - dt.timedelta(days=29)
    with session_scope(clean_db) as session:
        quiet = make_resident(session, "+27821110100", profile_name="Zodwa", updated_at=old)
        session.add(
            InboundMessage(
                message_sid="SM" + "q" * 32,
                channel="whatsapp",
                received_at=old,
                resident_id=quiet.id,
                body="hi",
            )
        )
        make_resident(session, "+27821110101", updated_at=recent)  # still deciding
        make_resident(session, "+27821110102", updated_at=old, consented_at=old)  # agreed
        logged = make_resident(session, "+27821110103", updated_at=old)  # a call centre's
        make_ticket(session, resident_id=logged.id, now=old)
    assert jobs.forget_unconsented(engine=clean_db, now=NOW) == 1
    with Session(clean_db) as session:
        left = set(session.exec(select(Resident.phone)))
        message = session.exec(select(InboundMessage)).one()
    assert left == {"+27821110101", "+27821110102", "+27821110103"}
    assert (message.resident_id, message.body) == (None, "")
    assert jobs.forget_unconsented(engine=clean_db, now=NOW) == 0


def test_the_worker_declares_the_job(settings: Settings) -> None:
    from bot.worker import JOB_MODULES

    assert "bot.domain.residents.jobs" in JOB_MODULES
    assert [job["id"] for job in jobs.schedule(settings)] == ["residents.forget_unconsented"]


def test_the_job_works_in_batches_until_none_is_left(
    clean_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "BATCH", 2)
    with session_scope(clean_db) as session:
        for n in range(5):
            make_resident(session, f"+2782111020{n}", updated_at=NOW - dt.timedelta(days=40))
    assert jobs.forget_unconsented(engine=clean_db, now=NOW) == 5
    with Session(clean_db) as session:
        assert session.exec(select(Resident)).all() == []


def test_a_number_agreeing_while_the_job_runs_is_kept(clean_db: Engine) -> None:
    with session_scope(clean_db) as session:
        resident_id = make_resident(session, "+27821110555", updated_at=NOW).id
    later = NOW + dt.timedelta(days=jobs.UNCONSENTED_DAYS + 1)
    # Their message is being answered (the row locked) and they agree to the notice...
    turn = Session(clean_db)
    turn.execute(select(Resident.id).where(Resident.id == resident_id).with_for_update())
    erased: list[int] = []
    job = threading.Thread(
        target=lambda: erased.append(jobs.forget_unconsented(engine=clean_db, now=later))
    )
    job.start()  # ... while the job looks for numbers that never agreed.
    time.sleep(0.5)
    person = turn.get(Resident, resident_id)
    assert person is not None
    person.consented_at = person.updated_at = later
    turn.commit()
    turn.close()
    job.join(10)
    assert erased == [0]
    with Session(clean_db) as session:
        assert session.get(Resident, resident_id) is not None
