"""Idempotency keys at the service level: claimed once, answered again, pruned by the job."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

from bot.config import Settings
from bot.domain.staff import idempotency, jobs
from bot.domain.staff import service as staff
from bot.domain.staff.models import IdempotencyKey

NOW = dt.datetime(2030, 3, 1, 8, 0, tzinfo=dt.UTC)


def _user_id(session: Session, email: str = "k@example.org") -> int:
    user = staff.create_user(session=session, email=email, role="officer")
    assert user.id is not None
    return user.id


def test_a_key_is_claimed_once_then_answered_with_what_its_request_got(session: Session) -> None:
    user_id = _user_id(session)
    first = idempotency.request_hash(method="POST", path="/api/v1/broadcasts", body=b'{"a":1}')
    claimed = idempotency.claim(session=session, user_id=user_id, key="k1", request=first, now=NOW)
    assert isinstance(claimed, IdempotencyKey)
    answer = idempotency.Answer(status_code=201, body={"id": 7})
    idempotency.remember(session=session, claimed=claimed, answer=answer)
    later = NOW + dt.timedelta(hours=23)
    again = idempotency.claim(session=session, user_id=user_id, key="k1", request=first, now=later)
    assert again == answer
    other = idempotency.request_hash(method="POST", path="/api/v1/broadcasts", body=b'{"a":2}')
    with pytest.raises(
        idempotency.KeyReused, match=r"^Idempotency-Key k1 was used with another request"
    ):
        idempotency.claim(session=session, user_id=user_id, key="k1", request=other, now=later)
    # Another user's key of the same name is theirs.
    someone = _user_id(session, "j@example.org")
    theirs = idempotency.claim(session=session, user_id=someone, key="k1", request=other, now=NOW)
    assert isinstance(theirs, IdempotencyKey)
    # Past KEEP, not pruned yet, the key is a new request's.
    expired = NOW + idempotency.KEEP + dt.timedelta(minutes=1)
    taken = idempotency.claim(
        session=session, user_id=user_id, key="k1", request=other, now=expired
    )
    assert isinstance(taken, IdempotencyKey)
    assert (taken.id, taken.request_hash, taken.status_code) == (claimed.id, other, 0)


def test_the_prune_job_forgets_keys_after_a_day(session: Session, settings: Settings) -> None:
    user_id = _user_id(session)
    for key, age in (("old", dt.timedelta(hours=25)), ("new", dt.timedelta(hours=23))):
        idempotency.claim(session=session, user_id=user_id, key=key, request="r", now=NOW - age)
    assert jobs.prune(session=session, now=NOW, settings=settings) == 1
    assert session.exec(select(IdempotencyKey.key)).all() == ["new"]
    assert dt.timedelta(hours=24) == idempotency.KEEP  # as README and OpenAPI say
