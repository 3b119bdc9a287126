"""Scheduled outbox jobs, run by the leader worker's APScheduler.

- `outbox.reconcile` (every SIYAKHA_OUTBOX_RECONCILE_SECONDS): settle rows left mid-send.
- `outbox.delete_at_provider` (every 10 minutes): delete at Twilio the messages of erased
  residents (`residents.service.erase` queues them); a failure is tried again later.
- `outbox.forget_at_provider` (hourly, POPIA s14): delete at Twilio, with their media, the
  messages to or from our numbers that it sent more than SIYAKHA_RETENTION_DAYS ago, at
  most FORGET_LIMIT a run; the rest, and any that failed, go in the next runs.
- Retention of sent messages' words here: `messages.forget` (bot/domain/messages/jobs.py).

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
from bot.domain.outbox.ports import Sender, SendError

log = logging.getLogger(__name__)

# outbox.forget_at_provider: deletions tried in one run (one request each: minutes, not
# hours), and failures after which the run stops (Twilio is in trouble: try next run). A
# refusal of one message (a 4xx, "permanent") is not counted there: Twilio lists the same
# messages first in every run, so a few it will not delete would stop every run.
FORGET_LIMIT = 2000
FORGET_MAX_FAILURES = 20


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


def delete_at_provider(
    *,
    engine: Engine | None = None,
    sender: Sender | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Delete at the provider the messages of the erased residents due now; return how many
    numbers were done (job `outbox.delete_at_provider`)."""
    if sender is None:
        if _runtime is None:
            log.warning("outbox.delete_at_provider ran before bind(); skipped")
            return 0
        engine, sender = _runtime.engine, _runtime.sender
    now = now or utcnow()
    done = 0
    with session_scope(engine) as session:
        due = service.due_provider_deletions(session=session, now=now, limit=100)
    for item in due:
        error = None
        try:
            deleted = sender.delete_messages(phone=item.phone, before=item.before)
        except SendError as exc:
            error = f"{exc.kind}: {exc}"
            log.warning(
                "deleting an erased resident's messages at the provider failed; will retry",
                extra={"deletion_id": item.id, "attempts": item.attempts + 1, "error": error},
            )
        else:
            done += 1
            log.info(
                "erased resident's messages deleted at the provider",
                extra={"deletion_id": item.id, "messages": deleted},
            )
        with session_scope(engine) as session:
            service.record_provider_deletion(session=session, due=item, error=error, now=now)
    return done


def run_delete_at_provider() -> None:
    """Job `outbox.delete_at_provider`."""
    delete_at_provider()


def forget_at_provider(
    *,
    sender: Sender | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    limit: int = FORGET_LIMIT,
) -> int:
    """Delete at the provider, with their media, up to `limit` messages to or from our
    numbers sent before the retention period; return how many (job
    `outbox.forget_at_provider`). A deletion that fails is logged and left for the next run;
    so is anything past `limit`, or everything when the provider cannot list."""
    if sender is None:
        if _runtime is None:
            log.warning("outbox.forget_at_provider ran before bind(); skipped")
            return 0
        sender = _runtime.sender
    settings = settings or get_settings()
    before = (now or utcnow()) - dt.timedelta(days=settings.retention_days)
    deleted = failed = troubled = 0
    try:
        for sid in sender.sent_before(before=before):
            if deleted + failed >= limit or troubled >= FORGET_MAX_FAILURES:
                log.info("more old messages at the provider: the next run goes on")
                break
            try:
                sender.delete_message(sid=sid)
            except SendError as exc:
                failed += 1
                troubled += exc.kind != "permanent"
                log.warning(
                    "deleting an old message at the provider failed; will retry next run",
                    extra={"provider_sid": sid, "error": f"{exc.kind}: {exc}"},
                )
            else:
                deleted += 1
    except SendError as exc:
        log.warning(
            "listing old messages at the provider failed; will retry next run",
            extra={"error": f"{exc.kind}: {exc}"},
        )
    if deleted or failed:
        log.info(
            "old messages deleted at the provider",
            extra={"messages": deleted, "failed": failed},
        )
    return deleted


def run_forget_at_provider() -> None:
    """Job `outbox.forget_at_provider`."""
    forget_at_provider()


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
            "id": "outbox.delete_at_provider",
            "func": "bot.domain.outbox.jobs:run_delete_at_provider",
            "trigger": "interval",
            "minutes": 10,
        },
        {
            "id": "outbox.forget_at_provider",
            "func": "bot.domain.outbox.jobs:run_forget_at_provider",
            "trigger": "interval",
            "hours": 1,
        },
    ]
