"""JSON API for broadcasts and meeting reminders under /api/v1.

Everyone with a staff token may read; composing, approving and cancelling need the
officer or admin role. A broadcast whose audience is larger than
SIYAKHA_BROADCAST_APPROVAL_THRESHOLD waits for a second officer's approval. A scoped user
reads the meetings of their places and the city and ward forums their residents are
invited to, and announces only to their own places: a meeting of theirs, or a milestone or
the category of one of their settlements. A broadcast, meeting, milestone or settlement
outside their scope answers 404; an audience outside it (everyone, another ward or
settlement) or a forum they only read answers 403 (`api.errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Request, Response
from pydantic import BaseModel
from sqlmodel import Session

from api.deps import (
    CurrentScope,
    Idempotent,
    MeetingId,
    MilestoneId,
    Officer,
    SessionDep,
    SettingsDep,
    SettlementId,
    announceable_meeting,
    audit_api,
    readable_meeting,
    refused_as_http,
    visible_milestone,
    visible_settlement,
)
from api.errors import API_ERRORS, documented
from bot.config import Settings
from bot.db import MAX_ID, ApiInput
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import (
    AttendancePublic,
    Broadcast,
    BroadcastCreate,
    BroadcastPublic,
    CategoryCode,
    Moment,
    Preview,
    PreviousVenue,
)
from bot.domain.staff import scope as scopes

router = APIRouter(prefix="/api/v1", tags=["broadcasts"], responses=API_ERRORS)

BroadcastId = Annotated[int, Path(ge=1, le=MAX_ID, description="the broadcast id")]


class MeetingAnnouncementIn(ApiInput):
    """Announce a meeting change: `moved` needs what differs, the time it was planned for
    before (`previous_starts_at`), the venue it had (`previous_venue`, "" for none), or
    both; one where neither differs from the meeting now is refused (409)."""

    change: Literal["announced", "moved", "cancelled"]
    previous_starts_at: Moment = None
    previous_venue: PreviousVenue = None
    send_at: Moment = None


class MilestoneAnnouncementIn(ApiInput):
    """Announce a milestone done or delayed (its status says which): now, or at `send_at`."""

    send_at: Moment = None


# The body may be left out: the milestone's status says what to tell, now.
MilestoneAnnouncement = Annotated[MilestoneAnnouncementIn, Body()]
SEND_NOW = MilestoneAnnouncementIn()


class CategoryAnnouncementIn(ApiInput):
    """Announce a settlement's new category: `category`, the one it was placed in, which
    must be its category now (409 once it changed again); `previous_category`, the one it
    had ("" for not yet assessed), if known, which must differ (409 for no change); now, or
    at `send_at`."""

    category: CategoryCode
    previous_category: CategoryCode | Literal[""] | None = None
    send_at: Moment = None


class AnnouncementOffer(BaseModel):
    """The announcement offered for a meeting, milestone or category change, and what sending
    it would do."""

    broadcast: BroadcastCreate
    preview: Preview


def _offered(
    session: Session, settings: Settings, scope: scopes.Scope, draft: Callable[[], BroadcastCreate]
) -> AnnouncementOffer:
    """Return the announcement `draft` builds with its preview, as the caller would send it
    (refused as `preview_draft` refuses it)."""
    with refused_as_http():
        offered = draft()
        shown = broadcasts.preview_draft(
            session=session, settings=settings, scope=scope, broadcast_in=offered
        )
    return AnnouncementOffer(broadcast=offered, preview=shown)


def _broadcast(session: Session, broadcast_id: int, scope: scopes.Scope) -> Broadcast:
    broadcast = broadcasts.get(session=session, broadcast_id=broadcast_id)
    if broadcast is None or not broadcasts.within_scope(
        session=session, scope=scope, broadcast=broadcast
    ):
        raise HTTPException(404, f"no broadcast {broadcast_id}")
    return broadcast


@router.post("/broadcasts/preview", responses=documented(403, 404, 409))
def preview_broadcast(
    broadcast_in: BroadcastCreate, scope: CurrentScope, session: SessionDep, settings: SettingsDep
) -> Preview:
    """Preview a broadcast before creating it: recipients by language and channel, each
    language's text (and which fall back to English), SMS segments and encoding, estimated
    cost and time to send, WhatsApp recipients outside the 24-hour window (as it will be at
    `send_at`: `whatsapp_window_at`); 403 for an audience outside a scoped user's places."""
    with refused_as_http():
        return broadcasts.preview_draft(
            session=session,
            settings=settings,
            scope=scope,
            broadcast_in=broadcast_in,
        )


@router.post("/broadcasts", status_code=201, responses=documented(403, 404, 409))
def create_broadcast(
    broadcast_in: BroadcastCreate,
    request: Request,
    user: Officer,
    session: SessionDep,
    settings: SettingsDep,
    once: Idempotent,
) -> BroadcastPublic:
    """Create a broadcast: sent now (no `send_at`) or at `send_at`; above the approval
    threshold it waits for a second officer. One to be sent now whose audience matches no
    resident is refused (409); scheduled, it is taken (residents may join before it goes).
    A scoped user's audience must be their own settlements or wards (403 otherwise)."""
    with refused_as_http():
        broadcast = broadcasts.create(
            session=session, settings=settings, broadcast_in=broadcast_in, staff=user
        )
    audit_api(
        session,
        request,
        user,
        "broadcast.create",
        f"broadcast:{broadcast.id}",
        recipients=broadcast.audience_size,
    )
    return once.keep(broadcasts.to_public(session=session, broadcast=broadcast), 201)


@router.get("/broadcasts")
def list_broadcasts(scope: CurrentScope, session: SessionDep) -> list[BroadcastPublic]:
    """List the newest 50 broadcasts (within the user's scope) with their progress."""
    return [
        broadcasts.to_public(session=session, broadcast=b)
        for b in broadcasts.list_visible(session=session, scope=scope)
    ]


@router.get("/broadcasts/{broadcast_id}", responses=documented(404))
def get_broadcast(
    broadcast_id: BroadcastId, scope: CurrentScope, session: SessionDep
) -> BroadcastPublic:
    """Return a broadcast's status and its messages queued, sent, delivered, read, failed
    (in total and per language and channel)."""
    return broadcasts.to_public(session=session, broadcast=_broadcast(session, broadcast_id, scope))


@router.get("/broadcasts/{broadcast_id}/preview", responses=documented(404, 409))
def preview_stored_broadcast(
    broadcast_id: BroadcastId, scope: CurrentScope, session: SessionDep, settings: SettingsDep
) -> Preview:
    """Preview a stored broadcast against today's audience (for the approving officer), the
    WhatsApp window as it will be at its send time; 404 when it quotes a meeting or
    milestone outside the caller's scope (another user composed it)."""
    broadcast = _broadcast(session, broadcast_id, scope)
    with refused_as_http():
        return broadcasts.preview_of(
            session=session, settings=settings, scope=scope, broadcast=broadcast
        )


@router.post("/broadcasts/{broadcast_id}/approve", responses=documented(403, 404, 409))
def approve_broadcast(
    broadcast_id: BroadcastId,
    request: Request,
    user: Officer,
    scope: CurrentScope,
    session: SessionDep,
) -> BroadcastPublic:
    """Approve a broadcast waiting for a second officer (not the one who created it); 404
    when it quotes a meeting or milestone outside the caller's scope."""
    with refused_as_http():
        broadcast = broadcasts.approve(
            session=session, broadcast=_broadcast(session, broadcast_id, scope), staff=user
        )
    audit_api(session, request, user, "broadcast.approve", f"broadcast:{broadcast_id}")
    return broadcasts.to_public(session=session, broadcast=broadcast)


@router.post("/broadcasts/{broadcast_id}/cancel", responses=documented(403, 404, 409))
def cancel_broadcast(
    broadcast_id: BroadcastId,
    request: Request,
    user: Officer,
    scope: CurrentScope,
    session: SessionDep,
) -> BroadcastPublic:
    """Cancel a scheduled broadcast, or the messages of a running one not yet sent (409 for
    one that finished or failed)."""
    with refused_as_http():
        broadcast = _broadcast(session, broadcast_id, scope)
        # `cancel` re-reads this same (identity-mapped) object under a lock and marks it.
        cancelled = broadcasts.cancel(session=session, broadcast=broadcast, staff=user)
    audit_api(
        session, request, user, "broadcast.cancel", f"broadcast:{broadcast_id}", messages=cancelled
    )
    return broadcasts.to_public(session=session, broadcast=broadcast)


@router.post("/meetings/{meeting_id}/announcement/preview", responses=documented(403, 404, 409))
def offer_meeting_announcement(
    meeting_id: MeetingId,
    announcement: MeetingAnnouncementIn,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
) -> AnnouncementOffer:
    """Offer the announcement of a meeting created, moved or cancelled, with its preview
    (a scoped user: only of a meeting of their own places; 403 for a forum they only read)."""
    meeting = announceable_meeting(session=session, scope=scope, meeting_id=meeting_id)
    return _offered(
        session,
        settings,
        scope,
        lambda: broadcasts.meeting_announcement(
            meeting=meeting,
            change=announcement.change,
            previous_starts_at=announcement.previous_starts_at,
            previous_venue=announcement.previous_venue,
            send_at=announcement.send_at,
        ),
    )


@router.post(
    "/meetings/{meeting_id}/announcement", status_code=201, responses=documented(403, 404, 409)
)
def announce_meeting(
    meeting_id: MeetingId,
    announcement: MeetingAnnouncementIn,
    request: Request,
    user: Officer,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
    once: Idempotent,
) -> BroadcastPublic:
    """Send the announcement of a meeting created, moved or cancelled to the residents it
    concerns (its settlement, its ward, or everyone for a city forum); 409 when it would go
    now and no resident matches; a scoped user only of a meeting of their own places (403
    for a forum they only read)."""
    meeting = announceable_meeting(session=session, scope=scope, meeting_id=meeting_id)
    with refused_as_http():
        broadcast = broadcasts.announce_meeting(
            session=session,
            settings=settings,
            meeting=meeting,
            change=announcement.change,
            staff=user,
            previous_starts_at=announcement.previous_starts_at,
            previous_venue=announcement.previous_venue,
            send_at=announcement.send_at,
        )
    audit_api(
        session,
        request,
        user,
        "meeting.announce",
        f"meeting:{meeting_id}",
        broadcast=broadcast.id,
        change=announcement.change,
    )
    return once.keep(broadcasts.to_public(session=session, broadcast=broadcast), 201)


MILESTONE_ANNOUNCEMENT = "/settlements/{settlement_id}/milestones/{milestone_id}/announcement"


@router.post(f"{MILESTONE_ANNOUNCEMENT}/preview", responses=documented(404, 409))
def offer_milestone_announcement(
    settlement_id: SettlementId,
    milestone_id: MilestoneId,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
    announcement: MilestoneAnnouncement = SEND_NOW,
) -> AnnouncementOffer:
    """Offer the announcement that tells a settlement's residents its milestone is done
    (`milestone_reached`) or delayed (`milestone_delayed`, with its note), with its preview;
    409 for a milestone neither done nor delayed; 404 outside the caller's scope."""
    settlement, milestone = visible_milestone(
        session=session, scope=scope, settlement_id=settlement_id, milestone_id=milestone_id
    )
    return _offered(
        session,
        settings,
        scope,
        lambda: broadcasts.milestone_announcement(
            milestone=milestone, settlement=settlement, send_at=announcement.send_at
        ),
    )


@router.post(MILESTONE_ANNOUNCEMENT, status_code=201, responses=documented(403, 404, 409))
def announce_milestone(
    settlement_id: SettlementId,
    milestone_id: MilestoneId,
    request: Request,
    user: Officer,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
    once: Idempotent,
    announcement: MilestoneAnnouncement = SEND_NOW,
) -> BroadcastPublic:
    """Send the announcement that a settlement's milestone is done or delayed to that
    settlement's residents; 409 for a milestone neither done nor delayed, or when it would
    go now and no resident matches; 404 outside the caller's scope."""
    settlement, milestone = visible_milestone(
        session=session, scope=scope, settlement_id=settlement_id, milestone_id=milestone_id
    )
    with refused_as_http():
        broadcast = broadcasts.announce_milestone(
            session=session,
            settings=settings,
            milestone=milestone,
            settlement=settlement,
            staff=user,
            send_at=announcement.send_at,
        )
    audit_api(
        session,
        request,
        user,
        "milestone.announce",
        f"milestone:{milestone_id}",
        broadcast=broadcast.id,
        settlement=settlement_id,
    )
    return once.keep(broadcasts.to_public(session=session, broadcast=broadcast), 201)


CATEGORY_ANNOUNCEMENT = "/settlements/{settlement_id}/category/announcement"


@router.post(f"{CATEGORY_ANNOUNCEMENT}/preview", responses=documented(404, 409))
def offer_category_announcement(
    settlement_id: SettlementId,
    announcement: CategoryAnnouncementIn,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
) -> AnnouncementOffer:
    """Offer the announcement that tells a settlement's residents its new category
    (`category_changed`, one message per category), with its preview; 409 for a category it
    no longer has, or the one it had before; 404 outside the caller's scope."""
    settlement = visible_settlement(session=session, scope=scope, settlement_id=settlement_id)
    return _offered(
        session,
        settings,
        scope,
        lambda: broadcasts.category_announcement(
            settlement=settlement,
            category=announcement.category,
            previous_category=announcement.previous_category,
            send_at=announcement.send_at,
        ),
    )


@router.post(CATEGORY_ANNOUNCEMENT, status_code=201, responses=documented(403, 404, 409))
def announce_category(
    settlement_id: SettlementId,
    announcement: CategoryAnnouncementIn,
    request: Request,
    user: Officer,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
    once: Idempotent,
) -> BroadcastPublic:
    """Send the announcement of a settlement's new category to that settlement's residents;
    409 for a category it no longer has (changed again since), the one it had before, or
    when it would go now and no resident matches; 404 outside the caller's scope."""
    settlement = visible_settlement(session=session, scope=scope, settlement_id=settlement_id)
    with refused_as_http():
        broadcast = broadcasts.announce_category(
            session=session,
            settings=settings,
            settlement=settlement,
            staff=user,
            category=announcement.category,
            previous_category=announcement.previous_category,
            send_at=announcement.send_at,
        )
    audit_api(
        session,
        request,
        user,
        "settlement.announce_category",
        f"settlement:{settlement_id}",
        broadcast=broadcast.id,
        category=announcement.category,
    )
    return once.keep(broadcasts.to_public(session=session, broadcast=broadcast), 201)


@router.get("/meetings/{meeting_id}/attendance", responses=documented(404))
def meeting_attendance(
    meeting_id: MeetingId, scope: CurrentScope, session: SessionDep, response: Response
) -> AttendancePublic:
    """Return how many residents said they will come, and how many were reminded (a scoped
    caller: only of the residents within their scope)."""
    readable_meeting(session=session, scope=scope, meeting_id=meeting_id)
    attending, reminded = broadcasts.attendance(session=session, scope=scope, meeting_id=meeting_id)
    response.headers["Cache-Control"] = "no-store"
    return AttendancePublic(
        meeting_id=meeting_id,
        attending=attending,
        reminded=reminded,
        within_scope_only=not scope.unrestricted,
    )
