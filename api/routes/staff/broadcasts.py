"""Broadcast pages: compose, preview, send or schedule, approve, cancel, follow progress.

Included under /staff by the staff package router (`api/routes/staff/__init__.py`).
Compose posts to the preview, which carries the composed broadcast as JSON in a hidden
field to the create action; a scoped officer may only reach their own settlements and
wards (`broadcasts.check_scope`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from api.deps import PathId, announceable_meeting, announceable_milestone, refused_as_http
from api.routes.staff.common import (
    OFFICERS,
    TEMPLATES,
    StaffContext,
    action,
    back,
    local_datetime,
    page,
    render,
)
from bot import sms
from bot.db import MAX_ID
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import (
    TEMPLATE_NAMES,
    Broadcast,
    BroadcastCreate,
    BroadcastPublic,
    TextsSms,
)
from bot.domain.outbox import budget
from bot.domain.settlements.models import CATEGORIES, VENUE_LENGTH
from bot.domain.staff import scope as scopes
from bot.i18n import COMPLETE_LOCALES, LANGUAGE_NAMES, SUPPORTED_LOCALES

router = APIRouter()
Reader = Annotated[StaffContext, Depends(page(*OFFICERS))]
Editor = Annotated[StaffContext, Depends(action(*OFFICERS))]
# Languages offered a text box and a filter: every one the API takes and residents may
# have, the complete ones first; the others under "More languages" (`FIRST` tells them apart).
LANGUAGES = tuple(dict.fromkeys((*COMPLETE_LOCALES, *SUPPORTED_LOCALES)))
FIRST = len(COMPLETE_LOCALES)


def state(broadcast: BroadcastPublic) -> str:
    """Say in one word where a broadcast stands, for its badge and the list: "sending" while
    messages wait to go, "sent" once none does ("enqueued" and "done" are the worker's)."""
    if broadcast.status == "enqueued":
        return "sent" if broadcast.done else "sending"
    return broadcast.status.replace("_", " ")


TEMPLATES.env.filters["broadcast_state"] = state
# The parts a phone receives of an SMS copy, as the preview measures its segments.
TEMPLATES.env.filters["sms_parts"] = sms.split


def _broadcast(ctx: StaffContext, broadcast_id: int) -> Broadcast:
    found = broadcasts.get(session=ctx.session, broadcast_id=broadcast_id)
    if found is None or not broadcasts.within_scope(
        session=ctx.session, scope=ctx.scope, broadcast=found
    ):
        raise HTTPException(404, "no such broadcast")
    return found


def _local(value: str) -> dt.datetime | None:
    """An optional form date and time: blank is None."""
    return local_datetime(value.strip()) if value.strip() else None


def _ints(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.strip().isdecimal()]


def composed(form: Any) -> BroadcastCreate:
    """Build a broadcast from the compose form (422 with the reason when it is not valid)."""
    audience: dict[str, Any] = {
        "everyone": form.get("everyone") == "1",
        "settlement_ids": _ints(form.getlist("settlement_ids")),
        "wards": [w.strip() for w in str(form.get("wards", "")).split(",") if w.strip()],
        "categories": form.getlist("categories"),
        "languages": form.getlist("languages"),
        "channels": form.getlist("channels"),
    }
    values: dict[str, Any] = {
        "title": str(form.get("title", "")).strip(),
        "audience": audience,
        "send_at": _local(str(form.get("send_at", ""))),
        "sms_fallback": form.get("sms_fallback") == "1",
    }
    if form.get("mode") == "template":
        values["template"] = {
            "name": form.get("template_name"),
            "meeting_id": int(form["meeting_id"])
            if str(form.get("meeting_id", "")).isdecimal()
            else None,
            "previous_starts_at": _local(str(form.get("previous_starts_at", ""))),
            # Ticked: the venue it had, even none ("").
            "previous_venue": str(form.get("previous_venue", "")).strip()
            if form.get("venue_changed") == "1"
            else None,
            "milestone_id": (
                int(form["milestone_id"]) if str(form.get("milestone_id", "")).isdecimal() else None
            ),
            "area": str(form.get("area", "")).strip() or None,
            "starts_at": _local(str(form.get("starts_at", ""))),
            "ends_at": _local(str(form.get("ends_at", ""))),
        }
    else:
        values["texts"] = {
            code: str(form.get(f"text_{code}", "")).strip()
            for code in LANGUAGES
            if str(form.get(f"text_{code}", "")).strip()
        }
    try:
        return BroadcastCreate.model_validate(values)
    except ValidationError as error:
        reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
        raise HTTPException(422, reasons) from None


def _times(draft: BroadcastCreate | None) -> dict[str, dt.datetime | None]:
    """The draft's times, for the form's fields (which read and show Johannesburg time)."""
    template = draft.template if draft else None
    return {
        "send_at": draft.send_at if draft else None,
        "previous_starts_at": template.previous_starts_at if template else None,
        "starts_at": template.starts_at if template else None,
        "ends_at": template.ends_at if template else None,
    }


def _compose(
    request: Request, ctx: StaffContext, draft: BroadcastCreate | None, **extra: Any
) -> HTMLResponse:
    meetings = broadcasts.recent_meetings(
        session=ctx.session, condition=scopes.meeting_read_condition(ctx.scope)
    )
    return render(
        request,
        "broadcast_new.html",
        ctx,
        draft=draft.model_dump(mode="json") if draft else None,
        times=_times(draft),
        settlements=scopes.visible_settlements(session=ctx.session, scope=ctx.scope),
        categories=CATEGORIES,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES[:FIRST]],
        more_languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES[FIRST:]],
        templates=TEMPLATE_NAMES,
        meetings=meetings,
        max_segments=budget.MAX_SEGMENTS,
        **extra,
    )


@router.get("/broadcasts", response_class=HTMLResponse)
def broadcast_list(request: Request, ctx: Reader) -> HTMLResponse:
    """The newest broadcasts (within the user's scope) with their progress."""
    found = broadcasts.list_visible(session=ctx.session, scope=ctx.scope)
    rows = [broadcasts.to_public(session=ctx.session, broadcast=b) for b in found]
    officers = broadcasts.officers(session=ctx.session, broadcasts=found)
    return render(request, "broadcasts.html", ctx, broadcasts=rows, officers=officers)


@router.get("/broadcasts/new", response_class=HTMLResponse)
def broadcast_new(
    request: Request,
    ctx: Reader,
    meeting_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    change: str = "announced",
    previous: str = "",
    previous_venue: Annotated[str | None, Query(max_length=VENUE_LENGTH)] = None,
    milestone_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """Compose a broadcast; with `meeting_id` (and `change`; for `moved`, the start it had,
    `previous`, and/or the venue it had, `previous_venue`), or `milestone_id`, the offered
    announcement."""
    draft = None
    if meeting_id is not None:
        meeting = announceable_meeting(session=ctx.session, scope=ctx.scope, meeting_id=meeting_id)
        with refused_as_http():
            draft = broadcasts.meeting_announcement(
                meeting=meeting,
                change=change,
                previous_starts_at=_local(previous),
                previous_venue=previous_venue,
            )
    elif milestone_id is not None:
        settlement, milestone = announceable_milestone(
            session=ctx.session, scope=ctx.scope, milestone_id=milestone_id
        )
        with refused_as_http():
            draft = broadcasts.milestone_announcement(milestone=milestone, settlement=settlement)
    return _compose(request, ctx, draft)


@router.post("/broadcasts/preview", response_class=HTMLResponse)
async def broadcast_preview(request: Request, ctx: Editor) -> HTMLResponse:
    """Show what the composed broadcast would do, with buttons to send or schedule it."""
    form = await request.form()  # read by `storable_input`, within its limits
    draft = composed(form)
    try:
        preview = broadcasts.preview_draft(
            session=ctx.session,
            settings=request.app.state.settings,
            scope=ctx.scope,
            broadcast_in=draft,
        )
    except (broadcasts.BroadcastError, budget.TooManySegments) as error:
        # The form again, with the reason; 409 for what the state refuses, as on sending.
        conflict = isinstance(error, broadcasts.Conflict)
        return _compose(request, ctx, draft, error=str(error), status_code=409 if conflict else 200)
    return render(
        request,
        "broadcast_preview.html",
        ctx,
        draft=draft,
        payload=draft.model_dump_json(),
        preview=preview,
        warnings=broadcasts.draft_warnings(session=ctx.session, broadcast_in=draft),
    )


@router.post("/broadcasts/sms")
async def broadcast_sms(request: Request, ctx: Editor) -> TextsSms:
    """Say how long each language's SMS copy of the texts being written is, and whether it
    may be sent to the audience chosen (the compose page's counter; changes nothing)."""
    form = await request.form()  # read by `storable_input`, within its limits
    return broadcasts.texts_sms(
        texts={code: str(form.get(f"text_{code}", "")) for code in LANGUAGES},
        audience={"channels": [str(channel) for channel in form.getlist("channels")]},
        sms_fallback=form.get("sms_fallback") == "1",
    )


@router.post("/broadcasts")
async def broadcast_create(request: Request, ctx: Editor) -> RedirectResponse:
    """Create the previewed broadcast: sent now, scheduled, or left for approval."""
    form = await request.form()  # read by `storable_input`, within its limits
    try:
        draft = BroadcastCreate.model_validate(json.loads(str(form.get("payload", ""))))
    except (ValueError, ValidationError):
        raise HTTPException(422, "the broadcast to send is missing or malformed") from None
    try:
        broadcast = broadcasts.create(
            session=ctx.session,
            settings=request.app.state.settings,
            broadcast_in=draft,
            staff=ctx.user,
        )
    except broadcasts.BroadcastError as error:
        raise HTTPException(
            409 if isinstance(error, broadcasts.Conflict) else 422, str(error)
        ) from None
    except budget.TooManySegments as error:  # a quoted note lengthened since the preview
        raise HTTPException(422, str(error)) from None
    ctx.audit("broadcast.create", f"broadcast:{broadcast.id}", recipients=broadcast.audience_size)
    return back(f"/staff/broadcasts/{broadcast.id}", "created")


@router.get("/broadcasts/{broadcast_id}", response_class=HTMLResponse)
def broadcast_page(request: Request, broadcast_id: PathId, ctx: Reader) -> HTMLResponse:
    """Follow one broadcast: status, words, approval, progress per language and channel."""
    broadcast = _broadcast(ctx, broadcast_id)
    public = broadcasts.to_public(session=ctx.session, broadcast=broadcast)
    attendance = (
        broadcasts.attendance(session=ctx.session, scope=ctx.scope, meeting_id=broadcast.meeting_id)
        if broadcast.meeting_id
        else None
    )
    can_approve = public.status == "awaiting_approval" and public.created_by_id != ctx.user.id
    preview = None
    if can_approve:  # the approver is told, as the preview tells, if it would reach nobody
        # Words that can no longer be built: the preview page says why.
        with contextlib.suppress(broadcasts.BroadcastError):
            preview = broadcasts.preview_of(
                session=ctx.session,
                settings=request.app.state.settings,
                scope=ctx.scope,
                broadcast=broadcast,
            )
    return render(
        request,
        "broadcast.html",
        ctx,
        b=public,
        officers=broadcasts.officers(session=ctx.session, broadcasts=[broadcast]),
        attendance=attendance,
        can_approve=can_approve,
        preview=preview,
    )


@router.get("/broadcasts/{broadcast_id}/preview", response_class=HTMLResponse)
def broadcast_stored_preview(request: Request, broadcast_id: PathId, ctx: Reader) -> HTMLResponse:
    """Preview a stored broadcast against today's audience (for the approving officer)."""
    broadcast = _broadcast(ctx, broadcast_id)
    with refused_as_http():  # 404 for a meeting or milestone quoted outside their scope
        preview = broadcasts.preview_of(
            session=ctx.session,
            settings=request.app.state.settings,
            scope=ctx.scope,
            broadcast=broadcast,
        )
    return render(
        request,
        "broadcast_preview.html",
        ctx,
        draft=broadcast,
        payload="",
        preview=preview,
        warnings=broadcasts.warnings(
            session=ctx.session, audience=broadcast.audience, template=broadcast.template
        ),
        stored=True,
    )


@router.post("/broadcasts/{broadcast_id}/approve")
def broadcast_approve(broadcast_id: PathId, ctx: Editor) -> RedirectResponse:
    """Approve a broadcast another officer composed."""
    with refused_as_http():
        broadcasts.approve(
            session=ctx.session, broadcast=_broadcast(ctx, broadcast_id), staff=ctx.user
        )
    ctx.audit("broadcast.approve", f"broadcast:{broadcast_id}")
    return back(f"/staff/broadcasts/{broadcast_id}", "approved")


@router.post("/broadcasts/{broadcast_id}/cancel")
def broadcast_cancel(broadcast_id: PathId, ctx: Editor) -> RedirectResponse:
    """Cancel a scheduled broadcast, or the unsent rest of a running one."""
    with refused_as_http():
        rows = broadcasts.cancel(
            session=ctx.session, broadcast=_broadcast(ctx, broadcast_id), staff=ctx.user
        )
    ctx.audit("broadcast.cancel", f"broadcast:{broadcast_id}", messages=rows)
    return back(f"/staff/broadcasts/{broadcast_id}", "updated")
