"""Scheduled message jobs, run by the leader worker's APScheduler (see bot/worker.py).

- `messages.forget` (daily): inbound messages older than SIYAKHA_RETENTION_DAYS lose
  their words, media links, location and link to the resident (POPIA s14).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.engine import Engine

from bot.config import Settings, get_settings
from bot.db import session_scope, utcnow
from bot.domain.messages import service

log = logging.getLogger(__name__)


def forget(
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> int:
    """De-identify the inbound messages past the retention period; return how many."""
    settings = settings or get_settings()
    before = (now or utcnow()) - dt.timedelta(days=settings.retention_days)
    with session_scope(engine) as session:
        count = service.forget_before(session=session, before=before)
    if count:
        log.info("old inbound messages de-identified", extra={"count": count})
    return count


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
