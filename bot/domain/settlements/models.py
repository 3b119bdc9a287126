"""Tables for settlements, their upgrading milestones and meetings."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args

from pydantic import Field as PydanticField
from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.db import ApiInput, CleanText, OffsetDateTime, RowId, UTCDateTime, utcnow

CATEGORIES = ("A", "B1", "B2", "C")
Strand = Literal["planning", "services", "tenure", "layout", "housing"]
MilestoneStatus = Literal["planned", "in_progress", "done", "delayed"]
STRANDS: tuple[str, ...] = get_args(Strand)
MILESTONE_STATUSES: tuple[str, ...] = get_args(MilestoneStatus)
MEETING_LEVELS = ("neighbourhood", "ward", "city")

# Longest values: the tables, the API, the dashboard and the CSV import allow the same.
NAME_LENGTH = 200  # a settlement's name and municipality, and their folded keys
WARD_LENGTH = 50
TITLE_LENGTH = 300  # a milestone's or meeting's title, and a milestone's folded title
NOTE_LENGTH = 2000  # a settlement's category_note, a milestone's note
PHASE_LENGTH = 500  # a settlement's current_phase
VENUE_LENGTH = 500
MEETING_KEY_LENGTH = 700  # `importer.meeting_key`: folded title, start and place


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def name_key(value: str) -> str:
    """Fold a name for matching: case-insensitive, spaces collapsed."""
    return " ".join(value.split()).casefold()


class Settlement(SQLModel, table=True):
    """An informal settlement and its upgrading category (None until assessed)."""

    __tablename__ = "settlement"

    __table_args__ = (
        UniqueConstraint("municipality_key", "name_key", name="uq_settlement_name"),
        CheckConstraint(f"category IS NULL OR {_in('category', CATEGORIES)}", name="ck_category"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=NAME_LENGTH)
    name_key: str = Field(max_length=NAME_LENGTH, index=True)
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ward: str = Field(default="", max_length=WARD_LENGTH, index=True)
    municipality: str = Field(max_length=NAME_LENGTH)
    municipality_key: str = Field(max_length=NAME_LENGTH)
    category: str | None = Field(default=None, max_length=2)
    category_note: str = Field(default="")
    current_phase: str = Field(default="")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Milestone(SQLModel, table=True):
    """A step in one strand of a settlement's upgrading, with its target and status."""

    __tablename__ = "milestone"

    __table_args__ = (
        UniqueConstraint("settlement_id", "strand", "title_key", name="uq_milestone"),
        CheckConstraint(_in("strand", STRANDS), name="ck_strand"),
        CheckConstraint(_in("status", MILESTONE_STATUSES), name="ck_milestone_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    settlement_id: int = Field(foreign_key="settlement.id", ondelete="CASCADE", index=True)
    strand: str = Field(max_length=20)
    title: str = Field(max_length=TITLE_LENGTH)
    title_key: str = Field(max_length=TITLE_LENGTH)
    target_date: dt.date | None = None
    status: str = Field(default="planned", max_length=20)
    note: str = Field(default="")
    # Its `milestone_key`s before the dashboard or the API renamed it (or changed its
    # strand): a CSV row that still has one is this milestone, not a new one.
    former_keys: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def told_start(starts_at: dt.datetime) -> dt.datetime:
    """Return a meeting's start as residents are told it: to the minute (an API or CSV start
    may carry seconds that no message shows)."""
    return starts_at.replace(second=0, microsecond=0)


class Meeting(SQLModel, table=True):
    """A meeting or forum: neighbourhood (one settlement), ward or city level."""

    __tablename__ = "meeting"

    __table_args__ = (
        UniqueConstraint("natural_key", name="uq_meeting"),
        CheckConstraint(_in("level", MEETING_LEVELS), name="ck_meeting_level"),
    )

    id: int | None = Field(default=None, primary_key=True)
    settlement_id: int | None = Field(
        default=None, foreign_key="settlement.id", ondelete="CASCADE", index=True
    )
    ward: str = Field(default="", max_length=WARD_LENGTH, index=True)
    level: str = Field(max_length=20)
    title: str = Field(max_length=TITLE_LENGTH)
    starts_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)
    venue: str = Field(default="")
    cancelled: bool = False
    natural_key: str = Field(max_length=MEETING_KEY_LENGTH)
    # Its natural keys before the dashboard or the API renamed or moved it (or changed its
    # place): a CSV row that still has one is this meeting, not a new one.
    former_keys: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


IMPORTED_KEY_LENGTH = 720  # `importer.imported_key`: a meeting's key is the longest


class ImportedRow(SQLModel, table=True):
    """What the last CSV import wrote to one settlement, milestone or meeting, and the key
    its file named it by: the next import tells a value a person changed since (on the
    dashboard or with the API) from one an import wrote, and a row a person deleted from
    one never imported. It has no foreign key, as it outlives a deleted row: that is how
    one shows."""

    __tablename__ = "imported_row"
    __table_args__ = (
        UniqueConstraint("kind", "row_id", name="uq_imported_row"),
        Index("ix_imported_row_kind_natural_key", "kind", "natural_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # the table: settlement, milestone, meeting
    row_id: int
    natural_key: str = Field(max_length=IMPORTED_KEY_LENGTH)
    # Field -> the value the import wrote, as JSON holds it (dates and times ISO 8601).
    imported: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    imported_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UnmatchedSettlementName(SQLModel, table=True):
    """A settlement name a resident typed that matched nothing, kept for officers to review."""

    __tablename__ = "unmatched_settlement_name"

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(max_length=200)
    resident_id: int | None = Field(
        default=None, foreign_key="resident.id", ondelete="SET NULL", index=True
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- API schemas (/api/v1/settlements, /api/v1/meetings) -------------------------------


class SettlementPublic(SQLModel):
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


class MilestonePublic(SQLModel):
    """A step in one strand of a settlement's upgrading."""

    id: int
    strand: Strand
    title: str
    target_date: dt.date | None
    status: MilestoneStatus
    note: str
    updated_at: dt.datetime


class SettlementDetail(SettlementPublic):
    """A settlement with its milestones, by strand and target date."""

    milestones: list[MilestonePublic]


class WithdrawnAnnouncement(SQLModel):
    """An announcement of a settlement's category, not sent yet, that a change of its
    category withdrew (cancelled at once, `reason` its `status_reason`)."""

    broadcast_id: int
    title: str
    reason: str


class SettlementSaved(SettlementDetail):
    """A settlement as a change left it, and the announcements of its category before
    that the change withdrew (none unless its category changed)."""

    withdrawn_announcements: list[WithdrawnAnnouncement]


class MeetingPublic(SQLModel):
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


class SettlementUpdate(ApiInput):
    """What to change on a settlement; a field left out keeps its value."""

    category: str | None = PydanticField(
        None, max_length=2, description=f"one of {', '.join(CATEGORIES)}; null: not yet assessed"
    )
    category_note: CleanText | None = PydanticField(None, max_length=NOTE_LENGTH)
    current_phase: CleanText | None = PydanticField(None, max_length=PHASE_LENGTH)


class MilestoneIn(ApiInput):
    """A milestone, checked as the CSV import checks it."""

    strand: Strand
    title: CleanText = PydanticField(max_length=TITLE_LENGTH)
    status: MilestoneStatus
    target_date: dt.date | None = None
    note: CleanText = PydanticField(
        "",
        max_length=NOTE_LENGTH,
        description="a change of the title or note is refused (422 naming the note, or the "
        "title when there is none) when a broadcast not sent yet that quotes the milestone "
        "would then pass 3 SMS segments, or pass them by more, counting them by length as "
        "GSM-7 would (a character outside GSM-7 is accepted)",
    )


# The title and venue of a meeting are quoted by its reminders, which go by themselves.
_REMINDED = (
    "; with the title and venue, its SMS reminder (in every language, with the date) must "
    "fit 3 SMS segments, or it is refused (422 naming the venue, or the title when there "
    "is no venue), where either or the start changes. Measured by length as GSM-7 would "
    "count the title and venue: a character outside GSM-7 (Sepedi š, Tshivenda ṱ, "
    "Afrikaans ê, an emoji) is accepted, though it makes the reminders UCS-2"
)


class MeetingIn(ApiInput):
    """A meeting, checked as the CSV import checks it: a neighbourhood meeting needs a
    settlement, a ward forum a ward (or a settlement in it), a city forum no settlement."""

    level: Literal["neighbourhood", "ward", "city"]
    title: CleanText = PydanticField(
        max_length=TITLE_LENGTH, description="the meeting's name" + _REMINDED
    )
    starts_at: OffsetDateTime = PydanticField(description="with a UTC offset")
    settlement_id: RowId | None = None
    ward: CleanText = PydanticField("", max_length=WARD_LENGTH)
    venue: CleanText = PydanticField("", max_length=VENUE_LENGTH, description="where" + _REMINDED)
