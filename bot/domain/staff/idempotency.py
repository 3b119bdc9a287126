"""Idempotency keys: a staff client's retry of a request that sends to residents is done once.

A client that timed out does not know whether its broadcast went; sent again with the same
`Idempotency-Key`, the request gets the first one's answer and nothing is done twice. A
key is its user's own, kept `KEEP` (the `staff.prune` job deletes it after), and names one
request: the same key with another method, path or body is refused (`KeyReused`).

The key's row is claimed in the request's own transaction, before the work: a second
request with the same key waits there until the first commits (PostgreSQL's unique index;
SQLite runs one writer at a time), then finds its answer. A request that fails rolls its
claim back with its work, so a retry runs again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from bot.domain.staff.models import IdempotencyKey

# How long a key is kept: a retry later than this is a new request.
KEEP = dt.timedelta(hours=24)


class KeyReused(ValueError):
    """The key came with another request before (another body, route or method)."""


@dataclass(frozen=True)
class Answer:
    """The answer a key's first request got, for its retries."""

    status_code: int
    body: dict[str, Any]


def request_hash(*, method: str, path: str, body: bytes) -> str:
    """Return what names one request: a SHA-256 of its method, path and body."""
    digest = hashlib.sha256(f"{method.upper()} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def claim(
    *, session: Session, user_id: int, key: str, request: str, now: dt.datetime
) -> IdempotencyKey | Answer:
    """Claim `key` for the `request` (its `request_hash`) and return the claim, or return the
    answer the key's earlier request got; KeyReused when that was another request. Waits
    for a request holding the key in another transaction to finish."""
    row = IdempotencyKey(user_id=user_id, key=key, request_hash=request, created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        pass  # claimed before, by a request that committed (it was waited for)
    else:
        return row
    found = session.execute(
        select(IdempotencyKey).where(
            col(IdempotencyKey.user_id) == user_id, col(IdempotencyKey.key) == key
        )
    ).scalar_one()
    if found.created_at < now - KEEP:
        # Expired and not pruned yet: a new request's, as if it had been pruned.
        taken = session.execute(
            update(IdempotencyKey)
            .where(col(IdempotencyKey.id) == found.id, col(IdempotencyKey.created_at) < now - KEEP)
            .values(request_hash=request, created_at=now, status_code=0, response={})
        )
        if getattr(taken, "rowcount", 0) == 1:
            session.refresh(found)
            return found
    if found.request_hash != request:
        raise KeyReused(
            f"Idempotency-Key {key} was used with another request (another body or "
            f"address) within {KEEP.total_seconds() / 3600:.0f} hours: use a new key for a "
            "new request"
        )
    return Answer(status_code=found.status_code, body=found.response)


def remember(*, session: Session, claimed: IdempotencyKey, answer: Answer) -> None:
    """Keep the answer a claimed key's request got, for its retries."""
    claimed.status_code = answer.status_code
    claimed.response = answer.body
    session.add(claimed)
    session.flush()


def prune(*, session: Session, now: dt.datetime) -> int:
    """Delete keys older than KEEP; return how many went."""
    gone = session.execute(
        delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < now - KEEP)
    )
    return int(getattr(gone, "rowcount", 0) or 0)
