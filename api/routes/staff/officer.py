"""Officer pages: settlements (category, note, phase), milestones, meetings and CSV import."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import and_
from sqlmodel import col

from api.deps import (
    PathId,
    changeable_meeting,
    check_meeting_place,
    meeting_in_scope,
    readable_meeting,
    refused_as_http,
    visible_milestone,
    visible_settlement,
)
from api.routes.staff.common import (
    OFFICERS,
    Confirmed,
    StaffContext,
    action,
    attachment,
    back,
    confirmation,
    local_datetime,
    local_time,
    page,
    render,
)
from bot.content import load
from bot.db import RowId, utcnow
from bot.domain import meanwhile
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import ReminderSms
from bot.domain.outbox import budget
from bot.domain.settlements import edit
from bot.domain.settlements import service as settlements
from bot.domain.settlements.importer import (
    FORMATS,
    MAX_BYTES,
    EditsInTheWay,
    ImportRejected,
    ImportResult,
    RowError,
    audit_detail,
    example,
    import_csv,
)
from bot.domain.settlements.models import (
    CATEGORIES,
    MEETING_LEVELS,
    MILESTONE_STATUSES,
    STRANDS,
    Meeting,
    Milestone,
    Settlement,
    told_start,
)
from bot.domain.staff import scope as scopes
from bot.engine.render import strip_markup
from bot.i18n import TIMEZONE

router = APIRouter()
Reader = Annotated[StaffContext, Depends(page(*OFFICERS))]
Editor = Annotated[StaffContext, Depends(action(*OFFICERS))]
# A file may name any settlement or ward: imports act on the whole city.
Importer = Annotated[StaffContext, Depends(action(*OFFICERS, whole_city=True))]
Text = Annotated[str, Form(max_length=2000)]
# What a form's page showed of a field (`was_*`), said by forms that say `was_shown`: a blank
# field is not told from one not sent, which FastAPI reads as its default.
Was = Annotated[str, Form(max_length=2000)]
WasShown = Annotated[bool, Form()]


def _settlement(ctx: StaffContext, settlement_id: int) -> Settlement:
    return visible_settlement(session=ctx.session, scope=ctx.scope, settlement_id=settlement_id)


def _milestone(ctx: StaffContext, settlement_id: int, milestone_id: int) -> Milestone:
    """Return a milestone of a settlement the user may see (404 otherwise)."""
    return visible_milestone(
        session=ctx.session,
        scope=ctx.scope,
        settlement_id=settlement_id,
        milestone_id=milestone_id,
    )[1]


def _meeting(ctx: StaffContext, meeting_id: int, *, to_change: bool = False) -> Meeting:
    """Return a meeting the user may see (404 otherwise); `to_change`, one of their own
    places too (403 for a forum a scoped user only sees)."""
    if to_change:
        return changeable_meeting(session=ctx.session, scope=ctx.scope, meeting_id=meeting_id)
    return readable_meeting(session=ctx.session, scope=ctx.scope, meeting_id=meeting_id)


# A milestone's status as the dashboard says it ("In progress"; stored as in_progress).
MEETING_START = "start time"  # how a refusal names the form's "Starts"
STATUS_WORDS = {status: status.replace("_", " ").capitalize() for status in MILESTONE_STATUSES}


def _strands() -> dict[str, str]:
    """Return the strands in the order residents' timeline lists them (`flows.timeline`),
    each with its name as residents read it ("Essential services" for services)."""
    content = load()
    order = [strand for strand in content.fact("strands") if strand in STRANDS]
    # One the content does not list (none should be) still shows, after the others.
    order += [strand for strand in STRANDS if strand not in order]
    names = {strand: content.messages.get(f"strand.{strand}.name") for strand in order}
    return {strand: strip_markup(name.text) if name else strand for strand, name in names.items()}


def _in_timeline_order(milestones: list[Milestone], strands: Collection[str]) -> list[Milestone]:
    """Return milestones as residents' timeline lists them: by strand in `strands`' order,
    then (as `edit.milestones` returns them) by target date, undated last."""
    rank = {strand: number for number, strand in enumerate(strands)}
    return sorted(milestones, key=lambda m: rank.get(m.strand, len(rank)))


def _date(value: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"target date {value} is not a date (YYYY-MM-DD)") from None


def _form_key(field: str, value: str) -> object:
    """Return a form value as saving reads it: a start as its moment to the second, other
    values without the line breaks a browser sends or the spaces saving strips."""
    if field == "starts_at":
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        return (
            (parsed if parsed.tzinfo else parsed.replace(tzinfo=TIMEZONE))
            .astimezone(dt.UTC)
            .replace(microsecond=0)
        )
    return value.replace("\r\n", "\n").strip()


# Free text, quoted in a refusal (and cut short); other fields are said as they are.
_QUOTED = frozenset({"title", "note", "category_note", "current_phase", "venue", "ward"})


def _said(field: str, value: str, names: Mapping[str, str]) -> str:
    """Return a form field's value as a refusal says it is now."""
    if not value.strip():
        return "blank"
    if field == "starts_at":
        return local_datetime(value, MEETING_START).astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")
    if field in _QUOTED:
        text = " ".join(value.split())
        return f"“{text[:60]}…”" if len(text) > 60 else f"“{text}”"
    return names.get(value, value)


def _as_changed(
    what: str,
    sent: Mapping[str, str],
    was: Mapping[str, str] | None,
    now: Mapping[str, str],
    names: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return the form `sent` with each field left as its page showed it (`was`) set to
    what it is `now`, so that a colleague's change saved meanwhile is kept; refuse (409,
    naming it) a field they changed that this form changes too, to something else. A form
    that does not say what its page showed (None: an older page, a script) is taken as
    sent, as before forms said it."""
    apply, clashes = meanwhile.changed_fields(
        wanted=sent, shown=was or {}, current=now, key=_form_key
    )
    if clashes:
        raise HTTPException(
            409,
            meanwhile.refusal(
                what,
                {
                    field.removesuffix("_id").replace("_", " "): _said(field, value, names or {})
                    for field, value in clashes.items()
                },
            ),
        )
    return {**now, **apply}


@router.get("/settlements", response_class=HTMLResponse)
def settlement_list(request: Request, ctx: Reader) -> HTMLResponse:
    """Settlements the user may see, with category and phase."""
    rows = scopes.visible_settlements(session=ctx.session, scope=ctx.scope)
    # Unmatched names belong to no settlement, so only unscoped users see them.
    unmatched = settlements.unmatched_names(session=ctx.session) if ctx.scope.unrestricted else []
    known = settlements.now_known(session=ctx.session, texts=[u.text for u in unmatched])
    return render(
        request, "settlements.html", ctx, settlements=rows, unmatched=unmatched, known=known
    )


@router.get("/settlements/{settlement_id}", response_class=HTMLResponse)
def settlement_page(
    request: Request,
    settlement_id: PathId,
    ctx: Reader,
    announce: str = "",
    category: Annotated[str, Query(max_length=2)] = "",
    previous: Annotated[str, Query(max_length=2)] = "",
    withdrawn: Annotated[list[RowId], Query(max_length=20)] = [],  # noqa: B006 (FastAPI's)
) -> HTMLResponse:
    """One settlement: edit its category, note and phase; its milestones and meetings;
    after a milestone became news (`announce`: its id), or its category changed
    (`announce=category`, `category` from `previous`), the offer to tell the residents,
    and the announcements of its category before that the change withdrew (`withdrawn`)."""
    settlement = _settlement(ctx, settlement_id)
    # Its own meetings and the ward forums that name it (not a city forum, which is everyone's),
    # those the user may read: a forum of a ward outside their scope may name it too.
    condition = and_(
        col(Meeting.settlement_id) == settlement_id,
        col(Meeting.level) != "city",
        scopes.meeting_read_condition(ctx.scope),
    )
    strands = _strands()
    milestones = _in_timeline_order(
        edit.milestones(session=ctx.session, settlement_id=settlement_id), strands
    )
    # Only what is true of it now: a milestone of this settlement, done or delayed.
    news = next(
        (
            m
            for m in milestones
            if str(m.id) == announce and m.status in broadcasts.MILESTONE_TEMPLATES
        ),
        None,
    )
    # Only while it is true: the category saved is still the settlement's.
    placed = (
        broadcasts.CategoryNews(settlement_id, settlement.name, category, previous)
        if announce == "category" and category and settlement.category == category
        else None
    )
    return render(
        request,
        "settlement.html",
        ctx,
        s=settlement,
        milestones=milestones,
        announce=news,
        announce_category=placed,
        withdrawn=broadcasts.withdrawn_news(
            session=ctx.session, settlement_id=settlement_id, broadcast_ids=withdrawn
        ),
        meetings=edit.meetings(session=ctx.session, condition=condition),
        categories=CATEGORIES,
        strands=strands,
        statuses=STATUS_WORDS,
    )


@router.post("/settlements/{settlement_id}")
def settlement_update(
    settlement_id: PathId,
    ctx: Editor,
    category: Annotated[str, Form(max_length=2)] = "",
    category_note: Text = "",
    current_phase: Text = "",
    was_shown: WasShown = False,
    was_category: Was = "",
    was_category_note: Was = "",
    was_current_phase: Was = "",
) -> RedirectResponse:
    """Change a settlement's category, category note and current phase.

    The form sends back what its page showed (`was_*`): only the fields changed from it
    are saved, and one someone else changed meanwhile is refused (409) rather than
    overwritten."""
    settlement = _settlement(ctx, settlement_id)
    edit.lock(session=ctx.session, row=settlement)
    form = _as_changed(
        f"settlement {settlement.name}",
        sent={
            "category": category,
            "category_note": category_note,
            "current_phase": current_phase,
        },
        was={
            "category": was_category,
            "category_note": was_category_note,
            "current_phase": was_current_phase,
        }
        if was_shown
        else None,
        now={
            "category": settlement.category or "",
            "category_note": settlement.category_note,
            "current_phase": settlement.current_phase,
        },
    )
    category, category_before = form["category"], settlement.category
    with refused_as_http():
        withdrawn = edit.update_settlement(
            session=ctx.session,
            settlement=settlement,
            category=category,
            category_note=form["category_note"],
            current_phase=form["current_phase"],
            staff=ctx.user,
        )
    ctx.audit("settlement.update", f"settlement:{settlement_id}", category=category or None)
    said: list[tuple[str, str | int]] = [("withdrawn", w.broadcast_id) for w in withdrawn]
    # Placed in another category: offer to tell the residents.
    if broadcasts.category_is_news(settlement=settlement, category_before=category_before):
        said += [("announce", "category"), ("category", category)]
        said.append(("previous", category_before or ""))
    query = f"?{urlencode(said)}" if said else ""
    return back(f"/staff/settlements/{settlement_id}{query}", "updated")


@router.post("/settlements/{settlement_id}/milestones")
def milestone_save(
    settlement_id: PathId,
    ctx: Editor,
    strand: Annotated[str, Form(max_length=20)],
    title: Annotated[str, Form(max_length=300)],
    status: Annotated[str, Form(max_length=20)],
    target_date: Annotated[str, Form(max_length=10)] = "",
    note: Text = "",
    milestone_id: Annotated[RowId | None, Form()] = None,
    was_shown: WasShown = False,
    was_strand: Was = "",
    was_title: Was = "",
    was_status: Was = "",
    was_target_date: Was = "",
    was_note: Was = "",
) -> RedirectResponse:
    """Add a milestone, or change one (`milestone_id`).

    A change sends back what its page showed (`was_*`): only the fields changed from it
    are saved, and one someone else changed meanwhile is refused (409) rather than
    overwritten."""
    settlement = _settlement(ctx, settlement_id)
    milestone = None if milestone_id is None else _milestone(ctx, settlement_id, milestone_id)
    if milestone is not None:
        edit.lock(session=ctx.session, row=milestone)
    status_before, note_before = (milestone.status, milestone.note) if milestone else (None, None)
    if milestone is not None:
        form = _as_changed(
            f"milestone “{milestone.title}”",
            sent={
                "strand": strand,
                "title": title,
                "status": status,
                "target_date": target_date,
                "note": note,
            },
            was={
                "strand": was_strand,
                "title": was_title,
                "status": was_status,
                "target_date": was_target_date,
                "note": was_note,
            }
            if was_shown
            else None,
            now={
                "strand": milestone.strand,
                "title": milestone.title,
                "status": milestone.status,
                "target_date": milestone.target_date.isoformat() if milestone.target_date else "",
                "note": milestone.note,
            },
        )
        strand, title, status = form["strand"], form["title"], form["status"]
        target_date, note = form["target_date"], form["note"]
    with refused_as_http():
        saved = edit.save_milestone(
            session=ctx.session,
            settlement=settlement,
            milestone=milestone,
            strand=strand,
            title=title,
            target_date=_date(target_date),
            status=status,
            note=note,
        )
    ctx.audit(
        "milestone.update" if milestone else "milestone.create",
        f"milestone:{saved.id}",
        settlement=settlement_id,
        status=status,
    )
    # Newly done or delayed (or a delay's new note): offer to tell the residents.
    if broadcasts.milestone_is_news(
        milestone=saved, status_before=status_before, note_before=note_before
    ):
        return back(f"/staff/settlements/{settlement_id}?announce={saved.id}", "updated")
    return back(f"/staff/settlements/{settlement_id}", "updated")


@router.post("/settlements/{settlement_id}/milestones/{milestone_id}/delete", response_model=None)
def milestone_delete(
    request: Request,
    settlement_id: PathId,
    milestone_id: PathId,
    ctx: Editor,
    confirm: Confirmed = False,
) -> RedirectResponse | HTMLResponse:
    """Delete a milestone (refused while a broadcast not sent yet quotes it); not
    `confirm`ed, a page asks first."""
    milestone = _milestone(ctx, settlement_id, milestone_id)
    title = milestone.title
    if not confirm:
        return confirmation(
            request,
            ctx,
            question=f"Delete the milestone “{title}”?",
            what=f"Residents of {_settlement(ctx, settlement_id).name} will no longer see it "
            "in their timeline. This cannot be undone.",
            back=f"/staff/settlements/{settlement_id}",
        )
    with refused_as_http():
        edit.delete_milestone(session=ctx.session, milestone=milestone)
    ctx.audit(
        "milestone.delete", f"milestone:{milestone_id}", settlement=settlement_id, title=title
    )
    return back(f"/staff/settlements/{settlement_id}", "deleted")


@router.get("/meetings", response_class=HTMLResponse)
def meeting_list(request: Request, ctx: Reader, settlement_id: str = "") -> HTMLResponse:
    """Upcoming meetings (and those of the last week) the user may see, city and ward forums
    their residents are invited to included, and a form to add one (for `settlement_id`,
    a settlement's page's link: that settlement chosen, if the user may see it)."""
    since = utcnow() - dt.timedelta(days=7)
    rows = edit.meetings(
        session=ctx.session, condition=scopes.meeting_read_condition(ctx.scope), since=since
    )
    # Unrestricted, both conditions are the same (everything): no second query.
    own = (
        rows
        if ctx.scope.unrestricted
        else edit.meetings(
            session=ctx.session, condition=scopes.meeting_condition(ctx.scope), since=since
        )
    )
    places = scopes.visible_settlements(session=ctx.session, scope=ctx.scope)
    return render(
        request,
        "meetings.html",
        ctx,
        meetings=rows,
        attendance=broadcasts.attendances(
            session=ctx.session,
            scope=ctx.scope,
            meeting_ids=[m.id for m in rows if m.id is not None],
        ),
        read_only={m.id for m in rows} - {m.id for m in own},
        meeting=None,
        settlements=places,
        chosen=next((s.id for s in places if str(s.id) == settlement_id), None),
        levels=MEETING_LEVELS,
        max_segments=budget.MAX_SEGMENTS,
    )


@router.get("/meetings/{meeting_id}", response_class=HTMLResponse)
def meeting_page(request: Request, meeting_id: PathId, ctx: Reader) -> HTMLResponse:
    """Edit or cancel one meeting (a forum outside a scoped user's places: read only)."""
    meeting, can_change = meeting_in_scope(
        session=ctx.session, scope=ctx.scope, meeting_id=meeting_id
    )
    # Taken, but said: letters outside GSM-7 that make its reminders pass 3 SMS segments.
    beyond = None
    if not meeting.cancelled:
        beyond = broadcasts.reminder_sms_beyond_budget(
            title=meeting.title, venue=meeting.venue, starts_at=meeting.starts_at
        )
    return render(
        request,
        "meeting.html",
        ctx,
        meeting=meeting,
        attendance=broadcasts.attendance(
            session=ctx.session, scope=ctx.scope, meeting_id=meeting_id
        ),
        earlier_yeses=broadcasts.earlier_yeses(
            session=ctx.session, scope=ctx.scope, meeting=meeting
        ),
        beyond_budget=broadcasts.beyond_budget_note(beyond) if beyond else None,
        max_segments=budget.MAX_SEGMENTS,
        can_change=can_change,
        settlements=scopes.visible_settlements(session=ctx.session, scope=ctx.scope),
        levels=MEETING_LEVELS,
    )


class MeetingFields(BaseModel):
    """The meeting form, the same for adding a meeting and changing one."""

    level: str = Field(max_length=20)
    title: str = Field(max_length=300)
    starts_at: str = Field(max_length=40)
    settlement_id: str = Field("", max_length=12)
    ward: str = Field("", max_length=50)
    venue: str = Field("", max_length=2000)


MeetingForm = Annotated[MeetingFields, Form()]


class MeetingChange(MeetingFields):
    """The meeting form changing a meeting: also what its page showed, when it says so."""

    was_shown: bool = False
    was_level: str = Field("", max_length=20)
    was_title: str = Field("", max_length=300)
    was_starts_at: str = Field("", max_length=40)
    was_settlement_id: str = Field("", max_length=12)
    was_ward: str = Field("", max_length=50)
    was_venue: str = Field("", max_length=2000)


def _meeting_as_changed(ctx: StaffContext, meeting: Meeting, form: MeetingChange) -> MeetingFields:
    """Return the meeting form with the fields left as its page showed them set to what
    they are now (409 for one someone else changed meanwhile to something else)."""
    fields = tuple(MeetingFields.model_fields)
    place = (
        settlements.get(session=ctx.session, settlement_id=meeting.settlement_id)
        if meeting.settlement_id
        else None
    )
    now = {
        "level": meeting.level,
        "title": meeting.title,
        "starts_at": meeting.starts_at.astimezone(TIMEZONE).isoformat(),
        "settlement_id": str(meeting.settlement_id or ""),
        "ward": meeting.ward,
        "venue": meeting.venue,
    }
    return MeetingFields.model_validate(
        _as_changed(
            f"meeting “{meeting.title}”",
            sent={field: getattr(form, field) for field in fields},
            was={field: getattr(form, f"was_{field}") for field in fields}
            if form.was_shown
            else None,
            now=now,
            names={now["settlement_id"]: place.name} if place else {},
        )
    )


def _kept_start(meeting: Meeting | None, starts_at: dt.datetime) -> dt.datetime:
    """Return the start the meeting form means: the stored start, exactly, when the form's
    time is the one it showed (to the second: an API or CSV start may have seconds, and a
    fraction of one the field cannot show); else the time typed, to the minute (a field
    showing seconds keeps them when only its minute is changed)."""
    if meeting is not None and starts_at == meeting.starts_at.replace(microsecond=0):
        return meeting.starts_at
    return told_start(starts_at)


def _save_meeting(ctx: StaffContext, meeting: Meeting | None, form: MeetingFields) -> Meeting:
    settlement_id, ward, level = form.settlement_id, form.ward, form.level
    settlement = _settlement(ctx, int(settlement_id)) if settlement_id.isdecimal() else None
    check_meeting_place(
        session=ctx.session, scope=ctx.scope, settlement=settlement, level=level, ward=ward
    )
    with refused_as_http():
        return edit.save_meeting(
            session=ctx.session,
            meeting=meeting,
            settlement=settlement,
            ward=ward,
            level=level,
            title=form.title,
            starts_at=_kept_start(meeting, local_datetime(form.starts_at, MEETING_START)),
            venue=form.venue,
        )


@router.post("/meetings")
def meeting_create(ctx: Editor, form: MeetingForm) -> RedirectResponse:
    """Add a meeting (neighbourhood, ward or city)."""
    saved = _save_meeting(ctx, None, form)
    ctx.audit("meeting.create", f"meeting:{saved.id}", title=saved.title)
    return back(f"/staff/meetings/{saved.id}?announce=announced", "created")


# Before "/meetings/{meeting_id}", which would take "sms" for an id.
@router.post("/meetings/sms")
def meeting_sms(
    ctx: Editor,
    starts_at: Annotated[str, Form(max_length=40)],
    title: Annotated[str, Form(max_length=300)] = "",
    venue: Annotated[str, Form(max_length=2000)] = "",
    meeting_id: Annotated[RowId | None, Form()] = None,
) -> ReminderSms:
    """Say how the largest SMS reminder of the meeting being written (`meeting_id`: being
    changed) measures, and whether saving it would be refused (the meeting form's counter;
    changes nothing)."""
    meeting = None if meeting_id is None else _meeting(ctx, meeting_id, to_change=True)
    return edit.meeting_reminder_sms(
        meeting=meeting,
        title=title,
        venue=venue,
        starts_at=_kept_start(meeting, local_datetime(starts_at, MEETING_START)),
    )


@router.post("/meetings/{meeting_id}")
def meeting_update(
    meeting_id: PathId, ctx: Editor, form: Annotated[MeetingChange, Form()]
) -> RedirectResponse:
    """Change a meeting.

    The form sends back what its page showed (`was_*`): only the fields changed from it
    are saved, and one someone else changed meanwhile is refused (409) rather than
    overwritten."""
    meeting = _meeting(ctx, meeting_id, to_change=True)
    edit.lock(session=ctx.session, row=meeting)
    previous, venue = meeting.starts_at, meeting.venue
    audience = broadcasts.meeting_audience(meeting)
    _save_meeting(ctx, meeting, _meeting_as_changed(ctx, meeting, form))
    ctx.audit("meeting.update", f"meeting:{meeting_id}", title=meeting.title)
    # Moved in time or venue: offer to tell the residents concerned what differs (a start
    # set to its whole minute is not moved). Only its place changed (settlement, ward or
    # level) so that it concerns other residents: to them, told nothing, it is new.
    # A meeting held already, its venue corrected, has no one to invite.
    if meeting.starts_at <= utcnow():
        return back(f"/staff/meetings/{meeting_id}", "updated")
    moved: dict[str, str] = {}
    if told_start(meeting.starts_at) != told_start(previous):
        moved["previous"] = previous.astimezone(TIMEZONE).isoformat(timespec="minutes")
    if meeting.venue != venue:
        moved["previous_venue"] = venue
    if moved:
        offer = urlencode({"announce": "moved", **moved})
        return back(f"/staff/meetings/{meeting_id}?{offer}", "updated")
    if broadcasts.meeting_audience(meeting) != audience:
        return back(f"/staff/meetings/{meeting_id}?announce=announced", "updated")
    return back(f"/staff/meetings/{meeting_id}", "updated")


@router.post("/meetings/{meeting_id}/cancel", response_model=None)
def meeting_cancel(
    request: Request, meeting_id: PathId, ctx: Editor, confirm: Confirmed = False
) -> RedirectResponse | HTMLResponse:
    """Cancel a meeting; not `confirm`ed, a page asks first."""
    meeting = _meeting(ctx, meeting_id, to_change=True)
    if not confirm:
        return confirmation(
            request,
            ctx,
            question=f"Cancel the meeting “{meeting.title}”?",
            what=f"The meeting on {local_time(meeting.starts_at)} will "
            "be marked cancelled: residents asking about meetings are told it is off, and its "
            "reminders and announcements not sent yet are withdrawn. It cannot be changed "
            "afterwards. You can then tell the residents it is cancelled.",
            back=f"/staff/meetings/{meeting_id}",
        )
    edit.cancel_meeting(session=ctx.session, meeting=meeting)
    ctx.audit("meeting.cancel", f"meeting:{meeting_id}", title=meeting.title)
    return back(f"/staff/meetings/{meeting_id}?announce=cancelled", "cancelled")


ImportKind = Literal["settlements", "milestones", "meetings"]


@router.get("/import", response_class=HTMLResponse)
def import_form(request: Request, ctx: Reader) -> HTMLResponse:
    """Upload a settlements, milestones or meetings CSV file."""
    return render(request, "import.html", ctx, formats=FORMATS, errors=None, result=None)


@router.get("/import/examples/{kind}.csv")
def import_example(kind: ImportKind, ctx: Reader) -> Response:
    """Download a small file of `kind` that imports cleanly, to copy: its milestones and
    meetings are those of a settlement the user may see."""
    places = scopes.visible_settlements(session=ctx.session, scope=ctx.scope)
    return attachment(
        example(kind, settlement=places[0] if places else None, now=utcnow()),
        "text/csv; charset=utf-8",
        f"{kind}-example.csv",
    )


@router.post("/import", response_class=HTMLResponse)
async def import_upload(
    request: Request,
    ctx: Importer,
    kind: Annotated[ImportKind, Form()],
    file: Annotated[UploadFile, File()],
    check_only: Annotated[bool, Form()] = False,
    overwrite_edits: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """Import a CSV file: every row or none, listing each bad row and what each updated row
    changed as the CLI does. A file that would overwrite what people changed since the last
    import (a field, a row deleted) is refused, each listed, unless `overwrite_edits`.
    `check_only`: the same import and result, nothing written (no audit event either:
    nothing happened)."""
    data = await file.read(MAX_BYTES + 1)
    errors: list[RowError] | None = None
    edits = False
    result = None
    if len(data) > MAX_BYTES:
        errors = [RowError(0, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")]
    else:
        try:
            result = import_csv(
                session=ctx.session,
                kind=kind,
                data=data,
                dry_run=check_only,
                overwrite_edits=overwrite_edits,
                staff=ctx.user,
            )
        except ImportRejected as exc:
            errors, edits = exc.errors, isinstance(exc, EditsInTheWay)
    if not check_only:
        detail = audit_detail(result, errors, overwrite_edits=overwrite_edits)
        ctx.audit("import." + kind, file.filename or "", **detail)
    return _import_page(request, ctx, kind, errors, result, check_only=check_only, edits=edits)


def _import_page(
    request: Request,
    ctx: StaffContext,
    kind: str,
    errors: list[RowError] | None,
    result: ImportResult | None,
    *,
    check_only: bool,
    edits: bool = False,
) -> HTMLResponse:
    # Each category changed, offered while in the user's scope and still the settlement's.
    offers = (
        broadcasts.category_news_offered(
            session=ctx.session, scope=ctx.scope, news=result.categories
        )
        if result and not result.dry_run
        else []
    )
    return render(
        request,
        "import.html",
        ctx,
        offers=offers,
        status_code=422 if errors else 200,
        formats=FORMATS,
        errors=errors,
        edits=edits,
        result=result,
        kind=kind,
        check_only=check_only,
    )
