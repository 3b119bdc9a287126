"""Every request body has a size limit (`api.limits.BodyLimit`), answered as its path's
other errors are, before the body is read."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from api.limits import MAX_BODY_BYTES, BodyLimit
from bot.domain.settlements.importer import MAX_BYTES as MAX_IMPORT_BYTES

BIG = MAX_BODY_BYTES + 1


def test_a_json_body_past_the_limit_is_413_before_the_token_is_checked(client) -> None:
    body = json.dumps({"body": "x" * BIG}).encode()
    answer = client.post(
        "/api/v1/broadcasts", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json() == {"detail": "the request body is larger than 1024 KiB"}
    within = client.post(
        "/api/v1/broadcasts", content=b"{}", headers={"content-type": "application/json"}
    )
    assert within.status_code == 401  # the token is asked for as before


def test_an_open311_post_past_the_limit_is_413_in_georeport_s_words(client) -> None:
    answer = client.post(
        "/open311/v2/requests.json",
        content=b"description=" + b"x" * BIG,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
    assert answer.json() == [
        {"code": 413, "description": "the request body is larger than 1024 KiB"}
    ]


def test_the_import_takes_a_file_over_its_own_limit_to_explain_it(client) -> None:
    """A file a little over the import's 5 MB reaches the import page, which says so (here
    the login, first); one past twice that is refused unread."""
    little_over = b"x" * (MAX_IMPORT_BYTES + 1)
    answer = client.post(
        "/staff/import",
        files={"file": ("big.csv", little_over, "text/csv")},
        follow_redirects=False,
    )
    assert answer.status_code != 413
    far_over = b"x" * (2 * MAX_IMPORT_BYTES + 1)
    answer = client.post("/staff/import", files={"file": ("big.csv", far_over, "text/csv")})
    assert answer.status_code == 413 and "Too large" in answer.text


def _run(headers: list[tuple[bytes, bytes]], total_chunks: int) -> tuple[int, list[str], list]:
    """Send `total_chunks` chunks of 256 KiB through BodyLimit; return how many were pulled,
    what the app received and what was sent."""
    chunk = b"x" * (256 * 1024)
    pulled = 0

    def chunks() -> Iterator[Message]:
        nonlocal pulled
        for i in range(total_chunks):
            pulled += 1
            yield {"type": "http.request", "body": chunk, "more_body": i < total_chunks - 1}

    messages = chunks()
    received: list[str] = []
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            received.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                return

    async def receive() -> Message:
        return next(messages)

    async def send(message: Message) -> None:
        sent.append(message)

    async def answer(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(exc.detail, status_code=exc.status_code)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/broadcasts",
        "query_string": b"",
        "headers": headers,
    }
    anyio.run(BodyLimit(app, answer=answer), scope, receive, send)
    return pulled, received, sent


def test_a_declared_length_past_the_limit_reads_nothing() -> None:
    declared = str(400 * 256 * 1024).encode()
    pulled, received, sent = _run([(b"content-length", declared)], 400)
    assert pulled == 0 and received == []
    assert sent[0]["status"] == 413


def test_a_body_without_a_length_is_cut_off_at_the_limit() -> None:
    pulled, received, sent = _run([], 400)  # 100 MiB, chunked
    assert pulled == MAX_BODY_BYTES // (256 * 1024) + 1
    assert received[-1] == "http.disconnect" and sent == []
    pulled, received, _ = _run([], 4)  # exactly 1 MiB: whole
    assert pulled == 4 and received == ["http.request"] * 4
