"""JSON API under /api/v1 for settlements, with their category and milestones, and meetings:
municipal systems read them, officers keep them current.

Every staff token may read; changing needs the officer or admin role, is checked as the
dashboard and the CSV import check it, and goes to the audit log. A scoped user sees the
settlements of their scope and the meetings their scope may read (their places' own, and
the ward and city forums their residents are invited to); any other answers 404, as if
it did not exist. They change only their own places: a forum they only see is 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session

from api.deps import (
    ETAG_HEADER,
    CurrentScope,
    IfMatch,
    MeetingId,
    MilestoneId,
    Officer,
    QueryDateTime,
    SessionDep,
    SettlementId,
    audit_api,
    aware,
    changeable_meeting,
    check_if_match,
    check_meeting_place,
    etag_of,
    readable_meeting,
    refused_as_http,
    versioned,
    visible_milestone,
    visible_settlement,
)
from api.errors import API_ERRORS, documented
from bot.db import utcnow
from bot.domain.broadcasts.service import Withdrawn
from bot.domain.settlements import edit
from bot.domain.settlements.models import (
    MEETING_LEVELS,
    Meeting,
    MeetingIn,
    MeetingPublic,
    Milestone,
    MilestoneIn,
    MilestonePublic,
    Settlement,
    SettlementDetail,
    SettlementPublic,
    SettlementSaved,
    SettlementUpdate,
    WithdrawnAnnouncement,
)
from bot.domain.staff import scope as scopes

router = APIRouter(prefix="/api/v1", tags=["settlements and meetings"], responses=API_ERRORS)
# A thing with a version: its answer carries its ETag.
VERSIONED: dict[int | str, dict[str, Any]] = {200: {"headers": ETAG_HEADER}}
CREATED: dict[int | str, dict[str, Any]] = {201: {"headers": ETAG_HEADER}}


def _settlement_public(settlement: Settlement) -> SettlementPublic:
    return SettlementPublic.model_validate(settlement, from_attributes=True)


def _meeting_public(meeting: Meeting) -> MeetingPublic:
    return MeetingPublic.model_validate(meeting, from_attributes=True)


@router.get("/settlements")
def list_settlements(scope: CurrentScope, session: SessionDep) -> list[SettlementPublic]:
    """Return the settlements the caller's scope allows, by name."""
    found = scopes.visible_settlements(session=session, scope=scope)
    return [_settlement_public(s) for s in found]


@router.get("/settlements/{settlement_id}", responses={**documented(404), **VERSIONED})
def get_settlement(
    settlement_id: SettlementId, scope: CurrentScope, session: SessionDep, response: Response
) -> SettlementDetail:
    """Return one settlement with its milestones; 404 outside the caller's scope. Its ETag
    is the settlement's own fields' version (each milestone has its own)."""
    settlement = visible_settlement(session=session, scope=scope, settlement_id=settlement_id)
    return _detail(session, settlement, response)


def _detail(session: Session, settlement: Settlement, response: Response) -> SettlementDetail:
    assert settlement.id is not None
    response.headers["ETag"] = etag_of(_settlement_public(settlement))
    milestones = edit.milestones(session=session, settlement_id=settlement.id)
    return SettlementDetail.model_validate(
        {**settlement.model_dump(), "milestones": [_milestone_public(m) for m in milestones]}
    )


def _milestone_public(milestone: Milestone) -> MilestonePublic:
    return MilestonePublic.model_validate(milestone, from_attributes=True)


@router.get("/meetings")
def list_meetings(
    scope: CurrentScope,
    session: SessionDep,
    since: Annotated[
        QueryDateTime | None,
        Query(
            description="from this time (default: now); a time without an offset is UTC "
            "(write + as %2B); a date alone starts at 00:00 Johannesburg time"
        ),
    ] = None,
    until: Annotated[
        QueryDateTime | None,
        Query(description="before this time, read as `since` is (a date alone: before that day)"),
    ] = None,
    level: Annotated[str | None, Query(pattern=f"^({'|'.join(MEETING_LEVELS)})$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[MeetingPublic]:
    """Return the meetings the caller's scope may read, soonest first, cancelled ones too
    (`cancelled` says so)."""
    found = edit.meetings(
        session=session,
        condition=scopes.meeting_read_condition(scope),
        since=aware(since) or utcnow(),
        until=aware(until),
        level=level,
        limit=limit,
    )
    return [_meeting_public(m) for m in found]


@router.get("/meetings/{meeting_id}", responses={**documented(404), **VERSIONED})
def get_meeting(
    meeting_id: MeetingId, scope: CurrentScope, session: SessionDep, response: Response
) -> MeetingPublic:
    """Return one meeting; 404 for one the caller's scope may not read."""
    meeting = readable_meeting(session=session, scope=scope, meeting_id=meeting_id)
    return versioned(response, _meeting_public(meeting))


# --- changes: officers and admins keep settlements, milestones and meetings current --------


@router.patch("/settlements/{settlement_id}", responses={**documented(403, 404, 412), **VERSIONED})
def update_settlement(
    settlement_id: SettlementId,
    change: SettlementUpdate,
    request: Request,
    response: Response,
    user: Officer,
    scope: CurrentScope,
    session: SessionDep,
    if_match: IfMatch = None,
) -> SettlementSaved:
    """Change a settlement's category, category note or current phase (with `If-Match`,
    only the version it names: 412 once someone changed it since). A new category
    withdraws the announcements of its category before that are not sent yet (scheduled or
    awaiting approval), each listed in `withdrawn_announcements`."""
    settlement = visible_settlement(session=session, scope=scope, settlement_id=settlement_id)
    check_if_match(
        if_match,
        session=session,
        row=settlement,
        public=_settlement_public,
        what=f"settlement {settlement_id}",
    )
    given = change.model_fields_set
    if not given:  # nothing to change: nothing written, nothing logged
        return _saved(_detail(session, settlement, response), [])
    category = change.category if "category" in given else settlement.category
    note = change.category_note if "category_note" in given else settlement.category_note
    phase = change.current_phase if "current_phase" in given else settlement.current_phase
    with refused_as_http():
        withdrawn = edit.update_settlement(
            session=session,
            settlement=settlement,
            category=category or "",
            category_note=note or "",
            current_phase=phase or "",
            names=edit.API_NAMES,
            staff=user,
            via="api",
        )
    audit_api(
        session,
        request,
        user,
        "settlement.update",
        f"settlement:{settlement_id}",
        fields=sorted(given),
    )
    return _saved(_detail(session, settlement, response), withdrawn)


def _saved(detail: SettlementDetail, withdrawn: list[Withdrawn]) -> SettlementSaved:
    return SettlementSaved(
        **detail.model_dump(),
        withdrawn_announcements=[
            WithdrawnAnnouncement(broadcast_id=w.broadcast_id, title=w.title, reason=w.reason)
            for w in withdrawn
        ],
    )


def _save_milestone(
    session: Session, settlement: Settlement, milestone: Milestone | None, data: MilestoneIn
) -> Milestone:
    with refused_as_http():
        return edit.save_milestone(
            session=session,
            settlement=settlement,
            milestone=milestone,
            names=edit.API_NAMES,
            **data.model_dump(),
        )


@router.post(
    "/settlements/{settlement_id}/milestones",
    status_code=201,
    responses={**documented(403, 404), **CREATED},
)
def create_milestone(
    settlement_id: SettlementId,
    data: MilestoneIn,
    request: Request,
    response: Response,
    user: Officer,
    scope: CurrentScope,
    session: SessionDep,
) -> MilestonePublic:
    """Add a milestone to a settlement."""
    settlement = visible_settlement(session=session, scope=scope, settlement_id=settlement_id)
    saved = _save_milestone(session, settlement, None, data)
    target = f"milestone:{saved.id}"
    audit_api(session, request, user, "milestone.create", target, settlement=settlement_id)
    return versioned(response, _milestone_public(saved))


MILESTONE = "/settlements/{settlement_id}/milestones/{milestone_id}"


@router.get(MILESTONE, responses={**documented(404), **VERSIONED})
def get_milestone(
    settlement_id: SettlementId,
    milestone_id: MilestoneId,
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
) -> MilestonePublic:
    """Return one milestone of a settlement; 404 outside the caller's scope."""
    _, milestone = visible_milestone(
        session=session, scope=scope, settlement_id=settlement_id, milestone_id=milestone_id
    )
    return versioned(response, _milestone_public(milestone))


@router.put(MILESTONE, responses={**documented(403, 404, 412), **VERSIONED})
def update_milestone(
    settlement_id: SettlementId,
    milestone_id: MilestoneId,
    data: MilestoneIn,
    request: Request,
    response: Response,
    user: Officer,
    scope: CurrentScope,
    session: SessionDep,
    if_match: IfMatch = None,
) -> MilestonePublic:
    """Change a milestone (every field, as given; with `If-Match`, only the version it
    names: 412 once someone changed it since)."""
    settlement, milestone = visible_milestone(
        session=session, scope=scope, settlement_id=settlement_id, milestone_id=milestone_id
    )
    check_if_match(
        if_match,
        session=session,
        row=milestone,
        public=_milestone_public,
        what=f"milestone {milestone_id}",
    )
    saved = _save_milestone(session, settlement, milestone, data)
    target = f"milestone:{milestone_id}"
    audit_api(session, request, user, "milestone.update", target, settlement=settlement_id)
    return versioned(response, _milestone_public(saved))


@router.delete(
    MILESTONE,
    status_code=204,
    responses=documented(403, 404, 409),
)
def delete_milestone(
    settlement_id: SettlementId,
    milestone_id: MilestoneId,
    request: Request,
    user: Officer,
    scope: CurrentScope,
    session: SessionDep,
) -> None:
    """Delete a milestone (residents stop seeing it); 409 while a broadcast not sent yet
    quotes it."""
    _, milestone = visible_milestone(
        session=session, scope=scope, settlement_id=settlement_id, milestone_id=milestone_id
    )
    title = milestone.title
    with refused_as_http():
        edit.delete_milestone(session=session, milestone=milestone)
    target = f"milestone:{milestone_id}"
    audit_api(
        session, request, user, "milestone.delete", target, settlement=settlement_id, title=title
    )


def _save_meeting(
    session: Session, scope: scopes.Scope, meeting: Meeting | None, data: MeetingIn
) -> Meeting:
    settlement = (
        visible_settlement(session=session, scope=scope, settlement_id=data.settlement_id)
        if data.settlement_id is not None
        else None
    )
    check_meeting_place(
        session=session, scope=scope, settlement=settlement, level=data.level, ward=data.ward
    )
    with refused_as_http():
        return edit.save_meeting(
            session=session,
            meeting=meeting,
            settlement=settlement,
            names=edit.API_NAMES,
            **data.model_dump(exclude={"settlement_id"}),
        )


@router.post("/meetings", status_code=201, responses={**documented(403, 404), **CREATED})
def create_meeting(
    data: MeetingIn,
    request: Request,
    response: Response,
    user: Officer,
    scope: CurrentScope,
    session: SessionDep,
) -> MeetingPublic:
    """Add a meeting (422 for a time that has passed). Residents hear of it when an
    announcement is sent (`POST /api/v1/meetings/{id}/announcement`)."""
    saved = _save_meeting(session, scope, None, data)
    audit_api(session, request, user, "meeting.create", f"meeting:{saved.id}", title=saved.title)
    return versioned(response, _meeting_public(saved))


@router.put("/meetings/{meeting_id}", responses={**documented(403, 404, 409, 412), **VERSIONED})
def update_meeting(
    meeting_id: MeetingId,
    data: MeetingIn,
    request: Request,
    response: Response,
    user: Officer,
    scope: CurrentScope,
    session: SessionDep,
    if_match: IfMatch = None,
) -> MeetingPublic:
    """Change a meeting (every field, as given; with `If-Match`, only the version it names:
    412 once someone changed it since); 403 for a forum a scoped user only sees, 409 for a
    cancelled meeting, 422 for a move to a time that has passed."""
    meeting = changeable_meeting(session=session, scope=scope, meeting_id=meeting_id)
    check_if_match(
        if_match,
        session=session,
        row=meeting,
        public=_meeting_public,
        what=f"meeting {meeting_id}",
    )
    saved = _save_meeting(session, scope, meeting, data)
    audit_api(session, request, user, "meeting.update", f"meeting:{meeting_id}", title=saved.title)
    return versioned(response, _meeting_public(saved))


@router.post("/meetings/{meeting_id}/cancel", responses={**documented(403, 404), **VERSIONED})
def cancel_meeting(
    meeting_id: MeetingId,
    request: Request,
    response: Response,
    user: Officer,
    scope: CurrentScope,
    session: SessionDep,
) -> MeetingPublic:
    """Cancel a meeting (residents asking for meetings are told it is cancelled); its
    reminders and announcements ("new meeting", "moved") not sent yet are withdrawn."""
    meeting = changeable_meeting(session=session, scope=scope, meeting_id=meeting_id)
    edit.cancel_meeting(session=session, meeting=meeting)
    audit_api(
        session, request, user, "meeting.cancel", f"meeting:{meeting_id}", title=meeting.title
    )
    return versioned(response, _meeting_public(meeting))
