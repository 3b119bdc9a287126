"""Residents service: find-and-lock, and whether the row was new."""

from __future__ import annotations

from sqlmodel import Session

from bot.db import utcnow
from bot.domain.residents import service as residents


def test_lock_or_create_says_whether_it_created_the_resident(session: Session) -> None:
    now = utcnow()
    first, created = residents.lock_or_create(session=session, phone="+27821110080", now=now)
    again, created_again = residents.lock_or_create(session=session, phone="+27821110080", now=now)
    assert (created, created_again) == (True, False)
    assert first["id"] == again["id"] and first["phone"] == "+27821110080"
