"""Baselines for bench/webhook.py.

`app`: parse the same form and return fixed TwiML, nothing else (issue 3's baseline).

`one_write`: the same plus one durable SQLite write per message on a bare sqlite3
connection (BEGIN IMMEDIATE, insert the MessageSid unless already there, COMMIT; the app's
own pragmas, from `bot.db._sqlite_pragmas`). The least a webhook that answers each
MessageSid once must do: a reference for what the database alone costs, not a target. Its
file is `BENCH_ONE_WRITE_DB` (default: one in the temporary folder).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

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
