"""Tickets as Open311 GeoReport v2 services and service requests.

One service per category (content/tickets.yaml). A service request is a ticket:
`service_request_id` is the report number, status is open or closed (resolved counts as
closed), `status_notes` the last public update, `address` the settlement and the place,
lat/long the resident's pin, and the datetimes come from the ticket and its SLA. No
phone number or name ever appears: the resident is never named, and phone numbers, email
addresses and known names (a WhatsApp profile name, the names given to POST) are masked
in free text. Names and email given to POST are not kept at all.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from bot.content import load
from bot.domain.residents import service as residents
from bot.domain.residents.models import Resident
from bot.domain.settlements.models import Settlement
from bot.domain.staff.models import StaffUser
from bot.domain.tickets import service
from bot.domain.tickets.models import Ticket
from bot.engine.messages import Location
from bot.flows import report as report_flow
from bot.flows import report_notices
from bot.i18n import get_translator
from bot.phones import InvalidPhone, normalise

AGENCY = "Siyakha"
DEFAULT_DAYS = 90
MAX_RESULTS = 1000
# A run of 9+ digits with spaces, dashes, dots or brackets between: a phone number.
_PHONE = re.compile(r"\+?\(?\d(?:[\s\-.()]*\d){8,}")
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


def _known_names(session: Session, ticket: Ticket) -> tuple[str, ...]:
    """Return the resident's profile name (and its parts), to keep it out of the output."""
    if ticket.resident_id is None:
        return ()
    resident = session.get(Resident, ticket.resident_id)
    name = (resident.profile_name or "").strip() if resident else ""
    return (name, *name.split()) if name else ()


def services() -> list[dict[str, Any]]:
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


def service_definition(code: str) -> dict[str, Any] | None:
    """Return services/{code}.json (no extra attributes), or None for an unknown code."""
    if code not in service.category_codes():
        return None
    return {"service_code": code, "attributes": []}


def _status(ticket: Ticket) -> str:
    return "closed" if ticket.status in ("resolved", "closed") else "open"


def _public_coordinate(value: float | None) -> float | None:
    """Return a coordinate to 3 decimals (about 110 m): enough to find the standpipe or the
    lane, not a resident's home. The staff API keeps the pin as sent."""
    return None if value is None else round(value, 3)


def as_request(session: Session, ticket: Ticket, settlements: dict[int, str]) -> dict[str, Any]:
    """Return one ticket as an Open311 service request (never a phone number or a name, and
    the pin to about 110 m)."""
    settlement = ""
    if ticket.settlement_id is not None:
        if ticket.settlement_id not in settlements:
            row = session.get(Settlement, ticket.settlement_id)
            settlements[ticket.settlement_id] = row.name if row else ""
        settlement = settlements[ticket.settlement_id]
    names = _known_names(session, ticket)
    address = ", ".join(p for p in (mask_contacts(ticket.location_text, names), settlement) if p)
    service_names = {s["service_code"]: s["service_name"] for s in services()}
    return {
        "service_request_id": ticket.reference,
        "status": _status(ticket),
        "status_notes": mask_contacts(ticket.last_public_note, names) or None,
        "service_name": service_names.get(ticket.category, ticket.category),
        "service_code": ticket.category,
        "description": mask_contacts(ticket.description, names),
        "agency_responsible": AGENCY,
        "service_notice": None,
        "requested_datetime": ticket.created_at.isoformat(),
        "updated_datetime": ticket.updated_at.isoformat(),
        "expected_datetime": ticket.resolve_due_at.isoformat(),
        "address": address or None,
        "address_id": None,
        "zipcode": None,
        "lat": _public_coordinate(ticket.latitude),
        "long": _public_coordinate(ticket.longitude),
        "media_url": None,  # provider media links need credentials and may show people
    }


@dataclass(frozen=True)
class RequestQuery:
    """The filters of GET requests.json."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    statuses: tuple[str, ...] = ()


def find_requests(
    *, session: Session, query: RequestQuery, now: dt.datetime
) -> list[dict[str, Any]]:
    """Return requests.json: by id, or filtered (the last 90 days unless dates are given)."""
    settlements: dict[int, str] = {}
    if query.ids:
        rows, _ = service.search(
            session=session,
            filters=service.TicketFilters(references=query.ids[:MAX_RESULTS]),
            now=now,
            limit=MAX_RESULTS,
        )
        return [as_request(session, t, settlements) for t in rows]
    start = query.start or (now - dt.timedelta(days=DEFAULT_DAYS) if query.end is None else None)
    status: list[str] = []
    if "open" in query.statuses:
        status += ["new", "acknowledged", "in_progress", "waiting_on_resident", "reopened"]
    if "closed" in query.statuses:
        status += ["resolved", "closed"]
    rows, _ = service.search(
        session=session,
        filters=service.TicketFilters(
            category=query.service_codes,
            status=status,
            created_from=start,
            created_to=query.end,
        ),
        now=now,
        limit=MAX_RESULTS,
    )
    return [as_request(session, t, settlements) for t in rows]


def get_request(*, session: Session, reference: str) -> dict[str, Any] | None:
    """Return requests/{id}.json, or None."""
    ticket = service.get_by_reference(session=session, reference=reference)
    return as_request(session, ticket, {}) if ticket else None


def token_lookup(*, session: Session, token: str) -> dict[str, Any] | None:
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


def create_request(
    *, session: Session, request: NewRequest, staff: StaffUser, now: dt.datetime
) -> dict[str, Any]:
    """Log a request for a resident (a call centre, another system); return the POST answer.

    With a phone number the ticket is the resident's (found or added, without consent
    recorded, so the outbox tells them nothing until they agree in the chat).
    """
    if request.service_code not in service.category_codes():
        raise Open311Error(404, f"unknown service_code {request.service_code!r}")
    if (request.lat is None) != (request.long is None):
        raise Open311Error(400, "lat and long go together")
    if request.lat is None and not request.address_string.strip():
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    resident_id = settlement_id = None
    language = None
    if request.phone:
        try:
            phone = normalise(request.phone)
        except InvalidPhone as exc:
            raise Open311Error(400, f"phone: {exc}") from None
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
