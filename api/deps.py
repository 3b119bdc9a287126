"""Dependencies shared by routes: settings, sessions, verified Twilio forms, engine wiring.

This module and `bot/worker.py` are the only places that wire the pure conversation
engine to the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, HTTPException, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from bot.config import Settings
from bot.domain.messages.service import Converse
from bot.domain.residents.service import SqlResidentData
from bot.domain.settlements.ports import SqlSettlementDirectory
from bot.engine import engine as conversation
from bot.engine.messages import Inbound
from bot.engine.ports import Ports, ResidentView

MAX_WEBHOOK_BYTES = 64 * 1024


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
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
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
    url = settings.public_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url


async def verified_twilio_form(request: Request, settings: SettingsDep) -> dict[str, str]:
    """Return the posted form once its X-Twilio-Signature is proved; 403 otherwise.

    The signature covers the public URL (not the one this process sees behind a
    TLS-terminating proxy) and every posted field, known or not.
    """
    if not settings.twilio_auth_token:
        raise HTTPException(403, "Twilio webhooks are disabled: TWILIO_AUTH_TOKEN is not set")
    body = await _read_limited(request, MAX_WEBHOOK_BYTES)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise HTTPException(415, "expected application/x-www-form-urlencoded")
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        raise HTTPException(403, "missing X-Twilio-Signature")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form body is not valid UTF-8 form encoding") from None
    form = ImmutableMultiDict(pairs)
    validator = RequestValidator(settings.twilio_auth_token)
    if not validator.validate(public_url_of(request, settings), form, signature):
        raise HTTPException(403, "X-Twilio-Signature does not match")
    return dict(pairs)


TwilioForm = Annotated[dict[str, str], Depends(verified_twilio_form)]


def converse_for(session: Session) -> Converse:
    """Wire the conversation engine to a database session (requests, `siyakha chat`)."""
    ports = Ports(settlements=SqlSettlementDirectory(session), residents=SqlResidentData(session))

    def converse(
        inbound: Inbound, resident: ResidentView, state: dict[str, Any] | None, now: dt.datetime
    ) -> conversation.Outcome:
        return conversation.handle(inbound, resident=resident, state=state, now=now, ports=ports)

    return converse


async def get_converse(session: SessionDep) -> Converse:
    """Wire the conversation engine to this request's session."""
    return converse_for(session)


ConverseDep = Annotated[Converse, Depends(get_converse)]
