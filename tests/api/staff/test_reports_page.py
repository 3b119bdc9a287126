"""The reports page draws its charts as inline SVG; the CSV export is an attachment with
formula cells neutralised."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from bot.db import session_scope
from tests.api.staff.conftest import World
from tests.domain.tickets.factories import make_ticket
from tests.factories import make_settlement


def test_reports_page_and_csv(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        risky = make_settlement(session, "@SUM(1+1)", ward="14")
        make_ticket(session, settlement_id=risky.id)
    client, _csrf = as_role("officer")
    page = client.get("/staff/reports?weeks=8")
    assert page.status_code == 200
    assert page.text.count('<svg class="chart"') == 3 and 'role="img"' in page.text
    assert page.text.count('<svg class="chart stacked"') == 2  # nothing resolved yet
    assert "<script" not in page.text.replace('<script src="/static/staff.js"></script>', "")
    assert "Resolved within SLA" in page.text
    assert client.get("/staff/reports?weeks=0").status_code == 422
    csv = client.get("/staff/reports.csv?weeks=8")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"] == 'attachment; filename="siyakha-weekly.csv"'
    assert ",'@SUM(1+1)," in csv.text and ",@SUM" not in csv.text
    assert "Ubuhle Gardens" in csv.text
