"""Fit a turn's reply to its channel: SMS within 3 segments, WhatsApp within 1,600 characters.

Longer replies are split into pages; every page but the last ends with the MORE hint. The
engine sends the first page and keeps the rest as text, not as pages: the same resident
may ask for MORE on the other channel, which must cut and format it for itself.
"""

from __future__ import annotations

import re

from bot import sms
from bot.engine.messages import Channel

SMS_MAX_SEGMENTS = 3
WHATSAPP_MAX_CHARS = 1600
PAGE_JOINER = "\n\n"

_BOLD = re.compile(r"\*([^*\n]+)\*")


def strip_bold(text: str) -> str:
    """Remove WhatsApp *bold* markers, which an SMS would show as stars."""
    return _BOLD.sub(r"\1", text)


def _cut(text: str, limit: int) -> tuple[str, str]:
    """Split text at the last paragraph, line or word break within limit characters."""
    window = text[: limit + 1]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator, 0, limit + 1)
        if at >= limit // 2:
            return text[:at].rstrip(), text[at:].lstrip()
    return text[:limit], text[limit:]


def paginate_chars(text: str, *, max_chars: int, more_hint: str) -> list[str]:
    """Split text into pages of at most max_chars, hinting MORE on all but the last."""
    suffix = PAGE_JOINER + more_hint
    if len(text) <= max_chars:
        return [text]
    room = max_chars - len(suffix)
    if room <= 0:
        raise ValueError("more_hint leaves no room for text")
    pages: list[str] = []
    rest = text
    while len(rest) > max_chars:
        page, rest = _cut(rest, room)
        pages.append(page + suffix)
    if rest:
        pages.append(rest)
    return pages


def for_channel(text: str, channel: Channel, *, more_hint: str) -> list[str]:
    """Return the pages to send for one reply on a channel (the first is sent now)."""
    if channel == "sms":
        return sms.paginate(
            strip_bold(text),
            max_segments=SMS_MAX_SEGMENTS,
            more_hint=strip_bold(more_hint),
            joiner=PAGE_JOINER,
        )
    return paginate_chars(text, max_chars=WHATSAPP_MAX_CHARS, more_hint=more_hint)


def first_page(text: str, channel: Channel, *, more_hint: str) -> tuple[str, str]:
    """Return the page to send now for a reply on a channel, and the text left for MORE."""
    pages = for_channel(text, channel, more_hint=more_hint)
    if len(pages) == 1:
        return pages[0], ""
    sms_channel = channel == "sms"
    source = strip_bold(text) if sms_channel else text
    hint = strip_bold(more_hint) if sms_channel else more_hint
    body = pages[0].removesuffix(PAGE_JOINER + hint)
    if source.startswith(body):  # both paginators cut a prefix and drop the break
        return pages[0], source[len(body) :].lstrip()
    return pages[0], join_pages(pages[1:], more_hint=hint)


def join_pages(pages: list[str], *, more_hint: str) -> str:
    """Join pages back into the text they were cut from, less the MORE hint ending each
    (with or without WhatsApp's bold)."""
    suffix = PAGE_JOINER + more_hint
    return PAGE_JOINER.join(p.removesuffix(suffix).removesuffix(strip_bold(suffix)) for p in pages)
