"""Baselines for bench/webhook.py.

`app`: parse the same form and return fixed TwiML, nothing else (issue 3's baseline).

`one_write`: the same plus one durable SQLite write per message on a bare sqlite3
connection (BEGIN IMMEDIATE, insert the MessageSid unless already there, COMMIT; the app's
own pragmas, from `bot.db._sqlite_pragmas`). The least a webhook that answers each
MessageSid once must do: a reference for what the database alone costs, not a target. Its
file is `BENCH_ONE_WRITE_DB` (default: one in the temporary folder).

`siyakha_front` (a factory): the real app, everything `siyakha serve` does for a webhook
(middleware, signature check, form, parsing, TwiML, logging) but the turn, which a unit of
work that answers with a fixed reply replaces: what siyakha costs outside its database and
conversation.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>ok</Message></Response>'
app = FastAPI()


@app.post("/webhooks/twilio/messages")
async def messages(request: Request) -> Response:
    """Parse the form and answer with fixed TwiML."""
    form = await request.form()
    assert form.get("MessageSid")
    return Response(TWIML, media_type="text/xml")


def _connect() -> sqlite3.Connection:
    path = os.environ.get("BENCH_ONE_WRITE_DB") or str(Path(tempfile.gettempdir()) / "one.db")
    # Imported here, not at the top, so the bare `app` process loads nothing of the app's.
    from bot.db import _sqlite_pragmas

    connection = sqlite3.connect(path, check_same_thread=False)
    _sqlite_pragmas(connection, None)
    connection.execute("CREATE TABLE IF NOT EXISTS seen (sid TEXT PRIMARY KEY)")
    return connection


@asynccontextmanager
async def _database(app: FastAPI) -> AsyncIterator[None]:
    app.state.db = _connect()
    yield
    app.state.db.close()


one_write = FastAPI(lifespan=_database)


@one_write.post("/webhooks/twilio/messages")
async def messages_one_write(request: Request) -> Response:
    """Parse the form, record its MessageSid in one transaction, answer with fixed TwiML."""
    form = await request.form()
    sid = form.get("MessageSid")
    assert sid
    db: sqlite3.Connection = request.app.state.db
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO seen (sid) VALUES (?) ON CONFLICT DO NOTHING", (sid,))
    db.execute("COMMIT")
    return Response(TWIML, media_type="text/xml")


class _FixedReply:
    """A unit of work that runs nothing and answers every message with one fixed reply."""

    async def run(self, work: Callable[[Any], Any]) -> list[str]:
        return ["ok"]


def siyakha_front() -> FastAPI:
    """Return the real app with the turn (session, engine, database) replaced by a fixed reply.

    The app's unit of work is swapped, not overridden with `dependency_overrides`: with any
    override set, FastAPI analyses every dependency's signature again on each request, a
    third of this server's time, which the real app never pays."""
    from api.main import create_app

    front = create_app()
    front.state.unit_of_work = _FixedReply()
    return front


def serve_front(port: int, loop: str = "asyncio") -> None:
    """Serve `siyakha_front` on `port` as `siyakha serve --loop LOOP` serves the app (its
    logging too)."""
    import uvicorn

    from bot.config import get_settings
    from bot.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        "bench.bare_app:siyakha_front",
        factory=True,
        host="127.0.0.1",
        port=port,
        loop=loop,
        proxy_headers=True,
        log_config=None,
    )
