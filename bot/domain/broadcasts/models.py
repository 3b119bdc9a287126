"""Tables and API shapes for broadcasts, meeting attendance and sent reminders."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ValidationInfo, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, CheckConstraint, Column, UniqueConstraint, and_
from sqlmodel import Field, SQLModel, col

from bot.db import ApiInput, CleanText, RowId, UTCDateTime, needs_offset, utc_year, utcnow
from bot.domain.settlements.models import VENUE_LENGTH, Meeting
from bot.engine.messages import Channel

BroadcastStatus = Literal["awaiting_approval", "scheduled", "enqueued", "cancelled", "failed"]
BROADCAST_STATUSES: tuple[str, ...] = get_args(BroadcastStatus)
TemplateName = Literal[
    "meeting_announced",
    "meeting_moved",
    "meeting_cancelled",
    "water_interruption",
    "electricity_interruption",
    "milestone_reached",
    "milestone_delayed",
    "category_changed",
]
TEMPLATE_NAMES: tuple[str, ...] = get_args(TemplateName)
# The longest text an officer may write for one language (the dashboard's box holds as
# many), leaving room in Twilio's 1,600 for what the message adds (the SMS STOP hint).
MAX_TEXT = 1500


class Broadcast(SQLModel, table=True):
    """One message to many residents: audience, words, schedule, approval and outcome."""

    __tablename__ = "broadcast"

    __table_args__ = (
        CheckConstraint(
            f"status IN ({', '.join(repr(status) for status in BROADCAST_STATUSES)})",
            name="ck_broadcast_status",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(default="", max_length=200)
    status: str = Field(default="scheduled", max_length=20, index=True)
    # Why it failed when it was due (words that can no longer be sent, such as a milestone
    # note lengthened since it was scheduled); shown on the dashboard and in the API.
    status_reason: str | None = Field(default=None, max_length=500)
    # {"everyone": bool, "settlement_ids": [...], "wards": [...], "categories": [...],
    #  "languages": [...], "channels": [...]}
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Free text per language ({"en": ..., "xh": ...}) or a structured template.
    texts: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))
    template: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    sms_fallback: bool = False
    meeting_id: int | None = Field(
        default=None, foreign_key="meeting.id", ondelete="SET NULL", index=True
    )
    send_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    audience_size: int = 0
    needs_approval: bool = False
    created_by_id: int | None = Field(
        default=None, foreign_key="staff_user.id", ondelete="SET NULL"
    )
    approved_by_id: int | None = Field(
        default=None, foreign_key="staff_user.id", ondelete="SET NULL"
    )
    approved_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_by_id: int | None = Field(
        default=None, foreign_key="staff_user.id", ondelete="SET NULL"
    )
    cancelled_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    enqueued_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    enqueued_count: int = 0
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MeetingAttendance(SQLModel, table=True):
    """A resident said they will attend a meeting (replying to its reminder), at the start
    they were told: a yes stands only while the meeting keeps that start
    (`ATTENDANCE_STANDS`). Moved, the meeting asks them again; their newest yes replaces
    the row."""

    __tablename__ = "meeting_attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "resident_id", name="uq_meeting_attendance"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", ondelete="CASCADE", index=True)
    resident_id: int = Field(foreign_key="resident.id", ondelete="CASCADE", index=True)
    # The meeting's start the yes was given for, as stored then (migration 0019).
    starts_at: dt.datetime = Field(sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# Join a yes to its meeting only while the meeting starts when the yes was given for: a yes
# to 10:00 is no yes to a meeting moved to 14:00 (the reminders, the answers to them and
# the officers' counts all read it so). A change of seconds residents are never told
# carries the yeses along (`service.meeting_changing`).
ATTENDANCE_STANDS = and_(
    col(Meeting.id) == col(MeetingAttendance.meeting_id),
    col(Meeting.starts_at) == col(MeetingAttendance.starts_at),
)


class MeetingReminder(SQLModel, table=True):
    """A reminder round already queued for a meeting (per offset and start, to the minute
    residents are told; rounds recorded before 2026-12-07 kept the start's seconds)."""

    __tablename__ = "meeting_reminder"
    __table_args__ = (
        UniqueConstraint("meeting_id", "days_before", "starts_at", name="uq_meeting_reminder"),
    )

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", ondelete="CASCADE", index=True)
    days_before: int
    starts_at: dt.datetime = Field(sa_type=UTCDateTime)
    recipients: int = 0
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- API shapes ---------------------------------------------------------------------------


# A broadcast's times fall in these years in UTC, where they are stored and compared.
MOMENT_YEARS = range(2000, 2101)


def _sane_moment(value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
    if value is None:
        return None
    needs_offset(value, info.field_name)
    # The year in UTC, not as written: 2100-12-31T23:30-05:00 is 2101 in UTC.
    if utc_year(value) not in MOMENT_YEARS:
        raise ValueError(
            f"{info.field_name} {value.isoformat()} is not between {MOMENT_YEARS.start} "
            f"and {MOMENT_YEARS.stop - 1} in UTC"
        )
    return value.astimezone(dt.UTC)


Moment = Annotated[dt.datetime | None, AfterValidator(_sane_moment)]


class Audience(ApiInput):
    """Who a broadcast reaches: every filter given must match (values within one are OR).

    Give at least one filter (settlement_ids, wards, categories, languages, channels), or
    `everyone: true` and no filter. Residents who opted out or never consented are always
    left out.
    """

    everyone: bool = False
    settlement_ids: list[RowId] = PydanticField(default_factory=list, max_length=1000)
    wards: list[Annotated[CleanText, PydanticField(max_length=50)]] = PydanticField(
        default_factory=list, max_length=1000
    )
    categories: list[Literal["A", "B1", "B2", "C"]] = PydanticField(default_factory=list)
    languages: list[Annotated[CleanText, PydanticField(max_length=10)]] = PydanticField(
        default_factory=list, max_length=20
    )
    channels: list[Channel] = PydanticField(default_factory=list)

    @model_validator(mode="after")
    def _something_chosen(self) -> Audience:
        filtered = any(
            (self.settlement_ids, self.wards, self.categories, self.languages, self.channels)
        )
        if not self.everyone and not filtered:
            raise ValueError(
                "choose settlements, wards, categories, languages or channels, or set everyone"
            )
        if self.everyone and filtered:
            raise ValueError("everyone excludes other filters")
        return self


# A settlement's upgrading category, as a category_changed template names it.
CategoryCode = Literal["A", "B1", "B2", "C"]

# The venue a moved meeting had: said to differ from its venue now, never quoted.
PreviousVenue = Annotated[CleanText, PydanticField(max_length=VENUE_LENGTH)] | None


class TemplateIn(ApiInput):
    """A structured template and its parameters.

    Meetings: `meeting_id`; for meeting_moved, what differs: `previous_starts_at` (the start
    it had) and/or `previous_venue` (the venue it had, "" for none). Interruptions:
    `area`, `starts_at`, `ends_at`. Milestones: `milestone_id` (its note is included).
    category_changed: `settlement_id` and `category`, the category it was placed in (it must
    be the settlement's category when the broadcast is composed and when it goes), and
    optionally `previous_category`, the one it had ("" for not yet assessed), which must
    differ.
    """

    name: TemplateName
    meeting_id: RowId | None = None
    previous_starts_at: Moment = None
    previous_venue: PreviousVenue = None
    milestone_id: RowId | None = None
    settlement_id: RowId | None = None
    category: CategoryCode | None = None
    previous_category: CategoryCode | Literal[""] | None = None
    area: Annotated[CleanText, PydanticField(max_length=200)] | None = None
    starts_at: Moment = None
    ends_at: Moment = None


class BroadcastCreate(ApiInput):
    """A broadcast as an officer composes it: texts per language (English required) or a
    template; `send_at` empty means now."""

    title: Annotated[CleanText, PydanticField(max_length=200)] = ""
    audience: Audience
    texts: dict[Annotated[str, PydanticField(max_length=10)], CleanText] | None = PydanticField(
        default=None,
        description="the words per language code (English, en, required), each at most "
        f"{MAX_TEXT:,} characters as written; the message sent, with the SMS copy's STOP "
        "hint, must also fit Twilio's 1,600 (an emoji counts two); and where it may reach "
        "residents by SMS (no channel filter, SMS among the channels, or sms_fallback) each "
        "language's SMS copy, with its STOP hint, must fit 3 SMS segments (GSM-7: 153 "
        "characters each; one character outside GSM-7, such as an emoji, makes them UCS-2: "
        "67), or it is refused (422 naming `texts.<code>`, or `template` for a template's "
        "words, where the meeting's or milestone's words it quotes count by length as GSM-7 "
        "would count them); a language without its own text is measured by the English one",
    )
    template: TemplateIn | None = None
    send_at: Moment = None
    sms_fallback: bool = False

    @model_validator(mode="after")
    def _words(self) -> BroadcastCreate:
        if (self.texts is None) == (self.template is None):
            raise ValueError("give either texts (per language) or a template")
        if self.texts is not None:
            if not (self.texts.get("en") or "").strip():
                raise ValueError("texts must include English (en)")
            for language, text in self.texts.items():
                if len(text) > MAX_TEXT:
                    raise ValueError(f"the {language} text is longer than {MAX_TEXT:,} characters")
        return self


class LanguagePreview(BaseModel):
    """One language of a broadcast: its text, whether it falls back to English, SMS size."""

    language: str
    recipients: int
    falls_back_to_english: bool
    text: str
    sms_text: str
    sms_encoding: str
    sms_segments: int
    sms_characters: int


class TextSms(BaseModel):
    """The SMS copy of one language's own text as an officer writes it."""

    language: str
    segments: int
    encoding: str
    characters: int
    fits: bool
    detail: str | None


class TextsSms(BaseModel):
    """Whether a broadcast being written may reach residents by SMS, and the size of each
    language's SMS copy (the dashboard's counter)."""

    by_sms: bool
    max_segments: int
    languages: list[TextSms]


class ReminderSms(BaseModel):
    """The largest SMS reminder of a meeting being written, with the title and venue as long
    as GSM-7 would count them, as saving it measures it (the meeting form's counter)."""

    language: str
    language_name: str
    segments: int
    encoding: Literal["GSM-7", "UCS-2"]
    characters: int
    max_segments: int
    fits: bool = PydanticField(description="false: saving it would be refused")
    field: str | None = PydanticField(
        description="the field the refusal names (title or venue); null when it fits"
    )
    detail: str | None = PydanticField(description="the refusal, in its words; null when it fits")
    beyond_budget: str | None = PydanticField(
        description="taken, but said: letters outside GSM-7 make the reminders as sent UCS-2 "
        "and longer than max_segments (the meeting page's notice)"
    )


class Preview(BaseModel):
    """What a broadcast would do when it goes (its send time, or now), to today's audience."""

    recipients: int
    by_language_channel: dict[str, dict[str, int]]
    languages: list[LanguagePreview]
    fallback_languages: list[str]
    sms_recipients: int
    sms_segments_total: int
    whatsapp_recipients: int
    whatsapp_window_at: Annotated[
        dt.datetime,
        PydanticField(
            description="when the 24-hour window is counted: the send time of a scheduled "
            "broadcast (a resident who writes before then will be inside it), else now"
        ),
    ]
    whatsapp_outside_window: int
    whatsapp_outside_window_without_template: int
    estimated_cost: float
    currency: str
    estimated_seconds: float
    needs_approval: bool
    approval_threshold: int


class Progress(BaseModel):
    """Where a broadcast's messages are, in total and per language and channel."""

    total: int
    queued: int
    sent: int
    delivered: int
    read: int
    failed: int
    cancelled: int
    by_language_channel: dict[str, dict[str, dict[str, int]]]


class BroadcastPublic(BaseModel):
    """A broadcast as the API shows it."""

    id: int
    title: str
    status: str
    status_reason: Annotated[
        str | None,
        PydanticField(
            description='why it failed (status "failed"), or why it was withdrawn before it '
            'went (status "cancelled": its settlement\'s category changed again); null for '
            "any other"
        ),
    ]
    done: bool
    audience: dict[str, Any]
    texts: dict[str, str] | None
    template: dict[str, Any] | None
    sms_fallback: bool
    meeting_id: int | None
    send_at: dt.datetime
    audience_size: int
    needs_approval: bool
    created_by_id: int | None
    approved_by_id: int | None
    approved_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    enqueued_at: dt.datetime | None
    enqueued_count: int
    progress: Progress


class AttendancePublic(BaseModel):
    """How many residents said they will attend a meeting, and how many were reminded."""

    meeting_id: int
    attending: int
    reminded: int
    within_scope_only: Annotated[
        bool,
        PydanticField(
            description="true for a scoped caller: both figures count only the residents of"
            " their settlements and wards (a city or ward forum invites others too)"
        ),
    ]
