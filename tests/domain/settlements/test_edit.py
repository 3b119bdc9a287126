"""Dashboard and API edits: the same meeting or milestone saved twice at the same moment
(a retry racing the first request) is refused, not a 500."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import false
from sqlalchemy import select as real_select
from sqlmodel import Session

from bot.domain.settlements import edit
from bot.domain.settlements import service as settlements
from tests.factories import make_milestone, make_settlement

STARTS = dt.datetime(2031, 5, 4, 16, 0, tzinfo=dt.UTC)


def _blind_clash_check(*columns: Any) -> Any:
    """The clash check as the second of two racing requests runs it: before the first has
    written, so it finds nothing."""
    return real_select(*columns).where(false())


@pytest.mark.parametrize(
    ("save", "fields", "refusal"),
    [
        (
            edit.save_meeting,
            {
                "meeting": None,
                "ward": "",
                "level": "neighbourhood",
                "title": "Block committee",
                "starts_at": STARTS,
                "venue": "",
            },
            "already a meeting with that title",
        ),
        (
            edit.save_milestone,
            {
                "milestone": None,
                "strand": "services",
                "title": "Standpipes installed",
                "target_date": None,
                "status": "planned",
                "note": "",
            },
            "already has a milestone",
        ),
    ],
)
def test_the_same_meeting_or_milestone_saved_twice_at_once_is_refused(
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    save: Callable[..., object],
    fields: dict[str, Any],
    refusal: str,
) -> None:
    place = make_settlement(session)
    save(session=session, settlement=place, **fields)
    monkeypatch.setattr(edit, "select", _blind_clash_check)
    with pytest.raises(edit.EditRejected, match=refusal):
        save(session=session, settlement=place, **fields)


def test_a_forum_takes_the_settlements_spelling_of_its_ward(session: Session) -> None:
    # Stored as typed ("ward 5"), it reached none of the residents of "Ward 5".
    ubuhle = make_settlement(session, "Ubuhle", ward="Ward 5")
    forum: dict[str, Any] = {"meeting": None, "level": "ward", "starts_at": STARTS, "venue": ""}
    saved = edit.save_meeting(
        session=session, settlement=None, ward=" ward  5", title="Ward forum", **forum
    )
    assert saved.ward == "Ward 5"
    named = edit.save_meeting(
        session=session, settlement=ubuhle, ward="WARD 5", title="Ward forum B", **forum
    )
    assert named.ward == "Ward 5"
    with pytest.raises(edit.EditRejected, match="no settlement is in ward 'Ward 55'"):
        edit.save_meeting(session=session, settlement=None, ward="Ward 55", title="X", **forum)


def test_a_title_too_long_once_folded_is_refused_not_a_database_error(session: Session) -> None:
    place = make_settlement(session)
    with pytest.raises(edit.EditRejected, match="once folded"):
        edit.save_milestone(
            session=session, settlement=place, milestone=None, strand="services",
            title="ß" * 300, target_date=None, status="planned", note="",
        )  # fmt: skip
    with pytest.raises(edit.EditRejected, match="once folded"):
        edit.save_meeting(
            session=session, settlement=place, meeting=None, ward="", level="neighbourhood",
            title="ﬃ" * 300, starts_at=STARTS, venue="",
        )  # fmt: skip


def test_text_too_long_is_refused_not_cut(session: Session) -> None:
    # The venue, notes and phase were cut to their column without a word to the officer.
    place = make_settlement(session)
    with pytest.raises(edit.EditRejected, match="venue is longer than 500"):
        edit.save_meeting(
            session=session, settlement=place, meeting=None, ward="", level="neighbourhood",
            title="Block committee", starts_at=STARTS, venue="Hall " * 101,
        )  # fmt: skip
    with pytest.raises(edit.EditRejected, match="note is longer than 2000"):
        edit.save_milestone(
            session=session, settlement=place, milestone=None, strand="services",
            title="Standpipes", target_date=None, status="planned", note="n" * 2001,
        )  # fmt: skip
    with pytest.raises(edit.EditRejected, match="current phase is longer than 500"):
        edit.update_settlement(
            session=session, settlement=place, category="B1", category_note="",
            current_phase="p" * 501,
        )  # fmt: skip
    kept = edit.save_meeting(
        session=session, settlement=place, meeting=None, ward="", level="neighbourhood",
        title="Block committee", starts_at=STARTS, venue="  Hall " + "x" * 494,
    )  # fmt: skip
    assert kept.venue == "Hall " + "x" * 494  # at the limit once stripped: kept whole


def test_undated_milestones_come_after_the_dated_ones_on_every_database(session: Session) -> None:
    # ORDER BY target_date put NULL first on SQLite and last on PostgreSQL: "planned, no
    # date set yet" headed residents' timeline on one and ended it on the other.
    here = make_settlement(session, "Ubuhle Gardens")
    make_milestone(session, here, title="Toilets", target_date=None)
    make_milestone(session, here, title="Standpipes", target_date=dt.date(2031, 3, 1))
    make_milestone(session, here, title="Drains", target_date=dt.date(2030, 9, 1))
    assert here.id is not None
    expected = ["Drains", "Standpipes", "Toilets"]
    assert [m.title for m in edit.milestones(session=session, settlement_id=here.id)] == expected
    shown = settlements.milestones(session=session, settlement_id=here.id)
    assert [row.title for row in shown] == expected
