"""Scheduled broadcast jobs, run by the leader worker's APScheduler (see bot/worker.py).

- `broadcasts.send_due` (every SIYAKHA_BROADCAST_SEND_DUE_SECONDS): queue scheduled
  broadcasts whose time has come (approved ones only, when approval was needed).
- `broadcasts.meeting_reminders` (every 10 minutes): queue meeting reminders that are due
  (SIYAKHA_MEETING_REMINDER_DAYS, default 3 days before and the morning of, or the day
  before for a meeting starting before, or less than an hour after, the reminder hour).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.engine import Engine

from bot.config import Settings, get_settings
from bot.db import session_scope, utcnow
from bot.domain.broadcasts import service

log = logging.getLogger(__name__)


def send_due(
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Queue every due broadcast, one transaction each (one grown past the approval
    threshold waits for approval instead); return how many were taken up."""
    settings = settings or get_settings()
    released = 0
    while True:
        with session_scope(engine) as session:
            count = service.send_due(
                session=session, now=now or utcnow(), limit=1, settings=settings
            )
        if not count:
            return released
        released += count


def meeting_reminders(
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Queue the meeting reminders now due; return how many messages were added."""
    settings = settings or get_settings()
    with session_scope(engine) as session:
        added = service.send_reminders(session=session, settings=settings, now=now or utcnow())
    if added:
        log.info("meeting reminders queued", extra={"count": added})
    return added


def schedule(settings: Settings) -> list[dict[str, Any]]:
    """Declare this domain's jobs for the worker's scheduler."""
    return [
        {
            "id": "broadcasts.send_due",
            "func": "bot.domain.broadcasts.jobs:send_due",
            "trigger": "interval",
            "seconds": settings.broadcast_send_due_seconds,
        },
        {
            "id": "broadcasts.meeting_reminders",
            "func": "bot.domain.broadcasts.jobs:meeting_reminders",
            "trigger": "interval",
            "minutes": 10,
        },
    ]
