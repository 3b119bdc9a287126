"""The ticket and ticket_event tables, and the shapes the JSON API and Open311 read and
write."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, get_args

from pydantic import Field as PydanticField
from sqlalchemy import JSON, CheckConstraint, Column, Index
from sqlmodel import Field, SQLModel
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from bot.db import ApiInput, UTCDateTime, utcnow

Status = Literal[
    "new", "acknowledged", "in_progress", "waiting_on_resident", "resolved", "reopened", "closed"
]
STATUSES: tuple[str, ...] = (
    "new",
    "acknowledged",
    "in_progress",
    "waiting_on_resident",
    "resolved",
    "reopened",
    "closed",
)
OPEN_STATUSES = frozenset(STATUSES) - {"resolved", "closed"}
Priority = Literal["low", "normal", "high"]
PRIORITIES: tuple[str, ...] = ("low", "normal", "high")
Kind = Literal["problem", "question"]  # a report of a problem, or a question asked
KINDS: tuple[str, ...] = get_args(Kind)
Source = Literal["sms", "whatsapp", "open311", "api"]
SlaState = Literal["on_track", "due_soon", "breached", "met", "missed"]


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Ticket(SQLModel, table=True):
    """A resident's report or question. `reference` is the number the resident quotes."""

    __tablename__ = "ticket"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="ck_ticket_status"),
        CheckConstraint(_in("priority", PRIORITIES), name="ck_ticket_priority"),
        CheckConstraint(_in("kind", KINDS), name="ck_ticket_kind"),
        Index("ix_ticket_status_created", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=12, unique=True)
    resident_id: int | None = Field(
        default=None, foreign_key="resident.id", ondelete="SET NULL", index=True
    )
    settlement_id: int | None = Field(
        default=None, foreign_key="settlement.id", ondelete="SET NULL", index=True
    )
    kind: str = Field(default="problem", max_length=10)
    category: str = Field(max_length=40, index=True)
    priority: str = Field(default="normal", max_length=10)
    status: str = Field(default="new", max_length=24)
    source: str = Field(max_length=10)
    language: str | None = Field(default=None, max_length=10)
    description: str = ""
    location_text: str = Field(default="", max_length=300)
    latitude: float | None = None
    longitude: float | None = None
    media: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    assignee_id: int | None = Field(
        default=None, foreign_key="staff_user.id", ondelete="SET NULL", index=True
    )
    parent_id: int | None = Field(
        default=None, foreign_key="ticket.id", ondelete="SET NULL", index=True
    )
    # Open311 POST answers with this token; GET tokens/{token}.json finds the request.
    open311_token: str | None = Field(default=None, max_length=40, unique=True)
    last_public_note: str = ""
    # The canned response the last public reply was ("" for free text): the resident's
    # report screen shows it in their language, not `last_public_note`'s English.
    last_public_canned: str = Field(default="", max_length=40)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    acknowledged_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    ack_due_at: dt.datetime = Field(sa_type=UTCDateTime)
    resolve_due_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)
    # The SLA clocks run from here: the opening or the last reopening, moved on by the time
    # spent since then waiting on the resident. Every ticket has one (migration 0008 filled
    # in the older rows); nullable only because SQLite cannot add a NOT NULL column in place.
    clock_started_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set while the ticket is waiting_on_resident: since when its resolve clock is paused.
    waiting_since: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    ack_breach_flagged_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolve_breach_flagged_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set when the resident was erased (POPIA): the ticket stays, for statistics only.
    deidentified_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class TicketEvent(SQLModel, table=True):
    """One change to a ticket (its audit trail): who, when, what, public or internal."""

    __tablename__ = "ticket_event"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", ondelete="CASCADE", index=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=10)  # resident | staff | system
    staff_user_id: int | None = Field(
        default=None, foreign_key="staff_user.id", ondelete="SET NULL"
    )
    kind: str = Field(max_length=30)
    public: bool = False
    body: str = ""
    media: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# --- API shapes -------------------------------------------------------------------------


class TicketEventPublic(SQLModel):
    """An event in a ticket's history."""

    id: int
    at: dt.datetime
    actor: str
    staff_email: str | None = None
    kind: str
    public: bool
    body: str
    media: list[dict[str, Any]]
    data: dict[str, Any]


class TicketPublic(SQLModel):
    """A ticket as staff see it (the resident's phone number and name are never shown)."""

    reference: str
    kind: str = PydanticField(description="problem (a problem reported) or question (asked)")
    category: str
    priority: str
    status: str
    source: str
    language: str | None
    settlement_id: int | None
    settlement: str | None
    description: str
    location_text: str
    latitude: float | None
    longitude: float | None
    media: list[dict[str, Any]]
    assignee_email: str | None
    parent_reference: str | None = PydanticField(
        description=(
            "the report number of the ticket this one is a duplicate of; null when it is no "
            "duplicate, or when the viewer's scope does not include that ticket "
            "(`parent_outside_scope` then says it is a duplicate all the same)"
        )
    )
    parent_outside_scope: bool = PydanticField(
        description=(
            "true when this ticket is a duplicate of a ticket outside the viewer's scope, "
            "whose number is not shown (DELETE .../parent still unlinks it)"
        ),
    )
    linked_references: list[str] = PydanticField(
        description="the tickets linked as duplicates of this one, those within the viewer's "
        "scope only"
    )
    has_resident: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    acknowledged_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    ack_due_at: dt.datetime
    resolve_due_at: dt.datetime
    sla_state: str
    last_public_note: str


class TicketDetail(TicketPublic):
    """A ticket with its whole history."""

    events: list[TicketEventPublic]


class TicketPage(SQLModel):
    """One page of tickets and the total matching the filters."""

    total: int
    items: list[TicketPublic]


class TicketUpdate(ApiInput):
    """A change staff make to a ticket; omitted fields stay as they are."""

    status: Status | None = None
    priority: Priority | None = None
    category: str | None = PydanticField(default=None, max_length=40)
    kind: Kind | None = PydanticField(
        default=None,
        description="problem or question: how the resident is told of the ticket's progress "
        "(a question is answered, not fixed); allowed on finished tickets too, whose SLA "
        "clocks it leaves as they are",
    )
    assignee_email: str | None = PydanticField(default=None, max_length=254)
    note: str | None = PydanticField(
        default=None, max_length=1000, description="public note sent with a status change"
    )


class ReplyCreate(ApiInput):
    """A public reply to the resident: free text, or a canned response (translated)."""

    body: str | None = PydanticField(default=None, max_length=1000)
    canned: str | None = PydanticField(default=None, max_length=40)


class ReplySms(SQLModel):
    """How a public reply would reach its residents if sent now: by SMS or not, and the
    largest SMS it would go as (to the resident, or to a linked duplicate's reporter)."""

    by_sms: bool = Field(
        description="whether any of them would get it by SMS (an SMS resident, or a WhatsApp "
        "one outside the 24-hour window whom no approved template reaches)"
    )
    segments: int | None = Field(
        default=None, description="the largest SMS's segments; null: no SMS"
    )
    encoding: Literal["GSM-7", "UCS-2"] | None = None
    characters: int | None = None
    max_segments: int = Field(description="the most segments a reply by SMS may take")
    fits: bool = True
    detail: str | None = Field(
        default=None,
        description="why sending it would be refused (422), in the words of the refusal; "
        "null when it would be sent",
    )


class NoteCreate(ApiInput):
    """An internal note, never shown to the resident."""

    body: str = PydanticField(min_length=1, max_length=4000)


class LinkCreate(ApiInput):
    """Mark this ticket a duplicate of `parent`."""

    parent: str = PydanticField(min_length=1, max_length=12)


# --- Open311 GeoReport v2 shapes (bot/domain/tickets/open311.py builds them) ---------------
# TypedDicts, not models: the answers are the dicts as built, and /openapi.json documents
# them without FastAPI validating or reordering a byte of them.

DateTimeText = Annotated[str, PydanticField(json_schema_extra={"format": "date-time"})]
GeoReportStatus = Literal["open", "closed"]


class GeoReportService(TypedDict):
    """A service (services.json): one per report category."""

    service_code: str
    service_name: str
    description: str
    metadata: Annotated[bool, PydanticField(description="always false: no extra attributes")]
    type: Literal["realtime", "batch", "blackbox"]
    keywords: Annotated[str, PydanticField(description='"urgent" for urgent categories')]
    group: str


class GeoReportServiceDefinition(TypedDict):
    """A service's definition (services/{code}.json)."""

    service_code: str
    attributes: Annotated[
        list[dict[str, Any]],
        PydanticField(description="always empty: Siyakha asks for no extra attributes"),
    ]


class GeoReportRequest(TypedDict):
    """A service request (requests.json, requests/{id}.json): a ticket, without the
    resident's phone number or name."""

    service_request_id: Annotated[str, PydanticField(description="the report number")]
    status: GeoReportStatus
    status_notes: Annotated[str | None, PydanticField(description="the last staff reply")]
    service_name: str
    service_code: str
    description: Annotated[
        str | None, PydanticField(description="null unless the api_key's scope includes it")
    ]
    agency_responsible: str
    service_notice: Annotated[str | None, PydanticField(description="always null")]
    requested_datetime: DateTimeText
    updated_datetime: DateTimeText
    expected_datetime: Annotated[
        DateTimeText, PydanticField(description="the SLA's resolve due time")
    ]
    address: Annotated[
        str | None, PydanticField(description="null unless the api_key's scope includes it")
    ]
    address_id: Annotated[str | None, PydanticField(description="always null")]
    zipcode: Annotated[str | None, PydanticField(description="always null")]
    lat: Annotated[float | None, PydanticField(description="to 3 decimals (about 110 m)")]
    long: Annotated[float | None, PydanticField(description="to 3 decimals (about 110 m)")]
    media_url: Annotated[str | None, PydanticField(description="always null")]


class GeoReportCreated(TypedDict):
    """A service request just created (POST requests.json)."""

    service_request_id: str
    token: Annotated[str, PydanticField(description="for tokens/{token}.json")]
    service_notice: Annotated[str | None, PydanticField(description="always null")]
    account_id: Annotated[str | None, PydanticField(description="always null")]


class GeoReportToken(TypedDict):
    """The service request created with a token (tokens/{token}.json)."""

    service_request_id: str
    token: str
