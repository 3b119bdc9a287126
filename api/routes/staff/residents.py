"""Residents for officers: find by phone, see consent and opt-out, export, erase on request."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import PathId
from api.routes.staff.common import (
    OFFICERS,
    StaffContext,
    action,
    attachment,
    back,
    page,
    render,
)
from bot.domain.residents import export as resident_data
from bot.domain.residents import service as residents
from bot.domain.residents.models import Resident
from bot.domain.staff import scope as scopes
from bot.phones import InvalidPhone, normalise

router = APIRouter()
Reader = Annotated[StaffContext, Depends(page(*OFFICERS))]
Editor = Annotated[StaffContext, Depends(action(*OFFICERS))]


def _resident(ctx: StaffContext, resident_id: int) -> Resident:
    found = resident_data.get(
        session=ctx.session,
        resident_id=resident_id,
        condition=scopes.resident_condition(ctx.scope),
    )
    if found is None:
        raise HTTPException(404, f"no resident {resident_id}")
    return found


@router.get("/residents", response_class=HTMLResponse, response_model=None)
def find(request: Request, ctx: Reader) -> HTMLResponse | RedirectResponse:
    """Find a resident by phone number."""
    raw = request.query_params.get("phone", "")[:40]
    error = None
    if raw:
        try:
            phone = normalise(raw)
        except InvalidPhone:
            error = "That is not a valid phone number."
        else:
            found = resident_data.find_by_phone(
                session=ctx.session, phone=phone, condition=scopes.resident_condition(ctx.scope)
            )
            ctx.audit("resident.search", "", found=found is not None)
            if found is not None:
                return back(f"/staff/residents/{found.id}")
            error = "No resident with that number (within your scope)."
    return render(request, "residents.html", ctx, phone=raw, error=error)


@router.get("/residents/{resident_id}", response_class=HTMLResponse)
def resident_page(request: Request, resident_id: PathId, ctx: Reader) -> HTMLResponse:
    """What is kept about one resident, the latest broadcasts sent to them and meetings they
    said they will attend (within the user's scope, as are the reports and messages
    counted), with export and erase."""
    resident = _resident(ctx, resident_id)
    ctx.audit("resident.view", f"resident:{resident_id}")
    summary = residents.summarise(session=ctx.session, resident=resident)
    assert resident.id is not None
    return render(
        request,
        "resident.html",
        ctx,
        r=resident,
        summary=summary,
        counted=resident_data.counted(
            session=ctx.session, resident_id=resident.id, scope=ctx.scope
        ),
        broadcasts=resident_data.broadcasts_sent(
            session=ctx.session, resident_id=resident.id, scope=ctx.scope
        ),
        meetings=resident_data.meetings_attending(
            session=ctx.session, resident_id=resident.id, scope=ctx.scope
        ),
    )


@router.get("/residents/{resident_id}/export.json")
def export(resident_id: PathId, ctx: Reader) -> Response:
    """Download everything kept about a resident as JSON (a scoped user's leaves out, and
    counts, the reports outside their scope)."""
    resident = _resident(ctx, resident_id)
    ctx.audit("resident.export", f"resident:{resident_id}")
    data = resident_data.export(session=ctx.session, resident=resident, scope=ctx.scope)
    return attachment(
        json.dumps(data, ensure_ascii=False, indent=2),
        "application/json",
        f"resident-{resident_id}.json",
    )


@router.post("/residents/{resident_id}/erase")
def erase(
    resident_id: PathId, ctx: Editor, confirm_phone: Annotated[str, Form(max_length=40)] = ""
) -> RedirectResponse:
    """Erase a resident on request (type their number to confirm); tickets stay de-identified."""
    resident = _resident(ctx, resident_id)
    try:
        confirmed = normalise(confirm_phone) == resident.phone
    except InvalidPhone:
        confirmed = False
    if not confirmed:
        raise HTTPException(422, "type the resident's phone number to confirm the erasure")
    assert resident.id is not None
    residents.erase(session=ctx.session, resident_id=resident.id)
    ctx.audit("resident.erase", f"resident:{resident_id}")
    return back("/staff/residents", "erased")
