"""Scheduled outbox jobs, run by the leader worker's APScheduler.

- `outbox.reconcile` (every SIYAKHA_OUTBOX_RECONCILE_SECONDS): settle rows left mid-send.
- Retention of sent messages' words: `messages.forget` (bot/domain/messages/jobs.py).

`schedule(settings)` declares them (APScheduler `add_job` keyword arguments, with the
function as a textual reference so the database job store can hold it). The worker
binds the engine and sender the jobs use with `bind()` before the scheduler starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.domain.outbox import delivery
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


def schedule(settings: Settings) -> list[dict[str, Any]]:
    """Declare this domain's jobs for the worker's scheduler."""
    return [
        {
            "id": "outbox.reconcile",
            "func": "bot.domain.outbox.jobs:reconcile",
            "trigger": "interval",
            "seconds": settings.outbox_reconcile_seconds,
        }
    ]
