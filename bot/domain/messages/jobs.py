"""Scheduled message jobs, run by the leader worker's APScheduler (see bot/worker.py).

- `messages.forget` (daily, POPIA s14): messages older than SIYAKHA_RETENTION_DAYS are
  de-identified. Inbound ones lose their words, media links, location, replies and link
  to the resident; proactive ones in the outbox, once past sending, lose their words.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.engine import Engine

from bot.config import Settings, get_settings
from bot.db import session_scope, utcnow
from bot.domain.messages import service
from bot.domain.outbox import service as outbox

log = logging.getLogger(__name__)


def forget(
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> int:
    """De-identify the messages past the retention period, inbound and outbound; return
    how many rows changed."""
    settings = settings or get_settings()
    before = (now or utcnow()) - dt.timedelta(days=settings.retention_days)
    with session_scope(engine) as session:
        inbound = service.forget_before(session=session, before=before)
        outbound = outbox.forget_before(session=session, before=before)
    if inbound or outbound:
        log.info("old messages de-identified", extra={"inbound": inbound, "outbound": outbound})
    return inbound + outbound


def run_forget() -> None:
    """Job `messages.forget`."""
    forget()


def schedule(settings: Settings) -> list[dict[str, Any]]:
    """Declare this domain's jobs for the worker's scheduler."""
    return [
        {
            "id": "messages.forget",
            "func": "bot.domain.messages.jobs:run_forget",
            "trigger": "interval",
            "hours": 24,
        }
    ]
