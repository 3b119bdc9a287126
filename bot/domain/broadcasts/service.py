"""Broadcast queries: create, preview, approve, release (enqueue), cancel, progress;
milestone, category and meeting announcements, meeting reminders and attendance.

Services take the caller's session, flush when they need an id and never commit.
Every broadcast is rendered once per language, then queued for its whole audience in one
`INSERT ... SELECT` (`outbox.enqueue_select`), idempotent on `broadcast:<id>:<resident id>`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import ValidationError
from sqlalchemy import ColumnElement, String, case, cast, delete, func, literal, select, update
from sqlmodel import Session, col

from bot import sms
from bot.config import Settings
from bot.content import load
from bot.db import utcnow
from bot.domain.broadcasts import audience as audiences
from bot.domain.broadcasts.models import (
    ATTENDANCE_STANDS,
    Audience,
    Broadcast,
    BroadcastCreate,
    BroadcastPublic,
    LanguagePreview,
    MeetingAttendance,
    MeetingReminder,
    Preview,
    Progress,
    ReminderSms,
    TemplateIn,
    TextSms,
    TextsSms,
)
from bot.domain.outbox import budget
from bot.domain.outbox import service as outbox
from bot.domain.outbox.models import PURPOSES, SENT_STATUSES, Outbox
from bot.domain.outbox.routing import WHATSAPP_WINDOW, find_template, fits_a_template
from bot.domain.settlements import service as settlements
from bot.domain.settlements.models import Meeting, Milestone, Settlement, told_start
from bot.domain.staff import audit
from bot.domain.staff import scope as scopes
from bot.domain.staff.models import StaffUser
from bot.engine.ports import Translator, has_translation
from bot.engine.render import WHATSAPP_MAX_CHARS, twilio_length
from bot.flows import broadcast_notices
from bot.flows.broadcast_notices import TemplateValues
from bot.i18n import (
    DEFAULT_LOCALE,
    LANGUAGE_NAMES,
    SUPPORTED_LOCALES,
    TIMEZONE,
    get_translator,
    local_time,
)

log = logging.getLogger(__name__)

# Outbox statuses as the progress report groups them.
PROGRESS_GROUPS = {
    "pending": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
    "cancelled": "cancelled",
}
PROGRESS_KEYS = ("queued", "sent", "delivered", "read", "failed", "cancelled")
MEETING_CHANGES = ("announced", "moved", "cancelled")
# Templates that invite residents to a meeting: not to be sent once it is cancelled.
INVITATIONS = ("meeting_announced", "meeting_moved")


class BroadcastError(ValueError):
    """A broadcast request that cannot be carried out (the API answers 409 or 422);
    `field`, when known, is the input it is about, as the API names fields (`("audience",)`,
    `("texts", "xh")`, `("template",)`), for the dashboard to say it there."""

    def __init__(self, message: str, *, field: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.field = field


class NotFound(BroadcastError):
    """A meeting, milestone or settlement the broadcast refers to does not exist."""


class Conflict(BroadcastError):
    """The broadcast is not in a state that allows this."""


class OutsideScope(Conflict):
    """A scoped officer's broadcast would reach residents outside their settlements and
    wards. The API and the dashboard answer 403, as for any change a scope does not allow
    (a Conflict still, for callers that only tell a refusal from bad input)."""


@dataclass(frozen=True)
class Rendered:
    """A broadcast's words in one language: WhatsApp text and SMS text."""

    language: str
    text: str
    sms_text: str
    falls_back: bool


# What an outbox `ref` of a broadcast's rows starts with, before the broadcast's id.
REF_PREFIX = "broadcast:"


def ref_of(broadcast_id: int) -> str:
    """Return the outbox `ref` that groups one broadcast's rows."""
    return f"{REF_PREFIX}{broadcast_id}"


@contextmanager
def concerning(*field: str) -> Iterator[None]:
    """Name `field` on a BroadcastError raised within that names no input of its own."""
    try:
        yield
    except BroadcastError as error:
        error.field = error.field or field
        raise


# --- rendering ----------------------------------------------------------------------------


def check_meeting_change(*, meeting: Meeting, name: str) -> None:
    """Refuse (Conflict) a meeting template that would tell residents what is not true:
    "cancelled" for a meeting still on, an invitation ("announced", "moved") to one
    cancelled."""
    if name == "meeting_cancelled" and not meeting.cancelled:
        raise Conflict(
            f"meeting {meeting.id} is not cancelled: cancel it first, then announce that"
        )
    if name in INVITATIONS and meeting.cancelled:
        raise Conflict(f"meeting {meeting.id} is cancelled: announce that it is cancelled instead")


def check_milestone_status(*, milestone: Milestone, name: str) -> None:
    """Refuse (Conflict) a milestone template that would tell residents what is not true:
    "this step is done" of a milestone not done, "delayed" of one not delayed (as composed,
    and again when it goes: a status put back meanwhile fails it, with this reason)."""
    status = next((s for s, template in MILESTONE_TEMPLATES.items() if template == name), None)
    if status is not None and milestone.status != status:
        raise Conflict(
            f"milestone {milestone.id} is {milestone.status.replace('_', ' ')}, not {status}: "
            f"set its status to {status} first, or tell residents something else"
        )


def check_category_current(
    *, settlement: Settlement, category: str, previous_category: str | None = None
) -> None:
    """Refuse (Conflict) a category_changed template that would tell residents what is not
    true: a category the settlement does not have (changed again since it was composed, as
    composed and again when it goes), or a "change" to the category it had already."""
    if settlement.category != category:
        now = (
            f"is now in category {settlement.category}"
            if settlement.category
            else "has no category now (not yet assessed)"
        )
        raise Conflict(
            f"settlement {settlement.id} ({settlement.name}) {now}, not {category}: its "
            "category changed since; announce the category it has, or nothing"
        )
    if previous_category == category:
        raise Conflict(
            f"settlement {settlement.id} ({settlement.name}) was in category {category} "
            "already: placing it there again is no change to announce"
        )


def check_invitation_in_time(*, meeting: Meeting, name: str, at: dt.datetime) -> None:
    """Refuse (Conflict) an invitation ("announced", "moved") that would go at `at`, once
    the meeting has started: "New meeting ... When: 19:13" sent at 19:14 invites nobody."""
    if name in INVITATIONS and meeting.starts_at <= at:
        raise Conflict(
            f"meeting {meeting.id} starts before this would go: too late to invite residents"
        )


def moved_change(
    *, meeting: Meeting, previous_starts_at: dt.datetime | None, previous_venue: str | None
) -> tuple[dt.datetime | None, bool]:
    """Return what a "moved" announcement of `meeting` tells: the start it had (None when
    its start, to the minute, is the same) and whether its venue changed. Refuse one that
    gives neither (BroadcastError) or where nothing differs (Conflict): "It was planned for
    Friday 18:30. It is now on Friday 18:30." tells residents nothing."""
    if previous_starts_at is None and previous_venue is None:
        raise BroadcastError(
            "a moved meeting needs the time it was planned for before, the venue it had, or both"
        )
    if previous_starts_at is not None and told_start(previous_starts_at) == told_start(
        meeting.starts_at
    ):
        previous_starts_at = None
    venue_changed = previous_venue is not None and previous_venue.strip() != meeting.venue.strip()
    if previous_starts_at is None and not venue_changed:
        raise Conflict(
            f"meeting {meeting.id} has not moved: it is still on {local_time(meeting.starts_at)} "
            f"at {meeting.venue.strip() or 'a venue to be announced'}, as before"
        )
    return previous_starts_at, venue_changed


def _check_invitation(
    session: Session, template: Mapping[str, Any] | None, at: dt.datetime
) -> None:
    """`check_invitation_in_time` for a composed broadcast's meeting template, if any."""
    name = (template or {}).get("name")
    if name in INVITATIONS:
        meeting = session.get(Meeting, (template or {}).get("meeting_id") or 0)
        if meeting is not None:
            check_invitation_in_time(meeting=meeting, name=str(name), at=at)


def _quoted_meeting(
    session: Session, template: Mapping[str, Any], scope: scopes.Scope | None
) -> Meeting:
    """Return the meeting a template quotes: with a `scope`, only one it lets its user see
    (NotFound for any other)."""
    meeting = session.get(Meeting, template.get("meeting_id") or 0)
    if meeting is not None and scope is not None and not scope.unrestricted:
        readable = scopes.meeting_read_condition(scope)
        found = select(col(Meeting.id)).where(col(Meeting.id) == meeting.id, readable)
        meeting = meeting if session.execute(found).first() else None
    if meeting is None:
        raise NotFound(f"no meeting {template.get('meeting_id')}")
    return meeting


def _outside(session: Session, scope: scopes.Scope | None, settlement_id: int | None) -> bool:
    """Return whether a `scope` is given and does not allow the settlement (None: no scope
    to keep to)."""
    return scope is not None and not scopes.allows_settlement(
        session=session, scope=scope, settlement_id=settlement_id
    )


def _quoted_milestone(
    session: Session, template: Mapping[str, Any], scope: scopes.Scope | None
) -> Milestone:
    """Return the milestone a template quotes: with a `scope`, only one of a settlement it
    allows (NotFound for any other)."""
    milestone = session.get(Milestone, template.get("milestone_id") or 0)
    if milestone is not None and _outside(session, scope, milestone.settlement_id):
        milestone = None
    if milestone is None:
        raise NotFound(f"no milestone {template.get('milestone_id')}")
    return milestone


def _quoted_settlement(
    session: Session, template: Mapping[str, Any], scope: scopes.Scope | None
) -> Settlement:
    """Return the settlement a category template quotes: with a `scope`, only one it allows
    (NotFound for any other)."""
    settlement = session.get(Settlement, template.get("settlement_id") or 0)
    if settlement is not None and _outside(session, scope, settlement.id):
        settlement = None
    if settlement is None:
        raise NotFound(f"no settlement {template.get('settlement_id')}")
    return settlement


def check_quoted_in_scope(
    *, session: Session, scope: scopes.Scope, template: Mapping[str, Any] | None
) -> None:
    """Refuse (NotFound) a template quoting a meeting, milestone or settlement the scope may
    not see, and nothing else: a stored broadcast's words are checked again only when they
    go."""
    if template is None or scope.unrestricted:
        return
    name = str(template["name"])
    if name.startswith("meeting_"):
        _quoted_meeting(session, template, scope)
    elif name.startswith("milestone_"):
        _quoted_milestone(session, template, scope)
    elif name == "category_changed":
        _quoted_settlement(session, template, scope)


@dataclass(frozen=True)
class Told:
    """What an announcement queued for residents said of a meeting (kept in its template
    as "told" when `release` queues it)."""

    title: str
    starts_at: dt.datetime
    venue: str
    broadcast_id: int
    sent_at: dt.datetime

    def changed(self, meeting: Meeting) -> list[str]:
        """Say what of `meeting` differs from this, as residents would notice it."""
        said = []
        if meeting.title.strip() != self.title.strip():
            said.append(f"renamed from \u201c{self.title}\u201d to \u201c{meeting.title}\u201d")
        if told_start(meeting.starts_at) != told_start(self.starts_at):
            said.append(
                f"moved from {local_time(self.starts_at)} to {local_time(meeting.starts_at)}"
            )
        if meeting.venue.strip() != self.venue.strip():
            venue = meeting.venue.strip() or "no venue"
            said.append(f"given another venue ({self.venue.strip() or 'none'} to {venue})")
        return said


def _told_anyone(session: Session, broadcast: Broadcast) -> bool:
    """Return whether any of a broadcast's messages went, or is still to go (not all
    withdrawn before they went: a cancelled meeting's announcements are)."""
    assert broadcast.id is not None
    found = select(col(Outbox.id)).where(
        col(Outbox.ref) == ref_of(broadcast.id), col(Outbox.status) != "cancelled"
    )
    return session.execute(found.limit(1)).first() is not None


def last_told(*, session: Session, meeting_id: int) -> Told | None:
    """Return what residents were last told of a meeting by an invitation ("announced",
    "moved") that went to them, or is going; None when none did (or none since invitations
    kept what they told, 2026-12-08)."""
    queued = (
        select(Broadcast)
        .where(col(Broadcast.meeting_id) == meeting_id, col(Broadcast.enqueued_count) > 0)
        .order_by(col(Broadcast.enqueued_at).desc(), col(Broadcast.id).desc())
    )
    for broadcast in session.execute(queued).scalars():
        told = (broadcast.template or {}).get("told")
        if (
            told
            and (broadcast.template or {}).get("name") in INVITATIONS
            and _told_anyone(session, broadcast)
        ):
            assert broadcast.id is not None and broadcast.enqueued_at is not None
            return Told(
                title=str(told["title"]),
                starts_at=dt.datetime.fromisoformat(told["starts_at"]),
                venue=str(told.get("venue", "")),
                broadcast_id=broadcast.id,
                sent_at=broadcast.enqueued_at,
            )
    return None


def template_values(
    *, session: Session, template: Mapping[str, Any], scope: scopes.Scope | None = None
) -> TemplateValues:
    """Read what a structured template needs from the database and its parameters; with a
    `scope`, only a meeting, milestone or settlement it lets its user see (NotFound for any
    other)."""
    name = str(template["name"])
    for kind in ("meeting", "milestone"):
        if name.startswith(f"{kind}_") and template.get(f"{kind}_id") is None:
            raise BroadcastError(f"{name} needs the {kind}'s number: choose the {kind}")
    if name == "category_changed":
        if template.get("settlement_id") is None or not template.get("category"):
            raise BroadcastError(
                "category_changed needs the settlement and the category it was placed in"
            )
        placed = _quoted_settlement(session, template, scope)
        category = str(template["category"])
        check_category_current(
            settlement=placed,
            category=category,
            previous_category=template.get("previous_category"),
        )
        return TemplateValues(settlement=placed.name, category=category)
    if name.startswith("meeting_"):
        meeting = _quoted_meeting(session, template, scope)
        check_meeting_change(meeting=meeting, name=name)
        previous, venue_changed = None, False
        if name == "meeting_moved":
            previous, venue_changed = moved_change(
                meeting=meeting,
                previous_starts_at=_datetime(template.get("previous_starts_at")),
                previous_venue=template.get("previous_venue"),
            )
        told = None
        if name == "meeting_cancelled" and meeting.id is not None:
            # Renamed or moved since residents were told, unannounced: as they know it.
            told = last_told(session=session, meeting_id=meeting.id)
        when = meeting.starts_at if told is None else told.starts_at
        return TemplateValues(
            title=meeting.title if told is None else told.title,
            starts_at=when,
            previous_starts_at=previous,
            venue=meeting.venue,
            venue_changed=venue_changed,
        )
    if name.endswith("_interruption"):
        starts_at, ends_at = (
            _datetime(template.get("starts_at")),
            _datetime(template.get("ends_at")),
        )
        area = str(template.get("area") or "").strip()
        if not area or starts_at is None or ends_at is None:
            raise BroadcastError(f"{name} needs the area, the start and the end")
        if ends_at <= starts_at:
            raise BroadcastError("the interruption must end after it starts")
        return TemplateValues(area=area, starts_at=starts_at, ends_at=ends_at)
    if name.startswith("milestone_"):
        milestone = _quoted_milestone(session, template, scope)
        check_milestone_status(milestone=milestone, name=name)
        settlement = session.get(Settlement, milestone.settlement_id)
        return TemplateValues(
            settlement=settlement.name if settlement else "",
            milestone=milestone.title,
            note=milestone.note,
        )
    raise BroadcastError(f"unknown template {name!r}")


def _datetime(value: Any) -> dt.datetime | None:
    # A stored template holds JSON: its moments are ISO strings (or datetimes when given).
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _template_falls_back(name: str, values: TemplateValues, language: str) -> bool:
    """Return whether the template's message has no translation in `language`."""
    if language == DEFAULT_LOCALE:
        return False
    message = load().message(broadcast_notices.message_id(name, values))
    return not has_translation(get_translator(language), message.id, message.text)


def render(
    *,
    session: Session,
    texts: Mapping[str, str] | None,
    template: Mapping[str, Any] | None,
    languages: list[str],
    scope: scopes.Scope | None = None,
    values: TemplateValues | None = None,
) -> dict[str, Rendered]:
    """Render a broadcast once for each language (never once per recipient); with a
    `scope`, a template may quote only what its user may see (`template_values`), unless
    its `values` were read already."""
    if template and values is None:
        values = template_values(session=session, template=template, scope=scope)
    rendered: dict[str, Rendered] = {}
    for language in sorted(set(languages) | {DEFAULT_LOCALE}):
        if values is not None and template is not None:
            words = _template_words(str(template["name"]), values, language)
        else:
            assert texts is not None
            words = _own_words(texts, language)
        # Twilio refuses a longer Body (21617): a template with a long milestone note, or
        # staff words full of emoji, which count twice.
        longest = max(twilio_length(words.text), twilio_length(words.sms_text))
        if longest > WHATSAPP_MAX_CHARS:
            raise BroadcastError(
                f"the {language} message would be {longest:,} characters as Twilio counts them"
                f" (an emoji is two): at most {WHATSAPP_MAX_CHARS:,} can be sent; shorten it"
            )
        rendered[language] = words
    return rendered


def _as_sent(language: str, text: str, translator: Translator, falls_back: bool) -> Rendered:
    """Return a broadcast's words in one language with their SMS copy, as sent
    (`sms.sendable`): the preview counts what residents will get."""
    sms_text = broadcast_notices.sms_version(load(), translator, text)
    return Rendered(language, sms.sendable(text), sms.sendable(sms_text), falls_back)


def _template_words(name: str, values: TemplateValues, language: str) -> Rendered:
    """Return a structured template's words in `language`."""
    translator = get_translator(language)
    english = get_translator(DEFAULT_LOCALE)
    text = broadcast_notices.template(load(), translator, name, values, english=english)
    return _as_sent(language, text, translator, _template_falls_back(name, values, language))


def _own_words(texts: Mapping[str, str], language: str) -> Rendered:
    """Return the officer's words for `language`: its own text, else the English one, with
    English surroundings (the STOP hint)."""
    own = (texts.get(language) or "").strip()
    if own:
        return _as_sent(language, own, get_translator(language), False)
    english = (texts.get(DEFAULT_LOCALE) or "").strip()
    return _as_sent(language, english, get_translator(DEFAULT_LOCALE), True)


def reaches_sms(audience: Mapping[str, Any], sms_fallback: bool) -> bool:
    """Return whether a broadcast may reach residents by SMS: its audience keeps residents
    who use SMS (no channel filter, or SMS among the channels), or WhatsApp ones outside
    the 24-hour window fall back to SMS. Residents may change channel before it goes."""
    channels = audience.get("channels") or []
    return sms_fallback or not channels or "sms" in channels


# What an officer shortens when a template's SMS is too long: the words it quotes.
_QUOTED = {
    "meeting": "the meeting's title or venue",
    "milestone": "the milestone's title or note",
    "category": "the settlement's name",
}


def _sms_problem(words: Rendered, template: Mapping[str, Any] | None) -> budget.Problem | None:
    """Return the problem with one language's SMS copy, if it passes the SMS budget."""
    language = DEFAULT_LOCALE if words.falls_back and not template else words.language
    name = str((template or {}).get("name", ""))
    return budget.problem(
        words.sms_text,
        field=("template",) if template else ("texts", language),
        what=f"the {LANGUAGE_NAMES[words.language]} SMS, with its STOP hint,",
        shorten=_QUOTED.get(name.split("_")[0], "the area") if template else "it",
        advice=""
        if template
        else " (or send it to the WhatsApp channel alone, without SMS fallback, to say more)",
    )


def quoted_as_gsm7(values: TemplateValues) -> TemplateValues:
    """Return a template's values with the words officers wrote once on a meeting,
    milestone or settlement as long as GSM-7 would count them (`sms.as_gsm7`): a place
    or a note in any official language's spelling is measured by its length alone. An
    interruption's area is written for the broadcast itself, and measured as it is."""
    return replace(
        values,
        title=sms.as_gsm7(values.title),
        venue=sms.as_gsm7(values.venue),
        settlement=sms.as_gsm7(values.settlement),
        milestone=sms.as_gsm7(values.milestone),
        note=sms.as_gsm7(values.note),
    )


def check_sms_budget(
    *,
    rendered: Mapping[str, Rendered],
    audience: Mapping[str, Any],
    template: Mapping[str, Any] | None,
    values: TemplateValues | None,
    sms_fallback: bool,
) -> None:
    """Refuse (TooManySegments) a broadcast that may reach residents by SMS whose SMS copy
    in a language of its audience (any, when it names none) would pass the SMS budget.
    A language without its own text is named by the English one it gets. A template's
    SMS is measured with the words it quotes as GSM-7 would count them
    (`quoted_as_gsm7`); officers' own texts, written for this SMS, as they are."""
    if not reaches_sms(audience, sms_fallback):
        return
    languages = audience.get("languages") or SUPPORTED_LOCALES
    if template and values and (quoted := quoted_as_gsm7(values)) != values:
        name = str(template["name"])
        rendered = {language: _template_words(name, quoted, language) for language in languages}
    problems: dict[tuple[str, ...], budget.Problem] = {}
    for language in sorted(languages, key=SUPPORTED_LOCALES.index):
        if (problem := _sms_problem(rendered[language], template)) is not None:
            problems.setdefault(problem.field, problem)
    budget.refuse(list(problems.values()))


def texts_sms(
    *, texts: Mapping[str, str], audience: Mapping[str, Any], sms_fallback: bool
) -> TextsSms:
    """Say how long the SMS copy of each language's own text is, and whether it may be sent
    as it is (for the officer writing it; no template, nothing read or changed)."""
    by_sms = reaches_sms(audience, sms_fallback)
    sizes = []
    for language in SUPPORTED_LOCALES:
        if not (texts.get(language) or "").strip():
            continue
        words = _own_words(texts, language)
        size = budget.measure(words.sms_text)
        problem = _sms_problem(words, None) if by_sms else None
        sizes.append(
            TextSms(
                language=language,
                segments=size.segments,
                encoding=size.encoding,
                characters=size.characters,
                fits=problem is None,
                detail=problem.message() if problem else None,
            )
        )
    return TextsSms(by_sms=by_sms, max_segments=budget.MAX_SEGMENTS, languages=sizes)


# --- create, preview ----------------------------------------------------------------------


def template_dict(template: TemplateIn | None) -> dict[str, Any] | None:
    """Return a template request as stored (JSON values, no empty parameters)."""
    if template is None:
        return None
    return template.model_dump(mode="json", exclude_none=True)


def _check_languages(broadcast_in: BroadcastCreate) -> None:
    """Refuse a text, or an audience language, in a language residents cannot have: an
    audience of "isiXhosa" (not "xh") would reach no one."""
    known = ", ".join(SUPPORTED_LOCALES)
    if broadcast_in.texts:
        unknown = sorted(set(broadcast_in.texts) - set(SUPPORTED_LOCALES))
        if unknown:
            raise BroadcastError(
                f"no such language: {', '.join(unknown)} (known: {known})", field=("texts",)
            )
    unknown = sorted(set(broadcast_in.audience.languages) - set(SUPPORTED_LOCALES))
    if unknown:
        raise BroadcastError(
            f"no such language in the audience: {', '.join(unknown)} (known: {known})",
            field=("audience", "languages"),
        )


def preview(
    *,
    session: Session,
    settings: Settings,
    audience: Mapping[str, Any],
    texts: Mapping[str, str] | None,
    template: Mapping[str, Any] | None,
    sms_fallback: bool,
    now: dt.datetime | None = None,
    scope: scopes.Scope | None = None,
) -> Preview:
    """Say what a broadcast would do if sent at `now` (default: now): who, in which words,
    how long, how much (with the `scope` of the user composing it, as `render` takes it).
    Today's audience, with the WhatsApp 24-hour window as it will be at `now`."""
    now = now or utcnow()
    groups = audiences.summary(
        session=session, audience=audience, window_start=now - WHATSAPP_WINDOW
    )
    languages = sorted({language for language, *_ in groups} | {DEFAULT_LOCALE})
    rendered = render(
        session=session, texts=texts, template=template, languages=languages, scope=scope
    )
    by_language_channel: dict[str, dict[str, int]] = {}
    per_language: dict[str, int] = {}
    sms_count = sms_segments = wa_count = outside = outside_no_template = 0
    for language, channel, count, out in groups:
        by_language_channel.setdefault(language, {})[channel] = count
        per_language[language] = per_language.get(language, 0) + count
        segments = sms.segments(rendered[language].sms_text)
        if channel == "sms":
            sms_count += count
            sms_segments += count * segments
        else:
            wa_count += count
            outside += out
            content_sid = find_template(settings.whatsapp_templates, "broadcast", language)
            if not content_sid or not fits_a_template(rendered[language].text):
                outside_no_template += out
                if sms_fallback:
                    sms_segments += out * segments
    fallback_sms = outside_no_template if sms_fallback else 0
    reached_by_wa = wa_count - (outside_no_template)
    cost = (
        sms_segments * settings.sms_segment_price + reached_by_wa * settings.whatsapp_message_price
    )
    seconds = max(
        _seconds(sms_count + fallback_sms, settings.rate_sms),
        _seconds(reached_by_wa, settings.rate_whatsapp),
    )
    total = sum(per_language.values())
    language_previews = [
        LanguagePreview(
            language=language,
            recipients=per_language.get(language, 0),
            falls_back_to_english=rendered[language].falls_back,
            text=rendered[language].text,
            sms_text=rendered[language].sms_text,
            sms_encoding=sms.encoding(rendered[language].sms_text),
            sms_segments=sms.segments(rendered[language].sms_text),
            sms_characters=len(rendered[language].sms_text),
        )
        for language in languages
    ]
    return Preview(
        recipients=total,
        by_language_channel=by_language_channel,
        languages=language_previews,
        fallback_languages=[
            p.language for p in language_previews if p.falls_back_to_english and p.recipients
        ],
        sms_recipients=sms_count,
        sms_segments_total=sms_segments,
        whatsapp_recipients=wa_count,
        whatsapp_window_at=now,
        whatsapp_outside_window=outside,
        whatsapp_outside_window_without_template=outside_no_template,
        estimated_cost=round(cost, 2),
        currency=settings.price_currency,
        estimated_seconds=round(seconds, 1),
        needs_approval=total > settings.broadcast_approval_threshold,
        approval_threshold=settings.broadcast_approval_threshold,
    )


def _audience_of(session: Session, broadcast_in: BroadcastCreate) -> dict[str, Any]:
    """Return a composed broadcast's audience, its wards as the settlements spell them
    (wards are compared as stored: "ward 5" would reach no one in "Ward 5");
    BroadcastError for a ward no settlement is in."""
    audience = broadcast_in.audience.model_dump(mode="json")
    if audience.get("wards"):
        try:
            audience["wards"] = settlements.spell_wards(session=session, wards=audience["wards"])
        except settlements.UnknownWard as exc:
            raise BroadcastError(str(exc)) from None
    return audience


def _check_words(
    session: Session,
    broadcast_in: BroadcastCreate,
    audience: Mapping[str, Any],
    template: Mapping[str, Any] | None,
    scope: scopes.Scope | None,
) -> None:
    """Refuse now, rather than when a second officer approves or the time comes, a bad
    template reference, a meeting or milestone the user may not see (`template_values`),
    words Twilio would refuse in any language, and an SMS copy past the SMS budget
    (`check_sms_budget`)."""
    values = template_values(session=session, template=template, scope=scope) if template else None
    rendered = render(
        session=session,
        texts=broadcast_in.texts,
        template=template,
        languages=list(SUPPORTED_LOCALES),
        values=values,
    )
    check_sms_budget(
        rendered=rendered,
        audience=audience,
        template=template,
        values=values,
        sms_fallback=broadcast_in.sms_fallback,
    )


def preview_draft(
    *, session: Session, settings: Settings, scope: scopes.Scope, broadcast_in: BroadcastCreate
) -> Preview:
    """Preview a composed broadcast the user means to send, as it would go at its send time
    (Conflict outside their scope; refused as `create` would refuse it)."""
    _check_languages(broadcast_in)
    with concerning("audience"):
        audience = _audience_of(session, broadcast_in)
        check_scope(session=session, scope=scope, audience=audience)
    template = template_dict(broadcast_in.template)
    with concerning("template" if template else "texts"):
        _check_words(session, broadcast_in, audience, template, scope)
        goes_at = _goes_at(broadcast_in.send_at, utcnow())
        _check_invitation(session, template, goes_at)
    return preview(
        session=session,
        settings=settings,
        audience=audience,
        texts=broadcast_in.texts,
        template=template,
        sms_fallback=broadcast_in.sms_fallback,
        now=goes_at,
        scope=scope,
    )


def warnings(
    *, session: Session, audience: Mapping[str, Any], template: Mapping[str, Any] | None
) -> list[str]:
    """Say what an officer may not mean in a broadcast that may be sent all the same (the
    dashboard's preview, for its author and its approver): a milestone's news to an
    audience that leaves out the milestone's settlement; a meeting's cancellation or move
    when it was renamed, moved or given another venue since residents were last told
    (`last_told`)."""
    said: list[str] = []
    name = str((template or {}).get("name", ""))
    if name in ("meeting_cancelled", "meeting_moved"):
        meeting = session.get(Meeting, (template or {}).get("meeting_id") or 0)
        told = last_told(session=session, meeting_id=meeting.id or 0) if meeting else None
        if meeting is not None and told is not None and told.changed(meeting):
            said.append(_unannounced_change(name, meeting, told))
    settlement, news = None, ""
    if name.startswith("milestone_"):
        milestone = session.get(Milestone, (template or {}).get("milestone_id") or 0)
        settlement = session.get(Settlement, milestone.settlement_id) if milestone else None
        news = "a milestone of"
    elif name == "category_changed":
        settlement = session.get(Settlement, (template or {}).get("settlement_id") or 0)
        news = "the category of"
    if settlement is not None and not audiences.takes_settlement(audience, settlement):
        said.append(
            f"This is news of {news} {settlement.name}, but the audience leaves "
            f"{settlement.name} out: none of its residents will get it. Send it only if "
            "you mean it for the residents chosen."
        )
    return said


def _unannounced_change(name: str, meeting: Meeting, told: Told) -> str:
    """Say that a meeting changed since residents were last told (`told`), and how its
    cancellation or move reaches them."""
    was = f"\u201c{told.title}\u201d on {local_time(told.starts_at)}"
    venue = told.venue.strip() or "a venue to be announced"
    heard = (
        f"Residents last heard of this meeting as {was} at {venue} (broadcast "
        f"{told.broadcast_id}, sent {local_time(told.sent_at)}); since then it was "
        f"{' and '.join(told.changed(meeting))} without telling them."
    )
    if name == "meeting_cancelled":
        return f"{heard} This notice names it as they know it: {was}."
    return (
        f"{heard} For them it moves from {local_time(told.starts_at)} at {venue}: give that"
        " as where it was planned before (the time it had, and the venue if it changed), so"
        " that they recognise it."
    )


def draft_warnings(*, session: Session, broadcast_in: BroadcastCreate) -> list[str]:
    """Return `warnings` of a composed broadcast (its wards as the settlements spell them)."""
    return warnings(
        session=session,
        audience=_audience_of(session, broadcast_in),
        template=template_dict(broadcast_in.template),
    )


def _goes_at(send_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """Return when a broadcast would go: at its send time, or now if that has passed (the
    WhatsApp window is counted then: a resident who writes today may be outside it by a
    send time two days away)."""
    return max(send_at, now) if send_at is not None else now


def _seconds(count: int, rate: float) -> float:
    return count / rate if rate > 0 and count else 0.0


def preview_of(
    *,
    session: Session,
    settings: Settings,
    scope: scopes.Scope,
    broadcast: Broadcast,
    now: dt.datetime | None = None,
) -> Preview:
    """Preview a stored broadcast for a user with `scope`, as it would go at its send time
    (or now, if that passed): Conflict for an audience outside the scope, NotFound for a
    template quoting a meeting or milestone the user may not see (another user composed
    it), as a preview of their own would be refused."""
    check_scope(session=session, scope=scope, audience=broadcast.audience)
    return preview(
        session=session,
        settings=settings,
        audience=broadcast.audience,
        texts=broadcast.texts,
        template=broadcast.template,
        sms_fallback=broadcast.sms_fallback,
        now=_goes_at(broadcast.send_at, now or utcnow()),
        scope=scope,
    )


def create(
    *,
    session: Session,
    settings: Settings,
    broadcast_in: BroadcastCreate,
    staff: StaffUser | None,
    meeting_id: int | None = None,
    now: dt.datetime | None = None,
) -> Broadcast:
    """Store a broadcast; queue it at once when due and no approval is needed.

    Above `broadcast_approval_threshold` recipients it waits for a second officer. One due
    now whose audience matches no resident is refused (Conflict); scheduled, it is taken.
    """
    now = now or utcnow()
    _check_languages(broadcast_in)
    audience = _audience_of(session, broadcast_in)
    scope = scopes.for_user(session=session, user=staff) if staff is not None else None
    if scope is not None:
        check_scope(session=session, scope=scope, audience=audience)
    template = template_dict(broadcast_in.template)
    _check_words(session, broadcast_in, audience, template, scope)
    if template is not None and template["name"].startswith("meeting_") and meeting_id is None:
        meeting_id = int(template["meeting_id"])  # render found it
    size = audiences.count(session=session, audience=audience)
    needs_approval = size > settings.broadcast_approval_threshold
    send_at = broadcast_in.send_at or now  # a validated `Moment`: aware, in UTC
    _check_invitation(session, template, max(send_at, now))
    # Sent now, it would reach nobody and be stored as sent; scheduled, residents may join
    # or change before it goes (as the dashboard's preview offers it).
    if size == 0 and send_at <= now:
        raise Conflict(
            "no resident matches this audience, so nobody would get it now:"
            " change the filters, or schedule it for later"
        )
    broadcast = Broadcast(
        title=broadcast_in.title,
        status="awaiting_approval" if needs_approval else "scheduled",
        audience=audience,
        texts=dict(broadcast_in.texts) if broadcast_in.texts else None,
        template=template,
        sms_fallback=broadcast_in.sms_fallback,
        meeting_id=meeting_id,
        send_at=max(send_at, now),
        audience_size=size,
        needs_approval=needs_approval,
        created_by_id=staff.id if staff else None,
        created_at=now,
        updated_at=now,
    )
    session.add(broadcast)
    session.flush()
    log.info(
        "broadcast created",
        extra={"broadcast_id": broadcast.id, "audience": size, "status": broadcast.status},
    )
    if broadcast.status == "scheduled" and broadcast.send_at <= now:
        release(session=session, broadcast=broadcast, now=now)
    return broadcast


def get(*, session: Session, broadcast_id: int) -> Broadcast | None:
    """Return one broadcast."""
    return session.get(Broadcast, broadcast_id)


def list_visible(*, session: Session, scope: scopes.Scope, limit: int = 50) -> list[Broadcast]:
    """Return the newest `limit` broadcasts the user may see, newest first (scoped: those
    whose audience is theirs, however many newer ones are not)."""
    query = select(Broadcast).order_by(col(Broadcast.id).desc())
    if scope.unrestricted:
        return list(session.execute(query.limit(limit)).scalars())
    allowed = scopes.allowed_settlement_ids(session=session, scope=scope)
    visible: list[Broadcast] = []
    for broadcast in session.execute(query).scalars():
        if _outside_scope(scope, broadcast.audience, allowed) is None:
            visible.append(broadcast)
            if len(visible) == limit:
                break
    return visible


def _locked(session: Session, broadcast: Broadcast) -> Broadcast:
    query = select(Broadcast).where(col(Broadcast.id) == broadcast.id).with_for_update()
    found = session.execute(query.execution_options(populate_existing=True)).scalar_one()
    return found


# What a broadcast's template may quote that officers go on changing: a milestone (title,
# note) or a meeting (title, venue, start), named in the template by `<kind>_id`.
Quoted = Literal["milestone", "meeting"]


def _quoted(milestone_id: int | None, meeting_id: int | None) -> tuple[Quoted, int]:
    """Return what a caller names, a milestone or a meeting (exactly one), and its id."""
    if milestone_id is not None and meeting_id is None:
        return "milestone", milestone_id
    if meeting_id is not None and milestone_id is None:
        return "meeting", meeting_id
    raise TypeError("name a milestone or a meeting")


def _unsent_quoting(session: Session, kind: Quoted) -> list[Broadcast]:
    """Return the broadcasts not sent yet (scheduled or awaiting approval) whose template
    quotes a milestone, or a meeting (`kind`): they read it when they are sent."""
    unsent = select(Broadcast).where(
        col(Broadcast.status).in_(["scheduled", "awaiting_approval"]),
        col(Broadcast.template).is_not(None),
    )
    return [
        broadcast
        for broadcast in session.execute(unsent.order_by(col(Broadcast.id))).scalars()
        if str((broadcast.template or {}).get("name", "")).startswith(f"{kind}_")
    ]


def unsent_quoting(
    *, session: Session, milestone_id: int | None = None, meeting_id: int | None = None
) -> list[Broadcast]:
    """Return the broadcasts not sent yet that quote the milestone, or the meeting."""
    kind, quoted = _quoted(milestone_id, meeting_id)
    return [
        broadcast
        for broadcast in _unsent_quoting(session, kind)
        if (broadcast.template or {}).get(f"{kind}_id") == quoted
    ]


def quoted_ids(*, session: Session, kind: Quoted) -> set[int]:
    """Return the milestones, or the meetings (`kind`), that broadcasts not sent yet quote."""
    return {
        int(broadcast.template[f"{kind}_id"])
        for broadcast in _unsent_quoting(session, kind)
        if broadcast.template and str(broadcast.template.get(f"{kind}_id", "")).isdecimal()
    }


def quoting_sms_problems(
    *, session: Session, milestone_id: int | None = None, meeting_id: int | None = None
) -> dict[int, budget.Problem]:
    """Return, by broadcast, the SMS problem of each broadcast not sent yet that quotes the
    milestone, or the meeting, as the session now has it (`check_sms_budget`). Only those
    that will still go count: one whose words cannot be built, a meeting's "cancelled" of
    one not cancelled, an invitation to one cancelled or started by the time it is due,
    fails or is withdrawn then (`release`), so none of them is here."""
    problems: dict[int, budget.Problem] = {}
    for broadcast in unsent_quoting(
        session=session, milestone_id=milestone_id, meeting_id=meeting_id
    ):
        assert broadcast.id is not None
        try:
            _check_invitation(session, broadcast.template, broadcast.send_at)
            values = template_values(session=session, template=broadcast.template or {})
            rendered = render(
                session=session,
                texts=None,
                template=broadcast.template,
                languages=list(SUPPORTED_LOCALES),
                values=values,
            )
            check_sms_budget(
                rendered=rendered,
                audience=broadcast.audience,
                template=broadcast.template,
                values=values,
                sms_fallback=broadcast.sms_fallback,
            )
        except budget.TooManySegments as exc:
            problems[broadcast.id] = exc.problems[0]
        except BroadcastError:
            continue
    return problems


def quoting_sms_worse(
    *,
    session: Session,
    before: Mapping[int, budget.Problem],
    field: str,
    milestone_id: int | None = None,
    meeting_id: int | None = None,
) -> list[budget.Problem]:
    """Return the SMS problems of the broadcasts not sent yet that quote a milestone, or a
    meeting, just changed (flushed or not), where one passes the budget and did not before
    the change (`before`, `quoting_sms_problems`), or passes it by more: they were measured
    when composed, and read it when they go. One too long already holds up no change that
    makes it no longer. `field`: the words to name."""
    kind, _ = _quoted(milestone_id, meeting_id)
    after = quoting_sms_problems(session=session, milestone_id=milestone_id, meeting_id=meeting_id)
    return [
        budget.Problem(
            (field,),
            f"broadcast {broadcast_id} quotes this {kind} and is not sent yet: {problem.what}",
            problem.size,
            shorten=problem.shorten,
            advice=" (or cancel the broadcast first)",
        )
        for broadcast_id, problem in after.items()
        if broadcast_id not in before or problem.size.segments > before[broadcast_id].size.segments
    ]


@contextmanager
def quoting_sms_measured(
    *, session: Session, changed: Milestone | Meeting | None, field: str
) -> Iterator[list[budget.Problem]]:
    """Measure the broadcasts not sent yet that quote `changed`, a stored milestone or
    meeting (None: none to measure, as for a new one), before and after the change the
    block makes; then fill the list it yields with those the change took past the SMS
    budget, or further past (`quoting_sms_worse`), naming `field`. The caller refuses
    them, and rolls the change back (a savepoint)."""
    worse: list[budget.Problem] = []
    if changed is None:
        yield worse
        return
    quoted = {"milestone_id" if isinstance(changed, Milestone) else "meeting_id": changed.id}
    before = quoting_sms_problems(session=session, **quoted)
    yield worse
    worse += quoting_sms_worse(session=session, before=before, field=field, **quoted)


def within_scope(*, session: Session, scope: scopes.Scope, broadcast: Broadcast) -> bool:
    """Return whether a scoped user may see this broadcast (its audience is theirs)."""
    try:
        check_scope(session=session, scope=scope, audience=broadcast.audience)
    except OutsideScope:
        return False
    return True


def check_scope(*, session: Session, scope: scopes.Scope, audience: Mapping[str, Any]) -> None:
    """Refuse (OutsideScope) an audience outside a scoped officer's settlements and wards:
    they must name settlements (or wards) of their own, never everyone."""
    if scope.unrestricted:
        return
    named = audience.get("settlement_ids") or []
    allowed = scopes.allowed_settlement_ids(session=session, scope=scope, among=named)
    refusal = _outside_scope(scope, audience, allowed)
    if refusal is not None:
        raise OutsideScope(refusal)


def _outside_scope(
    scope: scopes.Scope, audience: Mapping[str, Any], allowed: Collection[int]
) -> str | None:
    """Return why an audience is outside a scoped user's scope (None if it is within),
    given the ids of the settlements the scope allows."""
    settlement_ids = list(audience.get("settlement_ids") or [])
    wards = set(audience.get("wards") or [])  # spelt as the settlements spell them
    if audience.get("everyone") or not (settlement_ids or wards):
        return "your scope allows broadcasts only to your settlements or wards"
    if outside := sorted(ward for ward in wards if not scopes.has_ward(scope, ward)):
        return f"your scope does not include {_wards(outside)}"
    for settlement_id in settlement_ids:
        if settlement_id not in allowed:
            return f"your scope does not include settlement {settlement_id}"
    return None


def _wards(wards: list[str]) -> str:
    """Return wards as the README and the CSV name them: "ward 15", "wards 3, 9 and 15"."""
    if len(wards) == 1:
        return f"ward {wards[0]}"
    return f"wards {', '.join(wards[:-1])} and {wards[-1]}"


# --- approve, release, cancel -------------------------------------------------------------


def approve(
    *, session: Session, broadcast: Broadcast, staff: StaffUser, now: dt.datetime | None = None
) -> Broadcast:
    """Approve a broadcast waiting for a second officer; queue it at once when due."""
    now = now or utcnow()
    broadcast = _locked(session, broadcast)
    if broadcast.status != "awaiting_approval":
        raise Conflict(f"broadcast {broadcast.id} is {broadcast.status}, not awaiting approval")
    if broadcast.created_by_id is not None and broadcast.created_by_id == staff.id:
        raise Conflict("a second officer must approve: you created this broadcast")
    scope = scopes.for_user(session=session, user=staff)
    check_scope(session=session, scope=scope, audience=broadcast.audience)
    # Not words they may not read, which its preview does not show them (`preview_of`).
    check_quoted_in_scope(session=session, scope=scope, template=broadcast.template)
    broadcast.status = "scheduled"
    broadcast.approved_by_id = staff.id
    broadcast.approved_at = now
    broadcast.updated_at = now
    session.flush()
    if broadcast.send_at <= now:
        release(session=session, broadcast=broadcast, now=now)
    return broadcast


def enqueue_audience(
    *,
    session: Session,
    audience: Mapping[str, Any],
    words: Mapping[str, Rendered],
    purpose: str,
    ref: str,
    dedupe_prefix: str,
    sms_fallback: bool,
    now: dt.datetime,
    instead: tuple[ColumnElement[bool], Mapping[str, Rendered]] | None = None,
) -> int:
    """Queue one outbox row per audience member (`outbox.enqueue_select`); return how many
    were added. Idempotent: `dedupe_prefix` + resident id is each row's dedupe key.

    The words are chosen per row by language and channel in SQL: for a whole settlement or
    city, moving 100,000 rows through Python costs more than the 5 s an officer should wait.
    `instead` is a condition on the resident and the words (in the same languages) its
    residents get in place of `words`.
    """
    language, channel = audiences.language_column(), audiences.channel_column()

    def in_language(versions: Mapping[str, Rendered], attr: str) -> Any:
        """The row's language's version of `attr` (`text`, `sms_text`), else English's."""
        whens = [(language == code, literal(getattr(w, attr))) for code, w in versions.items()]
        return case(*whens, else_=literal(getattr(versions[DEFAULT_LOCALE], attr)))

    def chosen(attr: str) -> Any:
        """The row's version of `attr`: `instead`'s for its residents, else `words`'."""
        if instead is None:
            return in_language(words, attr)
        condition, other = instead
        return case((condition, in_language(other, attr)), else_=in_language(words, attr))

    r = audiences.resident_table
    body = case((channel == "whatsapp", chosen("text")), else_=chosen("sms_text"))
    sms_body = chosen("sms_text")
    known = list(words)
    rows = select(
        r.c.id,
        channel,
        literal(purpose),
        literal(ref),
        literal(dedupe_prefix) + cast(r.c.id, String),
        case((language.in_(known), language), else_=literal(DEFAULT_LOCALE)),
        body,
        sms_body,
        literal(bool(sms_fallback)),
    ).where(*audiences.conditions(audience))
    return outbox.enqueue_select(session=session, rows=rows, purpose=purpose, ref=ref, now=now)


def release(
    *,
    session: Session,
    broadcast: Broadcast,
    now: dt.datetime | None = None,
    settings: Settings | None = None,
) -> int:
    """Queue a scheduled broadcast for its whole audience; return how many rows were added.

    With `settings`, one nobody approved whose audience has grown past the approval
    threshold since it was scheduled (a settlement re-categorised, residents joined) waits
    for a second officer instead. One whose words can no longer be built is marked failed,
    with the reason."""
    now = now or utcnow()
    broadcast = _locked(session, broadcast)
    if broadcast.status != "scheduled":
        return 0
    assert broadcast.id is not None
    if settings is not None and broadcast.approved_by_id is None:
        size = audiences.count(session=session, audience=broadcast.audience)
        if size > settings.broadcast_approval_threshold:
            broadcast.status = "awaiting_approval"
            broadcast.needs_approval = True
            broadcast.audience_size = size
            broadcast.updated_at = now
            session.flush()
            log.info(
                "broadcast grew past the approval threshold",
                extra={"broadcast_id": broadcast.id, "audience": size},
            )
            return 0
    name = (broadcast.template or {}).get("name")
    meeting = None
    if name in INVITATIONS and broadcast.meeting_id is not None:
        meeting = session.get(Meeting, broadcast.meeting_id)
        if meeting is None or meeting.cancelled:  # cancelled since it was scheduled
            log.info(
                "announcement of a cancelled meeting withdrawn",
                extra={"broadcast_id": broadcast.id},
            )
            cancel(session=session, broadcast=broadcast, staff=None, now=now)
            return 0
        if meeting.starts_at <= now:  # it waited for approval, or was moved earlier
            reason = "The meeting had started when it was due: too late to invite residents."
            return _failed(session, broadcast, reason, now)
    languages = audiences.languages(session=session, audience=broadcast.audience)
    try:
        rendered = render(
            session=session, texts=broadcast.texts, template=broadcast.template, languages=languages
        )
    except BroadcastError as error:
        # Words that could be sent when it was scheduled may not be now (a milestone note
        # lengthened past what Twilio takes, the milestone deleted): this one fails, with
        # the reason, rather than fail the job again on every run and hold up every later
        # broadcast behind it.
        return _failed(
            session, broadcast, f"Its words could not be built when it was due: {error}", now
        )
    if name in INVITATIONS and broadcast.meeting_id is not None and meeting is not None:
        # What residents are told, for a later announcement to compare with (`last_told`).
        told = {"title": meeting.title, "starts_at": meeting.starts_at.isoformat()}
        broadcast.template = {**(broadcast.template or {}), "told": told | {"venue": meeting.venue}}
    ref = ref_of(broadcast.id)
    added = enqueue_audience(
        session=session,
        audience=broadcast.audience,
        words=rendered,
        purpose="broadcast",
        ref=ref,
        dedupe_prefix=f"{ref}:",
        sms_fallback=broadcast.sms_fallback,
        now=now,
    )
    if added == 0 and broadcast.enqueued_count == 0:
        # Residents left, stopped messages or changed since it was scheduled: "sent" to
        # nobody would read as done.
        reason = "No resident matched its audience when it was due, so nobody was sent it."
        return _failed(session, broadcast, reason, now)
    broadcast.status = "enqueued"
    broadcast.enqueued_at = now
    broadcast.enqueued_count += added
    broadcast.updated_at = now
    session.flush()
    log.info("broadcast queued", extra={"broadcast_id": broadcast.id, "count": added})
    return added


def _failed(session: Session, broadcast: Broadcast, reason: str, now: dt.datetime) -> int:
    """Mark `broadcast` failed with `reason`; return 0, the messages queued."""
    broadcast.status = "failed"
    broadcast.status_reason = reason[:500]
    broadcast.updated_at = now
    session.flush()
    log.warning("broadcast failed", extra={"broadcast_id": broadcast.id, "reason": reason})
    return 0


def cancel(
    *,
    session: Session,
    broadcast: Broadcast,
    staff: StaffUser | None,
    now: dt.datetime | None = None,
) -> int:
    """Cancel a broadcast not yet sent, or the unsent rest of a running one; return how many
    queued messages were cancelled (Conflict for one that finished or failed)."""
    now = now or utcnow()
    broadcast = _locked(session, broadcast)
    assert broadcast.id is not None
    if broadcast.status in ("cancelled", "failed"):
        raise Conflict(f"broadcast {broadcast.id} is already {broadcast.status}")
    # Once every message went, "cancelled" would tell staff that residents were not told.
    if broadcast.status == "enqueued" and not _still_queued(session, broadcast.id):
        raise Conflict(f"broadcast {broadcast.id} has finished: no message is left to send")
    if staff is not None:
        check_scope(
            session=session,
            scope=scopes.for_user(session=session, user=staff),
            audience=broadcast.audience,
        )
    cancelled = 0
    if broadcast.status == "enqueued":
        cancelled = outbox.cancel_queued(
            session=session,
            refs=[ref_of(broadcast.id)],
            reason="broadcast cancelled by an officer",
            now=now,
        )
    _mark_cancelled(session, broadcast, staff, now)
    log.info("broadcast cancelled", extra={"broadcast_id": broadcast.id, "rows": cancelled})
    return cancelled


def _still_queued(session: Session, broadcast_id: int) -> bool:
    """Return whether any of a broadcast's messages waits to be sent (or is being sent)."""
    queued = [status for status, group in PROGRESS_GROUPS.items() if group == "queued"]
    found = select(col(Outbox.id)).where(
        col(Outbox.ref) == ref_of(broadcast_id), col(Outbox.status).in_(queued)
    )
    return session.execute(found.limit(1)).first() is not None


def _mark_cancelled(
    session: Session, broadcast: Broadcast, staff: StaffUser | None, now: dt.datetime
) -> None:
    broadcast.status = "cancelled"
    broadcast.cancelled_at = now
    broadcast.cancelled_by_id = staff.id if staff else None
    broadcast.updated_at = now
    session.flush()


def withdraw_invitations(
    *, session: Session, meeting_id: int, now: dt.datetime | None = None
) -> int:
    """Withdraw the announcements ("new meeting", "moved") of a meeting just cancelled:
    cancel those not sent yet and the queued messages of running ones, and keep those
    already sent from being tried again; return how many messages were cancelled. One
    whose every message had gone keeps its status (it was sent)."""
    now = now or utcnow()
    found = (
        select(Broadcast)
        .where(
            col(Broadcast.meeting_id) == meeting_id,
            col(Broadcast.status).in_(("awaiting_approval", "scheduled", "enqueued")),
        )
        .order_by(col(Broadcast.id))
        .with_for_update()
        .execution_options(populate_existing=True)  # a release may have just queued it
    )
    withdrawn = 0
    for broadcast in list(session.execute(found).scalars()):
        if (broadcast.template or {}).get("name") not in INVITATIONS:
            continue
        assert broadcast.id is not None
        rows = outbox.cancel_queued(
            session=session,
            refs=[ref_of(broadcast.id)],
            reason="the meeting was cancelled",
            now=now,
        )
        if broadcast.status != "enqueued" or rows:
            _mark_cancelled(session, broadcast, None, now)
        withdrawn += rows
    if withdrawn:
        log.info(
            "announcements of a cancelled meeting withdrawn",
            extra={"meeting_id": meeting_id, "count": withdrawn},
        )
    return withdrawn


def send_due(
    *,
    session: Session,
    now: dt.datetime | None = None,
    limit: int = 20,
    settings: Settings | None = None,
) -> int:
    """Queue every scheduled broadcast whose time has come (`settings`: see `release`);
    return how many were taken up."""
    now = now or utcnow()
    due = session.execute(
        select(Broadcast)
        .where(col(Broadcast.status) == "scheduled", col(Broadcast.send_at) <= now)
        .order_by(col(Broadcast.send_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars()
    released = 0
    for broadcast in list(due):
        release(session=session, broadcast=broadcast, now=now, settings=settings)
        released += 1
    return released


# --- progress -----------------------------------------------------------------------------


def progress(*, session: Session, ref: str) -> Progress:
    """Count a broadcast's (or reminder round's) messages per status, language and channel."""
    t = outbox.outbox_table
    channel = func.coalesce(t.c.sent_channel, t.c.channel)
    language = func.coalesce(t.c.language, DEFAULT_LOCALE)
    inner = (
        select(language.label("language"), channel.label("channel"), t.c.status)
        .where(t.c.ref == ref)
        .subquery()
    )
    rows = session.execute(
        select(inner.c.language, inner.c.channel, inner.c.status, func.count()).group_by(
            inner.c.language, inner.c.channel, inner.c.status
        )
    ).all()
    totals = dict.fromkeys(PROGRESS_KEYS, 0)
    nested: dict[str, dict[str, dict[str, int]]] = {}
    for lang, ch, status, count in rows:
        key = PROGRESS_GROUPS.get(status, "queued")
        totals[key] += count
        cell = nested.setdefault(lang, {}).setdefault(ch, dict.fromkeys(PROGRESS_KEYS, 0))
        cell[key] += count
    return Progress(total=sum(totals.values()), by_language_channel=nested, **totals)


def to_public(*, session: Session, broadcast: Broadcast) -> BroadcastPublic:
    """Return a broadcast with its progress, as the API shows it."""
    assert broadcast.id is not None
    counts = progress(session=session, ref=ref_of(broadcast.id))
    return BroadcastPublic(
        id=broadcast.id,
        title=broadcast.title,
        status=broadcast.status,
        status_reason=broadcast.status_reason,
        done=broadcast.status in ("cancelled", "failed")
        or (broadcast.status == "enqueued" and counts.queued == 0),
        audience=broadcast.audience,
        texts=broadcast.texts,
        template=broadcast.template,
        sms_fallback=broadcast.sms_fallback,
        meeting_id=broadcast.meeting_id,
        send_at=broadcast.send_at,
        audience_size=broadcast.audience_size,
        needs_approval=broadcast.needs_approval,
        created_by_id=broadcast.created_by_id,
        approved_by_id=broadcast.approved_by_id,
        approved_at=broadcast.approved_at,
        cancelled_at=broadcast.cancelled_at,
        enqueued_at=broadcast.enqueued_at,
        enqueued_count=broadcast.enqueued_count,
        progress=counts,
    )


def officers(*, session: Session, broadcasts: Collection[Broadcast]) -> dict[int, str]:
    """Return the email of each staff user who composed, approved or cancelled one of
    `broadcasts`, by id, in one query (one since removed is not there)."""
    ids = {
        user_id
        for broadcast in broadcasts
        for user_id in (
            broadcast.created_by_id,
            broadcast.approved_by_id,
            broadcast.cancelled_by_id,
        )
        if user_id is not None
    }
    if not ids:
        return {}
    found = select(col(StaffUser.id), col(StaffUser.email)).where(col(StaffUser.id).in_(ids))
    return {int(user_id): str(email) for user_id, email in session.execute(found).all()}


# --- milestones: announcements -------------------------------------------------------------

# The template that tells a settlement's residents of a milestone's status; residents are
# told of no other (planned, in progress).
MILESTONE_TEMPLATES = {"done": "milestone_reached", "delayed": "milestone_delayed"}


def milestone_is_news(
    *, milestone: Milestone, status_before: str | None, note_before: str | None
) -> bool:
    """Return whether a milestone just added or changed (`None` before: added) is news for
    its settlement's residents: done or delayed now and not before, or still delayed with
    a new note, which the "delayed" message quotes (why, or until when). A done
    milestone's new note is not: "good news, this step is done" would be sent again."""
    if milestone.status not in MILESTONE_TEMPLATES:
        return False
    if milestone.status != status_before:
        return True
    return milestone.status == "delayed" and milestone.note != note_before


def milestone_announcement(
    *, milestone: Milestone, settlement: Settlement, send_at: dt.datetime | None = None
) -> BroadcastCreate:
    """Return the broadcast that tells a settlement's residents its milestone is done or
    delayed, as its status says, for the officer to send as it is or adjust (the offer made
    when a milestone changes); Conflict for a milestone neither done nor delayed.
    `send_at` empty means now."""
    name = MILESTONE_TEMPLATES.get(milestone.status)
    if name is None:
        raise Conflict(
            f"milestone {milestone.id} is {milestone.status.replace('_', ' ')}: residents are"
            " told of a milestone once it is done or delayed (set its status first)"
        )
    word = name.removeprefix("milestone_")
    return BroadcastCreate(
        title=f"Milestone {word}: {milestone.title} ({settlement.name})"[:200],
        audience=Audience(settlement_ids=[milestone.settlement_id]),
        template=TemplateIn(name=name, milestone_id=milestone.id),
        send_at=send_at,
    )


def announce_milestone(
    *,
    session: Session,
    settings: Settings,
    milestone: Milestone,
    settlement: Settlement,
    staff: StaffUser | None,
    send_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Broadcast:
    """Create the broadcast that tells a settlement's residents its milestone is done or
    delayed (approval rules apply)."""
    draft = milestone_announcement(milestone=milestone, settlement=settlement, send_at=send_at)
    return create(session=session, settings=settings, broadcast_in=draft, staff=staff, now=now)


# --- categories: announcements -------------------------------------------------------------


def category_is_news(*, settlement: Settlement, category_before: str | None) -> bool:
    """Return whether a settlement just saved has news for its residents: a category, and
    not the one it had (none before: not yet assessed). A category cleared (back to not
    assessed) is not told: residents' menu says it has none yet."""
    return settlement.category is not None and settlement.category != category_before


@dataclass(frozen=True)
class CategoryNews:
    """A settlement placed in another category (by a save or an import), whose announcement
    is offered: `previous` is the category it had, "" for none (not yet assessed)."""

    settlement_id: int
    name: str
    category: str
    previous: str

    @property
    def compose_path(self) -> str:
        """Return the dashboard's compose page filled in with this announcement."""
        offer = {
            "settlement_id": self.settlement_id,
            "category": self.category,
            "previous_category": self.previous,
        }
        return f"/staff/broadcasts/new?{urlencode(offer)}"

    @property
    def api_path(self) -> str:
        """Return the JSON API's path that sends this announcement (POST, body: category
        and previous_category)."""
        return f"/api/v1/settlements/{self.settlement_id}/category/announcement"

    @property
    def api_body(self) -> dict[str, str]:
        """Return the body of the API's call (`api_path`)."""
        return {"category": self.category, "previous_category": self.previous}

    def __str__(self) -> str:
        was = f"{self.previous} -> " if self.previous else "(not yet assessed) -> "
        return f"{self.name}: category {was}{self.category}"


def category_news(*, settlement: Settlement, category_before: str | None) -> CategoryNews | None:
    """Return the news of a settlement just saved or imported (as `category_is_news` says),
    or None."""
    if not category_is_news(settlement=settlement, category_before=category_before):
        return None
    assert settlement.id is not None and settlement.category is not None
    return CategoryNews(settlement.id, settlement.name, settlement.category, category_before or "")


def category_news_offered(
    *, session: Session, scope: scopes.Scope, news: Collection[CategoryNews]
) -> list[CategoryNews]:
    """Return the `news` still worth offering to a user of `scope`: of a settlement the
    scope includes that is still in the category it was placed in."""
    offered = []
    for item in news:
        settlement = session.get(Settlement, item.settlement_id)
        if (
            settlement is not None
            and settlement.category == item.category
            and scopes.allows_settlement(
                session=session, scope=scope, settlement_id=item.settlement_id
            )
        ):
            offered.append(item)
    return offered


@dataclass(frozen=True)
class Withdrawn:
    """A broadcast withdrawn before it went, and why (its `status_reason`)."""

    broadcast_id: int
    title: str
    reason: str

    def __str__(self) -> str:
        title = f" ({self.title})" if self.title else ""
        return f"broadcast {self.broadcast_id}{title}: {self.reason}"


def withdraw_category_news(
    *,
    session: Session,
    settlement: Settlement,
    staff: StaffUser | None,
    via: str,
    now: dt.datetime | None = None,
) -> list[Withdrawn]:
    """Withdraw the announcements of a settlement's category not sent yet (scheduled or
    awaiting approval) that name a category it no longer has, once it changed again: each
    is cancelled at once, its reason kept (`status_reason`) and audited
    (`broadcast.withdraw`, by `staff`, none for the CLI, `via` the change's surface). One
    already sending is left to the check made as each message goes."""
    now = now or utcnow()
    template = col(Broadcast.template)
    found = (
        select(Broadcast)
        .where(
            col(Broadcast.status).in_(("awaiting_approval", "scheduled")),
            template["name"].as_string() == "category_changed",
            template["settlement_id"].as_integer() == settlement.id,
        )
        .order_by(col(Broadcast.id))
        .with_for_update()  # only these: the due job skips them meanwhile
        .execution_options(populate_existing=True)  # a release may have just taken it
    )
    now_in = settlement.category or "none (not yet assessed)"
    day = local_time(now, "%Y-%m-%d")
    withdrawn = []
    for broadcast in list(session.execute(found).scalars()):
        if (broadcast.template or {}).get("category") == settlement.category:
            continue
        assert broadcast.id is not None
        reason = f"the category changed again to {now_in} on {day}"
        _mark_cancelled(session, broadcast, None, now)
        broadcast.status_reason = reason
        audit.record(
            session=session,
            user=staff,
            action="broadcast.withdraw",
            target=f"broadcast:{broadcast.id}",
            detail={"reason": reason, "settlement_id": settlement.id, "via": via},
            now=now,
        )
        withdrawn.append(Withdrawn(broadcast.id, broadcast.title, reason))
    session.flush()
    if withdrawn:
        log.info(
            "category announcements withdrawn",
            extra={"settlement_id": settlement.id, "count": len(withdrawn)},
        )
    return withdrawn


def withdrawn_news(
    *, session: Session, settlement_id: int, broadcast_ids: Collection[int]
) -> list[Withdrawn]:
    """Return those of `broadcast_ids` that are withdrawn announcements of the settlement's
    category, with why (what a save that withdrew them says after it)."""
    if not broadcast_ids:
        return []
    found = session.execute(
        select(Broadcast)
        .where(col(Broadcast.id).in_(list(broadcast_ids)), col(Broadcast.status) == "cancelled")
        .order_by(col(Broadcast.id))
    ).scalars()
    return [
        Withdrawn(broadcast.id or 0, broadcast.title, broadcast.status_reason or "")
        for broadcast in found
        if (broadcast.template or {}).get("name") == "category_changed"
        and (broadcast.template or {}).get("settlement_id") == settlement_id
    ]


def category_announcement(
    *,
    settlement: Settlement,
    category: str | None = None,
    previous_category: str | None = None,
    send_at: dt.datetime | None = None,
) -> BroadcastCreate:
    """Return the broadcast that tells a settlement's residents its new category (`category`,
    default its category now; `previous_category`, the one it had, "" for none, if known),
    for the officer to send as it is or adjust (the offer made when a category changes).
    Conflict for a settlement with no category, a category it no longer has, or one the
    same as the category it had. `send_at` empty means now."""
    if settlement.category is None:
        raise Conflict(
            f"settlement {settlement.id} ({settlement.name}) has no category (not yet "
            "assessed): residents are told of its category once it is set"
        )
    category = category or settlement.category
    check_category_current(
        settlement=settlement, category=category, previous_category=previous_category
    )
    try:
        return BroadcastCreate(
            title=f"Category {category}: {settlement.name}"[:200],
            audience=Audience(settlement_ids=[settlement.id or 0]),
            template=TemplateIn.model_validate(
                {
                    "name": "category_changed",
                    "settlement_id": settlement.id,
                    "category": category,
                    "previous_category": previous_category,
                }
            ),
            send_at=send_at,
        )
    except ValidationError as exc:  # a category code the settlement cannot have
        raise BroadcastError("; ".join(error["msg"] for error in exc.errors())) from None


def announce_category(
    *,
    session: Session,
    settings: Settings,
    settlement: Settlement,
    staff: StaffUser | None,
    category: str | None = None,
    previous_category: str | None = None,
    send_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Broadcast:
    """Create the broadcast that tells a settlement's residents its new category (approval
    rules apply; refused as `category_announcement` refuses it)."""
    draft = category_announcement(
        settlement=settlement,
        category=category,
        previous_category=previous_category,
        send_at=send_at,
    )
    return create(session=session, settings=settings, broadcast_in=draft, staff=staff, now=now)


# --- meetings: announcements, reminders, attendance ----------------------------------------


def meeting_audience(meeting: Meeting) -> Audience:
    """Return who a meeting concerns: a ward forum its ward, a neighbourhood meeting its
    settlement, and a city forum everyone, whatever settlement an old row may name (as
    residents asking for meetings see them: `settlements.service.upcoming_meetings`)."""
    if meeting.level == "ward" and meeting.ward:
        return Audience(wards=[meeting.ward])
    if meeting.level == "city" or meeting.settlement_id is None:
        return Audience(everyone=True)
    return Audience(settlement_ids=[meeting.settlement_id])


def meeting_announcement(
    *,
    meeting: Meeting,
    change: str,
    previous_starts_at: dt.datetime | None = None,
    previous_venue: str | None = None,
    send_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> BroadcastCreate:
    """Return the broadcast that announces a meeting created, moved (in time, venue or
    both: `moved_change`) or cancelled, for the officer to send as it is or adjust (the
    offer made when a meeting changes); `send_at` empty means now."""
    if change not in MEETING_CHANGES:
        raise BroadcastError(f"change {change} is not one of {', '.join(MEETING_CHANGES)}")
    check_meeting_change(meeting=meeting, name=f"meeting_{change}")
    goes_at = _goes_at(send_at, now or utcnow())
    check_invitation_in_time(meeting=meeting, name=f"meeting_{change}", at=goes_at)
    if change == "moved":
        moved_change(
            meeting=meeting, previous_starts_at=previous_starts_at, previous_venue=previous_venue
        )
    try:
        return BroadcastCreate(
            title=f"Meeting {change}: {meeting.title}"[:200],
            audience=meeting_audience(meeting),
            template=TemplateIn(
                name=f"meeting_{change}",
                meeting_id=meeting.id,
                previous_starts_at=previous_starts_at if change == "moved" else None,
                previous_venue=previous_venue if change == "moved" else None,
            ),
            send_at=send_at,
        )
    except ValidationError as exc:  # a hand-made time: "0001-01-01T00:00"
        raise BroadcastError("; ".join(error["msg"] for error in exc.errors())) from None


def announce_meeting(
    *,
    session: Session,
    settings: Settings,
    meeting: Meeting,
    change: str,
    staff: StaffUser | None,
    previous_starts_at: dt.datetime | None = None,
    previous_venue: str | None = None,
    send_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Broadcast:
    """Create the announcement broadcast of a meeting change (approval rules apply)."""
    draft = meeting_announcement(
        meeting=meeting,
        change=change,
        previous_starts_at=previous_starts_at,
        previous_venue=previous_venue,
        send_at=send_at,
        now=now,
    )
    return create(
        session=session,
        settings=settings,
        broadcast_in=draft,
        staff=staff,
        meeting_id=meeting.id,
        now=now,
    )


def recent_meetings(
    *, session: Session, condition: ColumnElement[bool], limit: int = 50
) -> list[Meeting]:
    """Return the newest meetings matching `condition` (to offer announcements of)."""
    query = select(Meeting).where(condition).order_by(col(Meeting.starts_at).desc()).limit(limit)
    return list(session.execute(query).scalars())


# How far back `send_reminders` looks for started meetings whose reminders are still queued
# (it runs every few minutes: the first run after the start cancels them).
STARTED_LOOKBACK = dt.timedelta(days=1)


def meeting_ref(meeting_id: int) -> str:
    """Return the outbox `ref` of a meeting's reminders."""
    return f"meeting:{meeting_id}"


def withdraw_reminders(
    *,
    session: Session,
    meeting_ids: Collection[int],
    reason: str,
    now: dt.datetime | None = None,
    remind_again: bool = False,
    keep_sent: bool = False,
) -> int:
    """Cancel the reminders of these meetings still waiting to be sent; return how many.

    With `remind_again` (the meeting moved, or changed place or venue), the rounds are
    also no longer marked done, and the reminders withdrawn, sent or not, give up their
    dedupe keys: a round still due is queued again with what is now true, for whom it now
    concerns, those reminded of the old time or venue included, also when the meeting
    was changed back as it was. With `keep_sent` too (only the title changed), those
    already sent stand, and their residents are not reminded again."""
    refs = [meeting_ref(meeting_id) for meeting_id in meeting_ids]
    withdrawn = outbox.cancel_queued(
        session=session,
        refs=refs,
        reason=reason,
        now=now,
        release_keys=remind_again,
        keep_sent=keep_sent,
    )
    if remind_again:
        session.execute(
            delete(MeetingReminder).where(col(MeetingReminder.meeting_id).in_(list(meeting_ids)))
        )
    if withdrawn:
        log.info(
            "meeting reminders withdrawn",
            extra={"meeting_ids": sorted(meeting_ids), "count": withdrawn, "reason": reason},
        )
    return withdrawn


# What a meeting's reminders say besides its start and title, and whom they reach.
_REMINDED_PLACE = ("settlement_id", "ward", "level", "venue")


def meeting_changing(*, session: Session, meeting: Meeting, values: Mapping[str, Any]) -> None:
    """Withdraw the reminders still queued of `meeting`, about to take `values`, if they
    would send residents to the wrong time or place, reach the wrong residents or name it
    by its old title; a round still due is queued again (`withdraw_reminders`). Every
    change of a stored meeting goes through this: the dashboard, the API and the CSV
    import."""
    if meeting.id is None:
        return
    changed = {name for name, value in values.items() if getattr(meeting, name) != value}
    if "starts_at" in changed and told_start(meeting.starts_at) == told_start(values["starts_at"]):
        changed.discard("starts_at")  # seconds residents are never told (an import's 18:00:30)
        # The yeses to the start residents were told stand (`ATTENDANCE_STANDS`).
        session.execute(
            update(MeetingAttendance)
            .where(
                col(MeetingAttendance.meeting_id) == meeting.id,
                col(MeetingAttendance.starts_at) == meeting.starts_at,
            )
            .values(starts_at=values["starts_at"])
        )
    # A reminder already sent of the same time and place stands: a corrected title is not
    # worth a second SMS.
    keep_sent = False
    if "starts_at" in changed:
        reason = "the meeting was moved"
    elif changed.intersection(_REMINDED_PLACE):
        reason = "the meeting changed place"
    elif "title" in changed:
        reason, keep_sent = "the meeting's title changed", True
    else:
        return
    withdraw_reminders(
        session=session,
        meeting_ids=[meeting.id],
        reason=reason,
        remind_again=True,
        keep_sent=keep_sent,
    )


# The least notice the morning-of round gives: a meeting starting sooner after the
# reminder hour (06:00, with reminders at 07:00) is reminded the day before instead.
SAME_DAY_NOTICE = dt.timedelta(hours=1)


def reminder_due_at(starts_at: dt.datetime, days_before: int, hour: int) -> dt.datetime:
    """Return when a reminder is due: `hour` local time, `days_before` days before the
    meeting's local date (0: the morning of, or the day before when the meeting starts
    less than SAME_DAY_NOTICE after `hour`)."""
    local_day = starts_at.astimezone(TIMEZONE).date() - dt.timedelta(days=days_before)
    due = dt.datetime.combine(local_day, dt.time(hour), tzinfo=TIMEZONE).astimezone(dt.UTC)
    if days_before == 0 and starts_at - due < SAME_DAY_NOTICE:
        return reminder_due_at(starts_at, 1, hour)
    return due


def send_reminders(*, session: Session, settings: Settings, now: dt.datetime | None = None) -> int:
    """Queue every meeting reminder now due; return how many messages were added.

    A reminder is due from its time until `meeting_reminder_grace_hours` later (and never
    once the meeting has started); each round is marked, and every message has a dedupe
    key, so running this again (or on two workers) queues nothing twice. Reminders of a
    meeting that started in the last day and are still queued are cancelled.
    """
    now = now or utcnow()
    # A reminder still queued when its meeting starts (a long round at the SMS rate) is
    # too late to be of use.
    started = session.execute(
        select(col(Meeting.id)).where(
            col(Meeting.starts_at) <= now, col(Meeting.starts_at) > now - STARTED_LOOKBACK
        )
    ).scalars()
    withdraw_reminders(
        session=session, meeting_ids=list(started), reason="the meeting has started", now=now
    )
    offsets = sorted({d for d in settings.meeting_reminder_days if d >= 0})
    if not offsets:
        return 0
    grace = dt.timedelta(hours=settings.meeting_reminder_grace_hours)
    # A day more than the earliest round needs: a morning-of round may go the day before.
    horizon = now + dt.timedelta(days=max(offsets) + 2)
    meetings = session.execute(
        select(Meeting).where(
            col(Meeting.cancelled).is_(False),
            col(Meeting.starts_at) > now,
            col(Meeting.starts_at) <= horizon,
            col(Meeting.level).in_(list(settings.meeting_reminder_levels)),
        )
    ).scalars()
    added = 0
    hour = settings.meeting_reminder_hour
    for meeting in list(meetings):
        rounds = {days: reminder_due_at(meeting.starts_at, days, hour) for days in offsets}
        for days, due in rounds.items():
            if not (due <= now < due + grace):
                continue
            if any(other > days and rounds[other] == due for other in rounds):
                continue  # an early meeting's morning-of round moved onto the day-before one
            on_the_day = (
                due.astimezone(TIMEZONE).date() == meeting.starts_at.astimezone(TIMEZONE).date()
            )
            added += _remind(
                session=session, meeting=meeting, days_before=days, today=on_the_day, now=now
            )
    return added


def reminder_words(
    *,
    title: str,
    venue: str,
    starts_at: dt.datetime,
    today: bool,
    language: str,
    attending: bool,
) -> Rendered:
    """Return a meeting reminder in `language` (`today`: the morning-of round's words;
    `attending`: the words for a resident who already said they will come)."""
    content = load()
    translator = get_translator(language)
    text = broadcast_notices.reminder(
        content,
        translator,
        english=get_translator(DEFAULT_LOCALE),
        title=title,
        starts_at=starts_at,
        venue=venue,
        today=today,
        attending=attending,
    )
    sms_text = broadcast_notices.sms_version(content, translator, text)
    return Rendered(language, text, sms_text, falls_back=False)


def _largest_reminder(*, title: str, venue: str, starts_at: dt.datetime) -> Rendered:
    """Return the largest of a meeting's SMS reminders: in any language, either round's,
    to a resident who said they will come or not."""
    return max(
        (
            reminder_words(
                title=title,
                venue=venue,
                starts_at=starts_at,
                today=today,
                language=language,
                attending=attending,
            )
            for language in SUPPORTED_LOCALES
            for today in (False, True)
            for attending in (False, True)
        ),
        key=lambda words: (sms.segments(words.sms_text), sms.units(words.sms_text)),
    )


def _reminder_problem(largest: Rendered, *, venue: str) -> budget.Problem | None:
    return budget.problem(
        largest.sms_text,
        field=("venue",) if venue.strip() else ("title",),
        what=f"its {LANGUAGE_NAMES[largest.language]} SMS reminder, with the date,",
        shorten="the title or venue",
    )


def reminder_sms_problem(
    *, title: str, venue: str, starts_at: dt.datetime
) -> budget.Problem | None:
    """Return the problem with a meeting's SMS reminders, if the largest would pass the SMS
    budget with the title and venue as long as GSM-7 would count them (`sms.as_gsm7`).
    Officers write them once, and the reminders go by themselves, so they are measured
    when written; by length alone, so that a place is written in any official language's
    spelling (`reminder_sms_beyond_budget` says what its letters cost)."""
    return _reminder_problem(_counted_reminder(title, venue, starts_at), venue=venue)


def _counted_reminder(title: str, venue: str, starts_at: dt.datetime) -> Rendered:
    """Return the largest SMS reminder with the title and venue as long as GSM-7 would
    count them (`reminder_sms_problem`)."""
    gsm7_title, gsm7_venue = sms.as_gsm7(title), sms.as_gsm7(venue)
    return _largest_reminder(title=gsm7_title, venue=gsm7_venue, starts_at=starts_at)


def reminder_sms_beyond_budget(
    *, title: str, venue: str, starts_at: dt.datetime
) -> budget.Problem | None:
    """Return how far a meeting's largest SMS reminder, as sent, passes the SMS budget:
    only letters outside GSM-7 in its title or venue take it there (`reminder_sms_problem`
    refuses the rest). For the dashboard to say after saving; nothing is refused."""
    largest = _largest_reminder(title=title, venue=venue, starts_at=starts_at)
    return _reminder_problem(largest, venue=venue)


def beyond_budget_note(problem: budget.Problem) -> str:
    """Say to the officer what `reminder_sms_beyond_budget` found: which letters make the
    reminders UCS-2, and how many segments the longest takes. A meeting stored before its
    reminders were measured may pass the budget in GSM-7 letters alone: then no letter is
    named."""
    letters = " ".join(problem.size.ucs2_because)
    why = (
        f"Written with {letters}, which GSM-7 does not have: its SMS reminders go as UCS-2 "
        f"({sms.UCS2_PART} characters a segment), and the longest, "
        if letters
        else "Its SMS reminders are long (the meeting was saved before they were measured): "
        "the longest, "
    )
    return (
        f"{why}{problem.what} will take {problem.size.describe()}, more than the "
        f"{budget.MAX_SEGMENTS} the bot keeps to. They go whole; a shorter title or venue "
        "makes them fewer."
    )


def reminder_sms(
    *, title: str, venue: str, starts_at: dt.datetime, measured: bool = True
) -> ReminderSms:
    """Say how a meeting's largest SMS reminder measures, as `reminder_sms_problem` counts
    it; whether saving it would be refused (never when not `measured`: its reminders say
    nothing new, `meeting_words_changed`); and, if it would be taken, what letters outside
    GSM-7 cost (`reminder_sms_beyond_budget`). The meeting form's counter; changes nothing."""
    largest = _counted_reminder(title, venue, starts_at)
    size = budget.measure(largest.sms_text)
    problem = _reminder_problem(largest, venue=venue) if measured else None
    beyond = None
    if problem is None:
        beyond = reminder_sms_beyond_budget(title=title, venue=venue, starts_at=starts_at)
    return ReminderSms(
        language=largest.language,
        language_name=LANGUAGE_NAMES[largest.language],
        segments=size.segments,
        encoding=size.encoding,
        characters=size.characters,
        max_segments=budget.MAX_SEGMENTS,
        fits=problem is None,
        field=problem.field[-1] if problem else None,
        detail=str(budget.TooManySegments([problem])) if problem else None,
        beyond_budget=beyond_budget_note(beyond) if beyond else None,
    )


def _remind(
    *, session: Session, meeting: Meeting, days_before: int, today: bool, now: dt.datetime
) -> int:
    assert meeting.id is not None
    # A round is of the start residents are told, to the minute: one recorded with the
    # start's seconds (before 2026-12-07, or an import's 18:00:30) is the same round.
    told = told_start(meeting.starts_at)
    done = session.execute(
        select(col(MeetingReminder.id)).where(
            col(MeetingReminder.meeting_id) == meeting.id,
            col(MeetingReminder.days_before) == days_before,
            col(MeetingReminder.starts_at) >= told,
            col(MeetingReminder.starts_at) < told + dt.timedelta(minutes=1),
        )
    ).first()
    if done is not None:
        return 0
    audience = meeting_audience(meeting).model_dump(mode="json")
    languages = {*audiences.languages(session=session, audience=audience), DEFAULT_LOCALE}

    def words(*, attending: bool) -> dict[str, Rendered]:
        return {
            language: reminder_words(
                title=meeting.title,
                venue=meeting.venue,
                starts_at=meeting.starts_at,
                today=today,
                language=language,
                attending=attending,
            )
            for language in languages
        }

    # Those who already said they will come are told so, not asked again (their "1" is
    # then the menu's: `SqlMeetingInvitations.pending`). The meeting is held until the
    # round commits: a yes being saved meanwhile (`record_attendance` holds it too) is
    # waited for, and the INSERT below, a statement of its own, sees it; one saved later
    # waits for the round. Without it a yes committed while the round was being queued was
    # not seen, and "Reply 1 or ATTEND" went to a resident who had just said yes.
    session.execute(select(col(Meeting.id)).where(col(Meeting.id) == meeting.id).with_for_update())
    # A yes to a start the meeting has moved from is no yes to this one (`ATTENDANCE_STANDS`).
    said = (
        select(col(MeetingAttendance.id))
        .join(Meeting, ATTENDANCE_STANDS)
        .where(col(MeetingAttendance.meeting_id) == meeting.id)
    )
    instead = None
    if session.execute(said.limit(1)).first() is not None:
        resident = audiences.resident_table.c.id
        condition = said.where(col(MeetingAttendance.resident_id) == resident).exists()
        instead = (condition, words(attending=True))
    ref = meeting_ref(meeting.id)
    added = enqueue_audience(
        session=session,
        audience=audience,
        words=words(attending=False),
        purpose="reminder",
        ref=ref,
        dedupe_prefix=f"{ref}:{int(told.timestamp())}:d{days_before}:",
        sms_fallback=PURPOSES["reminder"],
        now=now,
        instead=instead,
    )
    session.add(
        MeetingReminder(
            meeting_id=meeting.id,
            days_before=days_before,
            starts_at=told,
            recipients=added,
            created_at=now,
        )
    )
    session.flush()
    log.info(
        "meeting reminders queued",
        extra={"meeting_id": meeting.id, "days_before": days_before, "count": added},
    )
    return added


def record_attendance(
    *,
    session: Session,
    resident_id: int,
    meeting_id: int,
    starts_at: dt.datetime,
    now: dt.datetime | None = None,
) -> bool:
    """Note that a resident will come to a meeting at `starts_at`, the start their thanks
    named (a yes to a start the meeting has since left does not count for the new one);
    return False if already noted for it. A yes to a new start replaces the old one.

    The meeting is held (FOR KEY SHARE) until the transaction ends: a reminder round being
    queued for it waits for this yes, and then sees it (`_remind`)."""
    meeting = session.execute(
        select(Meeting)
        .where(col(Meeting.id) == meeting_id)
        .with_for_update(read=True, key_share=True)
    ).scalar_one_or_none()
    if meeting is None:
        return False
    if told_start(starts_at) == told_start(meeting.starts_at):
        starts_at = meeting.starts_at  # as stored, seconds and all (`ATTENDANCE_STANDS`)
    said = session.execute(
        select(MeetingAttendance).where(
            col(MeetingAttendance.meeting_id) == meeting_id,
            col(MeetingAttendance.resident_id) == resident_id,
        )
    ).scalar_one_or_none()
    if said is not None and said.starts_at == starts_at:
        return False
    if said is None:
        said = MeetingAttendance(
            meeting_id=meeting_id, resident_id=resident_id, starts_at=starts_at
        )
        session.add(said)
    said.starts_at, said.created_at = starts_at, now or utcnow()
    session.flush()
    return True


def attendance(*, session: Session, scope: scopes.Scope, meeting_id: int) -> tuple[int, int]:
    """Return (residents who said they will come, residents reminded) for a meeting: a
    reminder counts once it reached Twilio (SENT_STATUSES), not while queued or withdrawn.
    A scoped user counts only the residents within their scope: a city or ward forum they
    may read invites residents of other places too, and those counts are not theirs."""
    return attendances(session=session, scope=scope, meeting_ids=[meeting_id])[meeting_id]


def attendances(
    *, session: Session, scope: scopes.Scope, meeting_ids: Collection[int]
) -> dict[int, tuple[int, int]]:
    """Return `attendance` for each of the meetings, in two queries however many they are
    (a meeting nobody answered or was reminded of: (0, 0)). A yes counts only for the
    start it was given for (`ATTENDANCE_STANDS`): one to a time the meeting moved from is
    not counted (`earlier_yeses`)."""
    ids = list(meeting_ids)
    if not ids:
        return {}
    attending = {
        meeting_id: count
        for meeting_id, count in session.execute(
            select(col(MeetingAttendance.meeting_id), func.count())
            .join(Meeting, ATTENDANCE_STANDS)
            .where(col(MeetingAttendance.meeting_id).in_(ids))
            .where(scopes.resident_id_condition(MeetingAttendance.resident_id, scope))
            .group_by(col(MeetingAttendance.meeting_id))
        ).all()
    }
    refs = {meeting_ref(i): i for i in ids}
    reminded = {
        refs[ref]: count
        for ref, count in session.execute(
            select(col(Outbox.ref), func.count(func.distinct(col(Outbox.resident_id))))
            .where(col(Outbox.ref).in_(refs), col(Outbox.status).in_(SENT_STATUSES))
            .where(scopes.resident_id_condition(Outbox.resident_id, scope))
            .group_by(col(Outbox.ref))
        ).all()
    }
    return {i: (int(attending.get(i, 0)), int(reminded.get(i, 0))) for i in ids}


def earlier_yeses(*, session: Session, scope: scopes.Scope, meeting: Meeting) -> int:
    """Return how many residents said they will come to the meeting at a start it has
    since moved from, and have not said yes to its new start (not counted as coming);
    as `attendance`, a scoped user counts only the residents within their scope."""
    return int(
        session.execute(
            select(func.count()).where(
                col(MeetingAttendance.meeting_id) == meeting.id,
                col(MeetingAttendance.starts_at) != meeting.starts_at,
                scopes.resident_id_condition(MeetingAttendance.resident_id, scope),
            )
        ).scalar_one()
    )
