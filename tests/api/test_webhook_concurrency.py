"""Two messages from one resident at the same moment, and Twilio retrying in parallel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.main import create_app
from bot.config import Settings
from bot.domain.messages.models import InboundMessage
from bot.domain.residents.models import Resident
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
