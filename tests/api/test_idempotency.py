"""`Idempotency-Key` on the API's requests that send to residents: a client retrying after
a timeout gets the first answer, and residents get one message."""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from api.main import create_app
from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import Broadcast
from bot.domain.outbox.models import Outbox
from bot.domain.staff.models import AuditEvent
from tests.api.test_v1_tickets import auth
from tests.domain.broadcasts.factories import make_member
from tests.domain.tickets.factories import make_staff, make_ticket
from tests.factories import make_meeting, make_milestone, make_settlement
from tests.live_server import serve

BROADCAST = {
    "title": "Water tanks",
    "audience": {"everyone": True},
    "texts": {"en": "Water tanks arrive on Monday."},
}


@pytest.fixture
def world(clean_db: Engine) -> dict[str, Any]:
    """Two residents of one settlement, its meeting and a milestone done, a ticket of one of
    them, two officers and a triage user."""
    with session_scope(clean_db) as session:
        home = make_settlement(session, "Ubuhle Gardens", ward="14", category="B1")
        member = make_member(session, settlement_id=home.id)
        make_member(session, settlement_id=home.id, language="xh", channel="whatsapp")
        meeting = make_meeting(session, utcnow() + dt.timedelta(days=3), settlement_id=home.id)
        milestone = make_milestone(session, home, status="done")
        ticket = make_ticket(session, settlement_id=home.id, resident_id=member.id)
        _, officer = make_staff(session, "officer@ubuntubay.example.org", "officer")
        _, second = make_staff(session, "second@ubuntubay.example.org", "officer")
        _, triage = make_staff(session)
        return {
            "home": home.id,
            "meeting": meeting.id,
            "milestone": milestone.id,
            "ticket": ticket.reference,
            "officer": auth(officer),
            "second": auth(second),
            "triage": auth(triage),
        }


def _count(engine: Engine, model: type, *where: Any) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def test_a_retried_broadcast_is_created_once_and_answered_as_the_first(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    # A client that timed out and sent it again made two broadcasts: residents got both.
    keyed = {**world["officer"], "Idempotency-Key": "7f9c2ba4-e88f-4f2b-9d1e-0b3c8a1d5e21"}
    first = client.post("/api/v1/broadcasts", json=BROADCAST, headers=keyed)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    # The same body, its fields in another order and spacing: the same request.
    again = client.post(
        "/api/v1/broadcasts",
        content='{"texts": {"en": "Water tanks arrive on Monday."}, "title": "Water tanks",'
        ' "audience": {"everyone": true}}',
        headers={**keyed, "Content-Type": "application/json"},
    )
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert _count(clean_db, Broadcast) == 1
    assert _count(clean_db, Outbox) == 2  # one message to each resident, not two
    assert _count(clean_db, AuditEvent, col(AuditEvent.action) == "api.broadcast.create") == 1
    # The same key with another body is refused, and nothing is done.
    other = {**BROADCAST, "texts": {"en": "Water tanks arrive on Tuesday."}}
    refused = client.post("/api/v1/broadcasts", json=other, headers=keyed)
    assert refused.status_code == 422
    assert "was used with another request" in refused.json()["detail"]
    assert _count(clean_db, Broadcast) == 1
    # Keys are each user's own; without a key, each request is its own (as before).
    theirs = client.post(
        "/api/v1/broadcasts",
        json=BROADCAST,
        headers={**world["second"], "Idempotency-Key": keyed["Idempotency-Key"]},
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    for _ in range(2):
        assert client.post(
            "/api/v1/broadcasts", json=BROADCAST, headers=world["officer"]
        ).is_success
    assert _count(clean_db, Broadcast) == 4


def test_a_refused_request_keeps_no_key(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    keyed = {**world["officer"], "Idempotency-Key": "retry-after-fixing"}
    nobody = {**BROADCAST, "audience": {"languages": ["af"]}}  # no resident speaks it
    assert client.post("/api/v1/broadcasts", json=nobody, headers=keyed).status_code == 409
    fixed = client.post("/api/v1/broadcasts", json=BROADCAST, headers=keyed)
    assert fixed.status_code == 201, fixed.text
    for bad in ("", "x" * 256, "with space"):
        answer = client.post(
            "/api/v1/broadcasts",
            json=BROADCAST,
            headers={**world["officer"], "Idempotency-Key": bad},
        )
        assert answer.status_code == 422, bad
        assert answer.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"], bad
    assert _count(clean_db, Broadcast) == 1


def test_every_request_that_sends_to_residents_takes_a_key(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    milestone = "/api/v1/settlements/{settlement_id}/milestones/{milestone_id}/announcement"
    sends = [
        (
            world["officer"],
            "/api/v1/meetings/{meeting_id}/announcement",
            {"change": "announced"},
        ),
        (world["officer"], milestone, None),
        (
            world["officer"],
            "/api/v1/settlements/{settlement_id}/category/announcement",
            {"category": "B1"},
        ),
        (
            world["triage"],
            "/api/v1/tickets/{reference}/replies",
            {"body": "A plumber comes."},
        ),
    ]
    ids = {
        "meeting_id": world["meeting"],
        "settlement_id": world["home"],
        "milestone_id": world["milestone"],
        "reference": world["ticket"],
    }
    spec = client.get("/openapi.json").json()["paths"]
    for headers, template, body in sends:
        url = template.format(**ids)
        keyed = {**headers, "Idempotency-Key": f"key-{url}"}
        first = client.post(url, json=body, headers=keyed)
        assert first.status_code == 201, (url, first.text)
        with Session(clean_db) as session:
            queued = session.exec(select(func.count()).select_from(Outbox)).one()
        again = client.post(url, json=body, headers=keyed)
        assert (again.status_code, again.json()) == (201, first.json()), url
        assert again.headers["idempotent-replayed"] == "true", url
        assert _count(clean_db, Outbox) == queued, url  # nothing sent twice
        names = [p["name"] for p in spec[template]["post"].get("parameters", [])]
        assert "Idempotency-Key" in names, template
    assert _count(clean_db, Broadcast) == 3
    create = spec["/api/v1/broadcasts"]["post"]["parameters"]
    [header] = [p for p in create if p["name"] == "Idempotency-Key"]
    assert header["in"] == "header" and "24 hours" in header["description"]


@pytest.mark.slow
def test_two_requests_with_one_key_at_once_create_one_broadcast(
    settings: Settings, clean_db: Engine, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second arrives while the first is still creating: it waits, then gets its answer.
    create = broadcasts.create

    def slow_create(**kwargs: Any) -> Broadcast:
        time.sleep(0.5)
        return create(**kwargs)

    monkeypatch.setattr(broadcasts, "create", slow_create)
    keyed = {**world["officer"], "Idempotency-Key": "both-at-once"}
    with (
        serve(create_app(settings, clean_db)) as base,
        httpx.Client(base_url=base, timeout=30) as http,
        ThreadPoolExecutor(2) as pool,
    ):
        answers = list(
            pool.map(
                lambda _: http.post("/api/v1/broadcasts", json=BROADCAST, headers=keyed), [1, 2]
            )
        )
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == ["", "true"]
    assert _count(clean_db, Broadcast) == 1
    assert _count(clean_db, Outbox) == 2
