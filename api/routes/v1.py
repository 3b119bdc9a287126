"""JSON API for staff under /api/v1: tickets (list, read, change, reply, note, duplicates).

Every route needs a staff bearer token (`siyakha token create --email ...`). Everyone may
read; changing tickets needs the admin or triage role. A scoped user (settlements or
wards) sees only tickets there: anything else answers 404. Changes go to the audit log.
The resident's phone number and name are never part of a response: replies go to the
resident through the outbox.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session

from api.deps import (
    CurrentScope,
    CurrentStaff,
    Idempotent,
    QueryDateTime,
    QueryDateTimeTo,
    SessionDep,
    SettingsDep,
    TicketWorker,
    audit_api,
    aware,
    refused_as_http,
)
from api.errors import API_ERRORS, documented
from bot.content import load
from bot.db import MAX_ID, CleanText, utcnow
from bot.domain.outbox import budget
from bot.domain.staff import queue
from bot.domain.staff import scope as scopes
from bot.domain.staff.models import StaffPublic, StaffUser
from bot.domain.tickets import service as tickets
from bot.domain.tickets import sla
from bot.domain.tickets.models import (
    Kind,
    LinkCreate,
    NoteCreate,
    Priority,
    ReplyCreate,
    ReplySms,
    SlaState,
    Status,
    Ticket,
    TicketDetail,
    TicketPage,
    TicketUpdate,
)
from bot.flows import report_notices
from bot.i18n import get_translator

router = APIRouter(prefix="/api/v1", tags=["api v1"], responses=API_ERRORS)

# What the words of a public reply may be, on top of their 1,000 characters.
REPLY_BODY = (
    f"refused (422) when its SMS to the resident, or to a linked duplicate's, would take "
    f"more than {budget.MAX_SEGMENTS} segments with the report number (GSM-7: 153 "
    "characters a segment; one character outside it, such as an emoji, makes it UCS-2: 67); "
    "a resident WhatsApp reaches gets up to the 1,000"
)

Reference = Annotated[str, Path(pattern=r"^[0-9]{1,12}$", description="the report number")]


class Category(BaseModel):
    """A report category."""

    code: str
    name: str
    description: str
    urgent: bool
    resolve_hours: float


class CannedResponse(BaseModel):
    """A canned reply, sent to each resident in their language where translated."""

    code: str
    text: str


def _ticket(session: Session, reference: str, scope: scopes.Scope) -> Ticket:
    """Return a ticket the caller's scope allows; 404 otherwise, as if it did not exist."""
    ticket = tickets.get_by_reference(session=session, reference=reference)
    if ticket is None or not scopes.allows_ticket(session=session, scope=scope, ticket=ticket):
        raise HTTPException(404, f"no ticket {reference}")
    return ticket


def _audit(
    session: Session,
    request: Request,
    user: StaffUser,
    action: str,
    reference: str,
    **detail: object,
) -> None:
    audit_api(session, request, user, action, f"ticket:{reference}", **detail)


def _detail(
    session: Session, ticket: Ticket, settings: SettingsDep, scope: scopes.Scope
) -> TicketDetail:
    return tickets.to_detail(
        session=session, ticket=ticket, now=utcnow(), settings=settings, scope=scope
    )


@router.get("/me")
def me(user: CurrentStaff) -> StaffPublic:
    """Return the staff user the token belongs to."""
    assert user.id is not None
    return StaffPublic(id=user.id, email=user.email, role=user.role)


@router.get("/categories")
def categories(user: CurrentStaff, settings: SettingsDep) -> list[Category]:
    """List the report categories (the Open311 services)."""
    english = get_translator("en")
    content = load()
    return [
        Category(
            code=str(entry["code"]),
            name=report_notices.category_name(content, english, str(entry["code"])),
            description=str(entry.get("description", "")),
            urgent=bool(entry.get("urgent", False)),
            resolve_hours=sla.resolve_hours(settings, str(entry["code"])),
        )
        for entry in content.fact("ticket_categories")
    ]


@router.get("/canned-responses")
def canned_responses(user: CurrentStaff) -> list[CannedResponse]:
    """List the canned replies staff may send (English text shown)."""
    english = get_translator("en")
    content = load()
    return [
        CannedResponse(code=code, text=report_notices.canned_text(content, english, code))
        for code in report_notices.canned_codes(content)
    ]


@router.get("/tickets")
def list_tickets(
    user: CurrentStaff,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
    status: Annotated[list[Status] | None, Query()] = None,
    category: Annotated[list[CleanText] | None, Query(max_length=20)] = None,
    settlement_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    kind: Annotated[list[Kind] | None, Query(description="problem or question")] = None,
    assignee: Annotated[CleanText | None, Query(max_length=254)] = None,
    unassigned: bool = False,
    sla: SlaState | None = None,
    created_from: Annotated[
        QueryDateTime | None,
        Query(description="created at or after; a date alone starts at 00:00 Johannesburg time"),
    ] = None,
    created_to: Annotated[
        QueryDateTimeTo | None,
        Query(description="created at or before; a date alone runs to the end of that day there"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> TicketPage:
    """List tickets, newest first, filtered by status, category, settlement, priority, kind
    (problem or question), assignee (email), SLA state and creation date range."""
    filters = queue.QueueFilters(
        status=status or (),
        category=category or (),
        settlement_id=settlement_id,
        priority=priority or (),
        kind=kind or (),
        assignee_email=assignee,
        unassigned=unassigned,
        sla=sla,
        created_from=aware(created_from),
        created_to=aware(created_to),
    )
    now = utcnow()
    rows, total = queue.search(
        session=session,
        filters=filters,
        scope=scope,
        now=now,
        settings=settings,
        order="newest",
        limit=limit,
        offset=offset,
    )
    items = [
        tickets.to_public(session=session, ticket=t, now=now, settings=settings, scope=scope)
        for t in rows
    ]
    return TicketPage(total=total, items=items)


@router.get("/tickets/{reference}", responses=documented(404))
def get_ticket(
    reference: Reference,
    user: CurrentStaff,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
) -> TicketDetail:
    """Read one ticket with its events (public and internal)."""
    return _detail(session, _ticket(session, reference, scope), settings, scope)


class TicketUpdateIn(TicketUpdate):
    """A change to a ticket (status, priority, category, kind, assignee email, public note)."""

    # The limits are TicketUpdate's: a redeclared field keeps none of its parent's.
    category: CleanText | None = Field(default=None, max_length=40)
    assignee_email: CleanText | None = Field(default=None, max_length=254)
    note: CleanText | None = Field(
        default=None,
        max_length=1000,
        description="public note sent with a status change, as a reply is: " + REPLY_BODY,
    )


@router.patch("/tickets/{reference}", responses=documented(403, 404, 409))
def update_ticket(
    reference: Reference,
    body: TicketUpdateIn,
    request: Request,
    user: TicketWorker,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
) -> TicketDetail:
    """Change a ticket's status, priority, category, kind (problem or question; finished
    tickets too, their clocks left stopped) or assignee (empty email: unassign)."""
    ticket = _ticket(session, reference, scope)
    change = TicketUpdate.model_validate(body.model_dump())
    with refused_as_http():
        tickets.change(
            session=session,
            ticket=ticket,
            update_in=change,
            staff=user,
            now=utcnow(),
            settings=settings,
        )
    _audit(session, request, user, "ticket.update", reference, **tickets.audit_detail(change))
    return _detail(session, ticket, settings, scope)


class ReplyIn(ReplyCreate):
    """A public reply: `body` as written, or `canned` (a canned response code)."""

    body: CleanText | None = Field(default=None, max_length=1000, description=REPLY_BODY)
    canned: CleanText | None = Field(default=None, max_length=40)


@router.post("/tickets/{reference}/replies/preview", responses=documented(403, 404))
def preview_reply(
    reference: Reference,
    body: ReplyIn,
    user: TicketWorker,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
) -> ReplySms:
    """Say how a public reply would reach its residents if sent now (changes nothing): by
    SMS or not, its largest SMS's segments and encoding, and the refusal it would get."""
    ticket = _ticket(session, reference, scope)
    with refused_as_http():
        return tickets.reply_sms(
            session=session,
            ticket=ticket,
            staff=user,
            body=body.body,
            canned=body.canned,
            now=utcnow(),
            settings=settings,
        )


@router.post("/tickets/{reference}/replies", status_code=201, responses=documented(403, 404))
def reply(
    reference: Reference,
    body: ReplyIn,
    request: Request,
    user: TicketWorker,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
    once: Idempotent,
) -> TicketDetail:
    """Send a public reply to the resident (and the reporters of linked duplicates)."""
    ticket = _ticket(session, reference, scope)
    with refused_as_http():
        tickets.reply(
            session=session,
            ticket=ticket,
            staff=user,
            body=body.body,
            canned=body.canned,
            now=utcnow(),
            settings=settings,
        )
    _audit(session, request, user, "ticket.reply", reference, canned=body.canned)
    return once.keep(_detail(session, ticket, settings, scope), 201)


class NoteIn(NoteCreate):
    """An internal note."""

    body: CleanText = Field(min_length=1, max_length=4000)


@router.post("/tickets/{reference}/notes", status_code=201, responses=documented(403, 404))
def add_note(
    reference: Reference,
    body: NoteIn,
    request: Request,
    user: TicketWorker,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
) -> TicketDetail:
    """Add an internal note (never shown to the resident)."""
    ticket = _ticket(session, reference, scope)
    if not body.body.strip():
        raise HTTPException(422, "a note needs some text")
    tickets.note(session=session, ticket=ticket, staff=user, body=body.body, now=utcnow())
    _audit(session, request, user, "ticket.note", reference)
    return _detail(session, ticket, settings, scope)


class LinkIn(LinkCreate):
    """The report number of the ticket this one duplicates."""

    parent: CleanText = Field(min_length=1, max_length=12)


@router.put("/tickets/{reference}/parent", responses=documented(403, 404, 409))
def link_duplicate(
    reference: Reference,
    body: LinkIn,
    request: Request,
    user: TicketWorker,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
) -> TicketDetail:
    """Link this ticket as a duplicate of another; the parent's updates reach its reporter
    (404 naming `parent` when it is no ticket the caller may see; 403 when the link would
    reach a ticket outside a scoped user's scope)."""
    ticket = _ticket(session, reference, scope)
    try:
        parent = _ticket(session, body.parent, scope)
    except HTTPException:
        raise HTTPException(404, tickets.no_parent(body.parent)) from None
    with refused_as_http(refused=409):
        tickets.link(
            session=session, ticket=ticket, parent=parent, staff=user, now=utcnow(), scope=scope
        )
    _audit(session, request, user, "ticket.link", reference, parent=parent.reference)
    return _detail(session, ticket, settings, scope)


@router.delete("/tickets/{reference}/parent", responses=documented(403, 404))
def unlink_duplicate(
    reference: Reference,
    request: Request,
    user: TicketWorker,
    scope: CurrentScope,
    session: SessionDep,
    settings: SettingsDep,
) -> TicketDetail:
    """Stop treating this ticket as a duplicate."""
    ticket = _ticket(session, reference, scope)
    tickets.unlink(session=session, ticket=ticket, staff=user, now=utcnow())
    _audit(session, request, user, "ticket.unlink", reference)
    return _detail(session, ticket, settings, scope)
