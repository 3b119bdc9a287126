"""The words of broadcasts and meeting reminders (sent through the outbox), per language.

Pure like the other flows: the broadcasts domain reads meetings, milestones and officers'
input, and calls these once per language (never once per recipient) to get the text.
Dates and times are formatted by the translator (Babel, Africa/Johannesburg).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot import sms
from bot.content import Content
from bot.engine.ports import Translator, render_dated
from bot.engine.render import strip_markup


@dataclass(frozen=True)
class TemplateValues:
    """Everything a structured template may need, read by the domain beforehand."""

    title: str = ""
    starts_at: datetime | None = None
    # A "moved" meeting: the start it had (None: the time did not change), and whether its
    # venue changed.
    previous_starts_at: datetime | None = None
    venue: str = ""
    venue_changed: bool = False
    area: str = ""
    ends_at: datetime | None = None
    settlement: str = ""
    milestone: str = ""
    note: str = ""
    # A settlement's new category (A, B1, B2, C): each has its own whole message.
    category: str = ""


def message_id(name: str, values: TemplateValues) -> str:
    """Return the content id of the structured template `name`'s words (category_changed:
    the one of the settlement's new category)."""
    if name == "category_changed":
        if not values.category:
            raise ValueError("this template needs the category")
        return f"broadcast.category_changed.{values.category.lower()}"
    return f"broadcast.{name}"


def _venue(content: Content, translator: Translator, venue: str) -> str:
    if venue.strip():
        return content.render("meetings.venue", translator, venue=venue.strip())
    return content.render("meetings.venue_unknown", translator)


def _when(value: datetime | None) -> datetime:
    if value is None:
        raise ValueError("this template needs a date and time")
    return value


def _moved(
    content: Content, translator: Translator, values: TemplateValues, *, english: Translator
) -> str:
    """Say what changed of a moved meeting: its time, its venue (keeping the time), or both."""
    dates = {"when": _when(values.starts_at)}
    if values.previous_starts_at is not None:
        dates["previous"] = values.previous_starts_at
        msg_id = "meeting_moved_both" if values.venue_changed else "meeting_moved"
    elif values.venue_changed:
        msg_id = "meeting_moved_venue"
    else:
        raise ValueError("a moved meeting needs a time or a venue it had before")
    msg_id = f"broadcast.{msg_id}"
    return render_dated(content, translator, english, msg_id, title=values.title, **dates)


def template(
    content: Content,
    translator: Translator,
    name: str,
    values: TemplateValues,
    *,
    english: Translator,
) -> str:
    """Render the structured template `name` in the translator's language (`english` writes
    the dates of a message that falls back to English)."""
    msg_id = message_id(name, values)
    if name in ("meeting_announced", "meeting_cancelled"):
        text = render_dated(
            content, translator, english, msg_id, title=values.title, when=_when(values.starts_at)
        )
        if name == "meeting_announced":
            text = f"{text}\n{_venue(content, translator, values.venue)}"
        return text
    if name == "meeting_moved":
        return f"{_moved(content, translator, values, english=english)}\n" + _venue(
            content, translator, values.venue
        )
    if name in ("water_interruption", "electricity_interruption"):
        return render_dated(
            content,
            translator,
            english,
            msg_id,
            area=values.area,
            start=_when(values.starts_at),
            end=_when(values.ends_at),
        )
    if name in ("milestone_reached", "milestone_delayed"):
        text = content.render(
            msg_id, translator, settlement=values.settlement, milestone=values.milestone
        )
        if values.note.strip():
            note = content.render("broadcast.note", translator, note=values.note.strip())
            text = f"{text}\n{note}"
        return text
    if name == "category_changed":
        return content.render(msg_id, translator, settlement=values.settlement)
    raise ValueError(f"unknown broadcast template {name!r}")


def reminder(
    content: Content,
    translator: Translator,
    *,
    english: Translator,
    title: str,
    starts_at: datetime,
    venue: str,
    today: bool,
    attending: bool,
) -> str:
    """Render a meeting reminder that invites a reply saying one will come, or, to a
    resident who already said so (`attending`), says that instead and asks nothing."""
    if today:
        head = content.render(
            "broadcast.meeting_reminder_today",
            translator,
            title=title,
            time=translator.format_datetime(starts_at, "HH:mm"),
        )
    else:
        head = render_dated(
            content, translator, english, "broadcast.meeting_reminder", title=title, when=starts_at
        )
    ending = "broadcast.attend_noted" if attending else "broadcast.attend_prompt"
    return f"{head}\n{_venue(content, translator, venue)}\n{content.render(ending, translator)}"


def sms_version(content: Content, translator: Translator, text: str) -> str:
    """Return the SMS form of a broadcast: no WhatsApp bold, plain punctuation where that
    keeps it GSM-7 (`sms.plain_punctuation`), with the STOP hint."""
    return sms.plain_punctuation(
        f"{strip_markup(text)}\n{content.render('broadcast.stop_hint', translator)}"
    )
