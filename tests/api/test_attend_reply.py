"""End to end: a meeting reminder reaches a resident, who replies "1"; officers see the count."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select, update

from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.broadcasts import service as broadcasts
from bot.domain.outbox.models import Outbox
from bot.i18n import TIMEZONE
from tests.domain.tickets.factories import Phone, make_staff
from tests.factories import make_meeting, make_settlement

PHONE = "+27821110009"


def test_a_resident_says_they_will_come(
    client: TestClient, settings: Settings, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        make_settlement(session, "Ubuhle Gardens", ward="14")
        _, token = make_staff(session, "officer@ubuntubay.example.org", "officer")
    phone = Phone(client, settings, PHONE, "whatsapp")
    phone.onboard("Ubuhle Gardens")
    with session_scope(clean_db) as session:
        from bot.domain.settlements.models import Settlement

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
