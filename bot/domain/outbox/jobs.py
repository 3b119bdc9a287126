"""Scheduled outbox jobs, run by the leader worker's APScheduler.

- `outbox.reconcile` (every SIYAKHA_OUTBOX_RECONCILE_SECONDS): settle rows left mid-send.
- `outbox.forget` (daily): blank the words of sent messages older than
  SIYAKHA_RETENTION_DAYS (POPIA s14).

`schedule(settings)` declares them (APScheduler `add_job` keyword arguments, with the
function as a textual reference so the database job store can hold it). The worker
binds the engine and sender the jobs use with `bind()` before the scheduler starts.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from bot.config import Settings, get_settings
from bot.db import session_scope, utcnow
from bot.domain.outbox import delivery, service
from bot.domain.outbox.ports import Sender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Runtime:
    engine: Engine
    sender: Sender
    config: delivery.DeliveryConfig
    worker_id: str


_runtime: _Runtime | None = None


def bind(
    *, engine: Engine, sender: Sender, config: delivery.DeliveryConfig, worker_id: str
) -> None:
    """Give the jobs of this process their engine, sender and configuration."""
    global _runtime
    _runtime = _Runtime(engine, sender, config, worker_id)


def reconcile() -> None:
    """Settle rows left mid-send past their lease (job `outbox.reconcile`)."""
    if _runtime is None:
        log.warning("outbox.reconcile ran before bind(); skipped")
        return
    while True:
        settled = delivery.reconcile(
            engine=_runtime.engine,
            sender=_runtime.sender,
            config=_runtime.config,
            worker_id=_runtime.worker_id,
        )
        if settled:
            log.info("outbox rows reconciled", extra={"count": settled})
        if settled < 100:
            return


def forget(
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Blank the words of sent messages past the retention period (job `outbox.forget`,
    daily; POPIA s14); return how many rows changed."""
    settings = settings or get_settings()
    before = (now or utcnow()) - dt.timedelta(days=settings.retention_days)
    with session_scope(engine) as session:
        count = service.forget_before(session=session, before=before)
    if count:
        log.info("old outbox messages blanked", extra={"count": count})
    return count


def run_forget() -> None:
    """Job `outbox.forget`."""
    forget()


def schedule(settings: Settings) -> list[dict[str, Any]]:
    """Declare this domain's jobs for the worker's scheduler."""
    return [
        {
            "id": "outbox.reconcile",
            "func": "bot.domain.outbox.jobs:reconcile",
            "trigger": "interval",
            "seconds": settings.outbox_reconcile_seconds,
        },
        {
            "id": "outbox.forget",
            "func": "bot.domain.outbox.jobs:run_forget",
            "trigger": "interval",
            "hours": 24,
        },
    ]
