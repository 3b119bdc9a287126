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

from api.deps import (
    PathId,
    announceable_meeting,
    announceable_milestone,
    refused_as_http,
    visible_settlement,
)
from api.routes.staff.common import (
    OFFICERS,
    TEMPLATES,
    Confirmed,
    StaffContext,
    action,
    back,
    confirmation,
    local_datetime,
    local_time,
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
        raise HTTPException(404, f"no broadcast {broadcast_id}")
    return found


def _refusal_status(error: broadcasts.BroadcastError, otherwise: int) -> int:
    """Return the status a refused broadcast is answered with, as the API's: 403 outside
    the user's scope, 409 for what the state refuses, else `otherwise`."""
    if isinstance(error, broadcasts.OutsideScope):
        return 403
    return 409 if isinstance(error, broadcasts.Conflict) else otherwise


# How a refusal names the compose form's times ("Send at", "From", "Until", "Planned before").
_TIMES = {
    "send_at": "send time",
    "starts_at": "start time",
    "ends_at": "end time",
    "previous_starts_at": "previous time",
}


def _local(value: str, name: str) -> dt.datetime | None:
    """An optional form date and time, the field `name`: blank is None."""
    return local_datetime(value.strip(), _TIMES[name]) if value.strip() else None


def _ints(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.strip().isdecimal()]


# The compose form's fields that take several values, and every other one it has.
LISTED = ("settlement_ids", "categories", "languages", "channels")
SINGLE = (
    "title",
    "everyone",
    "wards",
    "mode",
    "template_name",
    "meeting_id",
    "previous_starts_at",
    "venue_changed",
    "previous_venue",
    "milestone_id",
    "category_settlement_id",
    "category",
    "previous_category",
    "area",
    "starts_at",
    "ends_at",
    "send_at",
    "sms_fallback",
    *(f"text_{code}" for code in LANGUAGES),
)
# The compose form's "category before" choice for a settlement not yet assessed ("" is the
# template's; the form's blank is "not said").
UNASSESSED = "none"
# A datetime-local field's value, in Johannesburg time.
FIELD_TIME = "%Y-%m-%dT%H:%M"
# Where the compose page says a refusal: the field it is about (its id), or the fieldset
# ("who": the audience; "what": the words as a whole).
TEMPLATE_FIELDS = {
    "meeting_id": "bc-meeting",
    "previous_starts_at": "bc-previous",
    "previous_venue": "bc-previous-venue",
    "milestone_id": "bc-milestone",
    "settlement_id": "bc-category-settlement",
    "category": "bc-category",
    "previous_category": "bc-previous-category",
    "area": "bc-area",
    "starts_at": "bc-from",
    "ends_at": "bc-to",
}
PLACES = {
    "title": "bc-title",
    "who": "bc-who",
    "what": "bc-what",
    "template": "bc-template",
    "send_at": "bc-send-at",
    **TEMPLATE_FIELDS,
    **{f"text_{code}": f"bc-text-{code}" for code in LANGUAGES},
}


def _typed(form: Any) -> dict[str, Any]:
    """Return the compose form's fields as sent, to build the broadcast from and to show
    again as typed (every field, those of the mode not chosen too)."""
    typed: dict[str, Any] = {name: [str(v) for v in form.getlist(name)] for name in LISTED}
    typed.update({name: str(form.get(name, "")) for name in SINGLE})
    return typed


def _prefilled(draft: BroadcastCreate | None) -> dict[str, Any]:
    """Return a broadcast offered to the officer (a meeting's or milestone's announcement)
    as the compose form's fields."""
    if draft is None:
        return {}
    a, t = draft.audience, draft.template
    fields: dict[str, Any] = {
        "title": draft.title,
        "everyone": "1" if a.everyone else "",
        "settlement_ids": [str(i) for i in a.settlement_ids],
        "wards": ", ".join(a.wards),
        "categories": list(a.categories),
        "languages": list(a.languages),
        "channels": list(a.channels),
        "mode": "template" if t else "texts",
        "send_at": local_time(draft.send_at, FIELD_TIME),
        "sms_fallback": "1" if draft.sms_fallback else "",
        **{f"text_{code}": text for code, text in (draft.texts or {}).items()},
    }
    if t is not None:
        fields.update(
            template_name=t.name,
            meeting_id=str(t.meeting_id or ""),
            previous_starts_at=local_time(t.previous_starts_at, FIELD_TIME),
            venue_changed="" if t.previous_venue is None else "1",
            previous_venue=t.previous_venue or "",
            milestone_id=str(t.milestone_id or ""),
            category_settlement_id=str(t.settlement_id or ""),
            category=t.category or "",
            previous_category=UNASSESSED
            if t.previous_category == ""
            else (t.previous_category or ""),
            area=t.area or "",
            starts_at=local_time(t.starts_at, FIELD_TIME),
            ends_at=local_time(t.ends_at, FIELD_TIME),
        )
    return fields


def _place(field: tuple[Any, ...]) -> str:
    """Return where the compose page says a refusal of `field` (as the API names fields)."""
    head = str(field[0]) if field else ""
    rest = [str(part) for part in field[1:]]
    if head == "audience":
        return "who"
    if head == "texts":
        return f"text_{rest[0]}" if rest and f"text_{rest[0]}" in PLACES else "what"
    if head == "template":
        return rest[0] if rest and rest[0] in TEMPLATE_FIELDS else "template"
    return head if head in ("title", "send_at") else "what"


class Refused(Exception):
    """The compose form cannot be previewed: the reasons, each with its place on the page."""

    def __init__(self, reasons: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(reason for _, reason in reasons))
        self.reasons = reasons


def composed(typed: dict[str, Any]) -> BroadcastCreate:
    """Build a broadcast from the compose form's fields (`_typed`); Refused, with every
    reason and where it belongs, when it is not valid."""
    reasons: list[tuple[str, str]] = []

    def moment(name: str) -> dt.datetime | None:
        try:
            return _local(typed[name], name)
        except HTTPException as error:
            reasons.append((name, str(error.detail)))  # each time field is a place
            return None

    audience: dict[str, Any] = {
        "everyone": typed["everyone"] == "1",
        "settlement_ids": _ints(typed["settlement_ids"]),
        "wards": [w.strip() for w in typed["wards"].split(",") if w.strip()],
        "categories": typed["categories"],
        "languages": typed["languages"],
        "channels": typed["channels"],
    }
    values: dict[str, Any] = {
        "title": typed["title"].strip(),
        "audience": audience,
        "send_at": moment("send_at"),
        "sms_fallback": typed["sms_fallback"] == "1",
    }
    if typed["mode"] == "template":
        number = {
            n: int(typed[n]) if typed[n].isdecimal() else None
            for n in ("meeting_id", "milestone_id")
        }
        previous = typed["previous_category"]
        values["template"] = {
            "name": typed["template_name"],
            **number,
            "settlement_id": int(typed["category_settlement_id"])
            if typed["category_settlement_id"].isdecimal()
            else None,
            "category": typed["category"] or None,
            "previous_category": "" if previous == UNASSESSED else previous or None,
            "previous_starts_at": moment("previous_starts_at"),
            # Ticked: the venue it had, even none ("").
            "previous_venue": typed["previous_venue"].strip()
            if typed["venue_changed"] == "1"
            else None,
            "area": typed["area"].strip() or None,
            "starts_at": moment("starts_at"),
            "ends_at": moment("ends_at"),
        }
    else:
        values["texts"] = {
            code: typed[f"text_{code}"].strip()
            for code in LANGUAGES
            if typed[f"text_{code}"].strip()
        }
    try:
        draft = BroadcastCreate.model_validate(values)
    except ValidationError as error:
        reasons += [
            (_place(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in error.errors()
        ]
    if reasons:
        raise Refused(reasons)
    return draft


def _compose(
    request: Request,
    ctx: StaffContext,
    fields: dict[str, Any],
    reasons: list[tuple[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    meetings = broadcasts.recent_meetings(
        session=ctx.session, condition=scopes.meeting_read_condition(ctx.scope)
    )
    said: dict[str, list[str]] = {}
    for place, reason in reasons or []:
        said.setdefault(place, []).append(reason)
    return render(
        request,
        "broadcast_new.html",
        ctx,
        status_code=status_code,
        f={name: [] if name in LISTED else "" for name in (*LISTED, *SINGLE)} | fields,
        reasons=reasons or [],
        said=said,
        places=PLACES,
        # The other languages' boxes are shown when one has words, or a reason.
        more_texts_open=any(
            str(fields.get(f"text_{code}", "")).strip() or f"text_{code}" in said
            for code in LANGUAGES[FIRST:]
        ),
        settlements=scopes.visible_settlements(session=ctx.session, scope=ctx.scope),
        categories=CATEGORIES,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES[:FIRST]],
        more_languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES[FIRST:]],
        templates=TEMPLATE_NAMES,
        meetings=meetings,
        max_segments=budget.MAX_SEGMENTS,
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
    settlement_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    category: Annotated[str | None, Query(max_length=2)] = None,
    previous_category: Annotated[str | None, Query(max_length=2)] = None,
) -> HTMLResponse:
    """Compose a broadcast; with `meeting_id` (and `change`; for `moved`, the start it had,
    `previous`, and/or the venue it had, `previous_venue`), `milestone_id`, or
    `settlement_id` (with the `category` it was placed in and the `previous_category` it
    had, "" for none), the offered announcement."""
    draft = None
    if meeting_id is not None:
        meeting = announceable_meeting(session=ctx.session, scope=ctx.scope, meeting_id=meeting_id)
        with refused_as_http():
            draft = broadcasts.meeting_announcement(
                meeting=meeting,
                change=change,
                previous_starts_at=_local(previous, "previous_starts_at"),
                previous_venue=previous_venue,
            )
    elif milestone_id is not None:
        settlement, milestone = announceable_milestone(
            session=ctx.session, scope=ctx.scope, milestone_id=milestone_id
        )
        with refused_as_http():
            draft = broadcasts.milestone_announcement(milestone=milestone, settlement=settlement)
    elif settlement_id is not None:
        placed = visible_settlement(
            session=ctx.session, scope=ctx.scope, settlement_id=settlement_id
        )
        with refused_as_http():
            draft = broadcasts.category_announcement(
                settlement=placed, category=category, previous_category=previous_category
            )
    return _compose(request, ctx, _prefilled(draft))


@router.post("/broadcasts/preview", response_class=HTMLResponse)
async def broadcast_preview(request: Request, ctx: Editor) -> HTMLResponse:
    """Show what the composed broadcast would do, with buttons to send or schedule it; a
    refused one, the form again as typed with each reason beside its field."""
    form = await request.form()  # read by `storable_input`, within its limits
    typed = _typed(form)
    try:
        draft = composed(typed)
    except Refused as refused:
        return _compose(request, ctx, typed, refused.reasons, status_code=422)
    try:
        preview = broadcasts.preview_draft(
            session=ctx.session,
            settings=request.app.state.settings,
            scope=ctx.scope,
            broadcast_in=draft,
        )
    except budget.TooManySegments as error:
        reasons = [(_place(p.field), p.message()) for p in error.problems]
        return _compose(request, ctx, typed, reasons)
    except broadcasts.BroadcastError as error:
        # As the API answers: 403 for an audience the user's scope does not allow, 409 for
        # what the state refuses (as on sending).
        reasons = [(_place(error.field), str(error))]
        return _compose(request, ctx, typed, reasons, status_code=_refusal_status(error, 200))
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
        raise HTTPException(_refusal_status(error, 422), str(error)) from None
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


@router.post("/broadcasts/{broadcast_id}/cancel", response_model=None)
def broadcast_cancel(
    request: Request, broadcast_id: PathId, ctx: Editor, confirm: Confirmed = False
) -> RedirectResponse | HTMLResponse:
    """Cancel a scheduled broadcast, or the unsent rest of a running one; not `confirm`ed,
    a page asks first."""
    broadcast = _broadcast(ctx, broadcast_id)
    if not confirm:
        running = broadcast.status == "enqueued"
        return confirmation(
            request,
            ctx,
            question=f"Cancel the broadcast “{broadcast.title or f'#{broadcast_id}'}”?",
            what="Its messages not yet handed to Twilio are withdrawn; those already sent "
            "stay sent. It cannot be started again."
            if running
            else "It will not be sent, to anyone. It cannot be started again.",
            back=f"/staff/broadcasts/{broadcast_id}",
        )
    with refused_as_http():
        rows = broadcasts.cancel(session=ctx.session, broadcast=broadcast, staff=ctx.user)
    ctx.audit("broadcast.cancel", f"broadcast:{broadcast_id}", messages=rows)
    return back(f"/staff/broadcasts/{broadcast_id}", "updated")
