"""Open311 GeoReport v2 under /open311/v2 (JSON): services, service requests, tokens.

Reading is open, as GeoReport clients expect, and carries no personal data: no
description, no address, no safety reports (see bot/domain/tickets/open311.py). A read
with `api_key`, a staff API token (`siyakha token create`), adds the description and the
address of the tickets the token's scope includes; creating a request needs one.
Errors are GeoReport-shaped: `[{"code": 404, "description": "..."}]`, those of input
checking too (`error_response`, which api/main.py routes every error under /open311/
to): 400 for bad input, 403 for a POST without api_key or any invalid api_key, 404 for
an unknown service, token or request. No phone number or name ever appears.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import QueryDateTime, QueryDateTimeTo, SessionDep, aware
from bot.db import CleanText, utcnow
from bot.domain.staff import scope as scopes
from bot.domain.staff import service as staff
from bot.domain.staff.models import TICKET_WORKERS
from bot.domain.tickets import open311
from bot.domain.tickets.models import (
    GeoReportCreated,
    GeoReportRequest,
    GeoReportService,
    GeoReportServiceDefinition,
    GeoReportToken,
)

router = APIRouter(prefix="/open311/v2", tags=["open311"])


class GeoReportError(BaseModel):
    """A GeoReport v2 error; an error answer is a list of these."""

    code: int
    description: str


def _documented(description: str) -> dict[str, Any]:
    return {"model": list[GeoReportError], "description": description}


# "4XX" also keeps FastAPI from documenting its 422, which never answers here.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _documented("bad request"),
    403: _documented("missing or invalid api_key"),
    404: _documented("not found"),
    "4XX": _documented("any other client error (a wrong method, say)"),
}


def _answers(
    shape: Any, description: str, *, status: int = 200, errors: bool = True
) -> dict[int | str, dict[str, Any]]:
    """Document an operation's success answer (and its errors): the dicts the domain builds,
    sent as they are, since the routes set `response_model=None` (FastAPI then neither
    validates nor reorders them)."""
    return {status: {"model": shape, "description": description}, **(ERRORS if errors else {})}


Code = Annotated[str, Path(pattern=r"^[a-z_]{1,40}$")]
# What a path parameter that fails its check names (the answer is 404, as for one unknown).
UNKNOWN = {
    "service_code": "unknown service_code",
    "service_request_id": "no such request",
    "token": "unknown token",
}


StartDate = Annotated[
    QueryDateTime | None,
    Query(
        description="created at or after this W3C datetime, e.g. 2010-01-01T00:00:00Z (a time "
        "without an offset is UTC); a date alone starts at 00:00 Johannesburg time"
    ),
]
EndDate = Annotated[
    QueryDateTimeTo | None,
    Query(
        description="created at or before this W3C datetime, e.g. 2010-01-31T23:59:59Z (a time "
        "without an offset is UTC); a date alone runs to the end of that day in Johannesburg"
    ),
]
ReadKey = Annotated[
    CleanText | None,
    Query(
        max_length=200,
        description="a staff API token (`siyakha token create`): the requests within the "
        "token's scope then carry their description and address, safety reports included; "
        "without it no request carries either, and safety reports are left out",
    ),
]


def _error(code: int, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        [{"code": code, "description": description}], status_code=code, headers=headers
    )


def error_response(exc: Exception) -> JSONResponse:
    """Answer an error under /open311/ as GeoReport does: a path parameter that fails its
    check is not found (404), a POST without api_key is refused (403), other bad input is a
    bad request (400), a refusal raised by hand too (422 elsewhere); other HTTP errors keep
    their status."""
    if isinstance(exc, RequestValidationError):
        errors = exc.errors()
        for error in errors:
            loc = tuple(error.get("loc", ()))
            if loc[:1] == ("path",):
                return _error(404, UNKNOWN.get(str(loc[-1]), "not found"))
            if loc == ("body", "api_key") and error.get("type") == "missing":
                return _error(403, "api_key is required")
        return _error(
            400,
            "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
                for e in errors
            ),
        )
    assert isinstance(exc, StarletteHTTPException)
    code = 400 if exc.status_code == 422 else exc.status_code  # `aware`: a date out of range
    return _error(code, str(exc.detail), dict(exc.headers or {}) or None)


def _csv(value: str | None, limit: int = 1000) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())[:limit]


def read_scope(session: SessionDep, api_key: ReadKey = None) -> scopes.Scope | None:
    """Return the scope of the staff user whose api_key came with a read, or None for a
    public read; 403 for an api_key that is no active user's token."""
    if api_key is None:
        return None
    user = staff.user_for_token(session=session, token=api_key)
    if user is None:
        raise HTTPException(403, "invalid api_key")
    return scopes.for_user(session=session, user=user)


ReadScope = Annotated[scopes.Scope | None, Depends(read_scope)]


@router.get(
    "/services.json",
    response_model=None,
    responses=_answers(list[GeoReportService], "the services", errors=False),
)
def services() -> list[GeoReportService]:
    """List the services: one per report category."""
    return open311.services()


@router.get(
    "/services/{service_code}.json",
    response_model=None,
    responses=_answers(GeoReportServiceDefinition, "the service's definition"),
)
def service_definition(service_code: Code) -> GeoReportServiceDefinition | JSONResponse:
    """Describe one service (Siyakha asks for no extra attributes)."""
    definition = open311.service_definition(service_code)
    return definition if definition is not None else _error(404, "unknown service_code")


@router.get(
    "/requests.json",
    response_model=None,
    responses=_answers(list[GeoReportRequest], "the service requests found"),
)
def requests(
    session: SessionDep,
    scope: ReadScope,
    service_request_id: Annotated[CleanText | None, Query(max_length=13000)] = None,
    service_code: Annotated[CleanText | None, Query(max_length=2000)] = None,
    start_date: StartDate = None,
    end_date: EndDate = None,
    status: Annotated[CleanText | None, Query(max_length=20)] = None,
) -> list[GeoReportRequest] | JSONResponse:
    """List service requests: by id (comma-separated; ids that are no report number match
    nothing), or by service, dates and status (open, closed; comma-separated); the last 90
    days by default."""
    statuses = _csv(status)
    if any(s not in ("open", "closed") for s in statuses):
        return _error(400, "status must be open or closed")
    ids = None
    if service_request_id is not None:
        ids = tuple(i for i in _csv(service_request_id) if i.isdecimal() and len(i) <= 12)
    query = open311.RequestQuery(
        ids=ids,
        service_codes=_csv(service_code),
        start=aware(start_date),
        end=aware(end_date),
        statuses=statuses,
    )
    return open311.find_requests(session=session, query=query, now=utcnow(), scope=scope)


@router.post(
    "/requests.json",
    status_code=201,
    response_model=None,
    responses=_answers(list[GeoReportCreated], "the service request created", status=201),
)
def create_request(
    session: SessionDep,
    api_key: Annotated[CleanText, Form(max_length=200)],
    service_code: Annotated[CleanText, Form(max_length=40)],
    description: Annotated[CleanText, Form(max_length=4000)] = "",
    address_string: Annotated[CleanText, Form(max_length=300)] = "",
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    long: Annotated[float | None, Form(ge=-180, le=180)] = None,
    phone: Annotated[CleanText | None, Form(max_length=30)] = None,
    email: Annotated[CleanText | None, Form(max_length=254)] = None,
    first_name: Annotated[CleanText | None, Form(max_length=100)] = None,
    last_name: Annotated[CleanText | None, Form(max_length=100)] = None,
) -> JSONResponse:
    """Create a service request (needs api_key); names and email are accepted, never kept."""
    user = staff.user_for_token(session=session, token=api_key)
    if user is None:
        return _error(403, "invalid api_key")
    if user.role not in TICKET_WORKERS:
        return _error(403, "this api_key may not create requests")
    new = open311.NewRequest(
        service_code=service_code,
        description=description,
        address_string=address_string,
        lat=lat,
        long=long,
        phone=phone,
        names=tuple(n for n in (first_name, last_name) if n),
    )
    try:
        created = open311.create_request(session=session, request=new, staff=user, now=utcnow())
    except open311.Open311Error as exc:
        return _error(exc.code, exc.description)
    return JSONResponse([created], status_code=201)


@router.get(
    "/requests/{service_request_id}.json",
    response_model=None,
    responses=_answers(list[GeoReportRequest], "the service request (a list of one)"),
)
def request(
    service_request_id: Annotated[str, Path(max_length=40)],
    session: SessionDep,
    scope: ReadScope,
) -> list[GeoReportRequest] | JSONResponse:
    """Read one service request."""
    if not service_request_id.isdecimal() or len(service_request_id) > 12:
        return _error(404, "no such request")
    found = open311.get_request(
        session=session, reference=service_request_id, now=utcnow(), scope=scope
    )
    return [found] if found is not None else _error(404, "no such request")


@router.get(
    "/tokens/{token}.json",
    response_model=None,
    responses=_answers(list[GeoReportToken], "the service request the token created"),
)
def token(
    token: Annotated[str, Path(pattern=r"^[0-9a-f]{1,40}$")], session: SessionDep
) -> list[GeoReportToken] | JSONResponse:
    """Find the service request created with a token."""
    found = open311.token_lookup(session=session, token=token)
    return [found] if found is not None else _error(404, "unknown token")
