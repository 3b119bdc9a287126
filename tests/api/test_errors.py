"""The JSON API's input errors (`api.errors`): a request body under /api/v1 with a field
its route does not know is refused (422, the field named in `loc`), not obeyed in part."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.db import session_scope
from bot.domain.settlements.models import Settlement
from tests.api.test_v1_tickets import auth
from tests.domain.tickets.factories import make_staff
from tests.factories import make_settlement

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
