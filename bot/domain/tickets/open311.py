"""Tickets as Open311 GeoReport v2 services and service requests.

One service per category (content/tickets.yaml). A service request is a ticket:
`service_request_id` is the report number, status is open or closed (resolved counts as
closed), `status_notes` the last public update (a staff reply), lat/long the resident's
pin to about 110 m, and the datetimes come from the ticket and its SLA.

Reads are public, but residents agreed to their reports being shared with the
municipality, not published: a public read carries neither the resident's own words
(`description`) nor the place (`address`), and leaves out safety reports (crime, unsafe
places) altogether. Staff reading with an API token get the description and the address
(the settlement and the place) of the tickets their scope includes. No phone number or
name ever appears: the resident is never named, and phone numbers, email addresses and
known names (a WhatsApp profile name, the names given to POST) are masked in free text.
Names and email given to POST are not kept at all.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from bot.config import get_settings
from bot.content import load
from bot.domain.residents import service as residents
from bot.domain.residents.models import Resident
from bot.domain.settlements.models import Settlement
from bot.domain.staff import scope as scopes
from bot.domain.staff.models import StaffUser
from bot.domain.tickets import service
from bot.domain.tickets.models import (
    GeoReportCreated,
    GeoReportRequest,
    GeoReportService,
    GeoReportServiceDefinition,
    GeoReportStatus,
    GeoReportToken,
    Ticket,
)
from bot.engine.messages import Location
from bot.flows import report as report_flow
from bot.flows import report_notices
from bot.i18n import get_translator
from bot.phones import InvalidPhone, normalise

AGENCY = "Siyakha"
DEFAULT_DAYS = 90
MAX_RESULTS = 1000
# Reports never published, not even without their words: crime and unsafe places.
PRIVATE_CATEGORIES = ("safety",)
# A run of 9+ digits with at most three other characters (not letters or digits) between
# any two: spaces, dashes of every kind, dots, slashes, brackets, stars ("082 - 123 - 4567")...
# a phone number.
_PHONE = re.compile(r"\+?\(?\d(?:[\W_]{0,3}\d){8,}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class Open311Error(ValueError):
    """A request Open311 answers with an error (code and description)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def mask_contacts(text: str, names: tuple[str, ...] = ()) -> str:
    """Mask phone numbers, email addresses and the given names in free text."""
    text = _EMAIL.sub("[email removed]", _PHONE.sub("[number removed]", text))
    for name in sorted({n.strip() for n in names if len(n.strip()) >= 2}, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(name)}\b", "[name removed]", text, flags=re.IGNORECASE)
    return text


def services() -> list[GeoReportService]:
    """Return services.json: one service per category."""
    content = load()
    english = get_translator("en")
    return [
        {
            "service_code": str(entry["code"]),
            "service_name": report_notices.category_name(content, english, str(entry["code"])),
            "description": str(entry.get("description", "")),
            "metadata": False,
            "type": "realtime",
            "keywords": "urgent" if entry.get("urgent") else "",
            "group": str(entry.get("group", "")),
        }
        for entry in content.fact("ticket_categories")
    ]


def service_definition(code: str) -> GeoReportServiceDefinition | None:
    """Return services/{code}.json (no extra attributes), or None for an unknown code."""
    if code not in service.category_codes():
        return None
    return {"service_code": code, "attributes": []}


def _status(ticket: Ticket) -> GeoReportStatus:
    return "closed" if ticket.status in ("resolved", "closed") else "open"


def _public_coordinate(value: float | None) -> float | None:
    """Return a coordinate to 3 decimals (about 110 m): enough to find the standpipe or the
    lane, not a resident's home. The staff API keeps the pin as sent."""
    return None if value is None else round(value, 3)


@dataclass(frozen=True)
class Found:
    """A ticket with what its service request shows besides it."""

    ticket: Ticket
    settlement: str | None
    profile_name: str | None
    detailed: bool


def as_request(found: Found, service_names: dict[str, str]) -> GeoReportRequest:
    """Return one ticket as an Open311 service request (never a phone number or a name, and
    the pin to about 110 m); the description and the address only when `found.detailed`."""
    ticket = found.ticket
    name = (found.profile_name or "").strip()
    names = (name, *name.split()) if name else ()
    description = address = None
    if found.detailed:
        description = mask_contacts(ticket.description, names)
        where = (mask_contacts(ticket.location_text, names), found.settlement or "")
        address = ", ".join(p for p in where if p) or None
    return {
        "service_request_id": ticket.reference,
        "status": _status(ticket),
        # Only staff write it (`tickets.reply`); the resident's name is masked all the same.
        "status_notes": mask_contacts(ticket.last_public_note, names) or None,
        "service_name": service_names.get(ticket.category, ticket.category),
        "service_code": ticket.category,
        "description": description,
        "agency_responsible": AGENCY,
        "service_notice": None,
        "requested_datetime": ticket.created_at.isoformat(),
        "updated_datetime": ticket.updated_at.isoformat(),
        "expected_datetime": ticket.resolve_due_at.isoformat(),
        "address": address,
        "address_id": None,
        "zipcode": None,
        "lat": _public_coordinate(ticket.latitude),
        "long": _public_coordinate(ticket.longitude),
        "media_url": None,  # provider media links need credentials and may show people
    }


def _requests(
    session: Session,
    filters: service.TicketFilters,
    *,
    now: dt.datetime,
    scope: scopes.Scope | None,
) -> list[GeoReportRequest]:
    """Return the service requests of the tickets matching `filters`, newest first, in one
    query: for the public (`scope` None) without safety reports, words or addresses; for
    staff with the description and address of the tickets their scope includes."""
    detailed: ColumnElement[bool] = false() if scope is None else scopes.ticket_condition(scope)
    # Aliased: the scope's subquery on the settlement table must not correlate to the join.
    place, resident = aliased(Settlement), aliased(Resident)
    rows = session.execute(
        select(Ticket, col(place.name), col(resident.profile_name), detailed.label("detailed"))
        .outerjoin(place, col(place.id) == col(Ticket.settlement_id))
        .outerjoin(resident, col(resident.id) == col(Ticket.resident_id))
        .where(
            *service.filter_conditions(filters, now=now, settings=get_settings()),
            or_(col(Ticket.category).not_in(PRIVATE_CATEGORIES), detailed),
        )
        .order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
        .limit(MAX_RESULTS)
    ).all()
    service_names = {s["service_code"]: s["service_name"] for s in services()}
    return [
        as_request(Found(ticket, settlement, name, bool(shown)), service_names)
        for ticket, settlement, name, shown in rows
    ]


@dataclass(frozen=True)
class RequestQuery:
    """The filters of GET requests.json; `ids` None: not asked for by id."""

    ids: tuple[str, ...] | None = None
    service_codes: tuple[str, ...] = ()
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    statuses: tuple[str, ...] = ()


def find_requests(
    *,
    session: Session,
    query: RequestQuery,
    now: dt.datetime,
    scope: scopes.Scope | None = None,
) -> list[GeoReportRequest]:
    """Return requests.json: by id (ids that match nothing find nothing), or filtered (the
    last 90 days unless dates are given). `scope`: a staff reader's (see `_requests`)."""
    if query.ids is not None:
        if not query.ids:
            return []
        by_id = service.TicketFilters(references=query.ids[:MAX_RESULTS])
        return _requests(session, by_id, now=now, scope=scope)
    start = query.start or (now - dt.timedelta(days=DEFAULT_DAYS) if query.end is None else None)
    status: list[str] = []
    if "open" in query.statuses:
        status += ["new", "acknowledged", "in_progress", "waiting_on_resident", "reopened"]
    if "closed" in query.statuses:
        status += ["resolved", "closed"]
    filters = service.TicketFilters(
        category=query.service_codes, status=status, created_from=start, created_to=query.end
    )
    return _requests(session, filters, now=now, scope=scope)


def get_request(
    *, session: Session, reference: str, now: dt.datetime, scope: scopes.Scope | None = None
) -> GeoReportRequest | None:
    """Return requests/{id}.json, or None (a safety report, for the public)."""
    found = _requests(session, service.TicketFilters(references=[reference]), now=now, scope=scope)
    return found[0] if found else None


def token_lookup(*, session: Session, token: str) -> GeoReportToken | None:
    """Return tokens/{token}.json for a request created through Open311, or None."""
    ticket = session.execute(
        select(Ticket).where(col(Ticket.open311_token) == token)
    ).scalar_one_or_none()
    if ticket is None:
        return None
    return {"service_request_id": ticket.reference, "token": token}


@dataclass(frozen=True)
class NewRequest:
    """The fields of POST requests.json that Siyakha keeps (names and email are not kept)."""

    service_code: str
    description: str = ""
    address_string: str = ""
    lat: float | None = None
    long: float | None = None
    phone: str | None = None
    names: tuple[str, ...] = ()


def _check_scope(*, session: Session, staff: StaffUser, phone: str | None) -> None:
    """Refuse (403) a request a scoped key would file outside its scope: a resident who
    lives elsewhere, or none known (a ticket without a settlement only the unscoped see)."""
    scope = scopes.for_user(session=session, user=staff)
    if scope.unrestricted:
        return
    settlement_id = None
    if phone is not None:
        settlement_id = session.execute(
            select(col(Resident.settlement_id)).where(col(Resident.phone) == phone)
        ).scalar_one_or_none()
    if not scopes.allows_settlement(session=session, scope=scope, settlement_id=settlement_id):
        raise Open311Error(
            403, "this api_key is limited to some places: the request would be filed outside them"
        )


def create_request(
    *, session: Session, request: NewRequest, staff: StaffUser, now: dt.datetime
) -> GeoReportCreated:
    """Log a request for a resident (a call centre, another system); return the POST answer.

    With a phone number the ticket is the resident's (found or added, without consent
    recorded, so the outbox tells them nothing until they agree in the chat). A key with a
    scope files only what lands in it: a resident of one of its settlements (403 else, as
    the ticket would then be out of the key's sight).
    """
    if request.service_code not in service.category_codes():
        raise Open311Error(404, f"unknown service_code {request.service_code!r}")
    if (request.lat is None) != (request.long is None):
        raise Open311Error(400, "lat and long go together")
    if request.lat is None and not request.address_string.strip():
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    resident_id = settlement_id = None
    language = phone = None
    if request.phone:
        try:
            phone = normalise(request.phone)
        except InvalidPhone as exc:
            raise Open311Error(400, f"phone: {exc}") from None
    _check_scope(session=session, staff=staff, phone=phone)  # before a resident is added
    if phone is not None:
        row, _ = residents.lock_or_create(session=session, phone=phone, now=now)
        resident_id, settlement_id, language = row["id"], row["settlement_id"], row["language"]
    urgent = report_flow.is_urgent(
        load(), category=request.service_code, texts=[request.description]
    )
    token = service.new_open311_token()
    ticket = service.open_ticket(
        session=session,
        reference=service.new_reference(session=session),
        kind="problem",
        category=request.service_code,
        description=mask_contacts(request.description, request.names),
        where=mask_contacts(request.address_string, request.names),
        source="open311",
        now=now,
        resident_id=resident_id,
        settlement_id=settlement_id,
        language=language,
        urgent=urgent,
        location=Location(request.lat, request.long)
        if request.lat is not None and request.long is not None
        else None,
        staff=staff,
        open311_token=token,
    )
    return {
        "service_request_id": ticket.reference,
        "token": token,
        "service_notice": None,
        "account_id": None,
    }
