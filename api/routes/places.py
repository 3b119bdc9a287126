"""JSON API under /api/v1 for what municipal systems read: settlements, with their category
and milestones, and meetings.

Every staff token may read. A scoped user sees the settlements of their scope, and the
meetings their scope may read (their places' own, and the ward and city forums their
residents are invited to); any other answers 404, as if it did not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel
from sqlmodel import col

from api.deps import CurrentScope, SessionDep, aware, readable_meeting
from bot.db import MAX_ID, utcnow
from bot.domain.settlements import edit
from bot.domain.settlements.models import MEETING_LEVELS, Meeting, Settlement
from bot.domain.staff import scope as scopes

router = APIRouter(prefix="/api/v1", tags=["settlements and meetings"])

SettlementId = Annotated[int, Path(ge=1, le=MAX_ID, description="the settlement id")]
MeetingId = Annotated[int, Path(ge=1, le=MAX_ID, description="the meeting id")]


class SettlementPublic(BaseModel):
    """A settlement and its upgrading category (null until assessed)."""

    id: int
    name: str
    aliases: list[str]
    ward: str
    municipality: str
    category: str | None
    category_note: str
    current_phase: str
    updated_at: dt.datetime


class MilestonePublic(BaseModel):
    """A step in one strand of a settlement's upgrading."""

    id: int
    strand: str
    title: str
    target_date: dt.date | None
    status: str
    note: str
    updated_at: dt.datetime


class SettlementDetail(SettlementPublic):
    """A settlement with its milestones, by strand and target date."""

    milestones: list[MilestonePublic]


class MeetingPublic(BaseModel):
    """A meeting or forum: neighbourhood (one settlement), ward or city level."""

    id: int
    title: str
    level: str
    settlement_id: int | None
    ward: str
    starts_at: dt.datetime
    venue: str
    cancelled: bool
    updated_at: dt.datetime


def _settlement_public(settlement: Settlement) -> dict[str, object]:
    return settlement.model_dump(exclude={"name_key", "municipality_key", "created_at"})


@router.get("/settlements")
def list_settlements(scope: CurrentScope, session: SessionDep) -> list[SettlementPublic]:
    """Return the settlements the caller's scope allows, by name."""
    found = scopes.visible_settlements(session=session, scope=scope)
    return [SettlementPublic.model_validate(_settlement_public(s)) for s in found]


@router.get("/settlements/{settlement_id}")
def get_settlement(
    settlement_id: SettlementId, scope: CurrentScope, session: SessionDep
) -> SettlementDetail:
    """Return one settlement with its milestones; 404 outside the caller's scope."""
    settlement = session.get(Settlement, settlement_id)
    if settlement is None or not scopes.allows_settlement(
        session=session, scope=scope, settlement_id=settlement_id
    ):
        raise HTTPException(404, f"no settlement {settlement_id}")
    milestones = edit.milestones(session=session, settlement_id=settlement_id)
    return SettlementDetail.model_validate(
        {
            **_settlement_public(settlement),
            "milestones": [
                m.model_dump(exclude={"settlement_id", "title_key"}) for m in milestones
            ],
        }
    )


@router.get("/meetings")
def list_meetings(
    scope: CurrentScope,
    session: SessionDep,
    since: Annotated[
        dt.datetime | None, Query(description="from this time (default: now); no zone is UTC")
    ] = None,
    until: Annotated[dt.datetime | None, Query(description="before this time")] = None,
    level: Annotated[str | None, Query(pattern=f"^({'|'.join(MEETING_LEVELS)})$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[MeetingPublic]:
    """Return the meetings the caller's scope may read, soonest first, cancelled ones too
    (`cancelled` says so)."""
    condition = scopes.meeting_read_condition(scope)
    if (end := aware(until)) is not None:
        condition = condition & (col(Meeting.starts_at) < end)
    if level is not None:
        condition = condition & (col(Meeting.level) == level)
    found = edit.meetings(
        session=session, condition=condition, since=aware(since) or utcnow(), limit=limit
    )
    return [MeetingPublic.model_validate(m.model_dump()) for m in found]


@router.get("/meetings/{meeting_id}")
def get_meeting(meeting_id: MeetingId, scope: CurrentScope, session: SessionDep) -> MeetingPublic:
    """Return one meeting; 404 for one the caller's scope may not read."""
    meeting = readable_meeting(session=session, scope=scope, meeting_id=meeting_id)
    return MeetingPublic.model_validate(meeting.model_dump())
