"""Dependencies shared by routes: settings, sessions, verified Twilio forms, engine wiring.

This module and `bot/worker.py` are the only places that wire the pure conversation
engine to the database.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl, quote

import anyio
from fastapi import Depends, Header, HTTPException, Path, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, BeforeValidator
from pydantic_core import PydanticCustomError
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import (
    HMAC_SHA1,
    HMAC_SHA256,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    compare,
    get_signature_algorithm,
)

from api.errors import Problem
from bot import sms
from bot.config import Settings
from bot.db import MAX_ID, NOT_NOW, run_now, session_scope, utcnow
from bot.domain import meanwhile
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.ports import SqlMeetingInvitations
from bot.domain.messages.service import Converse
from bot.domain.outbox import budget
from bot.domain.residents.service import SqlResidentData
from bot.domain.settlements import edit as settlement_edit
from bot.domain.settlements import service as settlements
from bot.domain.settlements.models import Meeting, Milestone, Settlement
from bot.domain.settlements.ports import SqlSettlementDirectory
from bot.domain.settlements.service import UnknownWard
from bot.domain.staff import audit, idempotency, sessions
from bot.domain.staff import scope as scopes
from bot.domain.staff import service as staff
from bot.domain.staff.models import TICKET_WORKERS, IdempotencyKey, StaffUser
from bot.domain.tickets import service as tickets
from bot.domain.tickets.ports import SqlTicketDesk
from bot.engine import engine as conversation
from bot.engine.messages import Inbound
from bot.engine.ports import Ports, ResidentView
from bot.i18n import TIMEZONE

log = logging.getLogger(__name__)
MAX_WEBHOOK_BYTES = 64 * 1024
# A row id in a path: out of range is a 422, not a database error (500) on PostgreSQL.
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
MeetingId = Annotated[int, Path(ge=1, le=MAX_ID, description="the meeting id")]
SettlementId = Annotated[int, Path(ge=1, le=MAX_ID, description="the settlement id")]
MilestoneId = Annotated[int, Path(ge=1, le=MAX_ID, description="the milestone id")]
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


async def get_app_settings(request: Request) -> Settings:
    """Return the settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    """Return the engine the app was created with."""
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """Yield a session committed when the request succeeds and rolled back when it fails."""
    with session_scope(request.app.state.engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
# Scope "function": the commit happens before the response goes out, so a failed commit
# answers 500 rather than following a success, and a browser that follows a redirect at
# once (after logging in) finds what the request wrote.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdecimal() or int(declared) > limit):
        raise HTTPException(413, f"request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def public_url_of(request: Request, settings: Settings) -> str:
    """Return the URL Twilio called: the configured public base URL + path + query."""
    # Read from the ASGI scope: `request.url` parses the Host header and builds a URL
    # object on every webhook. A query that is not UTF-8 cannot match a signature: 403.
    url = settings.public_url.rstrip("/") + request.scope["path"]
    query = request.scope.get("query_string", b"").decode("utf-8", "replace")
    return f"{url}?{query}" if query else url


async def verified_twilio_form(request: Request) -> dict[str, str]:
    """Return the posted form once its X-Twilio-Signature is proved; 403 otherwise.

    The signature covers the public URL (not the one this process sees behind a
    TLS-terminating proxy) and every posted field, known or not.
    """
    settings: Settings = request.app.state.settings  # a sub-dependency: 15 us a webhook more
    if not settings.twilio_auth_token:
        raise HTTPException(403, "Twilio webhooks are disabled: TWILIO_AUTH_TOKEN is not set")
    # What the headers alone refuse goes first, before the body is read: unsigned traffic
    # gets 403 whatever it sends.
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        raise HTTPException(403, "missing X-Twilio-Signature")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise HTTPException(415, "expected application/x-www-form-urlencoded")
    body = await _read_limited(request, MAX_WEBHOOK_BYTES)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form body is not valid UTF-8 form encoding") from None
    form = ImmutableMultiDict(pairs)
    url = public_url_of(request, settings)
    rule = request.headers.get(SIGNATURE_SETTINGS_HEADER)
    if rule is not None:
        # A Webhook Rule matched: Twilio signed with a SharedKey and the algorithm it names.
        key = settings.twilio_webhook_shared_key
        if not key:
            log.error("a webhook was signed with a SharedKey; set TWILIO_WEBHOOK_SHARED_KEY")
            raise HTTPException(403, "signed with a SharedKey this service does not have")
        algorithm = get_signature_algorithm(rule)
        if algorithm.upper() not in (HMAC_SHA1, HMAC_SHA256):
            log.warning("a webhook was signed with %s, which cannot be checked here", algorithm)
            raise HTTPException(403, f"unsupported signature algorithm {algorithm}")
        secondary = settings.twilio_webhook_secondary_shared_key
        _check(
            url, form, signature, key, secondary, "TWILIO_WEBHOOK_SECONDARY_SHARED_KEY", algorithm
        )
    else:
        secondary = settings.twilio_secondary_auth_token
        _check(
            url,
            form,
            signature,
            settings.twilio_auth_token,
            secondary,
            "TWILIO_SECONDARY_AUTH_TOKEN",
        )
    # No SMS or WhatsApp text means anything by the characters XML cannot carry: dropped
    # here (`sms.sendable`), so that a resident's words are stored (PostgreSQL text cannot
    # hold U+0000) and quoted back later, in TwiML or a proactive message, without them.
    return {name: sms.sendable(value) for name, value in pairs}


def _check(
    url: str,
    form: ImmutableMultiDict[str, str],
    signature: str,
    key: str,
    secondary: str | None,
    secondary_name: str,
    algorithm: str = HMAC_SHA1,
) -> None:
    """Refuse (403) a signature made with neither `key` nor, while it is rotated, the
    `secondary` one (logged by its variable's name when it signed)."""
    if _signed_with(key, url, form, signature, algorithm):
        return
    if not (secondary and _signed_with(secondary, url, form, signature, algorithm)):
        raise HTTPException(403, "X-Twilio-Signature does not match")
    log.info("a webhook was signed with %s (rotation)", secondary_name)


def _refusal(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


# What `verified_twilio_form` answers besides the route's own answer, documented on each
# Twilio webhook route (FastAPI cannot see the HTTPExceptions a dependency raises).
TWILIO_FORM_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _refusal("the body is not UTF-8 form encoding"),
    403: _refusal("X-Twilio-Signature missing or not matching (or TWILIO_AUTH_TOKEN is not set)"),
    413: _refusal(f"the body is larger than {MAX_WEBHOOK_BYTES // 1024} KiB"),
    415: _refusal("the body is not application/x-www-form-urlencoded"),
}


# A datetime in a query is written as one: pydantic alone reads a bare number as a Unix
# time (?start_date=99999 was 1970-01-02T03:46:39Z, answered 200), a year (2010) too.
_DATE_FIRST = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_ALONE = re.compile(r"\d{4}-\d{2}-\d{2}$")


def _written_as_datetime(value: Any, *, day_end: bool = False) -> Any:
    """Refuse anything but a written date and time; read a date alone as that day in
    Johannesburg: its start, or with `day_end` its last moment (an inclusive "to")."""
    if not isinstance(value, str):
        return value
    if not _DATE_FIRST.match(value):
        raise PydanticCustomError(
            "datetime_type", "Input should be a W3C datetime, e.g. 2010-01-01T00:00:00Z"
        )
    if _DATE_ALONE.match(value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return value  # pydantic says what is wrong with it
        start = dt.datetime.combine(day, dt.time(), tzinfo=TIMEZONE)
        return start + dt.timedelta(days=1, microseconds=-1) if day_end else start
    return value


# A query's datetime: YYYY-MM-DD, then an optional time and offset (W3C's profile of ISO
# 8601, as GeoReport v2 names it); no number. A date alone is that day's start in
# Johannesburg (the tickets' `created_from=2030-01-01` starts at 00:00 there, not 02:00).
QueryDateTime = Annotated[dt.datetime, BeforeValidator(_written_as_datetime)]
# The same for an inclusive end: a date alone is that day's last moment in Johannesburg
# (`created_to=2030-01-31` left out the 31st).
QueryDateTimeTo = Annotated[
    dt.datetime, BeforeValidator(functools.partial(_written_as_datetime, day_end=True))
]


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """Read a naive datetime as UTC; refuse one too close to the ends of time to compare."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise HTTPException(422, "date out of range") from None


def _signed_with(
    secret: str,
    url: str,
    form: ImmutableMultiDict[str, str],
    signature: str,
    algorithm: str = HMAC_SHA1,
) -> bool:
    validator = RequestValidator(secret)
    # The URL as configured first (one HMAC); `validate` then also tries it with and
    # without the port, which Twilio signs inconsistently (two more).
    return compare(
        validator.compute_signature(url, form, algorithm), signature
    ) or validator.validate(url, form, signature, algorithm)


@contextmanager
def refused_as_http(*, refused: int = 422) -> Iterator[None]:
    """Answer a change the ticket, broadcast, settlement or staff-user domain refuses as
    HTTP (JSON for the API, the error page for the dashboard): 403 when it would reach
    residents or tickets outside the user's scope, 409 when the state does not allow it or
    someone else changed it since the change's page was opened, 404 for something it
    refers to that does not exist, 422 naming each field for staff words too long for an
    SMS, else `refused`."""
    try:
        yield
    except budget.TooManySegments as exc:
        raise HTTPException(422, exc.errors()) from None
    except (broadcasts.OutsideScope, tickets.OutsideScope) as exc:
        raise HTTPException(403, str(exc)) from None
    except (
        tickets.InvalidTransition,
        broadcasts.Conflict,
        settlement_edit.StillQuoted,
        meanwhile.ChangedMeanwhile,
        settlement_edit.MeetingCancelled,
    ) as exc:
        raise HTTPException(409, str(exc)) from None
    except broadcasts.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except (
        tickets.TicketError,
        broadcasts.BroadcastError,
        settlement_edit.EditRejected,
        staff.StaffError,
        UnknownWard,
    ) as exc:
        raise HTTPException(refused, str(exc)) from None


TwilioForm = Annotated[dict[str, str], Depends(verified_twilio_form)]


class UnitOfWork:
    """Run blocking database work in one transaction committed at its end.

    On SQLite, when the write lock is free, the work runs at once on the event loop: a
    turn takes about a millisecond there, and a hop to a thread cost about half as much
    again in hand-offs and contention for the GIL. Otherwise it runs in a worker thread,
    where waiting does not hold up other requests. A limiter bounds how many threads work
    the database at once: on SQLite writes are serialised anyway, and dozens of threads
    queueing for one lock only fight over the GIL.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.limiter = anyio.CapacityLimiter(2 if engine.dialect.name == "sqlite" else 4)

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)`; commit if it returns, roll back if it raises."""
        result = run_now(self.engine, work)
        if result is not NOT_NOW:
            return result
        return await anyio.to_thread.run_sync(self._run, work, limiter=self.limiter)

    def _run(self, work: Callable[[Session], T]) -> T:
        with session_scope(self.engine) as session:
            return work(session)


async def get_unit_of_work(request: Request) -> UnitOfWork:
    """Return the app's unit-of-work runner."""
    uow: UnitOfWork = request.app.state.unit_of_work
    return uow


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]


def converse_for(session: Session) -> Converse:
    """Wire the conversation engine to a database session (requests, `siyakha chat`)."""
    ports = Ports(
        settlements=SqlSettlementDirectory(session),
        residents=SqlResidentData(session),
        tickets=SqlTicketDesk(session),
        invitations=SqlMeetingInvitations(session),
    )

    def converse(
        inbound: Inbound, resident: ResidentView, state: dict[str, Any] | None, now: dt.datetime
    ) -> conversation.Outcome:
        return conversation.handle(inbound, resident=resident, state=state, now=now, ports=ports)

    return converse


async def get_converse(session: SessionDep) -> Converse:
    """Wire the conversation engine to this request's session."""
    return converse_for(session)


ConverseDep = Annotated[Converse, Depends(get_converse)]


_bearer = HTTPBearer(auto_error=False, description="A staff API token (`siyakha token create`).")


def get_current_staff(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> StaffUser:
    """Return the staff user whose bearer token came with the request; 401 otherwise."""
    user = (
        staff.user_for_token(session=session, token=credentials.credentials)
        if credentials is not None
        else None
    )
    if user is None:
        raise HTTPException(
            401, "a valid staff API token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


CurrentStaff = Annotated[StaffUser, Depends(get_current_staff)]


def require_role(*roles: str) -> Callable[[StaffUser], StaffUser]:
    """Return a dependency that lets only staff with one of `roles` through (403 otherwise)."""

    def check(user: CurrentStaff) -> StaffUser:
        if user.role not in roles:
            raise HTTPException(403, f"this needs the role {' or '.join(roles)}")
        return user

    return check


# Who may work tickets: triage staff and admins (officers read them).
TicketWorker = Annotated[StaffUser, Depends(require_role(*TICKET_WORKERS))]
# Who may change settlements, milestones, meetings and broadcasts.
Officer = Annotated[StaffUser, Depends(require_role("admin", "officer"))]


def get_scope(session: SessionDep, user: CurrentStaff) -> scopes.Scope:
    """Return the settlements and wards the API caller may see (empty: everything)."""
    return scopes.for_user(session=session, user=user)


# The scope of the API caller: routes hide (404) or filter out everything outside it.
CurrentScope = Annotated[scopes.Scope, Depends(get_scope)]


IDEMPOTENCY_KEY_WORDS = (
    "Optional: a key of the client's choosing (1 to 255 printable ASCII characters, "
    "a UUID say), new for each request it means. A retry with the same key and the same "
    "body gets the first request's answer, with `Idempotent-Replayed: true`, and nothing "
    "is done again, even while the first is still running; the same key with another body "
    "or address is refused (422). A request refused or failed keeps nothing: its retry runs "
    f"again. Keys are each user's own and kept {idempotency.KEEP.total_seconds() / 3600:.0f} "
    "hours."
)


class Replayed(Exception):
    """A retry of a request its Idempotency-Key names: answered as that request was."""

    def __init__(self, answer: idempotency.Answer) -> None:
        super().__init__(answer.status_code)
        self.answer = answer


async def replayed_answer(request: Request, exc: Exception) -> JSONResponse:
    """Answer a retry with its first request's answer, saying it is one."""
    assert isinstance(exc, Replayed)
    answer = exc.answer
    return JSONResponse(
        answer.body, status_code=answer.status_code, headers={"Idempotent-Replayed": "true"}
    )


async def _request_hash(request: Request) -> str:
    """Return what names this request for its Idempotency-Key (JSON compared as data, so
    a retry that spaces or orders its fields otherwise is the same request)."""
    body = await request.body()
    with suppress(ValueError):  # not JSON: refused anyway, and compared as sent
        body = json.dumps(json.loads(body or b"null"), sort_keys=True).encode()
    return idempotency.request_hash(method=request.method, path=request.url.path, body=body)


@dataclass(frozen=True)
class Once:
    """A request that is done once per Idempotency-Key: `keep` its answer for retries."""

    session: Session
    claimed: IdempotencyKey | None

    def keep(self, answer: M, status_code: int) -> M:
        """Return `answer`, kept for the retries of a request that came with a key."""
        if self.claimed is not None:
            body = answer.model_dump(mode="json", by_alias=True)
            kept = idempotency.Answer(status_code=status_code, body=body)
            idempotency.remember(session=self.session, claimed=self.claimed, answer=kept)
        return answer


def get_once(
    session: SessionDep,
    user: CurrentStaff,
    request_hash: Annotated[str, Depends(_request_hash)],
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=r"^[!-~]+$",
            description=IDEMPOTENCY_KEY_WORDS,
        ),
    ] = None,
) -> Once:
    """Claim the request's Idempotency-Key, if it has one; answer a retry as the first
    request was answered (`Replayed`), and refuse (422) the key of another request."""
    if key is None:
        return Once(session, None)
    assert user.id is not None
    try:
        found = idempotency.claim(
            session=session, user_id=user.id, key=key, request=request_hash, now=utcnow()
        )
    except idempotency.KeyReused as exc:
        raise HTTPException(422, str(exc)) from None
    if isinstance(found, idempotency.Answer):
        raise Replayed(found)
    return Once(session, found)


# A creating request that sends to residents: done once per `Idempotency-Key`.
Idempotent = Annotated[Once, Depends(get_once)]


# What a version of a thing is made of: the fields the API shows, but its id and the time
# it was last saved (a save that changes nothing leaves its version as it was).
_UNVERSIONED = frozenset({"id", "updated_at"})
IF_MATCH_WORDS = (
    "Optional: the `ETag` of the version this change was made from (as GET or the last "
    "change answered it). When it is no longer the current one, because someone changed "
    "it since, the change is refused (412, naming the fields changed since, with the "
    "current `ETag`) rather than overwriting theirs. Without it the change is made "
    "unchecked, as before."
)
IfMatch = Annotated[str | None, Header(alias="If-Match", description=IF_MATCH_WORDS)]
# OpenAPI: the answers of a thing with a version (`versioned`) carry its ETag.
ETAG_HEADER: dict[str, Any] = {
    "ETag": {
        "description": "the version of what is answered: give it as `If-Match` to a change",
        "schema": {"type": "string"},
    }
}


def _versions(public: BaseModel) -> dict[str, str]:
    """Return a short digest of each versioned field of a thing as the API shows it."""
    shown = public.model_dump(mode="json")
    return {
        field: hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8]
        for field, value in sorted(shown.items())
        if field not in _UNVERSIONED
    }


def etag_of(public: BaseModel) -> str:
    """Return a thing's ETag: its fields' digests, in order, so that an old one tells which
    fields changed since."""
    return '"' + ".".join(_versions(public).values()) + '"'


def versioned(response: Response, public: M) -> M:
    """Return `public` with its ETag on the response."""
    response.headers["ETag"] = etag_of(public)
    return public


def check_if_match(
    if_match: str | None,
    *,
    session: Session,
    row: Settlement | Milestone | Meeting,
    public: Callable[[Any], BaseModel],
    what: str,
) -> None:
    """Refuse (412) a change made from a version of `row` it no longer has, naming the
    fields changed since (`public` shows the row as the API does); one without If-Match
    (or with `*`) is taken unchecked. The row is locked first: of two changes made from
    one version at once, the second is refused."""
    if if_match is None:
        return
    settlement_edit.lock(session=session, row=row)
    current = etag_of(public(row))
    given = [tag.strip() for tag in if_match.split(",")]
    if "*" in given or current in given:
        return
    now = _versions(public(row))
    changed: list[str] = []
    for tag in given:
        digests = tag.strip('"').split(".")
        if not tag.startswith("W/") and len(digests) == len(now):
            then = dict(zip(now, digests, strict=True))
            changed = [field for field, digest in now.items() if then[field] != digest]
            break
    shown = public(row).model_dump(mode="json")
    said = "; ".join(f"{field.replace('_', ' ')} is now {_said(shown[field])}" for field in changed)
    raise HTTPException(
        412,
        f"{what} changed since the version If-Match names"
        + (f" ({said})" if said else "")
        + ": read it again for its current ETag and make your change on that",
        headers={"ETag": current},
    )


def _said(value: object) -> str:
    """Return a field's value as a refusal quotes it (long text cut short)."""
    if value is None or value == "":
        return "blank"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…"


def readable_meeting(*, session: Session, scope: scopes.Scope, meeting_id: int) -> Meeting:
    """Return a meeting the scope may see (scoped: its places' meetings and the forums its
    residents are invited to); 404 for any other, as if it did not exist."""
    return meeting_in_scope(session=session, scope=scope, meeting_id=meeting_id)[0]


def changeable_meeting(*, session: Session, scope: scopes.Scope, meeting_id: int) -> Meeting:
    """Return a meeting the scope may change (scoped: its own places' meetings): 404 for one
    it may not see, 403 for a forum it only sees."""
    meeting, may_change = meeting_in_scope(session=session, scope=scope, meeting_id=meeting_id)
    if not may_change:
        raise HTTPException(403, "your scope allows changing only meetings of your own places")
    return meeting


def announceable_meeting(*, session: Session, scope: scopes.Scope, meeting_id: int) -> Meeting:
    """Return a meeting the scope may announce, as it may change it (scoped: its own places'
    meetings and its wards' forums): 404 for one it may not see, 403 for a forum it only
    reads (its announcement reaches residents outside the scope)."""
    meeting, may_change = meeting_in_scope(session=session, scope=scope, meeting_id=meeting_id)
    if not may_change:
        raise HTTPException(403, "your scope allows announcing only meetings of your own places")
    return meeting


def meeting_in_scope(
    *, session: Session, scope: scopes.Scope, meeting_id: int
) -> tuple[Meeting, bool]:
    """Return a meeting the scope may see (404 for any other) and whether it may change it,
    in one query."""
    found = settlement_edit.get_meeting(
        session=session,
        meeting_id=meeting_id,
        condition=scopes.meeting_read_condition(scope),
        also=scopes.meeting_condition(scope),
    )
    if found is None:
        raise HTTPException(404, f"no meeting {meeting_id}")
    return found


def visible_settlement(*, session: Session, scope: scopes.Scope, settlement_id: int) -> Settlement:
    """Return a settlement the scope allows; 404 for any other, as if it did not exist."""
    found = session.get(Settlement, settlement_id) if 1 <= settlement_id <= MAX_ID else None
    if found is None or not scopes.allows_settlement(
        session=session, scope=scope, settlement_id=settlement_id
    ):
        raise HTTPException(404, f"no settlement {settlement_id}")
    return found


def visible_milestone(
    *, session: Session, scope: scopes.Scope, settlement_id: int, milestone_id: int
) -> tuple[Settlement, Milestone]:
    """Return a settlement the scope allows and one of its milestones; 404 for any other."""
    settlement = visible_settlement(session=session, scope=scope, settlement_id=settlement_id)
    milestone = settlement_edit.get_milestone(session=session, milestone_id=milestone_id)
    if milestone is None or milestone.settlement_id != settlement_id:
        raise HTTPException(404, f"no milestone {milestone_id} in settlement {settlement_id}")
    return settlement, milestone


def announceable_milestone(
    *, session: Session, scope: scopes.Scope, milestone_id: int
) -> tuple[Settlement, Milestone]:
    """Return a milestone of a settlement the scope allows, with that settlement; 404 for
    any other, as if it did not exist. Its announcement reaches that settlement alone, which
    a scope that sees it may reach: unlike a forum's, it is never refused (403) for scope."""
    milestone = settlement_edit.get_milestone(session=session, milestone_id=milestone_id)
    settlement = session.get(Settlement, milestone.settlement_id) if milestone else None
    if (
        milestone is None
        or settlement is None
        or not scopes.allows_settlement(session=session, scope=scope, settlement_id=settlement.id)
    ):
        raise HTTPException(404, f"no milestone {milestone_id}")
    return settlement, milestone


def check_meeting_place(
    *,
    session: Session,
    scope: scopes.Scope,
    settlement: Settlement | None,
    level: str,
    ward: str,
) -> None:
    """Refuse (403) a meeting a scoped user would place outside their scope. Its audience
    decides (`broadcasts.meeting_audience`): a neighbourhood meeting reaches its settlement
    (theirs: resolved in scope before this), a ward forum the whole ward, which must be one
    of their wards even when it names a settlement of theirs, a city forum everyone. The
    ward is compared as the forum would be stored and then listed, read and changed: as
    the settlements spell it (`scopes.has_ward`)."""
    if scope.unrestricted or (level == "neighbourhood" and settlement is not None):
        return
    forum_ward = settlements.as_spelt(ward, settlements.ward_spellings(session=session))
    if not forum_ward and settlement is not None:
        forum_ward = settlement.ward
    if level != "ward" or not scopes.has_ward(scope, forum_ward):
        raise HTTPException(
            403, "your scope allows only meetings of your settlements and forums of your wards"
        )


def client_ip(request: Request) -> str:
    """Return the caller's address as this process sees it (for throttling and the audit log)."""
    return request.client.host if request.client else ""


def audit_api(
    session: Session, request: Request, user: StaffUser, action: str, target: str, **detail: object
) -> None:
    """Record a staff action taken through the API (`api.<action>`) in the audit log."""
    audit.record(
        session=session,
        user=user,
        action=audit.API_PREFIX + action,
        target=target,
        detail={k: v for k, v in detail.items() if v is not None},
        ip=client_ip(request),
    )


# Where `get_staff_login` leaves a slid session's new cookie for the response to carry
# (`api.routes.staff.auth.RenewSessionCookie` sets it; a route may return any response).
RENEWED_SESSION = "renewed_staff_session"


def get_staff_login(request: Request, session: SessionDep, settings: SettingsDep) -> sessions.Login:
    """Return the dashboard session the cookie names and slide it on (this request is
    activity); send a browser to the login page when there is none."""
    now = utcnow()
    login = sessions.resolve(
        session=session,
        cookie=request.cookies.get(sessions.COOKIE_NAME),
        settings=settings,
        now=now,
    )
    if login is None:
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            location = "/staff/login?next=" + quote(target, safe="")
            raise HTTPException(303, "log in first", headers={"Location": location})
        raise HTTPException(401, "log in first")
    renewal = sessions.renew(login=login, settings=settings, now=now)
    if renewal is not None:
        setattr(request.state, RENEWED_SESSION, (renewal, now))
    return login


CurrentStaffSession = Annotated[sessions.Login, Depends(get_staff_login)]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def check_csrf(request: Request, expected: str) -> None:
    """Refuse (403) an unsafe request without the session's CSRF token (form field or header)."""
    if request.method not in UNSAFE_METHODS:
        return
    given = request.headers.get("x-csrf-token")
    content_type = request.headers.get("content-type", "")
    if given is None and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get("csrf_token")
        given = value if isinstance(value, str) else None
    if not sessions.csrf_ok(expected, given):
        raise HTTPException(403, "the form is missing its CSRF token or it is out of date")
