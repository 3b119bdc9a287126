"""Fit a turn's reply to its channel: SMS within 3 segments, WhatsApp within 1,600 characters
(as Twilio counts them).

Longer replies are split into pages; every page but the last ends with the MORE hint. The
engine sends the first page and keeps the rest as text, not as pages: the same resident
may ask for MORE on the other channel, which must cut and format it for itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot import sms
from bot.engine.messages import Channel

SMS_MAX_SEGMENTS = sms.MAX_SEGMENTS
WHATSAPP_MAX_CHARS = 1600
PAGE_JOINER = "\n\n"

# WhatsApp's *bold*, _italic_ and ~strikethrough~: a marker opening at the start of a word,
# the same closing at the end of one. Markers inside a word or with spaces inside them are
# text, which an SMS must keep: a USSD code (*120*4664#) in a note, "5 * 6", a_file_name.
_MARKUP = re.compile(
    "|".join(rf"(?<![\w{m}]){m}(?=\S)([^{m}\n]+?)(?<=\S){m}(?![\w{m}])" for m in (r"\*", "_", "~"))
)


def strip_markup(text: str) -> str:
    """Remove WhatsApp's *bold*, _italic_ and ~strikethrough~ markers, which an SMS would
    show as they are typed."""
    return _MARKUP.sub(lambda m: next(g for g in m.groups() if g is not None), text)


def _cut(text: str, limit: int) -> tuple[str, str]:
    """Split text at the last paragraph, line or word break within limit characters."""
    window = text[: limit + 1]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator, 0, limit + 1)
        if at >= limit // 2:
            return text[:at].rstrip(), text[at:].lstrip()
    return text[:limit], text[limit:]


def twilio_length(text: str) -> int:
    """Return the length of text as Twilio counts it against 1,600 characters: in UTF-16
    code units, so an emoji counts twice."""
    return len(text.encode("utf-16-le")) // 2


def _chars_within(text: str, units: int) -> int:
    """Return how many characters from the start of text fit in `units` UTF-16 units."""
    n = min(len(text), units)
    while (over := twilio_length(text[:n]) - units) > 0:
        n -= (over + 1) // 2  # each character is one unit or two
    return n


def pages_chars(text: str, *, max_chars: int, more_hint: str) -> Iterator[str]:
    """Yield text in pages of at most max_chars as Twilio counts them (`twilio_length`),
    hinting MORE on all but the last; each page is cut only when asked for."""
    if twilio_length(text) <= max_chars:
        yield text
        return
    suffix = PAGE_JOINER + more_hint
    room = max_chars - twilio_length(suffix)
    if room <= 0:
        raise ValueError("more_hint leaves no room for text")
    rest = text
    while twilio_length(rest) > max_chars:
        page, rest = _cut(rest, _chars_within(rest, room))
        yield page + suffix
    if rest:
        yield rest


def _as_carried(text: str, channel: Channel, more_hint: str) -> tuple[str, str]:
    """Return a reply and its MORE hint as the channel carries them: SMS shows no bold, and
    no curly quotes where GSM-7 has straight ones (`sms.plain_punctuation`)."""
    if channel == "sms":
        return sms.plain_punctuation(strip_markup(text)), strip_markup(more_hint)
    return text, more_hint


def _pages(text: str, channel: Channel, *, more_hint: str) -> Iterator[str]:
    """Yield the pages of a reply already as the channel carries it (`_as_carried`)."""
    if channel == "sms":
        return sms.pages(
            text, max_segments=SMS_MAX_SEGMENTS, more_hint=more_hint, joiner=PAGE_JOINER
        )
    return pages_chars(text, max_chars=WHATSAPP_MAX_CHARS, more_hint=more_hint)


def for_channel(text: str, channel: Channel, *, more_hint: str) -> list[str]:
    """Return the pages to send for one reply on a channel (the first is sent now)."""
    source, hint = _as_carried(text, channel, more_hint)
    return list(_pages(source, channel, more_hint=hint))


def first_page(text: str, channel: Channel, *, more_hint: str) -> tuple[str, str]:
    """Return the page to send now for a reply on a channel, and the text left for MORE.
    Only the first page is cut: the rest is cut when the resident asks for it."""
    source, hint = _as_carried(text, channel, more_hint)
    pages = _pages(source, channel, more_hint=hint)
    page = next(pages)
    if page == source:
        return page, ""
    body = page.removesuffix(PAGE_JOINER + hint)
    if source.startswith(body):  # both paginators cut a prefix and drop the break
        return page, source[len(body) :].lstrip()
    return page, join_pages(list(pages), more_hint=hint)


def join_pages(pages: list[str], *, more_hint: str) -> str:
    """Join pages back into the text they were cut from, less the MORE hint ending each
    (with or without WhatsApp's markup)."""
    suffix = PAGE_JOINER + more_hint
    plain = strip_markup(suffix)
    return PAGE_JOINER.join(p.removesuffix(suffix).removesuffix(plain) for p in pages)
