"""The engine's MeetingInvitations port, read from the outbox and the meetings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import String, bindparam, cast, literal, select
from sqlmodel import Session, col

from bot.db import EPOCH
from bot.domain.broadcasts.models import ATTENDANCE_STANDS, MeetingAttendance
from bot.domain.outbox.models import SENT_STATUSES, Outbox
from bot.domain.residents.models import Resident
from bot.domain.settlements.models import Meeting
from bot.engine.ports import InvitationInfo

# A resident may still say they will come shortly after a meeting has started.
LATE_REPLY = dt.timedelta(hours=2)
# Only a reminder that reached Twilio (SENT_STATUSES), not one still queued (a round of
# thousands takes hours at the SMS rate, and "1" then means menu option 1), withdrawn or
# failed. Built once: asked whenever a resident answers "1" between flows. A few, newest
# first: one whose meeting was cancelled or is over leaves the ones before it standing,
# and a round may bring two meetings (an early one's reminder comes the day before). Not
# one queued after the resident said they will come: it told them so and asked nothing
# (broadcast.attend_noted, `service._remind`), so their "1" is the menu's.
_ASKED_NOTHING = (
    select(col(MeetingAttendance.id))
    # A yes to a start the meeting moved from: the reminder of the new start asked again.
    .join(Meeting, ATTENDANCE_STANDS)
    .where(
        col(MeetingAttendance.resident_id) == col(Outbox.resident_id),
        literal("meeting:") + cast(col(MeetingAttendance.meeting_id), String) == col(Outbox.ref),
        col(MeetingAttendance.created_at) <= col(Outbox.created_at),
    )
    .exists()
)
_NEWEST_REMINDERS = (
    select(col(Outbox.ref))
    .join(Resident, col(Resident.id) == col(Outbox.resident_id))
    .where(
        col(Resident.phone) == bindparam("phone"),
        col(Outbox.purpose) == "reminder",
        col(Outbox.status).in_(SENT_STATUSES),
        # Sent since: a round queued at 07:00 may reach this resident an hour later.
        col(Outbox.sent_at) > bindparam("since"),
        ~_ASKED_NOTHING,
    )
    .order_by(col(Outbox.sent_at).desc(), col(Outbox.id).desc())
    .limit(5)
)
_ATTENDING = (
    select(col(MeetingAttendance.meeting_id))
    .join(Meeting, ATTENDANCE_STANDS)
    .join(Resident, col(Resident.id) == col(MeetingAttendance.resident_id))
    .where(
        col(Resident.phone) == bindparam("phone"),
        col(MeetingAttendance.meeting_id).in_(bindparam("meeting_ids", expanding=True)),
    )
)


class SqlMeetingInvitations:
    """Find the meetings whose reminders a resident is answering."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def pending(
        self, phone: str, *, since: dt.datetime | None, now: dt.datetime
    ) -> list[InvitationInfo]:
        """Return the meetings of the newest reminders sent to this resident since `since`
        (None: any) that are neither cancelled nor over, each once, newest reminder first;
        not those of reminders that asked nothing (`_ASKED_NOTHING`)."""
        refs = (
            self.session.connection()
            .execute(_NEWEST_REMINDERS, {"phone": phone, "since": since or EPOCH})
            .scalars()
            .all()
        )
        found: dict[int, InvitationInfo] = {}
        for ref in refs:
            if not ref or not ref.startswith("meeting:") or not ref[8:].isdecimal():
                continue
            meeting_id = int(ref[8:])
            if meeting_id not in found and (info := self.still_on(meeting_id, now=now)):
                found[meeting_id] = info
        return list(found.values())

    def still_on(self, meeting_id: int, *, now: dt.datetime) -> InvitationInfo | None:
        """Return the meeting unless it is gone, cancelled or over (`LATE_REPLY` after its
        start)."""
        meeting = self.session.get(Meeting, meeting_id)
        if meeting is None or meeting.cancelled or meeting.starts_at <= now - LATE_REPLY:
            return None
        assert meeting.id is not None
        return InvitationInfo(
            meeting_id=meeting.id, title=meeting.title, starts_at=meeting.starts_at
        )

    def attending(self, phone: str, meeting_ids: Collection[int]) -> set[int]:
        """Return those of the meetings the resident said they will attend (`AttendMeeting`,
        recorded in meeting_attendance) at the start each has now."""
        if not meeting_ids:
            return set()
        rows = self.session.connection().execute(
            _ATTENDING, {"phone": phone, "meeting_ids": list(meeting_ids)}
        )
        return set(rows.scalars().all())
