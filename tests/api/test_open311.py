"""Open311 GeoReport v2: services, creating a request with api_key, tokens, errors (input
checking's too, GeoReport-shaped)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from bot.db import session_scope
from bot.domain.residents.models import Resident
from bot.domain.staff import scope as scopes
from bot.domain.tickets.models import Ticket
from bot.domain.tickets.open311 import mask_contacts
from tests.domain.tickets.factories import make_staff, make_ticket
from tests.factories import make_resident, make_settlement


@pytest.fixture
def keys(clean_db: Engine) -> dict[str, str]:
    with session_scope(clean_db) as session:
        _, triage = make_staff(session)
        _, officer = make_staff(session, "officer@ubuntubay.example.org", "officer")
    return {"triage": triage, "officer": officer}


def test_services_and_definitions(client) -> None:
    services = client.get("/open311/v2/services.json").json()
    assert len(services) == 12
    fire = next(s for s in services if s["service_code"] == "fire")
    assert fire["service_name"] == "Fire safety" and fire["keywords"] == "urgent"
    assert fire["metadata"] is False and fire["type"] == "realtime"
    assert client.get("/open311/v2/services/water.json").json() == {
        "service_code": "water",
        "attributes": [],
    }
    missing = client.get("/open311/v2/services/unicorns.json")
    assert missing.status_code == 404
    assert missing.json() == [{"code": 404, "description": "unknown service_code"}]


def test_call_centre_logs_a_request_for_a_resident(client, keys) -> None:
    form = {
        "api_key": keys["triage"],
        "service_code": "electricity",
        "description": "Live wires hanging over the path, says Thandi Mokoena on 072 555 0101",
        "address_string": "Lane 7, Ubuhle Gardens",
        "lat": "-33.987412",
        "long": "18.561234",
        "phone": "072 555 0101",
        "first_name": "Thandi",
        "last_name": "Mokoena",
        "email": "thandi@example.org",
    }
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 201, r.text
    [created] = r.json()
    ref, token = created["service_request_id"], created["token"]
    assert ref.isdigit()
    assert client.get(f"/open311/v2/tokens/{token}.json").json() == [
        {"service_request_id": ref, "token": token}
    ]
    [request] = client.get(f"/open311/v2/requests/{ref}.json").json()
    assert request["status"] == "open" and request["service_code"] == "electricity"
    assert (request["lat"], request["long"]) == (-33.987, 18.561)  # public: about 110 m
    text = json.dumps(request)
    for secret in ("072 555 0101", "+27725550101", "thandi@example.org", "Mokoena"):
        assert secret not in text
    detail = client.get(
        f"/api/v1/tickets/{ref}", headers={"Authorization": f"Bearer {keys['triage']}"}
    ).json()
    assert detail["priority"] == "high"  # live wires
    assert detail["source"] == "open311" and detail["has_resident"] is True
    assert (detail["latitude"], detail["longitude"]) == (-33.987412, 18.561234)  # staff: as sent
    assert detail["events"][0]["staff_email"] == "triage@ubuntubay.example.org"

    assert [
        r["service_request_id"]
        for r in client.get(
            "/open311/v2/requests.json", params={"service_request_id": f"{ref},999"}
        ).json()
    ] == [ref]
    assert client.get("/open311/v2/requests.json", params={"status": "closed"}).json() == []
    assert (
        client.get(
            "/open311/v2/requests.json", params={"service_code": "electricity", "status": "open"}
        ).json()[0]["service_request_id"]
        == ref
    )
    assert client.get("/open311/v2/requests.json", params={"status": "maybe"}).status_code == 400


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"api_key": "sk_wrong"}, 403),
        ({"service_code": "unicorns"}, 404),
        ({"lat": "", "long": "", "address_string": ""}, 400),
        ({"phone": "12"}, 400),
    ],
)
def test_bad_posts_get_open311_errors(client, keys, change, status) -> None:
    form = {"api_key": keys["triage"], "service_code": "water", "lat": "-33.9", "long": "18.5"}
    form.update(change)
    form = {k: v for k, v in form.items() if v != ""}
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == status, r.text
    assert r.json()[0]["code"] == status


def test_an_officer_key_may_not_create(client, keys) -> None:
    form = {"api_key": keys["officer"], "service_code": "water", "address_string": "Lane 1"}
    assert client.post("/open311/v2/requests.json", data=form).status_code == 403


def test_a_scoped_key_files_only_inside_its_scope(client, clean_db) -> None:
    # A ward-9 key filed a ward-14 resident's report (and one with no resident), then could
    # not read either: a 404 on its own ticket. Now refused, and no resident is added.
    with session_scope(clean_db) as session:
        fourteen = make_settlement(session, "Ubuhle Gardens", ward="14")
        nine = make_settlement(session, "Masakhane", ward="9")
        make_resident(session, "+27821234567", settlement_id=fourteen.id)
        make_resident(session, "+27821234568", settlement_id=nine.id)
        user, key = make_staff(session, "ward9@ubuntubay.example.org", "triage")
        scopes.set_scope(session=session, user=user, settlement_ids=[], wards=["9"])
    form = {"api_key": key, "service_code": "water", "address_string": "Lane 4"}
    for phone in ("0821234567", None, "0829999999"):
        answer = client.post("/open311/v2/requests.json", data={**form, "phone": phone or ""})
        assert answer.status_code == 403, (phone, answer.text)
        assert "limited to some places" in answer.json()[0]["description"]
    mine = client.post("/open311/v2/requests.json", data={**form, "phone": "0821234568"})
    assert mine.status_code == 201, mine.text
    [created] = mine.json()
    with session_scope(clean_db) as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 1
        phones = set(session.execute(select(Resident.phone)).scalars())
        assert phones == {"+27821234567", "+27821234568"}  # 082 999 9999 was not added
        ticket = session.execute(select(Ticket)).scalar_one()
        assert ticket.reference == created["service_request_id"]
        assert ticket.settlement_id == nine.id


def test_unknown_request_and_token(client) -> None:
    assert client.get("/open311/v2/requests/1234567.json").status_code == 404
    assert client.get("/open311/v2/requests/abc.json").status_code == 404
    assert client.get("/open311/v2/tokens/abcdef.json").status_code == 404


def test_mask_contacts() -> None:
    assert mask_contacts("call 082 123 4567 or +27 82 123 4567") == (
        "call [number removed] or [number removed]"
    )
    assert mask_contacts("mail a.b@example.co.za") == "mail [email removed]"
    assert mask_contacts("structure 112, lane 4") == "structure 112, lane 4"


@pytest.mark.parametrize(
    "number",
    [
        "082/123/4567",
        "082\u2013123\u20134567",  # en dash
        "082*123*4567",
        "082\u2010123\u20154567",  # hyphen, horizontal bar
        "082\u2212123 \u22124567",  # minus sign
        "(082) 123-4567",
        "082_123_4567",
        "082 - 123 - 4567",
        "082   123   4567",
    ],
)
def test_mask_contacts_with_any_separators(number: str) -> None:
    assert mask_contacts(f"call {number} now") == "call [number removed] now"


def test_mask_contacts_leaves_words_between_digits_alone() -> None:
    assert mask_contacts("lane 082 abc 123 4567") == "lane 082 abc 123 4567"


def test_the_schema_documents_what_the_routes_answer(client) -> None:
    # POST requests.json answers 201 (GeoReport v2); /openapi.json said 200.
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/open311/v2/requests.json"]["post"]["responses"]
    assert "201" in post and "200" not in post


def test_input_errors_are_georeport_errors_too(client, keys) -> None:
    lane = {"service_code": "water", "address_string": "Lane 1"}
    cases = [
        (client.post("/open311/v2/requests.json", data=lane), 403, "api_key is required"),
        (
            client.post(
                "/open311/v2/requests.json",
                data={"api_key": keys["triage"], "address_string": "Lane 1"},
            ),
            400,
            "service_code: Field required",
        ),
        (
            client.post(
                "/open311/v2/requests.json",
                data={**lane, "api_key": keys["triage"], "lat": "95", "long": "18"},
            ),
            400,
            "lat: Input should be less than or equal to 90",
        ),
        (
            client.get("/open311/v2/requests.json", params={"start_date": "yesterday"}),
            400,
            "start_date: Input should be a W3C datetime",
        ),
        (client.get("/open311/v2/services/Water.json"), 404, "unknown service_code"),
        (client.get("/open311/v2/tokens/XYZ.json"), 404, "unknown token"),
        (client.get("/open311/v2/nothing.json"), 404, "Not Found"),
        (client.delete("/open311/v2/services.json"), 405, "Method Not Allowed"),
    ]
    for answer, status, description in cases:
        assert answer.status_code == status, answer.text
        [error] = answer.json()
        assert error["code"] == status and error["description"].startswith(description)
    # The API's errors keep FastAPI's shape.
    assert "detail" in client.get("/api/v1/tickets/abc").json()


def test_dates_are_w3c_datetimes_not_unix_times(client) -> None:
    # start_date=99999 was read as a Unix time (1970-01-02) and answered 200.
    expected = "Input should be a W3C datetime, e.g. 2010-01-01T00:00:00Z"
    for field in ("start_date", "end_date"):
        for number in ("99999", "1700000000", "-5", "1.5e9", "2010"):
            answer = client.get("/open311/v2/requests.json", params={field: number})
            assert answer.status_code == 400, (field, number)
            assert answer.json() == [{"code": 400, "description": f"{field}: {expected}"}]
    dates = {"start_date": "2010-01-01T00:00:00Z", "end_date": "2010-01-02"}
    assert client.get("/open311/v2/requests.json", params=dates).json() == []


def test_a_date_alone_is_a_whole_johannesburg_day(client, clean_db) -> None:
    # end_date=2030-01-31 was 31 January 00:00 in Johannesburg and left out the 31st
    # (/api/v1's created_to reads it to the day's end); a time without an offset is UTC.
    with session_scope(clean_db) as session:
        last = make_ticket(session, now=dt.datetime(2030, 1, 31, 20, 0, tzinfo=dt.UTC)).reference
        first = make_ticket(session, now=dt.datetime(2029, 12, 31, 23, 0, tzinfo=dt.UTC)).reference
        make_ticket(session, now=dt.datetime(2030, 1, 31, 22, 0, tzinfo=dt.UTC))  # 1 Feb there
        make_ticket(session, now=dt.datetime(2029, 12, 31, 21, 0, tzinfo=dt.UTC))  # 31 Dec there
    january = {"start_date": "2030-01-01", "end_date": "2030-01-31"}
    found = client.get("/open311/v2/requests.json", params=january).json()
    assert {r["service_request_id"] for r in found} == {first, last}
    exact = {"start_date": "2030-01-31T20:00:00", "end_date": "2030-01-31T20:00:00Z"}
    found = client.get("/open311/v2/requests.json", params=exact).json()
    assert [r["service_request_id"] for r in found] == [last]


def test_the_schema_documents_every_field_the_answers_carry(client, keys) -> None:
    # The success answers had no schema in /openapi.json (only the errors had one). Real
    # answers are compared with it, so that neither drifts from the other.
    key = keys["triage"]
    form = {"api_key": key, "service_code": "water", "address_string": "Lane 1"}
    created = client.post("/open311/v2/requests.json", data={**form, "lat": "-34", "long": "18"})
    [new] = created.json()
    v2 = "/open311/v2"
    answers = {
        ("get", f"{v2}/services.json", "200"): client.get(f"{v2}/services.json"),
        ("get", f"{v2}/services/{{service_code}}.json", "200"): client.get(
            f"{v2}/services/water.json"
        ),
        ("get", f"{v2}/requests.json", "200"): client.get(
            f"{v2}/requests.json", params={"api_key": key}
        ),
        ("post", f"{v2}/requests.json", "201"): created,
        ("get", f"{v2}/requests/{{service_request_id}}.json", "200"): client.get(
            f"{v2}/requests/{new['service_request_id']}.json"
        ),
        ("get", f"{v2}/tokens/{{token}}.json", "200"): client.get(
            f"{v2}/tokens/{new['token']}.json"
        ),
    }
    spec = client.get("/openapi.json").json()
    operations = {
        (method, path)
        for path, methods in spec["paths"].items()
        if path.startswith(v2)
        for method in methods
    }
    assert operations == {(method, path) for method, path, _ in answers}
    types = {
        "string": str,
        "number": (int, float),
        "boolean": bool,
        "array": list,
        "null": type(None),
    }

    def named(schema: dict) -> dict:
        return spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]

    for (method, path, status), answer in answers.items():
        assert answer.status_code == int(status), (path, answer.text)
        schema = spec["paths"][path][method]["responses"][status]["content"]
        schema = schema["application/json"]["schema"]
        items = answer.json()
        if schema.get("type") == "array":
            schema = schema["items"]
        else:
            items = [items]
        fields = named(schema)
        assert items, path
        for item in items:
            assert list(item) == list(fields["properties"]) == fields["required"], path
            for name, value in item.items():
                kinds = fields["properties"][name].get("anyOf", [fields["properties"][name]])
                allowed = tuple(types[kind["type"]] for kind in kinds)
                assert isinstance(value, allowed), (path, name, value)


def test_the_schema_documents_georeport_errors_and_no_422(client) -> None:
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        if not path.startswith("/open311/"):
            continue
        for operation in operations.values():
            assert "422" not in operation["responses"], path
            errors = [r for s, r in operation["responses"].items() if s.startswith("4")]
            for error in errors:
                schema = error["content"]["application/json"]["schema"]
                assert schema["items"] == {"$ref": "#/components/schemas/GeoReportError"}
            assert not operation.get("parameters") or len(errors) == 4, path


@pytest.fixture
def reported(clean_db: Engine) -> dict[str, str]:
    """Two chat reports in two wards (one names a neighbour), a safety report, staff keys."""
    with session_scope(clean_db) as session:
        here = make_settlement(session, "Ubuhle Gardens", ward="14")
        there = make_settlement(session, "Sizamile", ward="9")
        resident = make_resident(session, "+27825550000", profile_name="Nomsa Dlamini")
        water = make_ticket(
            session,
            resident_id=resident.id,
            settlement_id=here.id,
            description="Sipho Ndlovu broke the tap again, ask Nomsa on 082/123/4567",
            where="my shack is number 47 next to his",
            last_public_note="A plumber comes on Tuesday.",
        )
        roads = make_ticket(
            session, category="roads", settlement_id=there.id, description="Pothole by Zodwa's"
        )
        crime = make_ticket(
            session, category="safety", settlement_id=here.id, description="He robs us at night"
        )
        _, officer = make_staff(session, "officer@ubuntubay.example.org", "officer")
        scoped_user, scoped = make_staff(session, "ward14@ubuntubay.example.org", "officer")
        assert here.id is not None
        scopes.set_scope(session=session, user=scoped_user, settlement_ids=[], wards=["14"])
        return {
            "water": water.reference,
            "roads": roads.reference,
            "safety": crime.reference,
            "officer": officer,
            "scoped": scoped,
        }


def _by_id(answer: list[dict]) -> dict[str, dict]:
    return {r["service_request_id"]: r for r in answer}


def test_public_reads_carry_no_words_no_address_and_no_safety_reports(client, reported) -> None:
    listed = client.get("/open311/v2/requests.json")
    assert listed.status_code == 200, listed.text
    found = _by_id(listed.json())
    assert set(found) == {reported["water"], reported["roads"]}
    for request in found.values():
        assert request["description"] is None and request["address"] is None
    water = found[reported["water"]]
    assert water["status_notes"] == "A plumber comes on Tuesday."  # staff-written
    assert water["service_code"] == "water" and water["status"] == "open"
    text = listed.text
    for secret in ("Sipho", "Ndlovu", "shack", "number 47", "Zodwa", "robs", "Ubuhle"):
        assert secret not in text
    [one] = client.get(f"/open311/v2/requests/{reported['water']}.json").json()
    assert one == water
    assert client.get(f"/open311/v2/requests/{reported['safety']}.json").status_code == 404
    by_id = client.get(
        "/open311/v2/requests.json", params={"service_request_id": reported["safety"]}
    )
    assert by_id.json() == []
    assert client.get("/open311/v2/requests.json", params={"service_code": "safety"}).json() == []


def test_a_staff_api_key_reads_the_words_and_address_of_its_scope(client, reported) -> None:
    keyed = client.get("/open311/v2/requests.json", params={"api_key": reported["officer"]})
    assert keyed.status_code == 200, keyed.text
    found = _by_id(keyed.json())
    assert set(found) == {reported["water"], reported["roads"], reported["safety"]}
    water = found[reported["water"]]
    assert water["description"] == (
        "Sipho Ndlovu broke the tap again, ask [name removed] on [number removed]"
    )
    assert water["address"] == "my shack is number 47 next to his, Ubuhle Gardens"
    assert found[reported["safety"]]["description"] == "He robs us at night"
    [one] = client.get(
        f"/open311/v2/requests/{reported['safety']}.json", params={"api_key": reported["officer"]}
    ).json()
    assert one["description"] == "He robs us at night"
    # A token scoped to ward 14 reads its own tickets in full, the others as the public does.
    scoped = _by_id(
        client.get("/open311/v2/requests.json", params={"api_key": reported["scoped"]}).json()
    )
    assert set(scoped) == {reported["water"], reported["roads"], reported["safety"]}
    assert scoped[reported["water"]]["address"] == water["address"]
    assert scoped[reported["roads"]]["description"] is None
    assert scoped[reported["roads"]]["address"] is None
    # An api_key that is no active staff token is refused, as POST refuses it.
    for path in ("requests.json", f"requests/{reported['water']}.json"):
        refused = client.get(f"/open311/v2/{path}", params={"api_key": "sk_wrong"})
        assert refused.status_code == 403
        assert refused.json() == [{"code": 403, "description": "invalid api_key"}]


@pytest.mark.parametrize("ids", ["abc", "", ",", "1234567890123", "12345678901234567890,x"])
def test_ids_that_are_no_report_number_find_nothing(client, reported, ids) -> None:
    answer = client.get("/open311/v2/requests.json", params={"service_request_id": ids})
    assert answer.status_code == 200, answer.text
    assert answer.json() == []


def test_an_out_of_range_date_is_a_bad_request(client) -> None:
    for name in ("start_date", "end_date"):
        answer = client.get("/open311/v2/requests.json", params={name: "0001-01-01T00:00:00+01:00"})
        assert answer.status_code == 400, answer.text
        assert answer.json() == [{"code": 400, "description": "date out of range"}]


def _statements(engine: Engine, call) -> int:
    statements: list[str] = []

    def count(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def _add_reports(engine: Engine, count: int) -> None:
    with session_scope(engine) as session:
        here = make_settlement(session, f"Place {count}")
        for n in range(count):
            resident = make_resident(session, f"+2782555{count:02d}{n:02d}", profile_name="Thabo")
            make_ticket(session, resident_id=resident.id, settlement_id=here.id)


def test_listing_requests_takes_as_many_statements_for_many_tickets_as_for_few(
    client, clean_db, keys
) -> None:
    client.get("/open311/v2/requests.json", params={"api_key": keys["officer"]})  # notes its use
    counts = []
    for more in (2, 12):
        _add_reports(clean_db, more)
        for params in ({}, {"api_key": keys["officer"]}):
            answer: list = []

            def listing(params: dict[str, str] = params, answer: list = answer) -> None:
                answer.append(client.get("/open311/v2/requests.json", params=params))

            counts.append(_statements(clean_db, listing))
            assert answer[0].status_code == 200
    assert len(answer[0].json()) == 14
    assert counts[:2] == counts[2:], counts
