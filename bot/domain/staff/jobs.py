"""Scheduled staff jobs, run by the leader worker's APScheduler (see bot/worker.py).

- `staff.prune` (hourly): forget login attempts older than a day (throttling looks back
  SIYAKHA_LOGIN_WINDOW_MINUTES), sessions that ended more than a day ago, and API
  idempotency keys older than `idempotency.KEEP` (24 hours).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from bot.config import Settings, get_settings
from bot.db import session_scope, utcnow
from bot.domain.staff import idempotency
from bot.domain.staff.models import LoginAttempt, StaffSession

KEEP = dt.timedelta(days=1)


def prune(*, session: Session, now: dt.datetime, settings: Settings) -> int:
    """Delete old login attempts, long-ended sessions and expired idempotency keys; return
    how many rows went."""
    attempts_before = now - max(KEEP, dt.timedelta(minutes=settings.login_window_minutes))
    gone = session.execute(delete(LoginAttempt).where(col(LoginAttempt.at) < attempts_before))
    ended = session.execute(
        delete(StaffSession).where(
            or_(
                col(StaffSession.expires_at) < now - KEEP,
                col(StaffSession.revoked_at) < now - KEEP,
            )
        )
    )
    keys = idempotency.prune(session=session, now=now)
    return int(getattr(gone, "rowcount", 0) or 0) + int(getattr(ended, "rowcount", 0) or 0) + keys


def run_prune(engine: Engine | None = None) -> int:
    """Job entry point: prune in one transaction."""
    with session_scope(engine) as session:
        return prune(session=session, now=utcnow(), settings=get_settings())


def schedule(settings: Settings) -> list[dict[str, Any]]:
    """Declare this domain's jobs for the worker's scheduler."""
    return [
        {
            "id": "staff.prune",
            "func": "bot.domain.staff.jobs:run_prune",
            "trigger": "interval",
            "minutes": 60,
        }
    ]
