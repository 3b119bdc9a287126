"""What every dashboard route shares: templates, the signed-in context and role checks.

A page dependency (`page("admin", "triage")`) needs a live session cookie and one of the
roles (403 otherwise); an action dependency (`action(...)`) also needs the session's CSRF
token. Both carry the user's scope, which routes apply to every query. What acts on the
whole city (users, the audit log, imports) is `whole_city=True`: a scoped user, an admin
too, is refused it (403, saying so) whatever their role. Forms reach the routes with their
line breaks as LF (`PlainLineBreaks`). A form staff.js posts gets its redirect as a 204
(`ScriptedFormRedirects`), and the error page of a refused post links back to its form.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Form, HTTPException, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import CurrentStaffSession, SessionDep, check_csrf, client_ip
from bot.content import load
from bot.db import clean_text
from bot.domain.staff import audit
from bot.domain.staff import scope as scopes
from bot.domain.staff.models import TICKET_WORKERS, StaffSession, StaffUser
from bot.i18n import TIMEZONE, local_time

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[2] / "templates")
OFFICERS = ("admin", "officer")
ADMINS = ("admin",)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


# A line break in a URL-encoded form: CR LF or a lone CR, percent-encoded as browsers
# write it (raw, as none does, too). "%" always starts an escape there, so this matches
# nothing else.
_FORM_CR = re.compile(rb"(?:%0D|\r)(?:%0A|\n)?", re.IGNORECASE)


def dashboard_request(scope: Scope) -> Headers | None:
    """Return the headers of an HTTP request to the dashboard; None for anything else."""
    if scope["type"] == "http" and scope["path"].startswith("/staff"):
        return Headers(scope=scope)
    return None


class PlainLineBreaks:
    """ASGI middleware: a dashboard form's line breaks reach its route as LF, as the API's
    `CleanText` makes them (`bot.db.plain_line_breaks`). Browsers post a textarea's line
    breaks as CR LF; changed here, before anything reads the form, every field of every
    page is covered, and a textarea filled to its maxlength (which counts a line break
    once) is not refused as too long. URL-encoded forms only: the one multipart form, the
    import, carries a file that the importer reads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a dashboard request on with the line breaks of its form as LF."""
        headers = dashboard_request(scope)
        if headers is None or not headers.get("content-type", "").lower().startswith(
            "application/x-www-form-urlencoded"
        ):
            await self.app(scope, receive, send)
            return

        async def receive_plain() -> Message:
            message = await receive()
            if message["type"] != "http.request":
                return message
            # The whole body at once: an encoded CR LF may be cut between two chunks. (Its
            # Content-Length now overstates it; the form parser does not read that.)
            chunks = [message.get("body", b"")]
            while message.get("more_body", False):
                message = await receive()
                if message["type"] != "http.request":
                    return message  # the client went away
                chunks.append(message.get("body", b""))
            body = _FORM_CR.sub(b"%0A", b"".join(chunks))
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, receive_plain, send)


async def storable_input(request: Request) -> None:
    """Refuse (422) a dashboard request whose query or form carries text no database can
    store (a NUL character): the API's `CleanText`, for every field of every page at once,
    so that PostgreSQL's refusal is never a 500."""
    fields = list(request.query_params.multi_items())
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # parsed once: the route reads the same form
        fields += [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    for name, value in fields:
        try:
            clean_text(value)
        except ValueError as exc:
            raise HTTPException(422, f"{name}: {exc}") from None


def page_number(request: Request) -> int:
    """Return the page a list was asked for (`?page=`): 1 for anything but a number from 1."""
    page_no = request.query_params.get("page", "1")
    return max(1, int(page_no)) if page_no.isdecimal() and len(page_no) < 6 else 1


# Messages shown after an action; pages get a code, never text, in the URL.
NOTICES = {
    "updated": "Saved.",
    "replied": "Reply queued for the resident.",
    "noted": "Internal note added.",
    "linked": "Linked as a duplicate.",
    "bulk": "Bulk change applied.",
    "created": "Created.",
    "approved": "Approved: this page now says by whom and when, for its author too.",
    "cancelled": "Meeting cancelled.",
    "deleted": "Deleted.",
    "imported": "Import finished.",
    "erased": "The resident's data was erased.",
    "user": "User saved.",
}


def local_datetime(value: str, what: str) -> dt.datetime:
    """Parse a form's ISO date and time; one without a UTC offset is Africa/Johannesburg
    time (422 naming the field, `what`, as its form labels it, when it is not a date and
    time)."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"{what} {value} is not a date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=TIMEZONE)


def until(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """Render how long until (or since) a moment, e.g. `in 3 h` or `5 h ago`."""
    if value is None:
        return ""
    now = now or dt.datetime.now(dt.UTC)
    seconds = (value - now).total_seconds()
    hours = abs(seconds) / 3600
    amount = (
        f"{hours / 24:.0f} d"
        if hours >= 48
        else f"{hours:.0f} h"
        if hours >= 1
        else (f"{abs(seconds) / 60:.0f} min")
    )
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


def category_name(code: str) -> str:
    """Return a report category's name as residents pick it, in English ("Housing list" for
    housing_list); an unknown code as it is."""
    messages = load().messages
    message = messages.get(f"report_category.{code}")
    return message.text if message else code


TEMPLATES.env.filters["local"] = local_time
TEMPLATES.env.filters["until"] = until
TEMPLATES.env.filters["category"] = category_name


@dataclass
class StaffContext:
    """The signed-in user of a dashboard request, their scope and their CSRF token."""

    user: StaffUser
    row: StaffSession
    scope: scopes.Scope
    ip: str
    session: Session

    @property
    def csrf(self) -> str:
        """Return the token every form of this session carries."""
        return self.row.csrf_token

    def can(self, *roles: str, whole_city: bool = False) -> bool:
        """Return whether the user has one of `roles` (and, for what acts on the
        `whole_city`, no scope)."""
        return self.user.role in roles and (self.scope.unrestricted or not whole_city)

    def audit(self, action: str, target: str = "", **detail: Any) -> None:
        """Record one action of this user in the audit log."""
        audit.record(
            session=self.session,
            user=self.user,
            action=action,
            target=target,
            detail=detail,
            ip=self.ip,
        )


def _context(
    request: Request,
    login: CurrentStaffSession,
    session: SessionDep,
    roles: tuple[str, ...],
    whole_city: bool,
) -> StaffContext:
    if login.user.role not in roles:
        raise HTTPException(403, "your role does not allow this page")
    ctx = StaffContext(
        user=login.user,
        row=login.row,
        scope=scopes.for_user(session=session, user=login.user),
        ip=client_ip(request),
        session=session,
    )
    if not ctx.can(*roles, whole_city=whole_city):
        raise HTTPException(
            403,
            "this acts on the whole city, so it needs a user with no scope "
            f"(yours is {ctx.scope.describe()})",
        )
    return ctx


def page(*roles: str, whole_city: bool = False) -> Callable[..., StaffContext]:
    """Return a dependency for a page only `roles` may see (with `whole_city`, only those
    of them with no scope)."""

    def dependency(
        request: Request, login: CurrentStaffSession, session: SessionDep
    ) -> StaffContext:
        return _context(request, login, session, roles, whole_city)

    return dependency


def action(
    *roles: str, whole_city: bool = False
) -> Callable[..., Coroutine[Any, Any, StaffContext]]:
    """Return a dependency for a form post only `roles` may make (with `whole_city`, only
    those of them with no scope; CSRF checked too)."""

    async def dependency(
        request: Request, login: CurrentStaffSession, session: SessionDep
    ) -> StaffContext:
        ctx = _context(request, login, session, roles, whole_city)
        await check_csrf(request, login.row.csrf_token)
        return ctx

    return dependency


def render(
    request: Request, name: str, ctx: StaffContext | None, status_code: int = 200, **values: Any
) -> HTMLResponse:
    """Render a dashboard template with the user, CSRF token and notice filled in."""
    notice = NOTICES.get(request.query_params.get("ok", ""))
    response = TEMPLATES.TemplateResponse(
        request,
        f"staff/{name}",
        {"ctx": ctx, "notice": notice, "roles": {"ticket_workers": TICKET_WORKERS}, **values},
        status_code=status_code,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


# A destructive post (a delete, a cancel) says it was confirmed: the page's script sends
# `confirm` once its dialog is accepted; without it (no script ran), the server asks first.
Confirmed = Annotated[bool, Form(alias="confirm")]


def confirmation(
    request: Request, ctx: StaffContext, *, question: str, what: str, back: str
) -> HTMLResponse:
    """Answer a destructive post that was not confirmed with a page that asks: what will
    happen, a Confirm that sends the same post confirmed, and a way `back`."""
    return render(
        request,
        "confirm.html",
        ctx,
        question=question,
        what=what,
        action=request.url.path,
        back=back,
    )


def attachment(body: str | bytes, media_type: str, filename: str) -> Response:
    """Return a download (`Content-Disposition: attachment`) with the dashboard's headers."""
    headers = dict(SECURITY_HEADERS)
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(body, media_type=media_type, headers=headers)


def back(url: str, notice: str | None = None) -> RedirectResponse:
    """Redirect after a post (303, so the browser follows with GET)."""
    if notice:
        url += ("&" if "?" in url else "?") + f"ok={notice}"
    return RedirectResponse(url, status_code=303)


ERROR_TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    413: "Too large",
    422: "Please check the form",
    429: "Too many attempts",
    502: "The provider did not answer",
}


# staff.js posts a form with this header; the answer's redirect then reaches it as a 204
# (`ScriptedFormRedirects`).
SCRIPTED_FORM = "x-staff-form"


class ScriptedFormRedirects:
    """ASGI middleware: the redirect after a dashboard form that staff.js posted (header
    `X-Staff-Form`) reaches the script as a 204 with the same Location, and the script
    sends the browser there. A 303 would be followed by fetch itself, which would load the
    page only for the browser to load it again: two audited views of a ticket or the queue
    for one action."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a scripted dashboard form on; answer its redirect as a 204."""
        headers = dashboard_request(scope)
        if headers is None or SCRIPTED_FORM not in headers:
            await self.app(scope, receive, send)
            return

        async def send_unfollowed(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                message = {**message, "status": 204}
                del MutableHeaders(scope=message)["content-length"]  # a 204 has no body
            await send(message)

        await self.app(scope, receive, send_unfollowed)


def staff_path(value: str | None) -> str | None:
    """Return `value` if it is a local dashboard path (never one that leads to another
    site), else None."""
    if value and value.startswith("/staff") and "//" not in value and "\\" not in value:
        return value
    return None


def _form_page(request: Request) -> str | None:
    """Return the dashboard page (path and query) whose form made this post, from a
    Referer of this site; None for anything else."""
    if request.method != "POST":
        return None
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.scheme not in ("http", "https") or referer.netloc != request.headers.get("host"):
        return None
    return staff_path(referer.path + (f"?{referer.query}" if referer.query else ""))


def _problems(errors: Sequence[Any]) -> str:
    """Say input problems (`loc`, `msg`, as FastAPI lists them) in one line."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'form'}: {e.get('msg', '')}"
        for e in errors
    )


async def staff_error_page(request: Request, exc: Exception) -> Response:
    """Answer dashboard errors with a small HTML page (redirects pass through); leave the
    API's JSON errors to FastAPI's own handlers."""
    if not request.url.path.startswith("/staff"):
        if isinstance(exc, RequestValidationError):
            return await request_validation_exception_handler(request, exc)
        assert isinstance(exc, StarletteHTTPException)
        return await http_exception_handler(request, exc)
    if isinstance(exc, RequestValidationError):
        status, detail = 422, _problems(exc.errors())
    else:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        # A refusal that names fields, as the API gives it (`refused_as_http`), in a sentence.
        detail = _problems(exc.detail) if isinstance(exc.detail, list) else str(exc.detail)
        if 300 <= status < 400:
            return RedirectResponse(
                (exc.headers or {}).get("Location", "/staff/"), status_code=status
            )
    return render(
        request,
        "error.html",
        None,
        status_code=status,
        notice=None,
        title=ERROR_TITLES.get(status, "Something went wrong"),
        detail=detail,
        status=status,
        form_page=_form_page(request),
    )
