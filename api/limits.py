"""Request bodies have a size limit, whoever sends them: a body past its path's limit is
refused (413) before it is read, so no request (signed in or not: FastAPI reads a JSON body,
and the dashboard's `PlainLineBreaks` a whole form, before any sign-in check) holds more
than the limit in memory. The Twilio webhooks have their own (64 KiB, `api.deps`), answered
as their contract says."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.domain.settlements.importer import MAX_BYTES as MAX_IMPORT_BYTES

# The largest real body is a few KiB (a broadcast in every language, a settlement's note).
MAX_BODY_BYTES = 1024 * 1024
# The CSV import's multipart form: twice the file limit, so a file a little too large gets
# the import page's own explanation, not this refusal.
LIMITS = {"/staff/import": 2 * MAX_IMPORT_BYTES}
OWN_LIMIT = ("/webhooks/",)

Answer = Callable[[Request, Exception], Awaitable[Response]]


class BodyLimit:
    """ASGI middleware: a declared Content-Length over the path's limit is answered 413
    (through `answer`, as the path's other errors: a dashboard page, GeoReport's list,
    JSON) without reading the body; a body sent without one is cut off at the limit, as if
    the client had gone away."""

    def __init__(self, app: ASGIApp, answer: Answer) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass on a request whose body is within its path's limit."""
        if scope["type"] != "http" or scope["path"].startswith(OWN_LIMIT):
            await self.app(scope, receive, send)
            return
        limit = LIMITS.get(scope["path"], MAX_BODY_BYTES)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdecimal() or int(declared) > limit):
            refusal = HTTPException(413, f"the request body is larger than {limit // 1024} KiB")
            response = await self.answer(Request(scope), refusal)
            await response(scope, receive, send)
            return
        size = 0

        async def receive_limited() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, receive_limited, send)
