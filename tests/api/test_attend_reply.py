"""End to end: a meeting reminder reaches a resident, who replies "1"; officers see the count."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select, update

from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.broadcasts import service as broadcasts
from bot.domain.outbox.models import Outbox
from bot.domain.settlements import edit
from bot.domain.settlements.models import Meeting, Settlement
from bot.i18n import TIMEZONE, get_translator
from tests.domain.tickets.factories import Phone, make_staff
from tests.factories import make_meeting, make_settlement

PHONE = "+27821110009"


def _home_and_officer(session: Session) -> tuple[Settlement, str]:
    """Add the resident's settlement, Ubuhle Gardens in ward 14, and an officer's token."""
    home = make_settlement(session, "Ubuhle Gardens", ward="14")
    _, token = make_staff(session, "officer@ubuntubay.example.org", "officer")
    return home, token


def test_a_resident_says_they_will_come(
    client: TestClient, settings: Settings, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        make_settlement(session, "Ubuhle Gardens", ward="14")
        _, token = make_staff(session, "officer@ubuntubay.example.org", "officer")
    phone = Phone(client, settings, PHONE, "whatsapp")
    phone.onboard("Ubuhle Gardens")
    with session_scope(clean_db) as session:
        home = session.exec(select(Settlement)).one()
        # The meeting is two hours away (a same-day round needs an hour's notice). Its
        # reminder round is due now: this local hour, on the meeting's day, or the day
        # before when the meeting falls after midnight.
        now = utcnow()
        starts = now + dt.timedelta(hours=2)
        local_now = now.astimezone(TIMEZONE)
        days_before = (starts.astimezone(TIMEZONE).date() - local_now.date()).days
        due_now = settings.model_copy(
            update={"meeting_reminder_days": [days_before], "meeting_reminder_hour": local_now.hour}
        )
        meeting = make_meeting(session, starts, settlement_id=home.id, title="Layout plan")
        meeting_id = meeting.id
        reminded = broadcasts.send_reminders(session=session, settings=due_now, now=now)
        assert reminded == 1
    counts_url = f"/api/v1/meetings/{meeting_id}/attendance"
    officer = {"Authorization": f"Bearer {token}"}
    # Still queued (a round takes hours at the SMS rate): "1" is menu option 1.
    assert "category" in phone.send("1").lower()
    assert client.get(counts_url, headers=officer).json()["reminded"] == 0
    assert "we have sent you" not in phone.send("MY DATA")
    phone.send("0")
    with session_scope(clean_db) as session:
        session.execute(update(Outbox).values(status="delivered", sent_at=utcnow()))
    reply = phone.send("1")
    assert "you will come to Layout plan" in reply
    counts = client.get(counts_url, headers=officer).json()
    assert counts["attending"] == 1 and counts["reminded"] == 1
    data = phone.send("MY DATA")  # the promise is theirs to see, and the reminder once sent
    assert "Meetings you said you will attend: 1" in data
    assert "Updates and reminders we have sent you: 1" in data


def test_a_resident_reminded_of_two_meetings_picks_one_and_a_cancelled_one_is_not_kept(
    client: TestClient, settings: Settings, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        home, token = _home_and_officer(session)
    phone = Phone(client, settings, PHONE, "whatsapp")
    phone.onboard("Ubuhle Gardens")
    with session_scope(clean_db) as session:
        # One round, two meetings of theirs: the ward forum, then the settlement's walk.
        # Both on one local day three days on (now + 3 days + 2 hours crossed midnight in
        # the evening, so the walk fell in another round and the test failed 22:00-24:00).
        now = utcnow()
        local_now = now.astimezone(TIMEZONE)
        day = local_now.date() + dt.timedelta(days=3)
        forum_starts = dt.datetime.combine(day, dt.time(10), tzinfo=TIMEZONE)
        walk_starts = dt.datetime.combine(day, dt.time(12), tzinfo=TIMEZONE)
        due_now = settings.model_copy(
            update={"meeting_reminder_days": [3], "meeting_reminder_hour": local_now.hour}
        )
        forum = make_meeting(session, forum_starts, level="ward", ward="14", title="Ward forum")
        walk = make_meeting(session, walk_starts, settlement_id=home.id, title="Layout walk")
        forum_id, walk_id = forum.id, walk.id
        assert broadcasts.send_reminders(session=session, settings=due_now, now=now) == 2
        session.execute(update(Outbox).values(status="delivered", sent_at=utcnow()))
    officer = {"Authorization": f"Bearer {token}"}

    def attending(meeting_id: int | None) -> int:
        url = f"/api/v1/meetings/{meeting_id}/attendance"
        return int(client.get(url, headers=officer).json()["attending"])

    reply = phone.send("1")
    assert "1 Ward forum" in reply and "2 Layout walk" in reply and "3 All of them" in reply
    assert (attending(forum_id), attending(walk_id)) == (0, 0)
    assert "Please reply with one of the numbers" in phone.send("4")
    with session_scope(clean_db) as session:
        meeting = session.get(Meeting, forum_id)
        assert meeting is not None
        edit.cancel_meeting(session=session, meeting=meeting)
    assert "meeting 1 in the list is no longer on" in phone.send("1")
    assert (attending(forum_id), attending(walk_id)) == (0, 0)
    # The walk is the one reminded meeting left: recorded at once, then not offered again.
    assert "you will come to Layout walk" in phone.send("ATTEND")
    assert (attending(forum_id), attending(walk_id)) == (0, 1)
    reply = phone.send("ATTEND")
    assert reply.startswith("You have already told us that you will come to Layout walk on")
    assert (attending(forum_id), attending(walk_id)) == (0, 1)


def test_attend_with_no_reminder_is_recorded_and_not_offered_again(
    client: TestClient, settings: Settings, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        home, token = _home_and_officer(session)
        # What a facilitator announces: no reminder has gone out for either.
        now = utcnow()
        forum = make_meeting(
            session, now + dt.timedelta(days=9), level="ward", ward="14", title="Ward forum"
        )
        walk = make_meeting(
            session, now + dt.timedelta(days=10), settlement_id=home.id, title="Layout walk"
        )
        gone = make_meeting(session, now + dt.timedelta(days=8), settlement_id=home.id)
        edit.cancel_meeting(session=session, meeting=gone)
        forum_id, walk_id = forum.id, walk.id
    phone = Phone(client, settings, PHONE, "whatsapp")
    phone.onboard("Ubuhle Gardens")
    officer = {"Authorization": f"Bearer {token}"}

    def counts(meeting_id: int | None) -> tuple[int, int]:
        body = client.get(f"/api/v1/meetings/{meeting_id}/attendance", headers=officer).json()
        return body["attending"], body["reminded"]

    assert "Reply ATTEND to tell us you will come" in phone.send("4")
    phone.send("0")
    reply = phone.send("ATTEND")
    assert "Which meeting will you come to?" in reply
    assert "1 Ward forum" in reply and "2 Layout walk" in reply and "3 All of them" in reply
    assert "you will come to Layout walk" in phone.send("2")
    assert (counts(forum_id), counts(walk_id)) == ((0, 0), (1, 0))
    # Said again (the facilitator asks again at the next meeting): the walk is not offered
    # again, the forum, the one left, is recorded at once; then both are named.
    assert "you will come to Ward forum" in phone.send("ATTEND")
    assert (counts(forum_id), counts(walk_id)) == ((1, 0), (1, 0))
    reply = phone.send("ATTEND")
    assert reply.startswith("You have already told us that you will come to these meetings:")
    assert "Ward forum" in reply and "Layout walk" in reply
    assert (counts(forum_id), counts(walk_id)) == ((1, 0), (1, 0))
    assert "Meetings you said you will attend: 2" in phone.send("MY DATA")


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize(
    ("language", "number", "word", "several", "noted", "category"),
    [
        pytest.param(
            "en",
            "1",
            "ATTEND",
            "You have already told us that you will come to these meetings:\n"
            "Ward forum, {forum}\nLayout walk, {walk}\n\nSend 0 for the main menu.",
            "You said you will come. See you there.",
            "Ubuhle Gardens: no category yet",
            id="en",
        ),
        pytest.param(
            "xh",
            "2",
            "NDIZA",
            "Sele usixelele ukuba uza kuza kwezi ntlanganiso:\n"
            "Ward forum ({forum})\nLayout walk ({walk})\n\n",
            "Usixelele ukuba uza kuza. Sobonana apho.",
            "Ubuhle Gardens: ayikabi nadidi",
            id="xh",
        ),
    ],
)
def test_a_meeting_said_yes_to_is_not_offered_again(
    client: TestClient,
    settings: Settings,
    clean_db: Engine,
    channel: str,
    language: str,
    number: str,
    word: str,
    several: str,
    noted: str,
    category: str,
) -> None:
    with session_scope(clean_db) as session:
        home, token = _home_and_officer(session)
        # At 10:00 and 10:00 the day before, local time: the walk is reminded of ten days
        # ahead, the forum is not yet.
        now = utcnow()
        local_now = now.astimezone(TIMEZONE)
        day = local_now.date() + dt.timedelta(days=10)
        walk_starts = dt.datetime.combine(day, dt.time(10), tzinfo=TIMEZONE)
        forum_starts = walk_starts - dt.timedelta(days=1)
        forum = make_meeting(session, forum_starts, level="ward", ward="14", title="Ward forum")
        walk = make_meeting(session, walk_starts, settlement_id=home.id, title="Layout walk")
        forum_id, walk_id = forum.id, walk.id
    phone = Phone(client, settings, PHONE, channel)
    for text in ("hi", number, "1", "Ubuhle Gardens"):  # language, the notice, settlement
        phone.send(text)
    officer = {"Authorization": f"Bearer {token}"}

    def remind(days_before: int, at: dt.datetime) -> None:
        """Send the walk's reminder round due `days_before` it, as at `at`; it reaches them."""
        due = settings.model_copy(
            update={
                "meeting_reminder_days": [days_before],
                "meeting_reminder_hour": at.astimezone(TIMEZONE).hour,
            }
        )
        with session_scope(clean_db) as session:
            assert broadcasts.send_reminders(session=session, settings=due, now=at) == 1
            session.execute(
                update(Outbox)
                .where(col(Outbox.status) == "pending")
                .values(status="delivered", sent_at=utcnow())
            )

    def attending() -> tuple[int, int]:
        url = "/api/v1/meetings/{}/attendance"
        forum, walk = (
            client.get(url.format(id_), headers=officer).json()["attending"]
            for id_ in (forum_id, walk_id)
        )
        return forum, walk

    when = get_translator(language).format_when
    remind(10, now)
    assert when(walk_starts) in phone.send("1")  # the thanks, naming the walk
    assert attending() == (0, 1)
    # The walk is not offered again: the forum, the one meeting left, is recorded at once.
    reply = phone.send(word)
    assert when(forum_starts) in reply and "Layout walk" not in reply
    assert attending() == (1, 1)
    reply = phone.send(word)
    assert reply.startswith(several.format(forum=when(forum_starts), walk=when(walk_starts)))
    assert attending() == (1, 1)
    # The walk's next reminder says they said they will come and asks nothing: their "1"
    # is menu option 1.
    remind(9, now + dt.timedelta(days=1))
    with session_scope(clean_db) as session:
        newest = session.exec(select(Outbox).order_by(col(Outbox.id).desc())).first()
        assert newest is not None and newest.body is not None
        assert noted in newest.body.splitlines()[-2:] and word not in newest.body
    reply = phone.send("1")
    assert category in reply and when(walk_starts) not in reply
    assert attending() == (1, 1)
