"""The JSON API's input errors (`api.errors`): a request body under /api/v1 with a field
its route does not know is refused (422, the field named in `loc`), not obeyed in part."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from bot.db import session_scope, utcnow
from bot.domain.broadcasts.models import Broadcast
from bot.domain.settlements.importer import ImportRejected, import_csv
from bot.domain.settlements.models import Settlement
from bot.domain.staff import scope as scopes
from bot.domain.tickets import service as tickets
from bot.domain.tickets.models import Ticket
from tests.api.test_v1_tickets import auth
from tests.domain.tickets.factories import make_staff, make_ticket
from tests.factories import make_meeting, make_milestone, make_settlement

UNKNOWN = {
    "loc": ["body", "titel"],
    "msg": "Extra inputs are not permitted",
    "type": "extra_forbidden",
}


def _problems(answer: Any) -> list[dict[str, Any]]:
    return [{k: p[k] for k in ("loc", "msg", "type")} for p in answer.json()["detail"]]


def test_an_unknown_field_in_any_api_v1_body_is_refused_with_its_name(
    client: TestClient, clean_db: Engine
) -> None:
    # {"titel": ...} in a PATCH answered 200 and changed nothing: the client never knew.
    with session_scope(clean_db) as session:
        settlement = make_settlement(session, "Ubuhle Gardens", ward="14", category="B1")
        _, token = make_staff(session, "admin@ubuntubay.example.org", "admin")
        settlement_id = settlement.id
    headers = auth(token)
    spec = client.get("/openapi.json").json()
    writes = [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert len(writes) >= 10  # every router's routes that take a body
    for method, path in writes:
        url = re.sub(r"\{[a-z_]+\}", str(settlement_id), path)
        answer = client.request(method, url, json={"titel": "Block meeting"}, headers=headers)
        assert answer.status_code == 422, (method, path, answer.text)
        assert UNKNOWN in _problems(answer), (method, path)
        body = spec["paths"][path][method.lower()]["requestBody"]["content"]
        name = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert spec["components"]["schemas"][name]["additionalProperties"] is False, name
    # With a known field beside it, nothing is changed either.
    change = {"category": "A", "titel": "Ubuhle"}
    answer = client.patch(f"/api/v1/settlements/{settlement_id}", json=change, headers=headers)
    assert answer.status_code == 422 and _problems(answer) == [UNKNOWN]
    with Session(clean_db) as session:
        stored = session.get(Settlement, settlement_id)
        assert stored is not None and stored.category == "B1"
    # A field misspelt inside a part of the body: a broadcast to everyone, not to one place.
    broadcast = {
        "audience": {"everyone": True, "setlement_ids": [settlement_id]},
        "texts": {"en": "Water off tomorrow."},
    }
    answer = client.post("/api/v1/broadcasts", json=broadcast, headers=headers)
    assert answer.status_code == 422
    assert {
        "loc": ["body", "audience", "setlement_ids"],
        "msg": "Extra inputs are not permitted",
        "type": "extra_forbidden",
    } in _problems(answer)


def _scope_world(engine: Engine) -> dict[str, Any]:
    """Ward 14 and ward 9, with meetings, a milestone and tickets in each; an officer and a
    triage user scoped to ward 9, and an unscoped admin."""
    soon = utcnow() + dt.timedelta(days=5)
    with session_scope(engine) as session:
        home = make_settlement(session, "Ubuhle Gardens", ward="14")
        mine = make_settlement(session, "Thembalethu", ward="9")
        admin, admin_token = make_staff(session, "admin@ubuntubay.example.org", "admin")
        officer, officer_token = make_staff(session, "ward9@ubuntubay.example.org", "officer")
        triage, triage_token = make_staff(session, "triage9@ubuntubay.example.org", "triage")
        for user in (officer, triage):
            scopes.set_scope(session=session, user=user, settlement_ids=[], wards=["9"])
        here, there = (make_ticket(session, settlement_id=mine.id) for _ in range(2))
        hidden = make_ticket(session, settlement_id=home.id)
        # An admin linked ward 14's ticket to ward 9's: it moves with `here` if that is linked.
        tickets.link(
            session=session, ticket=hidden, parent=here, staff=admin, now=utcnow(), scope=None
        )
        return {
            "home": home.id,
            "mine": mine.id,
            "milestone": make_milestone(session, home).id,
            "city": make_meeting(session, soon, level="city", title="City forum").id,
            "ward9": make_meeting(session, soon, level="ward", ward="9", title="Ward 9").id,
            "home_meeting": make_meeting(session, soon, settlement_id=home.id).id,
            "here": here.reference,
            "there": there.reference,
            "hidden": hidden.reference,
            "admin": auth(admin_token),
            "officer": auth(officer_token),
            "triage": auth(triage_token),
        }


def test_a_scope_refuses_with_one_status_across_the_api(
    client: TestClient, clean_db: Engine
) -> None:
    # A broadcast outside the scope was 409 (as for a state that refuses it), a forum 403.
    w = _scope_world(clean_db)
    later = (utcnow() + dt.timedelta(days=2)).isoformat()
    words = {"texts": {"en": "Water tanks arrive on Monday."}, "send_at": later}
    theirs = client.post(
        "/api/v1/broadcasts", json={"audience": {"everyone": True}, **words}, headers=w["admin"]
    )
    assert theirs.status_code == 201, theirs.text
    forum = {"level": "ward", "title": "Report-back", "starts_at": later}
    city = f"/api/v1/meetings/{w['city']}"
    # A change the scope does not allow to what it shows, or reaching what it hides: 403.
    refused = [
        (w["officer"], "POST", "/api/v1/broadcasts", {"audience": {"everyone": True}, **words}),
        (
            w["officer"],
            "POST",
            "/api/v1/broadcasts/preview",
            {"audience": {"wards": ["14"]}, **words},
        ),
        (w["officer"], "POST", "/api/v1/broadcasts", {"audience": {"wards": ["14"]}, **words}),
        (
            w["officer"],
            "POST",
            "/api/v1/broadcasts",
            {"audience": {"settlement_ids": [w["home"]]}, **words},
        ),
        (w["officer"], "POST", "/api/v1/meetings", {**forum, "ward": "14"}),
        (w["officer"], "PUT", f"/api/v1/meetings/{w['ward9']}", {**forum, "ward": "14"}),
        (w["officer"], "PUT", city, {**forum, "level": "city"}),
        (w["officer"], "POST", f"{city}/cancel", None),
        (w["officer"], "POST", f"{city}/announcement/preview", {"change": "announced"}),
        (w["officer"], "POST", f"{city}/announcement", {"change": "announced"}),
        (w["triage"], "PUT", f"/api/v1/tickets/{w['here']}/parent", {"parent": w["there"]}),
    ]
    for headers, method, url, body in refused:
        answer = client.request(method, url, json=body, headers=headers)
        assert answer.status_code == 403, (method, url, answer.text)
        assert "scope" in answer.json()["detail"], (method, url, answer.text)
    # What the scope hides: 404, as if it did not exist.
    hidden_broadcast = f"/api/v1/broadcasts/{theirs.json()['id']}"
    milestone = f"/api/v1/settlements/{w['home']}/milestones/{w['milestone']}"
    hidden = [
        (w["officer"], "GET", hidden_broadcast, None),
        (w["officer"], "POST", f"{hidden_broadcast}/approve", None),
        (w["officer"], "POST", f"{hidden_broadcast}/cancel", None),
        (w["officer"], "PUT", f"/api/v1/meetings/{w['home_meeting']}", {**forum, "ward": "9"}),
        (
            w["officer"],
            "POST",
            f"/api/v1/meetings/{w['home_meeting']}/announcement",
            {"change": "announced"},
        ),
        (
            w["officer"],
            "POST",
            "/api/v1/meetings",
            {**forum, "level": "neighbourhood", "settlement_id": w["home"]},
        ),
        (
            w["officer"],
            "PUT",
            milestone,
            {"strand": "services", "title": "Standpipes", "status": "done"},
        ),
        (w["officer"], "POST", f"{milestone}/announcement", None),
        (w["triage"], "PUT", f"/api/v1/tickets/{w['hidden']}/parent", {"parent": w["there"]}),
        (w["triage"], "PUT", f"/api/v1/tickets/{w['there']}/parent", {"parent": w["hidden"]}),
    ]
    for headers, method, url, body in hidden:
        answer = client.request(method, url, json=body, headers=headers)
        assert answer.status_code == 404, (method, url, answer.text)
    # Nothing refused was done.
    with Session(clean_db) as session:
        assert session.exec(select(func.count()).select_from(Broadcast)).one() == 1
        linked = session.exec(select(Ticket).where(Ticket.reference == w["here"])).one()
        assert linked.parent_id is None
    spec = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/broadcasts", "/api/v1/broadcasts/preview", "/api/v1/meetings"):
        assert "403" in spec[path]["post"]["responses"], path
    assert "scope" not in spec["/api/v1/broadcasts"]["post"]["responses"]["409"]["description"]


def test_refusals_say_things_as_the_readme_does_not_by_internal_names(
    client: TestClient, clean_db: Engine
) -> None:
    # "your scope does not include wards ['14']", "target_date 1999-12-31 ...", "unknown
    # languages ['zz']; known: ['en', ...]": Python's names and lists, shown to people.
    w = _scope_world(clean_db)
    with session_scope(clean_db) as session:
        make_settlement(session, "Far Away", ward="30")
    words = {"texts": {"en": "Water tanks arrive on Monday."}}
    interruption = {
        "name": "water_interruption",
        "area": "Block C",
        "starts_at": "2031-03-10T16:00:00+02:00",
        "ends_at": "2031-03-10T08:00:00+02:00",
    }
    milestones = f"/api/v1/settlements/{w['mine']}/milestones"
    said = [
        (
            w["officer"],
            "/api/v1/broadcasts/preview",
            {"audience": {"wards": ["14"]}, **words},
            "your scope does not include ward 14",
        ),
        (
            w["officer"],
            "/api/v1/broadcasts/preview",
            {"audience": {"wards": ["30", "14"]}, **words},
            "your scope does not include wards 14 and 30",
        ),
        (
            w["officer"],
            milestones,
            {
                "strand": "tenure",
                "title": "Title deeds",
                "status": "planned",
                "target_date": "1999-12-31",
            },
            "target date 1999-12-31 is not between 2000 and 2099",
        ),
        (
            w["admin"],
            "/api/v1/broadcasts/preview",
            {"audience": {"everyone": True}, "texts": {"en": "Hi.", "zz": "Hi."}},
            "no such language: zz (known: en, xh, zu, af, st, tn, nso, ts, ve, ss, nr)",
        ),
        (
            w["admin"],
            "/api/v1/broadcasts/preview",
            {"audience": {"everyone": True}, "template": interruption},
            "the interruption must end after it starts",
        ),
        (
            w["officer"],
            f"/api/v1/meetings/{w['ward9']}/announcement/preview",
            {"change": "moved"},
            "a moved meeting needs the time it was planned for before, the venue it had, or both",
        ),
    ]
    for headers, url, body, detail in said:
        answer = client.post(url, json=body, headers=headers)
        assert answer.status_code in (403, 422), (url, answer.text)
        assert answer.json()["detail"] == detail, url


def test_refusals_name_the_api_s_fields_where_the_csv_names_its_columns(
    client: TestClient, clean_db: Engine
) -> None:
    # The checks the API shares with the CSV import said "needs a settlement" and "leave it
    # blank" (the API's field is settlement_id, which is left out, not blank), "the note"
    # (category_note), and quoted values as Python does ("unknown category 'x'").
    w = _scope_world(clean_db)
    later = (utcnow() + dt.timedelta(days=5)).isoformat()
    forum = {"title": "Report-back", "starts_at": later}
    settlement = f"/api/v1/settlements/{w['home']}"
    said = [
        (
            "post",
            "/api/v1/meetings",
            {**forum, "level": "neighbourhood"},
            "a neighbourhood meeting needs settlement_id",
        ),
        (
            "post",
            "/api/v1/meetings",
            {**forum, "level": "city", "settlement_id": w["home"]},
            "a city forum belongs to no single settlement: leave settlement_id out",
        ),
        (
            "post",
            "/api/v1/meetings",
            {**forum, "level": "city", "ward": "14"},
            "a city forum belongs to no single ward: leave ward out",
        ),
        (
            "post",
            "/api/v1/meetings",
            {**forum, "level": "ward", "ward": "9", "settlement_id": w["home"]},
            "ward 9 differs from Ubuhle Gardens's ward (14)",
        ),
        (
            "post",
            "/api/v1/meetings",
            {**forum, "level": "ward", "ward": "99"},
            "no settlement is in ward 99",
        ),
        (
            "patch",
            settlement,
            {"category_note": "Bell\u0007"},
            "category_note contains a control character (U+0007), which no one can see: take "
            "it out (tabs and line breaks may stay)",
        ),
        (
            "patch",
            settlement,
            {"current_phase": "Bell\u0007"},
            "current_phase contains a control character (U+0007), which no one can see: take "
            "it out (tabs and line breaks may stay)",
        ),
        (
            "patch",
            f"/api/v1/tickets/{w['here']}",
            {"category": "x"},
            "no such category: x (known: water, sanitation, electricity, roads, stormwater, "
            "fire, refuse, housing_list, relocation, safety, upgrading, other)",
        ),
        (
            "patch",
            f"/api/v1/tickets/{w['here']}",
            {"assignee_email": "nobody@ubuntubay.example.org"},
            "no active staff user has the email nobody@ubuntubay.example.org",
        ),
        (
            "post",
            "/api/v1/broadcasts/preview",
            {"audience": {"wards": ["99"]}, "texts": {"en": "Water tanks arrive on Monday."}},
            "no settlement is in ward 99",
        ),
    ]
    for method, url, body, detail in said:
        answer = client.request(method, url, json=body, headers=w["admin"])
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["detail"] == detail, url
    canned = client.post(
        f"/api/v1/tickets/{w['here']}/replies", json={"canned": "nope"}, headers=w["admin"]
    )
    assert canned.json()["detail"].startswith("no such canned response: nope (known: ")
    # The CSV import names its columns, as officers fix a file by column.
    csv = (
        "settlement,ward,level,title,starts_at,venue\n"
        f",,neighbourhood,Report-back,{later},\n"
        f"Ubuhle Gardens,,city,Report-back,{later},\n"
        f",14,city,Report-back,{later},\n"
        f"Ubuhle Gardens,9,ward,Report-back,{later},\n"
    )
    with session_scope(clean_db) as session, pytest.raises(ImportRejected) as caught:
        import_csv(session=session, kind="meetings", data=csv)
    assert [str(e) for e in caught.value.errors] == [
        "line 2: a neighbourhood meeting needs a settlement",
        "line 3: a city forum belongs to no single settlement: leave it blank",
        "line 4: a city forum belongs to no single ward: leave the ward blank",
        "line 5: ward 9 differs from Ubuhle Gardens's ward (14)",
    ]


def test_a_parent_that_is_no_ticket_is_named_as_the_dashboard_names_it(
    client: TestClient, clean_db: Engine
) -> None:
    # PUT .../parent answered 404 "no ticket 9013161", which read as if the ticket being
    # worked on were missing; the dashboard says which number is wrong.
    w = _scope_world(clean_db)
    here = f"/api/v1/tickets/{w['here']}/parent"
    for headers, parent in [(w["admin"], "9013161"), (w["triage"], w["hidden"])]:
        answer = client.put(here, json={"parent": parent}, headers=headers)
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"] == (
            f"there is no ticket {parent} to link to: check the number"
        )
    # The ticket worked on, when missing, is still named as it is.
    gone = client.put(
        "/api/v1/tickets/9013161/parent", json={"parent": w["there"]}, headers=w["admin"]
    )
    assert gone.status_code == 404 and gone.json()["detail"] == "no ticket 9013161"
