"""Scheduled resident jobs, run by the leader worker's APScheduler (see bot/worker.py).

- `residents.forget_unconsented` (daily): a number that wrote in but never agreed to the
  privacy notice, and has been quiet for UNCONSENTED_DAYS, is erased as DELETE would
  erase it. The notice promises nothing kept but the number before consent; without this
  the number and its first words stayed for the whole retention period. A resident with
  a ticket (logged for them by a call centre, say) is kept: the ticket is a municipal
  record, and erasing them would blank it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.residents import service
from bot.domain.residents.models import Resident
from bot.domain.tickets.models import Ticket

log = logging.getLogger(__name__)
UNCONSENTED_DAYS = 30
BATCH = 200


def forget_unconsented(*, engine: Engine | None = None, now: dt.datetime | None = None) -> int:
    """Erase the residents who never agreed to the notice and have been quiet for
    UNCONSENTED_DAYS (none with a ticket); return how many, in batches of BATCH, each its
    own transaction (on SQLite a long one would hold up every webhook turn)."""
    before = (now or utcnow()) - dt.timedelta(days=UNCONSENTED_DAYS)
    due = (
        select(col(Resident.id))
        .where(
            col(Resident.consented_at).is_(None),
            col(Resident.updated_at) < before,
            ~exists().where(col(Ticket.resident_id) == col(Resident.id)),
        )
        .order_by(col(Resident.id))
        .limit(BATCH)
        # Locked as chosen; one whose message is being answered (they may be agreeing right
        # now) is skipped until the next run. SQLite's single writer needs neither.
        .with_for_update(skip_locked=True)
    )
    total = 0
    while True:
        with session_scope(engine) as session:
            ids = list(session.execute(due).scalars())
            for resident_id in ids:
                service.erase(session=session, resident_id=resident_id)
        total += len(ids)
        if len(ids) < BATCH:
            break
    if total:
        log.info("residents who never agreed to the notice erased", extra={"residents": total})
    return total


def run_forget_unconsented() -> None:
    """Job `residents.forget_unconsented`."""
    forget_unconsented()


def schedule(settings: Settings) -> list[dict[str, Any]]:
    """Declare this domain's jobs for the worker's scheduler."""
    return [
        {
            "id": "residents.forget_unconsented",
            "func": "bot.domain.residents.jobs:run_forget_unconsented",
            "trigger": "interval",
            "hours": 24,
        }
    ]
