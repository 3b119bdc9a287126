"""Officer edits from the dashboard: a settlement's category, note and phase; milestones;
meetings (create, edit, cancel). Checks match the CSV importer's, so both refuse the same."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from bot.db import utcnow
from bot.domain.broadcasts.models import ReminderSms
from bot.domain.broadcasts.service import (
    Withdrawn,
    meeting_changing,
    quoting_sms_measured,
    reminder_sms,
    reminder_sms_problem,
    unsent_quoting,
    withdraw_category_news,
    withdraw_invitations,
    withdraw_reminders,
)
from bot.domain.outbox import budget
from bot.domain.settlements.importer import (
    PLACE_WORDS,
    choice_problem,
    control_character_problem,
    meeting_key,
    meeting_key_problem,
    meeting_place_problems,
    meeting_quoted_field,
    meeting_time_problem,
    meeting_ward,
    meeting_words_changed,
    milestone_key,
    passed_start_problem,
    remember_key,
    target_date_problem,
)
from bot.domain.settlements.models import (
    CATEGORIES,
    MEETING_LEVELS,
    MILESTONE_STATUSES,
    NOTE_LENGTH,
    PHASE_LENGTH,
    STRANDS,
    TITLE_LENGTH,
    VENUE_LENGTH,
    WARD_LENGTH,
    Meeting,
    Milestone,
    Settlement,
    name_key,
)
from bot.domain.settlements.service import UnknownWard
from bot.domain.staff.models import StaffUser


class EditRejected(ValueError):
    """The change was refused; the message says why, in words an officer understands."""


class StillQuoted(EditRejected):
    """The thing is quoted by something that still needs it (the API answers 409)."""


class MeetingCancelled(EditRejected):
    """The meeting was cancelled, so it is not changed (the API answers 409): residents are
    told it is off, and a new time or venue would be one they were never told."""


CANCELLED_MEETING = (
    "this meeting was cancelled, so it can no longer be changed: residents asking about"
    " meetings are told it is off; add a new meeting instead"
)


def _choice(value: str, allowed: tuple[str, ...], label: str) -> str:
    if value not in allowed:
        raise EditRejected(choice_problem(label, value, allowed))
    return value


# How a refusal names a field: the dashboard's words (FORM_NAMES), or the API's fields as
# /openapi.json documents them (API_NAMES), which the API passes. The CSV import names its
# columns itself.
FORM_NAMES: Mapping[str, str] = {
    **PLACE_WORDS,
    "title": "the title",
    "venue": "the venue",
    "ward": "the ward",
    "note": "the note",
    "category_note": "the note",
    "current_phase": "the current phase",
}
API_NAMES: Mapping[str, str] = {
    "settlement": "settlement_id",
    "no settlement": "leave settlement_id out",
    "no ward": "leave ward out",
    **{name: name for name in ("title", "venue", "ward", "note", "category_note")},
    "current_phase": "current_phase",
}


_MILESTONE_CLASH = "this settlement already has a milestone with that strand and title"
_MEETING_CLASH = "there is already a meeting with that title, time and place"


def _flush(session: Session, target: Milestone | Meeting, clash: str) -> None:
    """Write `target`; the same one saved at the same moment by another request (a retry)
    passes the check for a clash and then breaks the unique key: refused, not a 500. The
    caller's transaction is rolled back with the refusal."""
    session.add(target)
    try:
        session.flush()
    except IntegrityError:
        raise EditRejected(clash) from None


def _text(value: str, limit: int, what: str, *, stored: str | None = None) -> str:
    """Return `value` stripped; refuse it (named `what`) if longer than `limit` (cutting it
    would lose what the officer wrote without saying so)."""
    value = value.strip()
    if len(value) > limit:
        raise EditRejected(f"{what} is longer than {limit} characters")
    _typed(value, what, stored=stored)
    return value


def _typed(value: str, what: str, *, stored: str | None) -> None:
    """Refuse a control character the import would refuse, in a value changed from the one
    `stored`: one imported before they were refused holds up no other change."""
    if value != stored and (problem := control_character_problem(what, value)):
        raise EditRejected(problem)


def update_settlement(
    *,
    session: Session,
    settlement: Settlement,
    category: str,
    category_note: str,
    current_phase: str,
    names: Mapping[str, str] = FORM_NAMES,
    staff: StaffUser | None = None,
    via: str = "dashboard",
) -> list[Withdrawn]:
    """Change a settlement's category (blank: not yet assessed), its note and its phase;
    a refusal names the fields as `names` does. Return the announcements of its category
    withdrawn because it changed again (audited as `staff`'s, `via` the dashboard or the
    API)."""
    category_before = settlement.category
    settlement.category = _choice(category, CATEGORIES, "category") if category else None
    settlement.category_note = _text(
        category_note, NOTE_LENGTH, names["category_note"], stored=settlement.category_note
    )
    settlement.current_phase = _text(
        current_phase, PHASE_LENGTH, names["current_phase"], stored=settlement.current_phase
    )
    settlement.updated_at = utcnow()
    session.flush()
    if settlement.category == category_before:
        return []
    return withdraw_category_news(session=session, settlement=settlement, staff=staff, via=via)


def milestones(*, session: Session, settlement_id: int) -> list[Milestone]:
    """Return a settlement's milestones by strand and target date."""
    return list(
        session.execute(
            select(Milestone)
            .where(col(Milestone.settlement_id) == settlement_id)
            .order_by(
                col(Milestone.strand), col(Milestone.target_date).nulls_last(), col(Milestone.id)
            )
        ).scalars()
    )


def save_milestone(
    *,
    session: Session,
    settlement: Settlement,
    milestone: Milestone | None,
    strand: str,
    title: str,
    target_date: dt.date | None,
    status: str,
    note: str,
    names: Mapping[str, str] = FORM_NAMES,
) -> Milestone:
    """Create a milestone (when `milestone` is None) or change one; refused
    (TooManySegments) if a broadcast not sent yet that quotes it would then pass the SMS
    budget, or pass it by more. A refusal names the fields as `names` does."""
    title = " ".join(title.split())
    if not title or len(title) > TITLE_LENGTH:
        raise EditRejected(f"a milestone needs a title of at most {TITLE_LENGTH} characters")
    if len(name_key(title)) > TITLE_LENGTH:  # folding lengthens some ("ß" becomes "ss")
        raise EditRejected(f"{names['title']} is longer than {TITLE_LENGTH} characters once folded")
    if target_date is not None and (problem := target_date_problem(target_date)):
        raise EditRejected(problem)
    _typed(title, names["title"], stored=milestone.title if milestone else None)
    assert settlement.id is not None
    values: dict[str, Any] = {
        "strand": _choice(strand, STRANDS, "strand"),
        "title": title,
        "title_key": name_key(title),
        "target_date": target_date,
        "status": _choice(status, MILESTONE_STATUSES, "status"),
        "note": _text(
            note, NOTE_LENGTH, names["note"], stored=milestone.note if milestone else None
        ),
    }
    clash = session.execute(
        select(Milestone).where(
            col(Milestone.settlement_id) == settlement.id,
            col(Milestone.strand) == values["strand"],
            col(Milestone.title_key) == values["title_key"],
        )
    ).scalar_one_or_none()
    if clash is not None and (milestone is None or clash.id != milestone.id):
        raise EditRejected(_MILESTONE_CLASH)
    if milestone is not None:
        values["former_keys"] = remember_key(
            milestone.former_keys,
            old=milestone_key(milestone.strand, milestone.title_key),
            new=milestone_key(values["strand"], values["title_key"]),
        )
    field = "note" if values["note"] else "title"
    with _quotes_within_budget(session, milestone, field):
        target = milestone or Milestone(settlement_id=settlement.id, **values)
        for name, value in values.items():
            setattr(target, name, value)
        target.updated_at = utcnow()
        _flush(session, target, _MILESTONE_CLASH)
    return target


@contextmanager
def _quotes_within_budget(
    session: Session, changed: Milestone | Meeting | None, field: str
) -> Iterator[None]:
    """Make a change of a milestone or a meeting (None: a new one, which nothing quotes
    yet) in a savepoint, refused (TooManySegments, nothing written) if a broadcast not sent
    yet that quotes it would then pass the SMS budget, or pass it by more than before
    (`quoting_sms_measured`, which the CSV import uses too), naming `field`."""
    with session.begin_nested():
        with quoting_sms_measured(session=session, changed=changed, field=field) as worse:
            yield
        budget.refuse(worse)


def get_milestone(*, session: Session, milestone_id: int) -> Milestone | None:
    """Return one milestone."""
    return session.get(Milestone, milestone_id)


def delete_milestone(*, session: Session, milestone: Milestone) -> None:
    """Delete a milestone (one whose title a re-import corrected stays beside the new one);
    refused while a broadcast not sent yet quotes it, which could then not be sent."""
    assert milestone.id is not None
    unsent = unsent_quoting(session=session, milestone_id=milestone.id)
    if unsent:
        which = ", ".join(f"{b.id} ({b.title or 'untitled'})" for b in unsent)
        raise StillQuoted(
            f"a broadcast not sent yet quotes this milestone ({which}): cancel it, or wait "
            "until it is sent, before deleting the milestone"
        )
    session.delete(milestone)
    session.flush()


def meetings(
    *,
    session: Session,
    condition: ColumnElement[bool],
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    level: str | None = None,
    limit: int = 200,
) -> Sequence[Meeting]:
    """Return meetings (from `since`, before `until`, of one `level`, soonest first) that
    meet `condition`."""
    query = select(Meeting).where(condition)
    if since is not None:
        query = query.where(col(Meeting.starts_at) >= since)
    if until is not None:
        query = query.where(col(Meeting.starts_at) < until)
    if level is not None:
        query = query.where(col(Meeting.level) == level)
    return list(
        session.execute(query.order_by(col(Meeting.starts_at), col(Meeting.id)).limit(limit))
        .scalars()
        .all()
    )


def get_meeting(
    *,
    session: Session,
    meeting_id: int,
    condition: ColumnElement[bool],
    also: ColumnElement[bool],
) -> tuple[Meeting, bool] | None:
    """Return one meeting if it meets `condition`, and whether it meets `also` too (e.g.
    may see it, may change it), in one query."""
    row = session.execute(
        select(Meeting, also.label("also")).where(col(Meeting.id) == meeting_id, condition)
    ).first()
    return None if row is None else (row[0], bool(row[1]))


def save_meeting(
    *,
    session: Session,
    meeting: Meeting | None,
    settlement: Settlement | None,
    ward: str,
    level: str,
    title: str,
    starts_at: dt.datetime,
    venue: str,
    now: dt.datetime | None = None,
    names: Mapping[str, str] = FORM_NAMES,
) -> Meeting:
    """Create a meeting (when `meeting` is None) or change one, where the CSV import would
    take it (`meeting_place_problems`); a time that has passed (at `now`, default now) is
    refused, but for a meeting held already that keeps its time (`passed_start_problem`),
    and so are words whose SMS reminders, or announcements not sent yet that quote it,
    would pass the SMS budget (TooManySegments). A cancelled meeting is not changed
    (MeetingCancelled). A refusal names the fields as `names` does."""
    if meeting is not None and meeting.cancelled:
        raise MeetingCancelled(CANCELLED_MEETING)
    level = _choice(level, MEETING_LEVELS, "level")
    title = _one_line(title)
    if not title or len(title) > TITLE_LENGTH:
        raise EditRejected(f"a meeting needs a title of at most {TITLE_LENGTH} characters")
    _typed(title, names["title"], stored=meeting.title if meeting else None)
    venue = _text(venue, VENUE_LENGTH, names["venue"], stored=meeting.venue if meeting else None)
    if starts_at.tzinfo is None:
        raise EditRejected("the start time needs a time zone")
    if problem := meeting_time_problem(starts_at):
        raise EditRejected(problem)
    ward = _text(ward, WARD_LENGTH, names["ward"], stored=meeting.ward if meeting else None)
    problems = meeting_place_problems(
        level=level, ward=ward, settlement=settlement, named=settlement is not None, names=names
    )
    if problems:
        raise EditRejected("; ".join(problems))
    try:
        ward = meeting_ward(session=session, ward=ward, settlement=settlement)
    except UnknownWard as exc:
        raise EditRejected(str(exc)) from None
    settlement_id = settlement.id if settlement is not None else None
    starts = starts_at.astimezone(dt.UTC)
    moved = meeting is None or starts != meeting.starts_at  # a new one "moves" there too
    if moved and (problem := passed_start_problem(starts, now=now or utcnow())):
        raise EditRejected(problem)
    key = meeting_key(title, starts, settlement_id, ward)
    if problem := meeting_key_problem(key):
        raise EditRejected(problem)
    clash = session.execute(
        select(Meeting).where(col(Meeting.natural_key) == key)
    ).scalar_one_or_none()
    if clash is not None and (meeting is None or clash.id != meeting.id):
        raise EditRejected(_MEETING_CLASH)
    values: dict[str, Any] = {
        "settlement_id": settlement_id,
        "ward": ward,
        "level": level,
        "title": title,
        "starts_at": starts,
        "venue": venue,
        "natural_key": key,
    }
    if meeting_words_changed(meeting, values):
        budget.refuse([reminder_sms_problem(title=title, venue=venue, starts_at=starts)])
    field = "venue" if meeting is None else meeting_quoted_field(meeting, values)
    with _quotes_within_budget(session, meeting, field):
        if meeting is not None:
            values["former_keys"] = remember_key(
                meeting.former_keys, old=meeting.natural_key, new=key
            )
            meeting_changing(session=session, meeting=meeting, values=values)
        target = meeting or Meeting(**values)
        for name, value in values.items():
            setattr(target, name, value)
        target.updated_at = utcnow()
        _flush(session, target, _MEETING_CLASH)
    return target


def _one_line(title: str) -> str:
    return " ".join(title.split())


def meeting_reminder_sms(
    *, meeting: Meeting | None, title: str, venue: str, starts_at: dt.datetime
) -> ReminderSms:
    """Say how a meeting's largest SMS reminder would measure with these words (the meeting
    form's counter), as `save_meeting` measures it: a change that says nothing new in its
    reminders is not refused (`meeting_words_changed`). Changes nothing."""
    words: dict[str, Any] = {
        "title": _one_line(title),
        "venue": venue.strip(),
        "starts_at": starts_at.astimezone(dt.UTC),
    }
    return reminder_sms(**words, measured=meeting_words_changed(meeting, words))


def cancel_meeting(*, session: Session, meeting: Meeting) -> None:
    """Mark a meeting cancelled (residents asking about meetings are told so) and withdraw
    its reminders and its announcements ("new meeting", "moved") not sent yet."""
    meeting.cancelled = True
    if meeting.id is not None:
        withdraw_reminders(
            session=session, meeting_ids=[meeting.id], reason="the meeting was cancelled"
        )
        withdraw_invitations(session=session, meeting_id=meeting.id)
    meeting.updated_at = utcnow()
    session.flush()


def lock(*, session: Session, row: Settlement | Milestone | Meeting) -> None:
    """Re-read `row` with it locked until the transaction ends, so that two changes of it
    from the dashboard at once run one after the other and the second compares its page
    with what the first saved (as `tickets.lock`: PostgreSQL's SELECT ... FOR UPDATE;
    SQLite ignores it, its write gate serialises them)."""
    session.flush()
    session.refresh(row, with_for_update=True)
