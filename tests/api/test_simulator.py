"""The simulator: dev only, same engine as the webhook, SMS cost shown; driven in real Chromium."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.main import create_app
from bot.config import Settings
from bot.db import session_scope
from bot.domain.messages.models import InboundMessage
from bot.domain.outbox import service as outbox
from bot.domain.residents.models import Resident
from tests.browser import chromium
from tests.live_server import serve


@pytest.fixture
def dev_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"env": "dev"})


def test_simulator_is_absent_outside_dev(settings: Settings, clean_db: Engine) -> None:
    for env in ("test", "production"):
        app = create_app(settings.model_copy(update={"env": env}), clean_db)
        with TestClient(app) as client:
            assert client.get("/simulator").status_code == 404
            assert client.post("/simulator/messages", json={}).status_code == 404


def test_simulator_api_answers_with_segments(dev_settings: Settings, clean_db: Engine) -> None:
    with TestClient(create_app(dev_settings, clean_db)) as client:
        answer = client.post(
            "/simulator/messages", json={"channel": "sms", "phone": "082 555 0101", "text": "hi"}
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["phone"] == "+27825550101"
        [reply] = body["replies"]
        assert "isiXhosa" in reply["text"]
        assert reply["encoding"] == "GSM-7"
        assert 1 <= reply["segments"] <= 3
        bad = client.post(
            "/simulator/messages", json={"channel": "fax", "phone": "x", "text": "hi"}
        )
        assert bad.status_code == 422
        bad_phone = client.post(
            "/simulator/messages", json={"channel": "sms", "phone": "12345", "text": "hi"}
        )
        assert bad_phone.status_code == 422
        nul = client.post(
            "/simulator/messages", json={"channel": "sms", "phone": "0825550101", "text": "a\x00"}
        )
        assert nul.status_code == 422  # refused before PostgreSQL refuses it
    with Session(clean_db) as session:
        assert session.exec(select(Resident.phone)).all() == ["+27825550101"]


def _queue_update(engine: Engine, phone: str, text: str) -> int:
    with session_scope(engine) as session:
        resident = session.exec(select(Resident).where(Resident.phone == phone)).one()
        row = outbox.enqueue(
            session=session,
            resident=resident,
            purpose="ticket_update",
            dedupe_key=f"test:{text}",
            body=text,
            channel="sms",
        )
        assert row.id is not None
        return row.id


def test_simulator_lists_proactive_messages_to_the_phone(
    dev_settings: Settings, clean_db: Engine
) -> None:
    with TestClient(create_app(dev_settings, clean_db)) as client:
        client.post(
            "/simulator/messages", json={"channel": "sms", "phone": "0825550103", "text": "hi"}
        )
        assert client.get("/simulator/outbox", params={"phone": "0825550103"}).json() == []
        first = _queue_update(clean_db, "+27825550103", "Your report 1234567 is being fixed.")
        listed = client.get("/simulator/outbox", params={"phone": "082 555 0103"}).json()
        assert [(m["id"], m["text"], m["purpose"]) for m in listed] == [
            (first, "Your report 1234567 is being fixed.", "ticket_update")
        ]
        after = client.get("/simulator/outbox", params={"phone": "0825550103", "after": first})
        assert after.json() == []
        other = client.get("/simulator/outbox", params={"phone": "0825550104"})
        assert other.json() == []
        assert client.get("/simulator/outbox", params={"phone": "12345"}).status_code == 422


@pytest.mark.browser
@pytest.mark.slow
def test_simulator_page_in_chromium(dev_settings: Settings, clean_db: Engine) -> None:
    app = create_app(dev_settings, clean_db)
    with serve(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        page.goto(base + "/simulator")
        page.get_by_label("SMS (basic phone)").check()
        page.get_by_label("Phone number").fill("0825550102")
        page.get_by_label("Message").fill("hi")
        page.get_by_role("button", name="Send").click()
        bot = page.locator("li.bot")
        expect(bot.first).to_contain_text("isiXhosa")
        expect(bot.first.locator(".meta")).to_contain_text("SMS segment")
        expect(bot.first.locator(".meta")).to_contain_text("GSM-7")
        page.get_by_label("Message").fill("<script>window.pwned=1</script>")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("li.me").nth(1)).to_have_text("<script>window.pwned=1</script>")
        expect(bot).to_have_count(2)
        assert page.evaluate("window.pwned") is None
        _queue_update(clean_db, "+27825550102", "A staff reply: the tap is fixed.")
        proactive = page.locator("li.proactive")
        expect(proactive).to_have_count(1)
        expect(proactive).to_contain_text("A staff reply: the tap is fixed.")
        expect(proactive.locator(".meta")).to_contain_text("ticket_update")
    with Session(clean_db) as session:
        bodies = session.exec(select(InboundMessage.body)).all()
    assert "<script>window.pwned=1</script>" in bodies
