"""Meeting reminders (3 days before and the morning of), attendance replies and counts."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import Session, col

from api.deps import converse_for
from bot.config import Settings
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.jobs import schedule
from bot.domain.broadcasts.models import MeetingReminder
from bot.domain.broadcasts.ports import SqlMeetingInvitations
from bot.domain.messages import service as messages
from bot.domain.outbox import service as outbox
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.settlements import edit
from bot.domain.settlements.models import Meeting, Settlement
from bot.domain.staff import scope as scopes
from bot.engine.messages import Inbound
from bot.flows import broadcast_notices
from tests.domain.broadcasts.factories import make_member
from tests.factories import make_meeting, make_settlement

# Thursday 12 March 2026, 18:00 in Johannesburg (16:00 UTC).
STARTS = dt.datetime(2026, 3, 12, 16, 0, tzinfo=dt.UTC)
THREE_DAYS_BEFORE = dt.datetime(2026, 3, 9, 5, 0, tzinfo=dt.UTC)  # 07:00 local, Monday
MORNING_OF = dt.datetime(2026, 3, 12, 5, 0, tzinfo=dt.UTC)


@pytest.fixture
def scene(session: Session) -> dict[str, Any]:
    home = make_settlement(session, "Ubuhle Gardens", ward="14")
    neighbour = make_settlement(session, "Masakhane", ward="14")
    far = make_settlement(session, "Thembalethu", ward="9")
    now = THREE_DAYS_BEFORE - dt.timedelta(days=1)
    return {
        "meeting": make_meeting(
            session, STARTS, settlement_id=home.id, ward="14", title="Layout plan", venue="Hall"
        ),
        "en": make_member(session, settlement_id=home.id, language="en", now=now),
        "xh": make_member(
            session, settlement_id=home.id, language="xh", channel="whatsapp", now=now
        ),
        "opted_out": make_member(session, settlement_id=home.id, opted_out_at=now, now=now),
        "neighbour": make_member(session, settlement_id=neighbour.id, now=now),
        "far": make_member(session, settlement_id=far.id, now=now),
    }


def _reminders(session: Session) -> list[Outbox]:
    query = select(Outbox).where(col(Outbox.purpose) == "reminder").order_by(col(Outbox.id))
    return list(session.execute(query.execution_options(populate_existing=True)).scalars())


def test_reminder_times_are_local_mornings() -> None:
    assert broadcasts.reminder_due_at(STARTS, 3, 7) == THREE_DAYS_BEFORE
    assert broadcasts.reminder_due_at(STARTS, 0, 7) == MORNING_OF


def test_a_meeting_before_the_reminder_hour_is_reminded_the_day_before() -> None:
    dawn = dt.datetime(2026, 3, 12, 4, 0, tzinfo=dt.UTC)  # 06:00 local: before the 07:00 round
    assert broadcasts.reminder_due_at(dawn, 0, 7) == MORNING_OF - dt.timedelta(days=1)
    half_past = dt.datetime(2026, 3, 12, 5, 30, tzinfo=dt.UTC)  # 07:30: half an hour's notice
    assert broadcasts.reminder_due_at(half_past, 0, 7) == MORNING_OF - dt.timedelta(days=1)
    eight = dt.datetime(2026, 3, 12, 6, 0, tzinfo=dt.UTC)  # 08:00: an hour's notice will do
    assert broadcasts.reminder_due_at(eight, 0, 7) == MORNING_OF


def test_an_early_meeting_s_same_day_round_goes_the_day_before_as_a_dated_reminder(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    dawn = dt.datetime(2026, 3, 12, 4, 0, tzinfo=dt.UTC)  # Thursday 06:00 local
    early = make_meeting(
        session, dawn, settlement_id=scene["meeting"].settlement_id, ward="14", title="Dawn walk"
    )
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    day_before = MORNING_OF - dt.timedelta(days=1)
    broadcasts.send_reminders(session=session, settings=settings, now=day_before)
    rows = [r for r in _reminders(session) if r.ref == broadcasts.meeting_ref(early.id)]
    assert len(rows) == 4  # two residents, three days before and the day before
    last = [r for r in rows if r.language == "en"][-1]
    assert "Reminder: Dawn walk" in (last.body or "") and "Today" not in (last.body or "")
    assert "Thursday" in (last.body or "") and "06:00" in (last.body or "")
    assert broadcasts.send_reminders(session=session, settings=settings, now=day_before) == 0
    # On the day, 07:00 is after the start: nothing more goes.
    assert broadcasts.send_reminders(session=session, settings=settings, now=MORNING_OF) == 2
    assert len([r for r in _reminders(session) if r.ref == broadcasts.meeting_ref(early.id)]) == 4


def test_an_early_meeting_is_reminded_once_when_the_day_before_is_a_round_too(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    dawn = dt.datetime(2026, 3, 12, 4, 0, tzinfo=dt.UTC)
    early = make_meeting(
        session, dawn, settlement_id=scene["meeting"].settlement_id, ward="14", title="Dawn walk"
    )
    day_before = MORNING_OF - dt.timedelta(days=1)
    settings = settings.model_copy(update={"meeting_reminder_days": [1, 0]})
    broadcasts.send_reminders(session=session, settings=settings, now=day_before)
    rows = [r for r in _reminders(session) if r.ref == broadcasts.meeting_ref(early.id)]
    assert sorted(r.resident_id for r in rows) == sorted([scene["en"].id, scene["xh"].id])


def test_an_early_meeting_is_reminded_the_day_before_on_time_with_only_a_same_day_round(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    half_past = dt.datetime(2026, 3, 12, 5, 30, tzinfo=dt.UTC)  # Thursday 07:30 local
    early = make_meeting(
        session, half_past, settlement_id=scene["meeting"].settlement_id, ward="14", title="Walk"
    )
    settings = settings.model_copy(
        update={"meeting_reminder_days": [0], "meeting_reminder_grace_hours": 0.25}
    )
    day_before = MORNING_OF - dt.timedelta(days=1)  # Wednesday 07:00: 24.5 hours ahead
    broadcasts.send_reminders(session=session, settings=settings, now=day_before)
    rows = [r for r in _reminders(session) if r.ref == broadcasts.meeting_ref(early.id)]
    assert len(rows) == 2


def test_reminders_go_three_days_before_and_the_morning_of_once(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    early = THREE_DAYS_BEFORE - dt.timedelta(minutes=5)
    assert broadcasts.send_reminders(session=session, settings=settings, now=early) == 0
    assert broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE) == 2
    again = THREE_DAYS_BEFORE + dt.timedelta(minutes=10)
    assert broadcasts.send_reminders(session=session, settings=settings, now=again) == 0
    rows = _reminders(session)
    assert {row.resident_id for row in rows} == {scene["en"].id, scene["xh"].id}
    by_language = {row.language: row for row in rows}
    assert "Reply 1 or ATTEND" in (by_language["en"].body or "")
    assert "Thursday" in (by_language["en"].body or "")
    assert "Layout plan" in (by_language["xh"].body or "")
    assert by_language["xh"].channel == "whatsapp" and by_language["xh"].allow_sms_fallback
    assert broadcasts.send_reminders(session=session, settings=settings, now=MORNING_OF) == 2
    today = [row for row in _reminders(session) if row.language == "en"][-1]
    assert "Today: Layout plan" in (today.body or "") and "18:00" in (today.body or "")
    assert broadcasts.send_reminders(session=session, settings=settings, now=MORNING_OF) == 0


def test_stale_or_cancelled_meetings_get_no_reminder(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    late = THREE_DAYS_BEFORE + dt.timedelta(hours=13)  # past the grace period
    assert broadcasts.send_reminders(session=session, settings=settings, now=late) == 0
    scene["meeting"].cancelled = True
    session.flush()
    assert broadcasts.send_reminders(session=session, settings=settings, now=MORNING_OF) == 0


def test_a_moved_meeting_is_reminded_again(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    meeting = scene["meeting"]
    meeting.starts_at = STARTS + dt.timedelta(days=1)
    session.flush()
    moved_due = THREE_DAYS_BEFORE + dt.timedelta(days=1)
    assert broadcasts.send_reminders(session=session, settings=settings, now=moved_due) == 2


def _queued(session: Session) -> list[Outbox]:
    return [row for row in _reminders(session) if row.status in ("pending", "sending")]


def _change(
    session: Session,
    meeting: Meeting,
    *,
    starts_at: dt.datetime,
    venue: str,
    settlement: Settlement | None = None,
    title: str | None = None,
) -> None:
    """Change a meeting's time, venue, settlement or title as an officer does, on the day
    the first reminders are due."""
    edit.save_meeting(
        session=session,
        meeting=meeting,
        settlement=settlement or session.get(Settlement, meeting.settlement_id),
        ward="14",
        level="neighbourhood",
        title=title or meeting.title,
        starts_at=starts_at,
        venue=venue,
        now=THREE_DAYS_BEFORE,
    )


def test_reminders_still_queued_are_withdrawn_when_the_meeting_is_cancelled_or_moved(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    first, _ = _reminders(session)
    first.status, first.claimed_by = "sending", "worker-1"  # a worker waits to send it
    session.flush()
    meeting = scene["meeting"]
    _change(session, meeting, starts_at=STARTS + dt.timedelta(days=1), venue=meeting.venue)
    assert _queued(session) == []
    assert {row.error_message for row in _reminders(session)} == {"the meeting was moved"}
    assert not outbox.still_to_send(session=session, outbox_id=first.id, worker_id="worker-1")
    moved_due = THREE_DAYS_BEFORE + dt.timedelta(days=1)
    assert broadcasts.send_reminders(session=session, settings=settings, now=moved_due) == 2
    assert len(_queued(session)) == 2
    edit.cancel_meeting(session=session, meeting=meeting)
    assert _queued(session) == []


def test_a_venue_change_reminds_again_with_the_new_venue(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    # The queued reminders said "Where: Hall" after the meeting moved to the creche.
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    sent = _reminders(session)[0]
    sent.status = "sent"  # one already went: its resident hears of the new venue too
    session.flush()
    _change(session, scene["meeting"], starts_at=STARTS, venue="Creche")
    assert _queued(session) == []
    later = THREE_DAYS_BEFORE + dt.timedelta(hours=1)  # the round is still due
    assert broadcasts.send_reminders(session=session, settings=settings, now=later) == 2
    again = _queued(session)
    assert {row.resident_id for row in again} == {scene["en"].id, scene["xh"].id}
    assert all("Creche" in (row.body or "") and "Hall" not in (row.body or "") for row in again)


def _bodies(rows: list[Outbox]) -> set[str]:
    return {row.body or "" for row in rows}


@pytest.mark.parametrize(
    "change",
    [{"venue": "Creche"}, {"starts_at": STARTS + dt.timedelta(hours=1)}],
    ids=["venue", "time"],
)
def test_a_meeting_changed_and_changed_back_is_reminded_again(
    session: Session, settings: Settings, scene: dict[str, Any], change: dict[str, Any]
) -> None:
    # The dedupe keys named the start and the venue: back as it was, the round queued again
    # found every key taken by the withdrawn or sent reminders of the first time, and added
    # none. Those whose reminder was withdrawn got none; those told the wrong venue or time
    # in between were never told the right one.
    meeting = scene["meeting"]
    first = {"starts_at": STARTS, "venue": "Hall"}
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    _change(session, meeting, **{**first, **change})
    _change(session, meeting, **first)  # put back before the reminder job ran again
    later = THREE_DAYS_BEFORE + dt.timedelta(minutes=10)
    assert broadcasts.send_reminders(session=session, settings=settings, now=later) == 2
    right = _bodies(_queued(session))
    assert {row.resident_id for row in _queued(session)} == {scene["en"].id, scene["xh"].id}
    _change(session, meeting, **{**first, **change})
    later += dt.timedelta(minutes=10)
    assert broadcasts.send_reminders(session=session, settings=settings, now=later) == 2
    session.execute(update(Outbox).where(col(Outbox.status) == "pending").values(status="sent"))
    _change(session, meeting, **first)  # those told the wrong one hear the right one again
    later += dt.timedelta(minutes=10)
    assert broadcasts.send_reminders(session=session, settings=settings, now=later) == 2
    assert _bodies(_queued(session)) == right


def test_a_new_title_reaches_the_reminders_still_queued_and_no_one_twice(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    # The reminders still queued kept the old title. One already sent gave the right time
    # and place: a corrected title is not worth a second SMS.
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    sent = next(row for row in _reminders(session) if row.resident_id == scene["en"].id)
    sent.status = "sent"
    session.flush()
    _change(session, scene["meeting"], starts_at=STARTS, venue="Hall", title="Layout plan vote")
    assert _queued(session) == []
    later = THREE_DAYS_BEFORE + dt.timedelta(minutes=10)
    assert broadcasts.send_reminders(session=session, settings=settings, now=later) == 1
    (again,) = _queued(session)
    assert again.resident_id == scene["xh"].id and "Layout plan vote" in (again.body or "")
    assert sent.status == "sent" and sent.withdrawn_at is None  # a failed send is tried again


def test_a_meeting_moved_to_another_settlement_reminds_its_residents_instead(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    masakhane = session.execute(
        select(Settlement).where(col(Settlement.name) == "Masakhane")
    ).scalar_one()
    meeting = scene["meeting"]
    _change(session, meeting, starts_at=STARTS, venue=meeting.venue, settlement=masakhane)
    assert _queued(session) == []
    later = THREE_DAYS_BEFORE + dt.timedelta(hours=1)
    assert broadcasts.send_reminders(session=session, settings=settings, now=later) == 1
    assert {row.resident_id for row in _queued(session)} == {scene["neighbour"].id}


def test_reminders_still_queued_when_the_meeting_starts_are_withdrawn(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    broadcasts.send_reminders(session=session, settings=settings, now=MORNING_OF)
    assert len(_queued(session)) == 2
    broadcasts.send_reminders(
        session=session, settings=settings, now=STARTS - dt.timedelta(minutes=1)
    )
    assert len(_queued(session)) == 2
    broadcasts.send_reminders(
        session=session, settings=settings, now=STARTS + dt.timedelta(minutes=5)
    )
    assert _queued(session) == []
    assert {row.error_message for row in _reminders(session)} == {"the meeting has started"}


def test_ward_forums_reach_the_ward(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    make_meeting(session, STARTS, level="ward", ward="14", title="Ward forum")
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    forum = [row for row in _reminders(session) if "Ward forum" in (row.body or "")]
    assert {row.resident_id for row in forum} == {
        scene["en"].id,
        scene["xh"].id,
        scene["neighbour"].id,
    }


def test_a_resident_answering_a_reminder_is_counted_once(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    meeting = scene["meeting"]
    resident: Resident = scene["en"]
    invitations = SqlMeetingInvitations(session)
    assert invitations.pending(resident.phone, since=None, now=THREE_DAYS_BEFORE) == []
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    # Queued, not sent: no invitation yet ("1" is the menu's), and nobody counted reminded.
    assert invitations.pending(resident.phone, since=None, now=THREE_DAYS_BEFORE) == []
    assert broadcasts.attendance(
        session=session, scope=scopes.EVERYTHING, meeting_id=meeting.id
    ) == (0, 0)
    session.execute(update(Outbox).values(status="sent", sent_at=THREE_DAYS_BEFORE))
    [found] = invitations.pending(resident.phone, since=None, now=THREE_DAYS_BEFORE)
    assert found.meeting_id == meeting.id and found.title == "Layout plan"
    future = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert invitations.pending(resident.phone, since=future, now=THREE_DAYS_BEFORE) == []
    assert invitations.pending(resident.phone, since=None, now=STARTS + dt.timedelta(hours=3)) == []

    said = {"resident_id": resident.id, "meeting_id": meeting.id, "starts_at": STARTS}
    assert broadcasts.record_attendance(session=session, **said)
    assert not broadcasts.record_attendance(session=session, **said)
    assert broadcasts.attendance(
        session=session, scope=scopes.EVERYTHING, meeting_id=meeting.id
    ) == (1, 2)


def test_a_reminder_still_standing_is_answered_when_a_newer_one_s_meeting_was_cancelled(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    # Two reminders in one round (an early meeting's comes the day before, as another's
    # does): the newer one's meeting is cancelled, and "1" still answers the other.
    resident: Resident = scene["en"]
    walk = make_meeting(
        session,
        STARTS + dt.timedelta(hours=1),
        settlement_id=scene["meeting"].settlement_id,
        ward="14",
        title="Walk",
    )
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    rows = [r for r in _reminders(session) if r.resident_id == resident.id]
    assert {r.ref for r in rows} == {
        broadcasts.meeting_ref(scene["meeting"].id),
        broadcasts.meeting_ref(walk.id),
    }
    older, newer = sorted(rows, key=lambda r: r.id)
    for row, minutes in ((older, 0), (newer, 1)):
        row.status, row.sent_at = "sent", THREE_DAYS_BEFORE + dt.timedelta(minutes=minutes)
    session.flush()
    newest = session.get(Meeting, int(newer.ref.removeprefix("meeting:")))
    invitations = SqlMeetingInvitations(session)
    found = invitations.pending(resident.phone, since=None, now=THREE_DAYS_BEFORE)
    older_id = int(older.ref.removeprefix("meeting:"))
    assert newest is not None and [i.meeting_id for i in found] == [newest.id, older_id]
    assert invitations.still_on(newest.id, now=THREE_DAYS_BEFORE) == found[0]
    edit.cancel_meeting(session=session, meeting=newest)
    found = invitations.pending(resident.phone, since=None, now=THREE_DAYS_BEFORE)
    assert [i.meeting_id for i in found] == [older_id]
    assert invitations.still_on(newest.id, now=THREE_DAYS_BEFORE) is None


def test_a_meeting_reminded_in_two_rounds_is_one_invitation(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    resident: Resident = scene["en"]
    for now in (THREE_DAYS_BEFORE, MORNING_OF):
        broadcasts.send_reminders(session=session, settings=settings, now=now)
        session.execute(
            update(Outbox).where(col(Outbox.status) == "pending").values(status="sent", sent_at=now)
        )
    rows = [r for r in _reminders(session) if r.resident_id == resident.id]
    assert len(rows) == 2
    found = SqlMeetingInvitations(session).pending(resident.phone, since=None, now=MORNING_OF)
    assert [i.meeting_id for i in found] == [scene["meeting"].id]


def test_jobs_are_declared_with_their_ids(settings: Settings) -> None:
    ids = {job["id"] for job in schedule(settings)}
    assert ids == {"broadcasts.send_due", "broadcasts.meeting_reminders"}


def test_the_worker_runs_the_broadcast_jobs() -> None:
    from bot.worker import JOB_MODULES

    assert "bot.domain.broadcasts.jobs" in JOB_MODULES


def test_a_start_set_to_its_whole_minute_reminds_no_one_again(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    # An imported start with seconds, set to its whole minute on the dashboard (5a05f3e):
    # residents were told 18:00 and still are, so nothing is withdrawn or sent twice.
    meeting = scene["meeting"]
    meeting.starts_at = STARTS + dt.timedelta(seconds=30)
    session.flush()
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    queued = _queued(session)
    assert len(queued) == 2
    _change(session, meeting, starts_at=STARTS, venue="Hall")
    assert meeting.starts_at == STARTS and _queued(session) == queued
    later = THREE_DAYS_BEFORE + dt.timedelta(minutes=10)
    assert broadcasts.send_reminders(session=session, settings=settings, now=later) == 0
    assert len(_reminders(session)) == 2


def test_a_round_recorded_with_the_start_s_seconds_is_not_sent_again(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    # Rounds were recorded with the exact start (before 2026-12-07): such a record still
    # counts for the minute residents are told.
    meeting = scene["meeting"]
    meeting.starts_at = STARTS + dt.timedelta(seconds=30)
    session.add(MeetingReminder(meeting_id=meeting.id, days_before=3, starts_at=meeting.starts_at))
    session.flush()
    assert broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE) == 0


# --- a resident who already said they will come --------------------------------------------

_sids = itertools.count(1)


def _say(session: Session, resident: Resident, text: str, at: dt.datetime) -> str:
    """Send `text` from `resident` on their channel as at `at`; return the reply."""
    inbound = Inbound(
        message_id=f"SM{next(_sids):032d}",
        phone=resident.phone,
        channel="whatsapp" if resident.last_inbound_whatsapp_at else "sms",
        text=text,
        received_at=at,
    )
    [reply] = messages.receive(
        session=session, inbound=inbound, converse=converse_for(session), now=at
    )
    return reply


def _deliver(session: Session, at: dt.datetime) -> None:
    """Let every queued reminder reach its resident at `at`."""
    session.execute(
        update(Outbox).where(col(Outbox.status) == "pending").values(status="sent", sent_at=at)
    )


def test_a_resident_who_said_yes_is_told_so_not_asked_again(
    session: Session, settings: Settings, scene: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = scene["meeting"].settlement_id
    said_en, said_xh = scene["en"], scene["xh"]
    asked_en = make_member(session, settlement_id=home, now=THREE_DAYS_BEFORE)
    asked_xh = make_member(
        session, settlement_id=home, language="xh", channel="whatsapp", now=MORNING_OF
    )
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    _deliver(session, THREE_DAYS_BEFORE + dt.timedelta(minutes=1))
    answered = THREE_DAYS_BEFORE + dt.timedelta(hours=1)
    assert _say(session, said_en, "1", answered).startswith(
        "Thank you. We noted that you will come to Layout plan on Thursday, 12 March 2026"
    )
    assert _say(session, said_xh, "NDIZA", answered).startswith("Enkosi.")

    rendered: list[tuple[str, bool]] = []
    real = broadcast_notices.reminder

    def counted(*args: Any, **kwargs: Any) -> str:
        rendered.append((args[1].locale, kwargs.get("attending", False)))
        return real(*args, **kwargs)

    monkeypatch.setattr(broadcast_notices, "reminder", counted)
    assert broadcasts.send_reminders(session=session, settings=settings, now=MORNING_OF) == 4
    today = {
        row.resident_id: row.body or ""
        for row in _reminders(session)
        if row.created_at == MORNING_OF
    }
    assert today[said_en.id] == (
        "Today: Layout plan\nStarts at 18:00.\nWhere: Hall\n"
        "You said you will come. See you there.\nReply STOP to stop these messages."
    )
    assert today[asked_en.id] == (
        "Today: Layout plan\nStarts at 18:00.\nWhere: Hall\n"
        "Reply 1 or ATTEND to tell us you will come.\nReply STOP to stop these messages."
    )
    assert today[said_xh.id].endswith("\nUsixelele ukuba uza kuza. Sobonana apho.")
    assert today[asked_xh.id].endswith("\nPhendula ngo-1 okanye NDIZA ukusazisa ukuba uza kuza.")
    # Each ending once per language, not once per resident.
    assert sorted(rendered) == [("en", False), ("en", True), ("xh", False), ("xh", True)]

    _deliver(session, MORNING_OF + dt.timedelta(minutes=1))
    invitations = SqlMeetingInvitations(session)
    since = answered + dt.timedelta(minutes=1)
    assert invitations.pending(said_en.phone, since=since, now=MORNING_OF) == []
    [asked] = invitations.pending(asked_en.phone, since=since, now=MORNING_OF)
    assert asked.meeting_id == scene["meeting"].id
    # Their "1" is the menu's: the reminder on their screen asked nothing.
    later = MORNING_OF + dt.timedelta(hours=1)
    assert _say(session, said_en, "1", later).startswith(
        "Welcome back to Siyakha.\n\nUbuhle Gardens: no category yet\n"
        "The municipality has not yet assessed Ubuhle Gardens."
    )
    assert _say(session, said_xh, "1", later).startswith(
        "Wamkelekile kwakhona kwi-Siyakha.\n\n*Ubuhle Gardens: ayikabi nadidi*\n"
    )
    # Those the reminder asked are answered as ever.
    assert _say(session, asked_en, "1", later) == (
        "Thank you. We noted that you will come to Layout plan on Thursday, 12 March 2026, "
        "18:00.\n\nSend 0 for the main menu."
    )
    assert _say(session, asked_xh, "1", later).startswith(
        "Enkosi. Siqaphele ukuba uza kuza kwi-Layout plan (Lwesine, 12 Matshi 2026 18:00)."
    )
    assert broadcasts.attendance(
        session=session, scope=scopes.EVERYTHING, meeting_id=scene["meeting"].id
    ) == (4, 4)


def test_the_sms_budget_of_a_reminder_counts_the_words_for_those_who_said_yes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Both endings are short today; a longer "you said you will come" must still be measured.
    real = broadcast_notices.reminder

    def noted_longer(*args: Any, **kwargs: Any) -> str:
        text = real(*args, **kwargs)
        return text + " See you there." * 20 if kwargs.get("attending") else text

    title, venue = "Layout plan", "Hall"
    assert broadcasts.reminder_sms_problem(title=title, venue=venue, starts_at=STARTS) is None
    monkeypatch.setattr(broadcast_notices, "reminder", noted_longer)
    problem = broadcasts.reminder_sms_problem(title=title, venue=venue, starts_at=STARTS)
    assert problem is not None
    assert "SMS reminder, with the date, would be" in problem.message()
    assert "so shorten the title or venue" in problem.message()


def test_a_yes_counts_only_for_the_start_it_was_given_for(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    # A yes to Thursday 18:00 was carried to the meeting moved to Friday: the next reminder
    # said "You said you will come. See you there." of a time never agreed to, asked
    # nothing, and officers counted the resident as coming.
    meeting, resident = scene["meeting"], scene["en"]
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    _deliver(session, THREE_DAYS_BEFORE + dt.timedelta(minutes=1))
    answered = THREE_DAYS_BEFORE + dt.timedelta(minutes=30)
    assert "Thursday, 12 March 2026, 18:00" in _say(session, resident, "1", answered)
    assert (
        broadcasts.attendance(session=session, scope=scopes.EVERYTHING, meeting_id=meeting.id)[0]
        == 1
    )

    friday = STARTS + dt.timedelta(days=1)
    _change(session, meeting, starts_at=friday, venue=meeting.venue)
    moved_due = THREE_DAYS_BEFORE + dt.timedelta(days=1)
    broadcasts.send_reminders(session=session, settings=settings, now=moved_due)
    [again] = [r for r in _queued(session) if r.resident_id == resident.id]
    assert "Friday, 13 March 2026" in (again.body or "")
    assert "Reply 1 or ATTEND to tell us you will come." in (again.body or "")
    assert "You said you will come" not in (again.body or "")
    # Not counted as coming to Friday; the page says one said yes to the earlier time.
    assert (
        broadcasts.attendance(session=session, scope=scopes.EVERYTHING, meeting_id=meeting.id)[0]
        == 0
    )
    assert broadcasts.earlier_yeses(session=session, scope=scopes.EVERYTHING, meeting=meeting) == 1
    invitations = SqlMeetingInvitations(session)
    assert invitations.attending(resident.phone, [meeting.id]) == set()
    # The reminder asked, so the resident's "1" answers it, for Friday.
    _deliver(session, moved_due + dt.timedelta(minutes=1))
    [asked] = invitations.pending(resident.phone, since=answered, now=moved_due)
    assert asked.meeting_id == meeting.id and asked.starts_at == friday
    later = moved_due + dt.timedelta(minutes=30)
    assert _say(session, resident, "1", later).startswith(
        "Thank you. We noted that you will come to Layout plan on Friday, 13 March 2026, 18:00."
    )
    assert (
        broadcasts.attendance(session=session, scope=scopes.EVERYTHING, meeting_id=meeting.id)[0]
        == 1
    )
    assert broadcasts.earlier_yeses(session=session, scope=scopes.EVERYTHING, meeting=meeting) == 0
    assert invitations.attending(resident.phone, [meeting.id]) == {meeting.id}


def test_a_yes_stands_when_only_the_venue_or_the_start_s_seconds_change(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    meeting, resident = scene["meeting"], scene["en"]
    meeting.starts_at = STARTS + dt.timedelta(seconds=30)  # an import's 18:00:30
    session.flush()
    assert broadcasts.record_attendance(
        session=session, resident_id=resident.id, meeting_id=meeting.id, starts_at=STARTS
    )
    _change(session, meeting, starts_at=STARTS, venue="Creche")  # 18:00, at the creche
    assert (
        broadcasts.attendance(session=session, scope=scopes.EVERYTHING, meeting_id=meeting.id)[0]
        == 1
    )
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    [reminder] = [r for r in _queued(session) if r.resident_id == resident.id]
    assert "Where: Creche" in (reminder.body or "")
    assert "You said you will come. See you there." in (reminder.body or "")


def test_1_answers_the_question_that_reached_the_resident_last(
    session: Session, settings: Settings, scene: dict[str, Any]
) -> None:
    # A report resolved at 06:50 asks "fixed?"; its message waited behind the 07:00 round
    # of reminders (hours at the SMS rate) and reached the resident at 08:00, after the
    # reminder (07:05). The "fixed?" question was taken as the older of the two (its time
    # was the resolution's, the reminder's when it reached them): "1" said "I will come".
    from bot.domain.tickets import service as tickets
    from tests.domain.tickets.factories import make_ticket

    resident = scene["en"]
    ticket = make_ticket(session, status="in_progress", resident_id=resident.id)
    resolved = THREE_DAYS_BEFORE - dt.timedelta(minutes=10)
    tickets.set_status(session=session, ticket=ticket, status="resolved", staff=None, now=resolved)
    broadcasts.send_reminders(session=session, settings=settings, now=THREE_DAYS_BEFORE)
    for purpose, reached in (("reminder", 5), ("ticket_update", 60)):
        session.execute(
            update(Outbox)
            .where(col(Outbox.purpose) == purpose, col(Outbox.resident_id) == resident.id)
            .values(status="sent", sent_at=THREE_DAYS_BEFORE + dt.timedelta(minutes=reached))
        )
    reply = _say(session, resident, "1", THREE_DAYS_BEFORE + dt.timedelta(minutes=65))
    assert reply.startswith(f"Thank you for letting us know. Report {ticket.reference} is now")
    assert (
        broadcasts.attendance(
            session=session, scope=scopes.EVERYTHING, meeting_id=scene["meeting"].id
        )[0]
        == 0
    )
