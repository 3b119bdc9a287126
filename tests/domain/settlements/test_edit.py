"""Dashboard and API edits: the same meeting or milestone saved twice at the same moment
(a retry racing the first request) is refused, not a 500."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import false, update
from sqlalchemy import select as real_select
from sqlmodel import Session

from bot.config import Settings
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import Broadcast
from bot.domain.outbox import budget
from bot.domain.settlements import edit
from bot.domain.settlements import service as settlements
from bot.domain.settlements.models import Meeting, Milestone
from tests.domain.broadcasts.factories import HALL, make_moved_announcement
from tests.factories import make_meeting, make_milestone, make_settlement

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
    with pytest.raises(edit.EditRejected, match="no settlement is in ward Ward 55"):
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
    # At the limit once stripped, the venue passes its column's check, and only then meets
    # the SMS reminder's, which no venue of 500 characters passes.
    with pytest.raises(budget.TooManySegments, match=r"venue: its \w+ SMS reminder"):
        edit.save_meeting(
            session=session, settlement=place, meeting=None, ward="", level="neighbourhood",
            title="Block committee", starts_at=STARTS, venue="  Hall " + "x" * 494,
        )  # fmt: skip
    kept = edit.save_meeting(
        session=session, settlement=place, meeting=None, ward="", level="neighbourhood",
        title="Block committee", starts_at=STARTS, venue="  Hall " + "x" * 94,
    )  # fmt: skip
    assert kept.venue == "Hall " + "x" * 94


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


def _meeting(session: Session, place: Any, meeting: Any = None, **fields: Any) -> Any:
    values = {"ward": "", "level": "neighbourhood", "title": "Block committee", "venue": ""}
    return edit.save_meeting(
        session=session,
        settlement=place,
        meeting=meeting,
        starts_at=fields.pop("starts_at", STARTS),
        **{**values, **fields},
    )


def test_a_meeting_whose_sms_reminder_would_pass_three_segments_is_refused(
    session: Session,
) -> None:
    # Reminders go by themselves, in every resident's language: their length is checked
    # when the officer writes the title and venue.
    place = make_settlement(session)
    venue = "The community hall behind the clinic, next to the taxi rank. " * 5  # 305
    with pytest.raises(budget.TooManySegments) as refused:
        _meeting(session, place, venue=venue)
    [problem] = refused.value.problems
    assert problem.field == ("venue",) and problem.size.segments == 4
    assert str(refused.value).startswith("venue: its Afrikaans SMS reminder, with the date, ")
    assert "so shorten the title or venue" in str(refused.value)
    fits = _meeting(session, place, venue=venue[:200])
    assert fits.venue == venue[:200].strip()


# Meetings as officers write them in Sepedi and Tshivenda: one letter outside GSM-7 (š, ṱ,
# ḓ) makes every reminder UCS-2, 67 characters a segment, and the Afrikaans one 4 segments.
SEPEDI = ("Housing list information session", "Mošate community hall")
TSHIVENDA = ("Muṱangano wa u ḓivhadza vhadzulapo", "Holo ya tshitshavha")


def test_a_meeting_written_in_any_languages_spelling_is_saved_and_told_what_its_sms_take(
    session: Session,
) -> None:
    place = make_settlement(session)
    for title, venue in (SEPEDI, TSHIVENDA):
        saved = _meeting(session, place, title=title, venue=venue)
        assert (saved.title, saved.venue) == (title, venue)
        # What the reminders will take as sent, for the dashboard to say.
        told = broadcasts.reminder_sms_beyond_budget(title=title, venue=venue, starts_at=STARTS)
        assert told is not None and told.size.encoding == "UCS-2" and told.size.segments == 4
        assert told.what == "its Afrikaans SMS reminder, with the date,"
    told = broadcasts.reminder_sms_beyond_budget(
        title=TSHIVENDA[0], venue=TSHIVENDA[1], starts_at=STARTS
    )
    assert told is not None and told.size.ucs2_because == ("ṱ", "ḓ")
    # Afrikaans ê in a title of 77 characters: 4 UCS-2 segments, 2 as GSM-7 would count it.
    title = "Vergadering oor die nuwe kraanwater en die strate van die blok, sê die komitee"
    assert _meeting(session, place, title=title).title == title
    # A short venue is no notice: its reminders, UCS-2, still fit.
    assert (
        broadcasts.reminder_sms_beyond_budget(
            title="Block committee", venue=SEPEDI[1], starts_at=STARTS
        )
        is None
    )
    # Length is still measured, as GSM-7 would count the words: a long venue is refused.
    venue = "Mošate community hall behind the clinic, next to the taxi rank. " * 5
    with pytest.raises(budget.TooManySegments) as refused:
        _meeting(session, place, venue=venue)
    [problem] = refused.value.problems
    assert problem.field == ("venue",) and problem.size.encoding == "GSM-7"
    assert problem.size.segments == 4 and "so shorten the title or venue" in problem.message()


def test_a_meeting_stored_with_long_words_is_measured_only_when_they_change(
    session: Session,
) -> None:
    place = make_settlement(session)
    long_venue = "The community hall behind the clinic, next to the taxi rank. " * 6
    stored = make_meeting(session, STARTS, settlement_id=place.id, venue=long_venue.strip())
    kept = _meeting(session, place, stored, title="Block meeting", venue=long_venue)
    assert kept.venue == long_venue.strip()  # nothing new said: it stands as it was
    with pytest.raises(budget.TooManySegments):
        _meeting(session, place, stored, title="Block meeting", venue=long_venue + "Gate 2.")
    with pytest.raises(budget.TooManySegments):  # moved: the reminders will say so
        _meeting(
            session,
            place,
            stored,
            title="Block meeting",
            venue=long_venue,
            starts_at=STARTS + dt.timedelta(days=1),
        )


def test_a_milestone_change_that_makes_an_unsent_broadcasts_sms_too_long_is_refused(
    session: Session,
) -> None:
    place = make_settlement(session)
    milestone = make_milestone(session, place, title="Standpipes", note="Four standpipes.")
    assert place.id is not None and milestone.id is not None
    scheduled = Broadcast(
        title="Standpipes done",
        audience={"settlement_ids": [place.id]},
        template={"name": "milestone_reached", "milestone_id": milestone.id},
        send_at=STARTS,
    )
    session.add(scheduled)
    session.flush()

    def save(note: str) -> None:
        edit.save_milestone(
            session=session, settlement=place, milestone=milestone, strand="services",
            title="Standpipes", target_date=None, status="done", note=note,
        )  # fmt: skip

    long_note = "The four standpipes in lanes 1 to 4 were installed and tested. " * 6  # 384
    with pytest.raises(budget.TooManySegments) as refused:
        save(long_note)
    assert str(refused.value).startswith(
        f"note: broadcast {scheduled.id} quotes this milestone and is not sent yet: the "
    )
    assert "(or cancel the broadcast first)" in str(refused.value)
    save(long_note[:150])  # fits
    assert milestone.note == long_note[:150].strip()
    # Sepedi š makes that broadcast's SMS UCS-2, 4 segments: counted as GSM-7 would count
    # the words the officer wrote once, it fits, and the note is saved.
    save(long_note[:150] + " At Mošate.")
    assert milestone.note.endswith("At Mošate.")
    # One too long already (quoted before the check) holds up no change that is no longer.
    session.execute(update(Milestone).values(note=long_note.strip()))
    session.refresh(milestone)
    save(long_note.strip().replace("tested", "checked"))  # as many segments as before
    with pytest.raises(budget.TooManySegments):
        save(long_note + "More news follows soon. " * 7)  # one segment more


def test_a_meeting_change_that_makes_its_unsent_announcements_sms_too_long_is_refused(
    session: Session, settings: Settings
) -> None:
    # A meeting's announcement was measured only when composed: its venue lengthened, or
    # the meeting moved, before it went, it went as 4 SMS segments.
    place = make_settlement(session)
    meeting = make_meeting(session, STARTS, settlement_id=place.id, venue="Creche hall")
    moved = make_moved_announcement(session, settings=settings, meeting=meeting)

    def save(venue: str, starts_at: dt.datetime = STARTS, title: str = "Block meeting") -> None:
        _meeting(session, place, meeting, title=title, venue=venue, starts_at=starts_at)

    with pytest.raises(budget.TooManySegments) as refused:
        save(HALL[:285])
    [problem] = refused.value.problems
    assert problem.field == ("venue",) and problem.size.segments == 4
    assert str(refused.value).startswith(
        f"venue: broadcast {moved} quotes this meeting and is not sent yet: the Afrikaans "
        "SMS, with its STOP hint, would be 4 SMS segments (GSM-7, "
    )
    assert str(refused.value).endswith(
        "so shorten the meeting's title or venue (or cancel the broadcast first)"
    )
    assert meeting.venue == "Creche hall"  # nothing written
    save(HALL[:270])  # fits
    assert meeting.venue == HALL[:270].strip()
    # Moved, it says another date: 2031-05-09 is two characters longer to say than 05-04.
    save(HALL[:276])
    with pytest.raises(budget.TooManySegments) as refused:
        save(HALL[:276], starts_at=STARTS + dt.timedelta(days=5))
    assert [p.field for p in refused.value.problems] == [("starts_at",)]
    assert meeting.starts_at == STARTS
    save(HALL[:276], starts_at=STARTS + dt.timedelta(days=2))  # 05-06: one longer, fits
    assert meeting.starts_at == STARTS + dt.timedelta(days=2)
    # Tshivenda letters make it UCS-2 (7 segments as sent): measured as GSM-7 would count
    # them, the venue an officer writes once is taken, as its reminders take it.
    venda = "Holo ya tshitshavha ya Muṱangano, murahu ha kiliniki, tsini ha dithekisi. " * 4
    save(venda[:270], starts_at=STARTS)
    assert meeting.venue == venda[:270].strip()
    # One too long already (stored before the check) holds up no change that is no longer.
    session.execute(
        update(Meeting).where(Meeting.id == meeting.id).values(venue=HALL[:290].strip())
    )
    session.refresh(meeting)
    save(HALL[:290], title="Block Meeting")
    assert meeting.title == "Block Meeting"
    # An invitation due once the meeting has started fails then, sent to no one: not counted.
    assert list(broadcasts.quoting_sms_problems(session=session, meeting_id=meeting.id)) == [moved]
    meeting.starts_at = STARTS - dt.timedelta(days=3)  # before the announcement would go
    assert broadcasts.quoting_sms_problems(session=session, meeting_id=meeting.id) == {}
    meeting.starts_at = STARTS
    # Cancelled, the meeting's invitations are withdrawn; its own notice ("cancelled") does
    # not say the venue: nothing that will go passes the budget for it.
    edit.cancel_meeting(session=session, meeting=meeting)
    assert session.get(Broadcast, moved).status == "cancelled"  # type: ignore[union-attr]
    notice = broadcasts.announce_meeting(
        session=session, settings=settings, meeting=meeting, change="cancelled", staff=None,
        send_at=STARTS - dt.timedelta(days=2),
    )  # fmt: skip
    assert notice.status == "scheduled"
    assert broadcasts.quoting_sms_problems(session=session, meeting_id=meeting.id) == {}
    # And a cancelled meeting is not changed any more (residents are told it is off).
    with pytest.raises(edit.MeetingCancelled):
        save(HALL[:292], title="Block Meeting")
    assert meeting.venue == HALL[:290].strip()


def test_a_venue_change_that_makes_its_unsent_new_venue_announcement_too_long_is_refused(
    session: Session, settings: Settings
) -> None:
    # A "moved" announcement of a new venue at the same time says its own words ("at a new
    # place"): measured with them when the meeting's words change, as a move in time is.
    place = make_settlement(session)
    meeting = make_meeting(session, STARTS, settlement_id=place.id, venue="Creche hall")
    announced = session.get_one(
        Broadcast,
        make_moved_announcement(
            session, settings=settings, meeting=meeting, previous_venue="Old creche"
        ),
    )
    assert broadcasts.quoting_sms_problems(session=session, meeting_id=meeting.id) == {}
    with pytest.raises(budget.TooManySegments) as refused:
        _meeting(session, place, meeting, title="Block meeting", venue=HALL[:290])
    assert str(refused.value).startswith(
        f"venue: broadcast {announced.id} quotes this meeting and is not sent yet: the "
    )
    assert meeting.venue == "Creche hall"
    meeting.venue = HALL[:290].strip()  # as stored before the check
    assert list(broadcasts.quoting_sms_problems(session=session, meeting_id=meeting.id)) == [
        announced.id
    ]
    # Back at the venue it is said to have moved from, it has nothing to tell: it fails
    # when due (not counted), and the officer is refused a preview of it now.
    meeting.venue = "Old creche"
    assert broadcasts.quoting_sms_problems(session=session, meeting_id=meeting.id) == {}
    with pytest.raises(broadcasts.Conflict, match="has not moved"):
        broadcasts.template_values(session=session, template=announced.template or {})
