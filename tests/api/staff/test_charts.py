"""Charts as geometry: stacked bars per week (segments, order, "other", thinned labels),
and the reports page's inline SVG for known tickets."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.routes.staff import charts
from bot.db import session_scope, utcnow
from bot.domain.reports.service import week_start
from bot.i18n import TIMEZONE
from tests.api.staff.conftest import World
from tests.domain.tickets.factories import make_ticket
from tests.factories import make_settlement

WEEKS = ["02 Nov", "09 Nov", "16 Nov"]


def test_stacked_bars_have_one_segment_per_nonzero_count_largest_series_at_the_bottom() -> None:
    chart = charts.stacked(WEEKS, {"roads": [1, 1, 0], "water": [2, 0, 1], "none": [0, 0, 0]})
    assert [name for _colour, name in chart.legend] == ["water", "roads"]  # "none" drew nothing
    assert [b.label for b in chart.bars] == [
        "water, week of 02 Nov: 2",
        "roads, week of 02 Nov: 1",
        "roads, week of 09 Nov: 1",
        "water, week of 16 Nov: 1",
    ]
    assert chart.top == 3  # the tallest week
    water, roads = chart.bars[0], chart.bars[1]
    assert water.y + water.height == chart.baseline  # on the axis
    assert abs(roads.y + roads.height - water.y) < 1e-9  # stacked on water
    assert abs(water.height - 2 * roads.height) < 1e-9
    assert water.x == roads.x and chart.bars[3].x > chart.bars[2].x > water.x
    assert all(b.x + b.width <= chart.width for b in chart.bars)
    assert [label for _x, label in chart.ticks] == WEEKS
    assert charts.stacked(WEEKS, {}).bars == []


def test_stacked_bars_sum_the_smaller_series_as_other_and_thin_the_week_labels() -> None:
    weeks = [f"w{i}" for i in range(52)]
    series = {f"place {n}": [n] + [0] * 51 for n in range(1, 8)}  # seven places, week 0 only
    chart = charts.stacked(weeks, series, other="Other settlements")
    names = [name for _colour, name in chart.legend]
    assert names == ["place 7", "place 6", "place 5", "place 4", "Other settlements"]
    assert [b.value for b in chart.bars] == [7, 6, 5, 4, 1 + 2 + 3]
    assert len({colour for colour, _name in chart.legend}) == 5
    assert chart.legend[-1][0] == charts.STACK_COLOURS[-1]  # grey for "other"
    labels = [label for _x, label in chart.ticks]
    assert labels == weeks[::7]  # every seventh week: labels never overlap
    xs = [x for x, _label in chart.ticks]
    assert all(b - a >= 40 for a, b in itertools.pairwise(xs))


def _svg(html: str, title: str) -> str:
    match = re.search(
        r'<svg class="chart stacked".*?</svg>', html.split(f"<strong>{title}")[1], re.S
    )
    assert match, title
    return match.group(0)


def test_reports_page_draws_weekly_breakdowns_as_stacked_svg(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    now = utcnow()
    this_monday = dt.datetime.combine(week_start(now), dt.time(9), TIMEZONE)
    last_monday = this_monday - dt.timedelta(weeks=1)
    with session_scope(clean_db) as session:
        third = make_settlement(session, "Freedom Park", ward="14")
        for when, category, place in [
            (last_monday, "water", world.here),
            (last_monday, "water", world.here),
            (last_monday, "roads", third.id),
            (this_monday, "water", world.there),
        ]:
            make_ticket(session, now=when, category=category, settlement_id=place)
        make_ticket(
            session,
            now=last_monday,
            category="roads",
            settlement_id=third.id,
            status="resolved",
            resolved_at=this_monday,
        )
    client, _csrf = as_role("officer")
    html = client.get("/staff/reports?weeks=2").text
    labels = [day.strftime("%d %b") for day in (last_monday.date(), this_monday.date())]
    assert html.count('<svg class="chart stacked"') == 4 and html.count('<svg class="chart"') == 3
    # world's two tickets are opened now, this week (water in both settlements)
    by_category = _svg(html, "Opened per week, by category")
    assert re.findall(r"<title>([^<]*)</title></rect>", by_category) == [
        f"Water, week of {labels[0]}: 2",
        f"Roads and footpaths, week of {labels[0]}: 2",
        f"Water, week of {labels[1]}: 3",
    ]
    assert 'role="img"' in by_category and 'aria-labelledby="open-cat-title"' in by_category
    assert (
        '<desc id="open-cat-desc">' in by_category
        and "stacked by Water, Roads and footpaths" in by_category
    )
    for label in labels:
        assert f'text-anchor="middle">{label}</text>' in by_category
    by_place = _svg(html, "Opened per week, by settlement")
    assert len(re.findall(r"<rect ", by_place)) == 4  # 2 + 2 last week, 2 + 1 this week
    assert "Freedom Park, week of " + labels[0] + ": 2" in by_place
    resolved = _svg(html, "Resolved per week, by settlement")
    assert re.findall(r"<title>([^<]*)</title></rect>", resolved) == [
        f"Freedom Park, week of {labels[1]}: 1"
    ]
    legend = html.split("<strong>Opened per week, by settlement")[1].split("</figcaption>")[0]
    assert [n.strip() for n in re.findall(r"</svg>([^<]+)</span>", legend)] == [
        "Ubuhle Gardens",  # 3 opened
        "Freedom Park",  # 2, ties in name order
        "Kwa-Thema Extension",  # 2
    ]
