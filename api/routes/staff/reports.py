"""Reports: tickets opened and resolved per week, medians, SLA share; charts and CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.routes.staff import charts
from api.routes.staff.common import StaffContext, attachment, category_name, page, render
from bot.db import utcnow
from bot.domain.reports import service as reports
from bot.domain.staff.models import ROLES

router = APIRouter()
Reader = Annotated[StaffContext, Depends(page(*ROLES))]
Weeks = Annotated[int, Query(ge=1, le=104)]


@router.get("/reports", response_class=HTMLResponse)
def report_page(request: Request, ctx: Reader, weeks: Weeks = 12) -> HTMLResponse:
    """Weekly charts and headline numbers for the tickets the user may see."""
    report = reports.weekly(session=ctx.session, now=utcnow(), weeks=weeks, scope=ctx.scope)
    ctx.audit("report.view", "reports", weeks=weeks)
    labels = [day.strftime("%d %b") for day in report.weeks]
    # Charts name categories as the queue does ("Housing list"); the CSV keeps the codes.
    opened_by_category = {category_name(k): v for k, v in report.opened_by_category.items()}
    resolved_by_category = {category_name(k): v for k, v in report.resolved_by_category.items()}
    return render(
        request,
        "reports.html",
        ctx,
        report=report,
        weeks=weeks,
        labels=labels,
        weekly=charts.grouped(labels, {"Opened": report.opened, "Resolved": report.resolved}),
        by_category=charts.horizontal({k: sum(v) for k, v in opened_by_category.items()}),
        by_settlement=charts.horizontal(
            {k: sum(v) for k, v in report.opened_by_settlement.items()}
        ),
        weekly_by={
            "opened_category": charts.stacked(labels, opened_by_category, "Other categories"),
            "resolved_category": charts.stacked(labels, resolved_by_category, "Other categories"),
            "opened_settlement": charts.stacked(
                labels, report.opened_by_settlement, "Other settlements"
            ),
            "resolved_settlement": charts.stacked(
                labels, report.resolved_by_settlement, "Other settlements"
            ),
        },
    )


@router.get("/reports.csv")
def report_csv(ctx: Reader, weeks: Weeks = 12) -> Response:
    """Download the weekly counts as CSV (cells that a spreadsheet would run are neutralised)."""
    report = reports.weekly(session=ctx.session, now=utcnow(), weeks=weeks, scope=ctx.scope)
    ctx.audit("report.export", "reports.csv", weeks=weeks)
    return attachment(reports.weekly_csv(report), "text/csv", "siyakha-weekly.csv")
