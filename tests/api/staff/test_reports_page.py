"""The reports page draws its charts as inline SVG; the CSV export is an attachment with
formula cells neutralised."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from bot.db import session_scope, utcnow
from bot.domain.tickets import service as tickets
from tests.api.staff.conftest import World
from tests.domain.tickets.factories import make_staff, make_ticket
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
    assert "Finished within SLA" in page.text
    assert client.get("/staff/reports?weeks=0").status_code == 422
    csv = client.get("/staff/reports.csv?weeks=8")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"] == 'attachment; filename="siyakha-weekly.csv"'
    assert ",'@SUM(1+1)," in csv.text and ",@SUM" not in csv.text
    assert "Ubuhle Gardens" in csv.text


def test_the_sla_share_says_it_counts_closes_as_finished(
    as_role: Callable[[str], tuple[TestClient, str]], clean_db: Engine
) -> None:
    """A ticket closed without being resolved is finished for the SLA (the queue calls it met
    or missed) but no resolution: the headline must not read "Resolved within SLA 100 %"
    beside "All resolved 0"."""
    with session_scope(clean_db) as session:
        spam = make_ticket(session)
        user, _ = make_staff(session, email="closer@ubuntubay.example.org")
        tickets.set_status(session=session, ticket=spam, status="closed", staff=user, now=utcnow())
    client, _csrf = as_role("officer")
    page = client.get("/staff/reports?weeks=2").text
    assert "Resolved within SLA" not in page
    assert (
        "<dt>Finished within SLA</dt><dd>100% (1 of 1 finished, "
        "1 of them closed without being resolved)</dd>"
    ) in page


def test_the_reports_name_categories_as_the_queue_does(
    as_role: Callable[[str], tuple[TestClient, str]], clean_db: Engine
) -> None:
    """Charts and tables say "Housing list", as the queue does; the CSV keeps the code."""
    with session_scope(clean_db) as session:
        make_ticket(session, category="housing_list")
    client, _csrf = as_role("officer")
    page = client.get("/staff/reports?weeks=2").text
    assert "housing_list" not in page
    assert '<th scope="row">Housing list</th>' in page
    assert page.count("Housing list") >= 3  # the table, the bar chart and the stacked chart
    assert ",category,housing_list," in client.get("/staff/reports.csv?weeks=2").text
