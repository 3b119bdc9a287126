"""Dashboard and API edits: the same meeting or milestone saved twice at the same moment
(a retry racing the first request) is refused, not a 500."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import false
from sqlalchemy import select as real_select
from sqlmodel import Session

from bot.domain.settlements import edit
from tests.factories import make_settlement

STARTS = dt.datetime(2031, 5, 4, 16, 0, tzinfo=dt.UTC)


def _blind_clash_check(*columns: Any) -> Any:
    """The clash check as the second of two racing requests runs it: before the first has
    written, so it finds nothing."""
    return real_select(*columns).where(false())


def test_a_meeting_saved_twice_at_once_is_refused(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    place = make_settlement(session)
    meeting: dict[str, Any] = {
        "session": session,
        "meeting": None,
        "settlement": place,
        "ward": "",
        "level": "neighbourhood",
        "title": "Block committee",
        "starts_at": STARTS,
        "venue": "",
    }
    edit.save_meeting(**meeting)
    monkeypatch.setattr(edit, "select", _blind_clash_check)
    with pytest.raises(edit.EditRejected, match="already a meeting with that title"):
        edit.save_meeting(**meeting)


def test_a_milestone_saved_twice_at_once_is_refused(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    place = make_settlement(session)
    milestone: dict[str, Any] = {
        "session": session,
        "settlement": place,
        "milestone": None,
        "strand": "services",
        "title": "Standpipes installed",
        "target_date": None,
        "status": "planned",
        "note": "",
    }
    edit.save_milestone(**milestone)
    monkeypatch.setattr(edit, "select", _blind_clash_check)
    with pytest.raises(edit.EditRejected, match="already has a milestone"):
        edit.save_milestone(**milestone)
