"""The triage queue and the ticket page: filter, bulk change, read the conversation, reply,
note, change status / priority / category / kind / assignee, link duplicates, see media."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import SettingsDep, refused_as_http
from api.routes.staff.common import (
    SECURITY_HEADERS,
    StaffContext,
    action,
    attachment,
    back,
    page,
    page_number,
    render,
)
from bot.content import load
from bot.db import utcnow
from bot.domain.outbox import budget
from bot.domain.reports import service as reports
from bot.domain.settlements.models import Settlement
from bot.domain.staff import conversation, media, queue
from bot.domain.staff import scope as scopes
from bot.domain.staff import service as staff
from bot.domain.staff.models import ROLES, TICKET_WORKERS
from bot.domain.tickets import notify
from bot.domain.tickets import service as tickets
from bot.domain.tickets.models import (
    KINDS,
    OPEN_STATUSES,
    PRIORITIES,
    STATUSES,
    ReplySms,
    Ticket,
    TicketUpdate,
)
from bot.flows import report_notices
from bot.i18n import get_translator

router = APIRouter()
Reader = Annotated[StaffContext, Depends(page(*ROLES))]
Worker = Annotated[StaffContext, Depends(action(*TICKET_WORKERS))]
Ref = Annotated[str, Query(pattern=r"^[0-9]{1,12}$")]
PAGE_SIZE = 50
CSV_LIMIT = 5000
CHANNELS = ("whatsapp", "sms", "open311", "api")
UNASSIGNED = "none"  # the assignee choice (and filter) for nobody


def _ticket(ctx: StaffContext, reference: str) -> Ticket:
    """Return a ticket the user may see; 404 for one outside their scope, as if absent."""
    ticket = tickets.get_by_reference(session=ctx.session, reference=reference)
    if ticket is None or not scopes.allows_ticket(
        session=ctx.session, scope=ctx.scope, ticket=ticket
    ):
        raise HTTPException(404, f"no ticket {reference}")
    return ticket


def _parent(ctx: StaffContext, reference: str) -> Ticket:
    """Return the ticket typed as the one to link to; 422 naming the number when there is
    none the user may see (a 404 read as if the ticket being worked were missing)."""
    try:
        return _ticket(ctx, reference)
    except HTTPException:
        raise HTTPException(422, tickets.no_parent(reference)) from None


def _link(
    ctx: StaffContext,
    ticket: Ticket,
    root: Ticket,
    now: dt.datetime,
    told: set[int] | None = None,
) -> None:
    tickets.link(
        session=ctx.session,
        ticket=ticket,
        parent=root,
        staff=ctx.user,
        now=now,
        scope=ctx.scope,
        told=told,
    )


def _filters(params: dict[str, str]) -> queue.QueueFilters:
    status = params.get("status", "")
    settlement = params.get("settlement_id", "")
    assignee = params.get("assignee", "")
    return queue.QueueFilters(
        status=sorted(OPEN_STATUSES)
        if status == "open"
        else ([status] if status not in ("", "all") else []),
        category=[params["category"]] if params.get("category") else [],
        settlement_id=int(settlement) if settlement.isdecimal() and len(settlement) < 10 else None,
        ward=params.get("ward") or None,
        priority=[params["priority"]] if params.get("priority") else [],
        kind=[params["kind"]] if params.get("kind") else [],
        assignee_email=assignee if assignee not in ("", UNASSIGNED) else None,
        unassigned=assignee == UNASSIGNED,
        language=params.get("language") or None,
        channel=params.get("channel") or None,
        sla=params.get("sla") if params.get("sla") in queue.SLA_STATES else None,
    )


FILTER_KEYS = (
    "status", "category", "settlement_id", "ward", "priority", "kind", "assignee", "language",
    "channel", "sla",
)  # fmt: skip


def _params(request: Request) -> dict[str, str]:
    params = {k: v[:100] for k in FILTER_KEYS if (v := request.query_params.get(k, ""))}
    if "status" not in request.query_params:
        params["status"] = "open"
    return params


@router.get("/tickets", response_class=HTMLResponse)
def queue_page(request: Request, ctx: Reader, settings: SettingsDep) -> HTMLResponse:
    """The triage queue: most urgent first, with counts for each filter choice."""
    params = _params(request)
    number = page_number(request)
    filters = _filters(params)
    now = utcnow()
    rows, total = queue.search(
        session=ctx.session,
        filters=filters,
        scope=ctx.scope,
        now=now,
        settings=settings,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    counts = queue.counts(
        session=ctx.session, filters=filters, scope=ctx.scope, now=now, settings=settings
    )
    ctx.audit("queue.view", "tickets", page=number, total=total, **params)
    settlements = _settlements(ctx)
    names = {s.id: s.name for s in settlements}
    items = [
        {
            "ticket": t,
            "settlement": names.get(t.settlement_id, "") if t.settlement_id else "",
            "sla": tickets.sla_state(t, now=now, settings=settings),
            "due": tickets.next_due(t),
            "paused": t.waiting_since is not None,
        }
        for t in rows
    ]
    emails = {u.id: u.email for u in staff.list_users(session=ctx.session)}
    return render(
        request,
        "queue.html",
        ctx,
        items=items,
        total=total,
        page=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        params=params,
        query=urlencode(params),
        counts=counts,
        settlements=settlements,
        wards=sorted({s.ward for s in settlements if s.ward}),
        categories=tickets.category_codes(),
        statuses=STATUSES,
        priorities=PRIORITIES,
        kinds=KINDS,
        channels=CHANNELS,
        sla_states=queue.SLA_STATES,
        assignees=staff.assignable(session=ctx.session),
        emails=emails,
        open_count=sum(n for status, n in counts["status"].items() if status in OPEN_STATUSES),
        now=now,
    )


def _settlements(ctx: StaffContext) -> list[Settlement]:
    return scopes.visible_settlements(session=ctx.session, scope=ctx.scope)


@router.get("/tickets.csv")
def queue_csv(request: Request, ctx: Reader, settings: SettingsDep) -> Response:
    """Download the queue as filtered (up to 5,000 tickets) as CSV; cells a spreadsheet
    would run as formulas (residents write these words) are neutralised."""
    params = _params(request)
    now = utcnow()
    rows, total = queue.search(
        session=ctx.session,
        filters=_filters(params),
        scope=ctx.scope,
        now=now,
        settings=settings,
        limit=CSV_LIMIT,
    )
    names = {s.id: s.name for s in _settlements(ctx)}
    emails = {u.id: u.email for u in staff.list_users(session=ctx.session)}
    reopened = tickets.last_reopenings(
        session=ctx.session, ticket_ids=[t.id for t in rows if t.id is not None]
    )
    lines = [
        reports.ticket_row(
            t,
            settlement=names.get(t.settlement_id, "") if t.settlement_id else "",
            assignee=emails.get(t.assignee_id, "") if t.assignee_id else "",
            sla_state=tickets.sla_state(t, now=now, settings=settings),
            reopened_at=reopened.get(t.id) if t.id is not None else None,
        )
        for t in rows
    ]
    ctx.audit("ticket.export", "tickets.csv", rows=len(lines), total=total, **params)
    return attachment(reports.tickets_csv(lines), "text/csv", "siyakha-tickets.csv")


@router.post("/tickets/bulk")
def bulk(
    ctx: Worker,
    operation: Annotated[str, Form(pattern="^(assign|categorise|link)$")],
    refs: Annotated[list[str], Form(max_length=200)] = [],  # noqa: B006 (FastAPI copies it)
    assignee_email: Annotated[str, Form(max_length=254)] = "",
    category: Annotated[str, Form(max_length=40)] = "",
    parent: Annotated[str, Form(max_length=12)] = "",
    return_to: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    """Assign (to UNASSIGNED: to nobody), categorise or link as duplicates many tickets at
    once. The form's assignee and category start unchosen, so Apply alone changes nothing."""
    now = utcnow()
    chosen = [_ticket(ctx, ref) for ref in dict.fromkeys(refs) if ref.isdecimal()]
    if not chosen:
        raise HTTPException(422, "choose at least one ticket")
    if operation == "assign" and not assignee_email:
        raise HTTPException(422, "choose who to assign them to, or nobody to unassign them")
    if operation == "categorise" and not category:
        raise HTTPException(422, "choose the category to set")
    with refused_as_http():
        if operation == "link":
            root = _parent(ctx, parent.strip())
            told: set[int] = set()  # one action: each resident hears of it once
            for ticket in chosen:
                if ticket.id != root.id:
                    _link(ctx, ticket, root, now, told)
        else:
            update = (
                TicketUpdate(assignee_email=_assignee(assignee_email))
                if operation == "assign"
                else TicketUpdate(category=category)
            )
            for ticket in chosen:
                tickets.change(
                    session=ctx.session, ticket=ticket, update_in=update, staff=ctx.user, now=now
                )
    ctx.audit(
        f"ticket.bulk_{operation}",
        ",".join(t.reference for t in chosen)[:200],
        assignee=assignee_email or None,
        category=category or None,
        parent=parent or None,
    )
    target = return_to if return_to.startswith("/staff/tickets") else "/staff/tickets"
    return back(target, "bulk")


@router.get("/tickets/{reference}", response_class=HTMLResponse)
def ticket_page(
    request: Request, reference: str, ctx: Reader, settings: SettingsDep
) -> HTMLResponse:
    """One ticket: conversation, media, pin, SLA clocks, history and the forms to work it."""
    ticket = _ticket(ctx, reference)
    ctx.audit("ticket.view", f"ticket:{reference}")
    now = utcnow()
    detail = tickets.to_detail(
        session=ctx.session, ticket=ticket, now=now, settings=settings, scope=ctx.scope
    )
    content = load()
    language = notify.language_of(session=ctx.session, ticket=ticket)
    resident_words = get_translator(language)
    english = get_translator("en")
    canned = [
        {
            "code": code,
            "english": report_notices.canned_text(content, english, code),
            "text": report_notices.canned_text(content, resident_words, code),
        }
        for code in report_notices.canned_codes(content)
    ]
    return render(
        request,
        "ticket.html",
        ctx,
        t=detail,
        conversation=conversation.for_ticket(session=ctx.session, ticket=ticket, scope=ctx.scope),
        media=[
            {**item, "index": i}
            for i, item in enumerate(conversation.media_of(ticket, detail.events))
        ],
        canned=canned,
        language=language,
        categories=tickets.category_codes(),
        statuses=[
            ticket.status,
            *(s for s in STATUSES if s in tickets.TRANSITIONS.get(ticket.status, ())),
        ],  # in the order a ticket goes through them, closed last
        priorities=PRIORITIES,
        kinds=KINDS,
        assignees=staff.assignable(session=ctx.session, ticket=ticket),
        waiting_since=ticket.waiting_since,
        now=now,
        max_segments=budget.MAX_SEGMENTS,
    )


def _assignee(chosen: str) -> str:
    """Return the email an assignee choice names ("" for UNASSIGNED)."""
    return "" if chosen == UNASSIGNED else chosen


def _done(reference: str, notice: str) -> RedirectResponse:
    return back(f"/staff/tickets/{reference}", notice)


@router.post("/tickets/{reference}/update")
def update_ticket(
    reference: str,
    ctx: Worker,
    settings: SettingsDep,
    status: Annotated[str, Form(max_length=24)] = "",
    priority: Annotated[str, Form(max_length=10)] = "",
    category: Annotated[str, Form(max_length=40)] = "",
    kind: Annotated[str, Form(max_length=10)] = "",
    assignee_email: Annotated[str, Form(max_length=254)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    was_status: Annotated[str, Form(max_length=24)] = "",
    was_priority: Annotated[str, Form(max_length=10)] = "",
    was_category: Annotated[str, Form(max_length=40)] = "",
    was_kind: Annotated[str, Form(max_length=10)] = "",
    was_assignee_email: Annotated[str, Form(max_length=254)] = "",
) -> RedirectResponse:
    """Change status, priority, category, kind or assignee (and send an optional public
    note).

    The form sends back what its page showed (`was_*`; the assignee "none" is unassigned):
    only the fields changed from it are applied, and one someone else changed meanwhile is
    refused (409) rather than overwritten. A field not sent is left as it is."""
    ticket = _ticket(ctx, reference)
    shown = {
        "status": was_status,
        "priority": was_priority,
        "category": was_category,
        "kind": was_kind,
        "assignee_email": was_assignee_email,
    }
    if not all(shown.values()):
        raise HTTPException(422, "the form did not say what its page showed: reload the page")
    try:
        loaded = TicketUpdate.model_validate(
            {**shown, "assignee_email": _assignee(was_assignee_email)}
        )
        wanted = TicketUpdate.model_validate(
            {
                "status": status or None,
                "priority": priority or None,
                "category": category or None,
                "kind": kind or None,
                "assignee_email": _assignee(assignee_email) if assignee_email else None,
                "note": note.strip() or None,
            }
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    with refused_as_http():  # a field someone else changed meanwhile: 409
        applied = tickets.change(
            session=ctx.session,
            ticket=ticket,
            update_in=wanted,
            loaded=loaded,
            staff=ctx.user,
            now=utcnow(),
            settings=settings,
        )
    ctx.audit("ticket.update", f"ticket:{reference}", **tickets.audit_detail(applied))
    return _done(reference, "updated")


@router.post("/tickets/{reference}/reply")
def reply(
    reference: str,
    ctx: Worker,
    settings: SettingsDep,
    body: Annotated[str, Form(max_length=1000)] = "",
    canned: Annotated[str, Form(max_length=40)] = "",
) -> RedirectResponse:
    """Send a public reply (free text or a canned response) to the resident."""
    ticket = _ticket(ctx, reference)
    with refused_as_http():
        tickets.reply(
            session=ctx.session,
            ticket=ticket,
            staff=ctx.user,
            now=utcnow(),
            body=body or None,
            canned=canned or None,
            settings=settings,
        )
    ctx.audit("ticket.reply", f"ticket:{reference}", canned=canned or None)
    return _done(reference, "replied")


@router.post("/tickets/{reference}/sms")
def reply_sms(
    reference: str,
    ctx: Worker,
    settings: SettingsDep,
    body: Annotated[str, Form(max_length=1000)] = "",
    field: Annotated[str, Form(pattern="^(body|note)$")] = "body",
) -> ReplySms:
    """Say how the reply or public note being written would reach the resident (the ticket
    page's counter): by SMS or not, its segments and encoding; changes nothing."""
    ticket = _ticket(ctx, reference)
    with refused_as_http():
        return tickets.reply_sms(
            session=ctx.session,
            ticket=ticket,
            staff=ctx.user,
            now=utcnow(),
            body=body or None,
            settings=settings,
            field=field,
        )


@router.post("/tickets/{reference}/note")
def add_note(
    reference: str, ctx: Worker, body: Annotated[str, Form(min_length=1, max_length=4000)]
) -> RedirectResponse:
    """Add an internal note."""
    ticket = _ticket(ctx, reference)
    if not body.strip():
        raise HTTPException(422, "a note needs some text")
    tickets.note(session=ctx.session, ticket=ticket, staff=ctx.user, body=body, now=utcnow())
    ctx.audit("ticket.note", f"ticket:{reference}")
    return _done(reference, "noted")


@router.post("/tickets/{reference}/link")
def link(
    reference: str, ctx: Worker, parent: Annotated[str, Form(max_length=12)] = ""
) -> RedirectResponse:
    """Link this ticket as a duplicate of another (blank: unlink)."""
    ticket = _ticket(ctx, reference)
    now = utcnow()
    if parent.strip():
        root = _parent(ctx, parent.strip())
        with refused_as_http(refused=409):
            _link(ctx, ticket, root, now)
    else:
        tickets.unlink(session=ctx.session, ticket=ticket, staff=ctx.user, now=now)
    ctx.audit("ticket.link", f"ticket:{reference}", parent=parent.strip() or None)
    return _done(reference, "linked")


@router.get("/tickets/{reference}/media/{index}")
def ticket_media(reference: str, index: int, ctx: Reader, settings: SettingsDep) -> Response:
    """Stream a photo or voice note of the ticket from Twilio, with the account credentials."""
    ticket = _ticket(ctx, reference)
    items = conversation.media_of(ticket, tickets.events(session=ctx.session, ticket=ticket))
    if not 0 <= index < len(items):
        raise HTTPException(404, "no such media")
    try:
        data, content_type = media.fetch(items[index]["url"], settings)
    except media.MediaUnavailable as exc:
        raise HTTPException(502, str(exc)) from None
    headers = dict(SECURITY_HEADERS)
    headers["Cache-Control"] = "private, max-age=3600"
    if not media.is_inline(content_type):
        headers["Content-Disposition"] = f'attachment; filename="ticket-{reference}-{index}"'
        content_type = "application/octet-stream"
    return Response(data, media_type=content_type, headers=headers)
