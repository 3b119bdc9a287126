"""Property-based requests against /openapi.json (the staff API and Open311): no 5xx.

Kept short (a few examples per operation) so it stays well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy.engine import Engine

from api.main import create_app
from bot.config import Settings
from bot.db import session_scope
from tests.domain.tickets.factories import make_staff, make_ticket

MAX_EXAMPLES = 10


@pytest.fixture
def app_and_token(settings: Settings, clean_db: Engine) -> Iterator[tuple[object, str]]:
    """The app, with a triage token and two tickets in the database."""
    with session_scope(clean_db) as session:
        _, token = make_staff(session)
        make_ticket(session)
        make_ticket(session, status="resolved", category="refuse")
    app = create_app(settings, clean_db)
    with TestClient(app):
        yield app, token


def test_no_server_errors(app_and_token: tuple[object, str]) -> None:
    app, token = app_and_token
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex=r"^/(api/v1|open311/v2|healthz)"
    )
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        check()
