"""Two messages from one resident at the same moment, Twilio retrying in parallel, and a
message arriving while another transaction holds what it needs."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.main import create_app
from bot.config import Settings
from bot.domain.messages.models import InboundMessage
from bot.domain.residents.models import Resident
from tests.db_threads import write_held_by_another_process, write_held_elsewhere
from tests.live_server import serve
from tests.twilio_payloads import signed, sms

PATH = "/webhooks/twilio/messages"
pytestmark = pytest.mark.slow


def _settings_for(base: str, settings: Settings) -> Settings:
    return settings.model_copy(update={"public_url": base})


def _post_all(base: str, token: str, forms: list[dict[str, str]]) -> list[httpx.Response]:
    with httpx.Client(base_url=base, timeout=30) as http, ThreadPoolExecutor(len(forms)) as pool:
        return list(
            pool.map(lambda form: http.post(PATH, **signed(base + PATH, form, token)), forms)
        )


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


@pytest.fixture
def live(settings: Settings, clean_db: Engine):
    app = create_app(settings, clean_db)
    with serve(app) as base:
        app.state.settings = _settings_for(base, settings)
        yield base, settings.twilio_auth_token or ""


def test_parallel_retries_of_one_message_are_answered_once(live, clean_db) -> None:
    base, token = live
    form = sms("hello", phone="+27831230001")
    responses = _post_all(base, token, [form] * 8)
    assert [r.status_code for r in responses] == [200] * 8
    assert len({r.text for r in responses}) == 1
    assert _count(clean_db, InboundMessage) == 1
    assert _count(clean_db, Resident) == 1


def test_parallel_retries_of_a_known_residents_message_are_answered_once(live, clean_db) -> None:
    # The retries wait for the first's lock on the resident's row; each must then see the
    # message the first stored (on PostgreSQL, a statement that waited for a row lock reads
    # other tables as they were when it began: the MessageSid is checked after the wait).
    base, token = live
    phone = "+27831230009"
    assert _post_all(base, token, [sms("hi", phone=phone)])[0].status_code == 200
    form = sms("1", phone=phone)
    responses = _post_all(base, token, [form] * 8)
    assert [r.status_code for r in responses] == [200] * 8
    assert len({r.text for r in responses}) == 1
    assert _count(clean_db, InboundMessage) == 2


def test_simultaneous_messages_from_one_new_resident(live, clean_db) -> None:
    base, token = live
    forms = [sms(text, phone="+27831230002") for text in ["hi", "1", "hello", "menu", "?", "0"]]
    responses = _post_all(base, token, forms)
    assert [r.status_code for r in responses] == [200] * len(forms)
    assert all("<Message>" in r.text for r in responses)
    assert _count(clean_db, Resident) == 1
    assert _count(clean_db, InboundMessage) == len(forms)
    with Session(clean_db) as session:
        sids = {m.message_sid for m in session.exec(select(InboundMessage))}
        resident = session.exec(select(Resident)).one()
    assert sids == {f["MessageSid"] for f in forms}
    assert isinstance(resident.conversation, dict)
    assert resident.conversation  # a state was saved, not lost to a race


def test_many_residents_at_once(live, clean_db) -> None:
    base, token = live
    forms = [sms("hi", phone=f"+2783123{n:04d}") for n in range(100, 124)]
    responses = _post_all(base, token, forms)
    assert [r.status_code for r in responses] == [200] * len(forms)
    assert _count(clean_db, Resident) == len(forms)
    assert urlparse(base).hostname == "127.0.0.1"


def _post_later(base: str, token: str, form: dict[str, str]) -> Future[httpx.Response]:
    pool = ThreadPoolExecutor(1)
    future = pool.submit(
        lambda: httpx.post(base + PATH, timeout=30, **signed(base + PATH, form, token))
    )
    pool.shutdown(wait=False)
    return future


def _answers_while_waiting(base: str, waiting: Future[httpx.Response]) -> None:
    """The held-up webhook waits off the event loop: other requests are still answered.

    Answered at all is the proof: the hold lasts until the caller's block ends, so a loop
    the webhook blocked could not answer before the timeout. (No bound on how fast: a
    2-second one failed on a loaded machine.)"""
    time.sleep(0.3)
    assert not waiting.done()
    assert httpx.get(base + "/static/staff.css", timeout=10).status_code == 200
    assert not waiting.done()


def test_a_message_waits_for_a_transaction_holding_its_resident_and_then_is_answered(
    live, clean_db
) -> None:
    base, token = live
    phone = "+27831230003"
    assert _post_all(base, token, [sms("hi", phone=phone)])[0].status_code == 200
    # Another request (a dashboard save, say) is mid-transaction on this resident: it
    # holds the row lock on PostgreSQL and the write lock on SQLite.
    held = "UPDATE resident SET profile_name = 'held' WHERE phone = '" + phone + "'"
    with write_held_elsewhere(clean_db, held):
        waiting = _post_later(base, token, sms("1", phone=phone))
        _answers_while_waiting(base, waiting)
    response = waiting.result(timeout=30)
    assert response.status_code == 200
    assert "Masakhane" not in response.text  # "1" chose English: the consent notice follows
    assert "privacy" in response.text.lower() or "POPIA" in response.text
    assert _count(clean_db, InboundMessage) == 2


def test_on_sqlite_a_message_waits_for_another_process_writing_and_then_is_answered(
    live, clean_db, database_url
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only: PostgreSQL has no database-wide write lock")
    base, token = live
    # the worker process, say, mid-transaction
    with write_held_by_another_process(database_url.removeprefix("sqlite:///")):
        waiting = _post_later(base, token, sms("hi", phone="+27831230004"))
        _answers_while_waiting(base, waiting)
    response = waiting.result(timeout=30)
    assert response.status_code == 200
    assert "isiXhosa" in response.text  # the language menu
    assert _count(clean_db, Resident) == 1
