"""The permission matrix: every role against every dashboard page and action (403 where the
role is not allowed; a route missing from it fails), and scoped users never see other
settlements, the API included."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import pkgutil
import re
from collections.abc import Callable

import pytest
from fastapi.routing import APIRoute, APIRouter
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

import api.routes.staff as dashboard
from bot.config import Settings
from bot.db import session_scope
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import Audience, Broadcast, BroadcastCreate
from bot.domain.messages.models import InboundMessage
from bot.domain.residents import service as residents
from bot.domain.residents.models import Resident
from bot.domain.settlements.models import Meeting, Milestone, Settlement
from bot.domain.staff import media
from bot.domain.staff import scope as scopes
from bot.domain.staff import service as staff
from bot.domain.staff.models import AuditEvent
from bot.domain.tickets.models import Ticket, TicketEvent
from tests.api.staff.conftest import World, logged_in, make_scoped_user
from tests.api.staff.test_tickets import update_form
from tests.domain.broadcasts.factories import make_member
from tests.domain.tickets.factories import make_ticket
from tests.factories import make_meeting, make_milestone, make_resident

ADMIN, OFFICER, TRIAGE = "admin", "officer", "triage"
# An admin whose scope is ward 14, where every row the matrix acts on lies: they work
# tickets, settlements, meetings, residents and broadcasts there as any scoped user would,
# and are refused what acts on the whole city (users, the audit log, imports).
SCOPED_ADMIN = "scoped_admin"
SCOPED_ADMIN_EMAIL = "ward14.admin@ubuntubay.example.org"
WHO = (ADMIN, SCOPED_ADMIN, OFFICER, TRIAGE)
EVERYONE = set(WHO)
WORKERS = {ADMIN, SCOPED_ADMIN, TRIAGE}  # they work tickets
KEEPERS = {ADMIN, SCOPED_ADMIN, OFFICER}  # they keep places, residents and broadcasts
CITY_ADMIN = {ADMIN}  # an admin with no scope: what acts on the whole city
PHOTO = {
    "url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
    "content_type": "image/jpeg",
}

# (method, path, who may). Paths use {here}, {ticket}, {photo} (a ticket with a
# photo) and its {index}, {meeting}, {resident}, {user}, and {milestone} and {broadcast}:
# one of each for each of WHO, since an allowed post deletes the milestone or approves and
# cancels the broadcast.
MATRIX: list[tuple[str, str, set[str]]] = [
    ("GET", "/staff/", EVERYONE),
    ("GET", "/staff/tickets", EVERYONE),
    ("GET", "/staff/tickets.csv", EVERYONE),
    ("GET", "/staff/tickets/{ticket}", EVERYONE),
    ("GET", "/staff/tickets/{photo}/media/{index}", EVERYONE),
    ("POST", "/staff/tickets/bulk", WORKERS),
    ("POST", "/staff/tickets/{ticket}/update", WORKERS),
    ("POST", "/staff/tickets/{ticket}/reply", WORKERS),
    ("POST", "/staff/tickets/{ticket}/note", WORKERS),
    ("POST", "/staff/tickets/{ticket}/sms", WORKERS),
    ("POST", "/staff/tickets/{ticket}/link", WORKERS),
    ("GET", "/staff/settlements", KEEPERS),
    ("GET", "/staff/settlements/{here}", KEEPERS),
    ("POST", "/staff/settlements/{here}", KEEPERS),
    ("POST", "/staff/settlements/{here}/milestones", KEEPERS),
    ("POST", "/staff/settlements/{here}/milestones/{milestone}/delete", KEEPERS),
    ("GET", "/staff/meetings", KEEPERS),
    ("GET", "/staff/meetings/{meeting}", KEEPERS),
    ("POST", "/staff/meetings", KEEPERS),
    ("POST", "/staff/meetings/sms", KEEPERS),
    ("POST", "/staff/meetings/{meeting}", KEEPERS),
    ("POST", "/staff/meetings/{meeting}/cancel", KEEPERS),
    ("GET", "/staff/import", KEEPERS),  # a scoped user's page says why there is no form
    ("POST", "/staff/import", {ADMIN, OFFICER}),  # a file may name any place: no scope
    ("GET", "/staff/import/examples/{kind}.csv", KEEPERS),
    ("GET", "/staff/residents", KEEPERS),
    ("GET", "/staff/residents/{resident}", KEEPERS),
    ("GET", "/staff/residents/{resident}/export.json", KEEPERS),
    ("POST", "/staff/residents/{resident}/erase", KEEPERS),
    ("GET", "/staff/reports", EVERYONE),
    ("GET", "/staff/reports.csv", EVERYONE),
    ("GET", "/staff/admin/users", CITY_ADMIN),
    ("POST", "/staff/admin/users", CITY_ADMIN),
    ("POST", "/staff/admin/users/{user}", CITY_ADMIN),
    ("GET", "/staff/admin/audit", CITY_ADMIN),
    ("GET", "/staff/broadcasts", KEEPERS),
    ("GET", "/staff/broadcasts/new", KEEPERS),
    ("POST", "/staff/broadcasts/preview", KEEPERS),
    ("POST", "/staff/broadcasts/sms", KEEPERS),
    ("POST", "/staff/broadcasts", KEEPERS),
    ("GET", "/staff/broadcasts/{broadcast}", KEEPERS),
    ("GET", "/staff/broadcasts/{broadcast}/preview", KEEPERS),
    ("POST", "/staff/broadcasts/{broadcast}/approve", KEEPERS),
    ("POST", "/staff/broadcasts/{broadcast}/cancel", KEEPERS),
]
# Allowed posts carry only the CSRF token (and `confirm`): most stop at validation (422),
# the rest succeed.

# The dashboard routes no role check guards, so not in MATRIX; each says why. Every other
# route under /staff must be in MATRIX (test_every_dashboard_route_is_in_the_matrix).
SIGNED_IN = [  # any signed-in user, whatever their role
    ("POST", "/staff/logout"),  # it ends the session, so it cannot run amid the matrix
]
ANYONE = [  # no session needed: the way in (the form carries its own CSRF token)
    ("GET", "/staff/login"),
    ("POST", "/staff/login"),
]
# The dashboard's CSS and JS are not here: `/static` is mounted outside /staff, for anyone.


@pytest.fixture
def ids(world: World, clean_db: Engine, app_settings: Settings) -> dict[str, str]:
    import datetime as dt

    # A broadcast to more than no resident waits for approval; composed by no user, it may be
    # approved by any officer.
    strict = app_settings.model_copy(update={"broadcast_approval_threshold": 0})
    with session_scope(clean_db) as session:
        meeting = make_meeting(
            session,
            dt.datetime(2031, 1, 1, 10, tzinfo=dt.UTC),
            settlement_id=world.here,
            ward="14",
        )
        resident = make_resident(session, "+27821230000", settlement_id=world.here)
        user = staff.create_user(session=session, email="x@example.org", role="triage")
        here = session.get(Settlement, world.here)
        assert here is not None
        milestones = {
            f"milestone:{role}": str(make_milestone(session, here, title=f"For {role}").id)
            for role in WHO
        }
        make_member(session, settlement_id=world.here)
        waiting = {
            f"broadcast:{role}": str(
                broadcasts.create(
                    session=session,
                    settings=strict,
                    broadcast_in=BroadcastCreate(
                        title=f"For {role}",
                        audience=Audience(settlement_ids=[world.here]),
                        texts={"en": "Water tanks arrive on Monday."},
                        send_at=dt.datetime(2031, 1, 1, 10, tzinfo=dt.UTC),
                    ),
                    staff=None,
                ).id
            )
            for role in WHO
        }
        photo = make_ticket(session, settlement_id=world.here, media=[PHOTO])
        return {
            "here": str(world.here),
            "ticket": world.ticket_here,
            "photo": photo.reference,
            "index": "0",
            "kind": "milestones",
            "meeting": str(meeting.id),
            "resident": str(resident.id),
            "user": str(user.id),
            **milestones,
            **waiting,
        }


def _paths_of(ids: dict[str, str], role: str) -> dict[str, str]:
    """The ids for filling in a path template: the shared ones and `role`'s own."""
    shared = {name: value for name, value in ids.items() if ":" not in name}
    own = {name.removesuffix(f":{role}"): v for name, v in ids.items() if name.endswith(f":{role}")}
    return shared | own


def test_permission_matrix(
    app: object,
    as_role: Callable[[str], tuple[TestClient, str]],
    ids: dict[str, str],
    clean_db: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Twilio's media URL answers with the photo (no network in tests).
    monkeypatch.setattr(media, "fetch", lambda url, settings: (b"\xff\xd8 jpeg", "image/jpeg"))
    make_scoped_user(clean_db, SCOPED_ADMIN_EMAIL, ADMIN, wards=["14"])
    with logged_in(app, SCOPED_ADMIN_EMAIL) as scoped_admin:
        sessions = {role: as_role(role) for role in (ADMIN, OFFICER, TRIAGE)}
        sessions[SCOPED_ADMIN] = scoped_admin
        failures = []
        for method, template, allowed in MATRIX:
            for role in WHO:
                client, csrf = sessions[role]
                path = template.format(**_paths_of(ids, role))
                if method == "GET":
                    answer = client.get(path, follow_redirects=False)
                else:
                    # Confirmed: a delete or cancel asks first, on a page, without it.
                    form = {"csrf_token": csrf, "confirm": "yes"}
                    answer = client.post(path, data=form, follow_redirects=False)
                status = answer.status_code
                if role in allowed:
                    ok = status in (200, 303) if method == "GET" else status in (200, 303, 422)
                elif role == SCOPED_ADMIN:  # their role would do: the page says it is the scope
                    ok = status == 403 and _says_why_the_scope_refuses(answer.text)
                else:
                    ok = status == 403
                if not ok:
                    failures.append(f"{role} {method} {path}: {status}")
        assert failures == []
    with Session(clean_db) as session:
        assert session.exec(select(Milestone.title)).all() == ["For triage"]
        status = {b.title: b.status for b in session.exec(select(Broadcast))}
    # approved, then cancelled, by the admins and the officer; the triage user's still waits
    assert status == {
        "For admin": "cancelled",
        "For scoped_admin": "cancelled",
        "For officer": "cancelled",
        "For triage": "awaiting_approval",
    }


def _says_why_the_scope_refuses(page: str) -> bool:
    """Return whether a dashboard error page says the user's scope refused them."""
    return "Not allowed" in page and "acts on the whole city" in page and "ward 14" in page


def dashboard_api_routes() -> list[tuple[str, APIRoute]]:
    """Return every route under /staff with its whole path.

    Read from the routers of `api/routes/staff/`: since FastAPI 0.165 the app's and the
    package router's `.routes` hold the routers they include, not those routers' routes.
    """
    own = [r for r in dashboard.router.routes if isinstance(r, APIRoute)]  # none so far
    modules = [
        importlib.import_module(f"{dashboard.__name__}.{info.name}")
        for info in pkgutil.iter_modules(dashboard.__path__)
    ]
    routers = [m.router for m in modules if isinstance(getattr(m, "router", None), APIRouter)]
    # Every router of the folder is included under /staff and no other (one from elsewhere,
    # or one nested in these, would need reading here too).
    assert len(dashboard.router.routes) - len(own) == len(routers)
    found = [(r.path, r) for r in own]
    for router in routers:
        assert all(isinstance(r, APIRoute) for r in router.routes), router.routes
        found += [
            (dashboard.router.prefix + r.path, r) for r in router.routes if isinstance(r, APIRoute)
        ]
    return found


def dashboard_routes() -> set[tuple[str, str]]:
    """Return every (method, path) under /staff, each path parameter written `{}`."""
    return {
        (method, _shape(path)) for path, r in dashboard_api_routes() for method in r.methods or ()
    }


def _shape(path: str) -> str:
    """Write a path's parameters as `{}`: `{reference}` in a route, `{ticket}` in MATRIX."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_every_dashboard_route_is_in_the_matrix() -> None:
    # A route added without a line in MATRIX (or in an open list, saying why) fails here,
    # so that no page or action ships without its role check tested.
    listed = [(method, _shape(path)) for method, path, _roles in MATRIX]
    listed += [(method, _shape(path)) for method, path in SIGNED_IN + ANYONE]
    assert len(listed) == len(set(listed))  # each once
    routes = dashboard_routes()
    assert len(routes) >= 40
    assert sorted(routes - set(listed)) == []  # not in MATRIX, nor in an open list
    assert sorted(set(listed) - routes) == []  # listed, but no such route


def test_only_the_login_is_open_to_anyone(app: object, ids: dict[str, str]) -> None:
    # Every other route wants a session: a page sends the browser to the login page, a
    # post is refused.
    paths = [(method, path) for method, path, _roles in MATRIX] + SIGNED_IN
    let_in = []
    with TestClient(app, base_url="https://siyakha.example.org") as client:  # type: ignore[arg-type]
        for method, template in paths:
            path = template.format(**_paths_of(ids, ADMIN))
            answer = client.request(method, path, follow_redirects=False)
            location = answer.headers.get("location", "")
            ok = answer.status_code == 401 or (
                method == "GET"
                and answer.status_code == 303
                and location.startswith("/staff/login?next=")
            )
            if not ok:
                let_in.append(f"{method} {path}: {answer.status_code} {location}")
        assert let_in == []
        assert client.get("/staff/login").status_code == 200


def test_scoped_triage_never_sees_other_settlements(
    app: object, world: World, clean_db: Engine
) -> None:
    with logged_in(app, "scoped@ubuntubay.example.org") as (client, csrf):
        queue = client.get("/staff/tickets?status=all").text
        assert "Tap broken here" in queue and "Secret over there" not in queue
        assert "Kwa-Thema" not in queue  # not even as a filter choice
        assert client.get(f"/staff/tickets/{world.ticket_there}").status_code == 404
        assert client.get(f"/staff/tickets/{world.ticket_there}/media/0").status_code == 404
        for action in ("note", "reply", "update"):
            answer = client.post(
                f"/staff/tickets/{world.ticket_there}/{action}",
                data={"csrf_token": csrf, "body": "x"},
            )
            assert answer.status_code == 404, action
        bulk = client.post(
            "/staff/tickets/bulk",
            data={"csrf_token": csrf, "refs": [world.ticket_there], "operation": "assign"},
        )
        assert bulk.status_code == 404
        link = client.post(
            f"/staff/tickets/{world.ticket_here}/link",
            data={"csrf_token": csrf, "parent": world.ticket_there},
        )
        # The number typed is answered as one that does not exist, as any absent one is.
        assert link.status_code == 422
        assert f"there is no ticket {world.ticket_there} to link to" in link.text
        report = client.get("/staff/reports").text
        assert "Kwa-Thema" not in report and "Ubuhle Gardens" in report
        csv = client.get("/staff/reports.csv").text
        assert "Kwa-Thema" not in csv
        exported = client.get("/staff/tickets.csv?status=all").text
        assert "Tap broken here" in exported and "Secret over there" not in exported


def test_scoped_api_token_never_sees_other_settlements(
    world: World, clean_db: Engine, app: object
) -> None:
    with session_scope(clean_db) as session:
        user = staff.get_by_email(session=session, email="scoped@ubuntubay.example.org")
        assert user is not None
        _row, token = staff.create_token(session=session, user=user)
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:  # type: ignore[arg-type]
        listed = client.get("/api/v1/tickets", headers=auth).json()
        assert [t["reference"] for t in listed["items"]] == [world.ticket_here]
        assert listed["total"] == 1
        there = f"/api/v1/tickets/{world.ticket_there}"
        assert client.get(there, headers=auth).status_code == 404
        assert client.patch(there, json={"priority": "high"}, headers=auth).status_code == 404
        assert client.post(there + "/notes", json={"body": "x"}, headers=auth).status_code == 404
        assert client.post(there + "/replies", json={"body": "x"}, headers=auth).status_code == 404
        link = client.put(
            f"/api/v1/tickets/{world.ticket_here}/parent",
            json={"parent": world.ticket_there},
            headers=auth,
        )
        assert link.status_code == 404
        ok = client.patch(
            f"/api/v1/tickets/{world.ticket_here}", json={"priority": "high"}, headers=auth
        )
        assert ok.status_code == 200
    with Session(clean_db) as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action.startswith("api.")))  # type: ignore[attr-defined]
    assert (event.action, event.target, event.detail) == (
        "api.ticket.update",
        f"ticket:{world.ticket_here}",
        {"priority": "high"},
    )


def test_scoped_officer_sees_only_their_places_and_people(
    app: object, world: World, clean_db: Engine
) -> None:
    import datetime as dt

    make_scoped_user(clean_db, "ward22@example.org", "officer", wards=["22"])
    with session_scope(clean_db) as session:
        mine = make_meeting(
            session, dt.datetime(2031, 1, 1, 10, tzinfo=dt.UTC), settlement_id=world.there
        )
        theirs = make_meeting(
            session,
            dt.datetime(2031, 1, 2, 10, tzinfo=dt.UTC),
            settlement_id=world.here,
            title="Other block meeting",
        )
        city = make_meeting(
            session, dt.datetime(2031, 1, 3, 10, tzinfo=dt.UTC), level="city", title="City forum"
        )
        outsider = make_resident(session, "+27821239999", settlement_id=world.here)
        insider = make_resident(session, "+27821238888", settlement_id=world.there)
        ids = (mine.id, theirs.id, city.id, outsider.id, insider.id)
    mine_id, theirs_id, city_id, outsider_id, insider_id = ids
    with logged_in(app, "ward22@example.org") as (client, csrf):
        listing = client.get("/staff/settlements").text
        assert "Kwa-Thema Extension" in listing and "Ubuhle Gardens" not in listing
        assert client.get(f"/staff/settlements/{world.here}").status_code == 404
        edit = client.post(
            f"/staff/settlements/{world.here}", data={"csrf_token": csrf, "category": "A"}
        )
        assert edit.status_code == 404
        meetings = client.get("/staff/meetings").text
        assert "Block meeting" in meetings and "City forum" in meetings  # all are invited
        assert "Other block meeting" not in meetings
        assert client.get(f"/staff/meetings/{theirs_id}").status_code == 404
        assert client.get(f"/staff/meetings/{mine_id}").status_code == 200
        assert 'id="read-only"' not in client.get(f"/staff/meetings/{mine_id}").text
        assert 'id="read-only"' in client.get(f"/staff/meetings/{city_id}").text
        create_elsewhere = client.post(
            "/staff/meetings",
            data={
                "csrf_token": csrf,
                "level": "neighbourhood",
                "title": "Sneaky",
                "starts_at": "2031-02-01T10:00",
                "settlement_id": str(world.here),
            },
        )
        assert create_elsewhere.status_code == 404
        city_forum = client.post(
            "/staff/meetings",
            data={
                "csrf_token": csrf,
                "level": "city",
                "title": "Mine",
                "starts_at": "2031-02-01T10:00",
            },
        )
        assert city_forum.status_code == 403
        assert client.get(f"/staff/residents/{outsider_id}").status_code == 404
        assert client.get(f"/staff/residents/{outsider_id}/export.json").status_code == 404
        found = client.get("/staff/residents?phone=0821239999")
        assert "No resident with that number" in found.text
        assert client.get(f"/staff/residents/{insider_id}").status_code == 200
        upload = client.post(
            "/staff/import",
            data={"csrf_token": csrf, "kind": "settlements"},
            files={"file": ("s.csv", b"name\n", "text/csv")},
        )
        assert upload.status_code == 403
    with session_scope(clean_db) as session:
        assert session.get(Resident, outsider_id) is not None


def test_a_scoped_officer_is_not_offered_an_import_they_may_not_make(
    app: object, as_role: Callable[[str], tuple[TestClient, str]], clean_db: Engine
) -> None:
    # The link and the form were shown, and the upload answered 403.
    make_scoped_user(clean_db, "ward22@example.org", "officer", wards=["22"])
    with logged_in(app, "ward22@example.org") as (client, _csrf):
        assert 'href="/staff/import"' not in client.get("/staff/settlements").text
        page = client.get("/staff/import")
        assert page.status_code == 200
        assert 'action="/staff/import"' not in page.text
        assert "Imports are for officers and admins with no scope" in page.text
    client, _csrf = as_role(OFFICER)
    assert 'href="/staff/import"' in client.get("/staff/settlements").text
    assert 'action="/staff/import"' in client.get("/staff/import").text


def test_a_scoped_admin_works_their_scope_and_nothing_city_wide(
    app: object, world: World, clean_db: Engine
) -> None:
    # A ward-14 admin could add an unscoped admin (so become one), lift their own scope,
    # change any user and read the whole audit log: the admin pages took the role alone.
    make_scoped_user(clean_db, SCOPED_ADMIN_EMAIL, ADMIN, wards=["14"])
    with session_scope(clean_db) as session:
        me = staff.get_by_email(session=session, email=SCOPED_ADMIN_EMAIL)
        other = staff.get_by_email(session=session, email="triage@ubuntubay.example.org")
        assert me is not None and me.id is not None
        assert other is not None and other.id is not None
        me_id, other_id = me.id, other.id
        _row, token = staff.create_token(session=session, user=me)
    city_wide = {"csrf_token": "", "role": "admin", "is_active": "true"}
    with logged_in(app, SCOPED_ADMIN_EMAIL) as (client, csrf):
        city_wide["csrf_token"] = csrf
        nav = client.get("/staff/tickets").text
        assert 'href="/staff/settlements"' in nav and 'href="/staff/broadcasts"' in nav
        assert "/staff/admin/" not in nav  # no Users, no Audit log
        assert 'href="/staff/import"' not in client.get("/staff/settlements").text
        page = client.get("/staff/import").text
        assert 'action="/staff/import"' not in page
        assert "Imports are for officers and admins with no scope" in page
        refused = [
            client.get("/staff/admin/users"),
            client.get("/staff/admin/audit"),
            client.post(
                "/staff/admin/users",
                data={**city_wide, "email": "boss@example.org", "password": "a long horse 4"},
            ),
            client.post(f"/staff/admin/users/{me_id}", data=city_wide),  # their own scope
            client.post(f"/staff/admin/users/{other_id}", data={**city_wide, "wards": "22"}),
            client.post(
                "/staff/import",
                data={"csrf_token": csrf, "kind": "settlements"},
                files={"file": ("s.csv", CSV_ELSEWHERE, "text/csv")},
            ),
        ]
        assert [a.status_code for a in refused] == [403] * len(refused)
        assert all(_says_why_the_scope_refuses(a.text) for a in refused)
        # their own ward's work goes on: a ticket, a settlement
        noted = client.post(
            f"/staff/tickets/{world.ticket_here}/note",
            data={"csrf_token": csrf, "body": "Seen."},
            follow_redirects=False,
        )
        assert noted.status_code == 303
        assert client.get(f"/staff/tickets/{world.ticket_there}").status_code == 404
        assert client.get(f"/staff/settlements/{world.there}").status_code == 404
    with TestClient(app) as api:  # type: ignore[arg-type]
        auth = {"Authorization": f"Bearer {token}"}
        listed = api.get("/api/v1/tickets", headers=auth).json()
        assert [t["reference"] for t in listed["items"]] == [world.ticket_here]
        elsewhere = api.patch(
            f"/api/v1/settlements/{world.there}", json={"category": "A"}, headers=auth
        )
        assert elsewhere.status_code == 404
        city = api.post(
            "/api/v1/meetings",
            json={"level": "city", "title": "Mine", "starts_at": "2031-02-01T10:00:00+02:00"},
            headers=auth,
        )
        assert city.status_code == 403 and "scope" in city.json()["detail"]
    with Session(clean_db) as session:
        assert staff.get_by_email(session=session, email="boss@example.org") is None
        imported = session.exec(select(Settlement).where(Settlement.name == "Elsewhere"))
        assert imported.first() is None
        scope_of = scopes.for_users(session=session, user_ids=[me_id, other_id])
    assert scope_of[me_id] == scopes.Scope(wards=frozenset({"14"}))
    assert scope_of[other_id].unrestricted


# A settlement of another municipality, which a scoped user's import could have added.
CSV_ELSEWHERE = (
    b"name,aliases,ward,municipality,category,category_note,current_phase\n"
    b"Elsewhere,,3,Another Municipality,A,,\n"
)


def test_dashboard_errors_are_pages_and_api_errors_stay_json(
    as_role: Callable[[str], tuple[TestClient, str]], world: World
) -> None:
    client, csrf = as_role(TRIAGE)
    forbidden = client.get("/staff/settlements")
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("text/html")
    assert (
        "Not allowed" in forbidden.text
        and "frame-ancestors 'none'" in (forbidden.headers["content-security-policy"])
    )
    missing = client.post(f"/staff/tickets/{world.ticket_here}/note", data={"csrf_token": csrf})
    assert missing.status_code == 422 and "Please check the form" in missing.text
    assert client.get("/staff/no-such-page").status_code == 404
    api = client.get("/api/v1/tickets/1234567")
    assert api.status_code == 401 and api.json()["detail"]
    # An id no INTEGER column holds is refused before the database (PostgreSQL raised: 500).
    admin, admin_csrf = as_role(ADMIN)
    for path in ("/staff/residents/99999999999", "/staff/broadcasts/0", "/staff/meetings/-1"):
        refused = admin.get(path)
        assert refused.status_code == 422 and "Please check the form" in refused.text, path
    too_big = admin.post("/staff/settlements/99999999999", data={"csrf_token": admin_csrf})
    assert too_big.status_code == 422
    assert admin.get("/staff/broadcasts/new?meeting_id=99999999999").status_code == 422
    forms = [
        (f"/staff/settlements/{world.here}/milestones", 422, {"milestone_id": "99999999999"}),
        ("/staff/meetings", 404, {"settlement_id": "999999999999"}),
        ("/staff/admin/users", 422, {"settlement_ids": "99999999999"}),
    ]
    valid = {"strand": "water", "title": "T", "status": "done", "level": "neighbourhood"}
    valid |= {"starts_at": "2031-03-01T12:00", "email": "new@example.org", "role": "triage"}
    for path, status, field in forms:
        answer = admin.post(path, data={**valid, **field, "csrf_token": admin_csrf})
        assert answer.status_code == status, (path, answer.text)


def _meetings(clean_db: Engine, world: World) -> dict[str, int]:
    """A city forum, a ward forum in each ward and a meeting of each settlement."""
    import datetime as dt

    when = dt.datetime(2031, 3, 1, 10, tzinfo=dt.UTC)
    with session_scope(clean_db) as session:
        rows = {
            "city": make_meeting(session, when, level="city", title="City forum"),
            "ward22": make_meeting(session, when, level="ward", ward="22", title="Ward 22 forum"),
            "ward14": make_meeting(session, when, level="ward", ward="14", title="Ward 14 forum"),
            "there": make_meeting(session, when, settlement_id=world.there, title="There meeting"),
            "here": make_meeting(session, when, settlement_id=world.here, title="Here meeting"),
        }
        return {name: m.id for name, m in rows.items() if m.id is not None}


def _meeting_form(csrf: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "level": "city",
        "title": "Renamed",
        "starts_at": "2031-03-01T12:00",
        **fields,
    }


@pytest.mark.parametrize("scope", ["ward", "settlement"])
def test_scoped_officers_read_the_forums_their_residents_are_invited_to(
    app: object, world: World, clean_db: Engine, scope: str
) -> None:
    ids = _meetings(clean_db, world)
    make_scoped_user(
        clean_db,
        "there@example.org",
        "officer",
        settlement_ids=[world.there] if scope == "settlement" else [],
        wards=["22"] if scope == "ward" else [],
    )
    with logged_in(app, "there@example.org") as (client, csrf):
        listing = client.get("/staff/meetings").text
        for title in ("City forum", "Ward 22 forum", "There meeting"):
            assert title in listing, title
        assert "Ward 14 forum" not in listing and "Here meeting" not in listing
        assert client.get(f"/staff/meetings/{ids['ward14']}").status_code == 404
        assert client.get(f"/staff/meetings/{ids['here']}").status_code == 404
        # their own settlement's meeting: the forms to change and cancel it
        own = client.get(f"/staff/meetings/{ids['there']}").text
        assert f'action="/staff/meetings/{ids["there"]}/cancel"' in own
        # a ward forum is theirs to change only when the ward is in their scope
        read_only = ["city"] if scope == "ward" else ["city", "ward22"]
        for name in read_only:
            page = client.get(f"/staff/meetings/{ids[name]}")
            assert page.status_code == 200 and 'id="read-only"' in page.text, name
            assert f'action="/staff/meetings/{ids[name]}' not in page.text, name
            cancel = client.post(f"/staff/meetings/{ids[name]}/cancel", data={"csrf_token": csrf})
            assert cancel.status_code == 403, name
            edit = client.post(f"/staff/meetings/{ids[name]}", data=_meeting_form(csrf, ward="22"))
            assert edit.status_code == 403, name
            # nor announce it: the offer is refused as the API's is (97f0872)
            offer = client.get(f"/staff/broadcasts/new?meeting_id={ids[name]}&change=announced")
            assert offer.status_code == 403, name
        own_offer = client.get(f"/staff/broadcasts/new?meeting_id={ids['there']}&change=announced")
        assert own_offer.status_code == 200
        if scope == "ward":
            page = client.get(f"/staff/meetings/{ids['ward22']}").text
            assert 'id="read-only"' not in page and "/cancel" in page
        # the list marks the forums they may only read
        rows = {
            title: row
            for row in listing.split("<tr>")
            for title in ("City forum", "Ward 22 forum", "There meeting")
            if title in row
        }
        titles = {"city": "City forum", "ward22": "Ward 22 forum"}
        marked = sorted(name for name, title in titles.items() if "read only" in rows[title])
        assert marked == read_only and "read only" not in rows["There meeting"]
    with Session(clean_db) as session:
        for name in read_only:
            meeting = session.get(Meeting, ids[name])
            assert meeting is not None and not meeting.cancelled and meeting.title != "Renamed"


def test_unscoped_officers_change_and_cancel_city_forums(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    ids = _meetings(clean_db, world)
    for role in (OFFICER, ADMIN):
        client, csrf = as_role(role)
        page = client.get(f"/staff/meetings/{ids['city']}").text
        assert 'id="read-only"' not in page and f"/staff/meetings/{ids['city']}/cancel" in page
    client, csrf = as_role(OFFICER)
    edit = client.post(
        f"/staff/meetings/{ids['city']}", data=_meeting_form(csrf), follow_redirects=False
    )
    assert edit.status_code == 303
    cancel = client.post(
        f"/staff/meetings/{ids['city']}/cancel",
        data={"csrf_token": csrf, "confirm": "yes"},
        follow_redirects=False,
    )
    assert cancel.status_code == 303
    with Session(clean_db) as session:
        meeting = session.get(Meeting, ids["city"])
        assert meeting is not None and meeting.cancelled and meeting.title == "Renamed"


def test_a_scoped_users_change_reaches_only_the_duplicates_in_their_scope(
    app: object, world: World, clean_db: Engine
) -> None:
    # An admin links a ward-22 report under a ward-14 one; the ward-14 user resolving and
    # replying to the parent leaves the ward-22 report, and its resident, alone.
    with logged_in(app, "admin@ubuntubay.example.org") as (admin, csrf):
        linked = admin.post(
            f"/staff/tickets/{world.ticket_there}/link",
            data={"csrf_token": csrf, "parent": world.ticket_here},
        )
        assert linked.status_code in (200, 303)
        page = admin.get(f"/staff/tickets/{world.ticket_here}").text
        assert world.ticket_there in page[page.index("<dt>Duplicates</dt>") :].split("</dd>")[0]
    with logged_in(app, "scoped@ubuntubay.example.org") as (client, csrf):
        page = client.get(f"/staff/tickets/{world.ticket_here}").text
        duplicates = page[page.index("<dt>Duplicates</dt>") :].split("</dd>")[0]
        assert "(none)" in duplicates
        # Nor is its number in the history: the admin's "duplicate added" says only that.
        assert world.ticket_there not in page
        assert "child_outside_scope: True" in page
        replied = client.post(
            f"/staff/tickets/{world.ticket_here}/reply",
            data={"csrf_token": csrf, "body": "A plumber comes on Monday."},
            follow_redirects=False,
        )
        assert replied.status_code == 303
        form = update_form(client.get(f"/staff/tickets/{world.ticket_here}").text)
        updated = client.post(
            f"/staff/tickets/{world.ticket_here}/update",
            data={**form, "csrf_token": csrf, "status": "in_progress"},
            follow_redirects=False,
        )
        assert updated.status_code == 303, updated.text
    with Session(clean_db) as session:
        status = {t.reference: t.status for t in session.exec(select(Ticket)).all()}
        events = session.exec(select(TicketEvent).order_by(col(TicketEvent.id))).all()
    assert status == {world.ticket_here: "in_progress", world.ticket_there: "new"}
    there_id = next(e.ticket_id for e in events if e.kind == "linked")
    assert [e.kind for e in events if e.ticket_id == there_id] == ["created", "linked"]


def test_a_parent_outside_the_viewers_scope_is_shown_as_such_not_by_number(
    app: object, world: World, clean_db: Engine
) -> None:
    # An admin links the ward-14 report as a duplicate of the ward-22 one and starts work on
    # the parent (which reaches the duplicate "via" it). The ward-14 user saw "Duplicate of
    # <ward-22 number>" with a link, and the number in the API and the history.
    tokens = {}
    with session_scope(clean_db) as session:
        for email in ("admin@ubuntubay.example.org", "scoped@ubuntubay.example.org"):
            user = staff.get_by_email(session=session, email=email)
            assert user is not None
            tokens[email.split("@")[0]] = {
                "Authorization": f"Bearer {staff.create_token(session=session, user=user)[1]}"
            }
    here, there = world.ticket_here, world.ticket_there
    with TestClient(app) as api:  # type: ignore[arg-type]
        linked = api.put(
            f"/api/v1/tickets/{here}/parent", json={"parent": there}, headers=tokens["admin"]
        )
        assert linked.status_code == 200, linked.text
        moved = api.patch(
            f"/api/v1/tickets/{there}", json={"status": "in_progress"}, headers=tokens["admin"]
        )
        assert moved.status_code == 200, moved.text
        seen = {
            who: (
                api.get(f"/api/v1/tickets/{here}", headers=auth).json(),
                api.get("/api/v1/tickets", headers=auth).json()["items"],
            )
            for who, auth in tokens.items()
        }
    detail, listed = seen["admin"]
    assert (detail["parent_reference"], detail["parent_outside_scope"]) == (there, False)
    assert {(t["reference"], t["parent_reference"]) for t in listed} == {
        (here, there),
        (there, None),
    }
    assert [e["data"].get("via") for e in detail["events"] if e["kind"] == "status"] == [there]
    detail, listed = seen["scoped"]
    assert detail["status"] == "in_progress"
    assert (detail["parent_reference"], detail["parent_outside_scope"]) == (None, True)
    [item] = listed
    assert (item["reference"], item["parent_reference"], item["parent_outside_scope"]) == (
        here,
        None,
        True,
    )
    assert there not in json.dumps(detail)
    assert [e["data"] for e in detail["events"] if e["kind"] in ("linked", "status")] == [
        {"parent": None, "parent_outside_scope": True},
        {"from": "new", "to": "in_progress", "via": None, "via_outside_scope": True},
    ]
    with logged_in(app, "admin@ubuntubay.example.org") as (admin, _csrf):
        page = admin.get(f"/staff/tickets/{here}").text
        parent = page[page.index("<dt>Duplicate of</dt>") :].split("</dd>")[0]
        assert f'<a href="/staff/tickets/{there}">{there}</a>' in parent
    with logged_in(app, "scoped@ubuntubay.example.org") as (client, csrf):
        page = client.get(f"/staff/tickets/{here}").text
        parent = page[page.index("<dt>Duplicate of</dt>") :].split("</dd>")[0]
        assert "a ticket outside your scope" in parent and "<a " not in parent
        assert there not in page
        assert "parent_outside_scope: True" in page and "via_outside_scope: True" in page
        # saved blank, the link form unlinks it, and the history still keeps the number back
        unlinked = client.post(
            f"/staff/tickets/{here}/link", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert unlinked.status_code == 303
        page = client.get(f"/staff/tickets/{here}").text
        assert there not in page
        assert "(none)" in page[page.index("<dt>Duplicate of</dt>") :].split("</dd>")[0]


def _resident_of_three_reports(clean_db: Engine, world: World) -> tuple[int, str]:
    """Give a ward-14 resident every ticket of `world` and one with no settlement; return
    their id and that ticket's reference. A ward-14 officer sees one of the three."""
    from bot.db import utcnow

    make_scoped_user(clean_db, "ward14@example.org", "officer", wards=["14"])
    with session_scope(clean_db) as session:
        looking_at = {"reference": world.ticket_there, "refs": [world.ticket_there]}
        resident = make_resident(
            session,
            "+27821237777",
            settlement_id=world.here,
            consented_at=utcnow(),
            conversation={"step": "ticket_view", "data": looking_at},
        )
        for ticket in session.exec(select(Ticket)):
            ticket.resident_id = resident.id
        nowhere = make_ticket(session, settlement_id=None, description="Secret, no place")
        nowhere.resident_id = resident.id
        assert resident.id is not None
        return resident.id, nowhere.reference


def test_a_scoped_officers_export_leaves_out_reports_outside_their_scope(
    app: object, world: World, clean_db: Engine
) -> None:
    resident_id, nowhere_ref = _resident_of_three_reports(clean_db, world)
    export = f"/staff/residents/{resident_id}/export.json"
    with logged_in(app, "ward14@example.org") as (client, _):
        assert client.get(f"/staff/tickets/{world.ticket_there}").status_code == 404
        scoped = client.get(export).json()
    assert [r["reference"] for r in scoped["reports"]] == [world.ticket_here]
    assert "Secret" not in json.dumps(scoped) and world.ticket_there not in json.dumps(scoped)
    assert scoped["conversation"] == {"step": "ticket_view", "last_message_at": None, "data": {}}
    assert scoped["reports_outside_scope"] == 2
    with logged_in(app, "admin@ubuntubay.example.org") as (client, _):
        whole = client.get(export).json()
    assert sorted(r["reference"] for r in whole["reports"]) == sorted(
        [world.ticket_here, world.ticket_there, nowhere_ref]
    )
    assert whole["reports_outside_scope"] == 0
    assert whole["conversation"]["data"] == {"reference": world.ticket_there}


def test_a_resident_s_page_counts_the_reports_the_viewer_may_see_and_the_others_apart(
    app: object, world: World, clean_db: Engine
) -> None:
    # The page said "Reports 3" to a ward-14 officer who may open one of them (the export
    # they download says 1, and 2 outside their scope).
    from bot.db import utcnow

    resident_id, _ = _resident_of_three_reports(clean_db, world)
    now = utcnow()
    with session_scope(clean_db) as session:
        # Their ward-14 report 10 days ago, the two others 5 days ago; a message about each.
        for ticket in session.exec(select(Ticket)):
            here = ticket.reference == world.ticket_here
            ticket.created_at = now - dt.timedelta(days=10 if here else 5)
        for days, sid in ((10, "SMhere"), (5, "SMthere")):
            at = now - dt.timedelta(days=days, minutes=-1)
            session.add(
                InboundMessage(
                    message_sid=sid, resident_id=resident_id, channel="sms", received_at=at
                )
            )
    page = f"/staff/residents/{resident_id}"

    def shown(client: TestClient, what: str) -> str:
        text = client.get(page).text
        return text[text.index(f"<dt>{what}</dt>") :].split("</dd>")[0].split(">")[-1]

    with logged_in(app, "ward14@example.org") as (client, _):
        assert shown(client, "Reports") == (
            "1, and 2 outside your scope (another settlement, or none)"
        )
        assert shown(client, "Messages") == "1, and 1 about reports outside your scope"
        exported = client.get(f"{page}/export.json").json()
        assert (len(exported["reports"]), exported["reports_outside_scope"]) == (1, 2)
        assert len(exported["messages_received"]) == 1
    with logged_in(app, "admin@ubuntubay.example.org") as (client, _):
        assert (shown(client, "Reports"), shown(client, "Messages")) == ("3", "2")
    # The resident's own MY DATA counts every report of theirs, whoever's scope it is in.
    with Session(clean_db) as session:
        resident = session.get(Resident, resident_id)
        assert resident is not None
        assert residents.summarise(session=session, resident=resident).reports == 3


def test_an_unknown_broadcast_or_resident_is_named_alike_on_the_dashboard_and_the_api(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine, app: object
) -> None:
    # The dashboard said "no such broadcast" / "no such resident", the API "no broadcast 7",
    # as every other 404 on both names what the address names ("no meeting 7").
    with session_scope(clean_db) as session:
        user = staff.get_by_email(session=session, email="admin@ubuntubay.example.org")
        assert user is not None
        _row, token = staff.create_token(session=session, user=user)
        hidden = make_resident(session, settlement_id=world.there).id
    make_scoped_user(clean_db, "ward14@ubuntubay.example.org", OFFICER, wards=["14"])
    admin, _csrf = as_role(ADMIN)
    answers = [
        (admin.get("/staff/broadcasts/99999"), "no broadcast 99999"),
        (admin.get("/staff/residents/99999"), "no resident 99999"),
    ]
    with logged_in(app, "ward14@ubuntubay.example.org") as (scoped, _csrf):
        answers.append((scoped.get(f"/staff/residents/{hidden}"), f"no resident {hidden}"))
    for answer, said in answers:
        assert answer.status_code == 404 and said in answer.text, answer.text
        assert "no such" not in answer.text
    with TestClient(app) as client:  # type: ignore[arg-type]
        api = client.get("/api/v1/broadcasts/99999", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 404 and api.json()["detail"] == "no broadcast 99999"
