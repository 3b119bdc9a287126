"""Settlements and meetings read through /api/v1, as municipal systems do: every staff
token reads, a scoped token sees only its places (and the forums its residents attend)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from bot.db import session_scope, utcnow
from bot.domain.staff import scope as scopes
from tests.domain.tickets.factories import make_staff
from tests.factories import make_meeting, make_milestone, make_settlement

SOON = utcnow().replace(microsecond=0) + dt.timedelta(days=5)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(clean_db: Engine) -> dict[str, Any]:
    """Two settlements in two wards, milestones, meetings at every level, and two tokens:
    an unscoped triage user and an officer scoped to ward 9."""
    with session_scope(clean_db) as session:
        home = make_settlement(session, "Ubuhle Gardens", ward="14", category="B1")
        other = make_settlement(session, "Thembalethu", ward="9", aliases=["Thembi"])
        make_milestone(session, home, strand="tenure", title="Occupation certificates")
        make_milestone(session, home, title="Standpipes installed", target_date=dt.date(2027, 3, 1))
        meetings = {
            "home": make_meeting(session, SOON, settlement_id=home.id, title="Layout plan"),
            "ward14": make_meeting(
                session, SOON + dt.timedelta(days=1), level="ward", ward="14", title="Ward 14"
            ),
            "ward9": make_meeting(
                session, SOON + dt.timedelta(days=2), level="ward", ward="9", title="Ward 9"
            ),
            "city": make_meeting(
                session, SOON + dt.timedelta(days=3), level="city", title="City forum"
            ),
            "past": make_meeting(
                session, utcnow() - dt.timedelta(days=2), settlement_id=home.id, title="Gone"
            ),
            "cancelled": make_meeting(
                session,
                SOON + dt.timedelta(days=4),
                settlement_id=other.id,
                title="Called off",
                cancelled=True,
            ),
        }
        _, reader = make_staff(session)
        user, scoped = make_staff(session, "ward9@ubuntubay.example.org", "officer")
        scopes.set_scope(session=session, user=user, settlement_ids=[], wards=["9"])
        return {
            "home": home.id,
            "other": other.id,
            "meetings": {name: m.id for name, m in meetings.items()},
            "reader": auth(reader),
            "scoped": auth(scoped),
        }


def test_settlements_with_their_category_and_milestones(
    client: TestClient, world: dict[str, Any]
) -> None:
    listed = client.get("/api/v1/settlements", headers=world["reader"])
    assert listed.status_code == 200
    assert [(s["name"], s["category"], s["ward"]) for s in listed.json()] == [
        ("Thembalethu", None, "9"),  # not yet assessed
        ("Ubuhle Gardens", "B1", "14"),
    ]
    assert listed.json()[0]["aliases"] == ["Thembi"]
    detail = client.get(f"/api/v1/settlements/{world['home']}", headers=world["reader"]).json()
    assert detail["name"] == "Ubuhle Gardens" and "name_key" not in detail
    assert [(m["strand"], m["title"], m["target_date"]) for m in detail["milestones"]] == [
        ("services", "Standpipes installed", "2027-03-01"),
        ("tenure", "Occupation certificates", None),
    ]


def test_a_scoped_token_sees_only_its_settlements(
    client: TestClient, world: dict[str, Any]
) -> None:
    listed = client.get("/api/v1/settlements", headers=world["scoped"]).json()
    assert [s["name"] for s in listed] == ["Thembalethu"]
    hidden = client.get(f"/api/v1/settlements/{world['home']}", headers=world["scoped"])
    assert hidden.status_code == 404
    own = client.get(f"/api/v1/settlements/{world['other']}", headers=world["scoped"])
    assert own.status_code == 200 and own.json()["milestones"] == []


def test_meetings_soonest_first_from_now_with_their_filters(
    client: TestClient, world: dict[str, Any]
) -> None:
    m = world["meetings"]

    def ids(**params: object) -> list[int]:
        answer = client.get("/api/v1/meetings", params=params, headers=world["reader"])
        assert answer.status_code == 200, answer.text
        return [meeting["id"] for meeting in answer.json()]

    upcoming = [m["home"], m["ward14"], m["ward9"], m["city"], m["cancelled"]]
    assert ids() == upcoming  # the past one is left out
    since = (utcnow() - dt.timedelta(days=3)).isoformat()
    assert ids(since=since) == [m["past"], *upcoming]
    assert ids(until=(SOON + dt.timedelta(hours=36)).isoformat()) == [m["home"], m["ward14"]]
    assert ids(level="ward") == [m["ward14"], m["ward9"]]
    assert ids(limit=2) == [m["home"], m["ward14"]]
    one = client.get(f"/api/v1/meetings/{m['cancelled']}", headers=world["reader"]).json()
    assert (one["title"], one["cancelled"], one["settlement_id"]) == (
        "Called off",
        True,
        world["other"],
    )
    assert dt.datetime.fromisoformat(one["starts_at"]) == SOON + dt.timedelta(days=4)


def test_a_scoped_token_reads_its_meetings_and_the_forums_its_residents_attend(
    client: TestClient, world: dict[str, Any]
) -> None:
    m = world["meetings"]
    listed = client.get("/api/v1/meetings", headers=world["scoped"]).json()
    assert [meeting["id"] for meeting in listed] == [m["ward9"], m["city"], m["cancelled"]]
    for hidden in ("home", "ward14"):
        answer = client.get(f"/api/v1/meetings/{m[hidden]}", headers=world["scoped"])
        assert answer.status_code == 404


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/settlements/0", 422),
        (f"/api/v1/settlements/{2**31}", 422),
        ("/api/v1/settlements/999999", 404),
        ("/api/v1/meetings/999999", 404),
        ("/api/v1/meetings?level=galaxy", 422),
        ("/api/v1/meetings?limit=0", 422),
        ("/api/v1/meetings?since=yesterday", 422),
        ("/api/v1/meetings?since=0001-01-01T00:00:00%2B14:00", 422),
    ],
)
def test_odd_requests_are_refused_not_crashed(
    client: TestClient, world: dict[str, Any], path: str, status: int
) -> None:
    assert client.get(path, headers=world["reader"]).status_code == status


def test_every_route_needs_a_staff_token(client: TestClient, world: dict[str, Any]) -> None:
    for path in (
        "/api/v1/settlements",
        f"/api/v1/settlements/{world['home']}",
        "/api/v1/meetings",
        f"/api/v1/meetings/{world['meetings']['city']}",
    ):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=auth("not-a-token")).status_code == 401
