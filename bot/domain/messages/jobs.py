"""Scheduled message jobs, run by the leader worker's APScheduler (see bot/worker.py).

- `messages.forget` (daily, POPIA s14): messages older than SIYAKHA_RETENTION_DAYS are
  de-identified. Inbound ones lose their words, media links, location, replies and link
  to the resident; proactive ones in the outbox, once past sending, lose their words.
  A resident who last wrote before then loses any report draft and unsent MORE pages
  kept in their conversation state (words, media links, pin), set back to the main
  menu; the settlement names typed that matched nothing, as old, are deleted.
  In batches of BATCH rows, each its own transaction: on SQLite one transaction over a
  year of messages would hold the write lock, and every webhook turn behind it. Each
  batch starts after the last id the one before changed, so the job reads each row once
  (starting again from the oldest made the first run quadratic: bench/retention.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.config import Settings, get_settings
from bot.db import session_scope, utcnow
from bot.domain.messages import service
from bot.domain.outbox import service as outbox
from bot.domain.residents import service as residents
from bot.domain.settlements import service as settlements

log = logging.getLogger(__name__)
BATCH = 1000


def forget(
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> int:
    """De-identify the messages past the retention period, inbound and outbound, clear the
    drafts of residents quiet as long and delete the unmatched settlement names as old;
    return how many rows changed."""
    settings = settings or get_settings()
    now = now or utcnow()
    before = now - dt.timedelta(days=settings.retention_days)
    inbound = _in_batches(
        engine,
        lambda session, after_id: service.forget_before(
            session=session, before=before, after_id=after_id, limit=BATCH
        ),
    )
    outbound = _in_batches(
        engine,
        lambda session, after_id: outbox.forget_before(
            session=session, before=before, after_id=after_id, limit=BATCH, now=now
        ),
    )
    drafts = _in_batches(
        engine,
        lambda session, after_id: residents.forget_conversations_before(
            session=session, before=before, after_id=after_id, limit=BATCH
        ),
    )
    with session_scope(engine) as session:
        names = settlements.forget_unmatched_names_before(session=session, before=before)
    if inbound or outbound or drafts or names:
        log.info(
            "old messages de-identified",
            extra={"inbound": inbound, "outbound": outbound, "drafts": drafts, "names": names},
        )
    return inbound + outbound + drafts + names


def _in_batches(engine: Engine | None, batch: Callable[[Session, int], list[int]]) -> int:
    """Run `batch` in its own transaction, each time after the last id the one before
    changed, until it changes fewer than BATCH rows; return how many it changed."""
    total, after_id = 0, 0
    while True:
        with session_scope(engine) as session:
            changed = batch(session, after_id)
        total += len(changed)
        if len(changed) < BATCH:
            return total
        after_id = changed[-1]


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
