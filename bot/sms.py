"""SMS encoding, segment counting, splitting and paging, and what any message can carry.

Pure functions, no I/O. The tables follow 3GPP TS 23.038 (GSM 7-bit default
alphabet and its extension table). One character outside GSM-7 makes the whole
message UCS-2. Counting mirrors what a handset and Twilio do:

- GSM-7: 160 septets in a single message, 153 per part of a concatenated one;
  extension characters cost two septets (ESC + char) and an escape pair is
  never split across parts.
- UCS-2: 70 UTF-16 code units single, 67 per part; characters outside the
  Basic Multilingual Plane (most emoji) cost two units and a surrogate pair
  is never split.

Note that TAB and the no-break space are not GSM-7 characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Final, Literal

Encoding = Literal["GSM-7", "UCS-2"]

# Basic character set, in table order (0x00-0x7F). 0x1B is the escape to the
# extension table and not a character of its own, so it is left out.
GSM7_BASIC: Final[frozenset[str]] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ"
    "ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs two septets (ESC + code). \x0c is FORM FEED.
GSM7_EXTENSION: Final[frozenset[str]] = frozenset("\x0c^{}\\[~]|€")

# The most segments one SMS of ours takes: the bot's longer replies are paged
# (bot/engine/render.py), staff words that would need more are refused when written
# (bot/domain/outbox/budget.py), and words written for WhatsApp that must go by SMS when
# sent go as numbered parts (`numbered_parts`, bot/domain/outbox/routing.py).
MAX_SEGMENTS: Final = 3

GSM7_SINGLE: Final = 160
GSM7_PART: Final = 153
UCS2_SINGLE: Final = 70
UCS2_PART: Final = 67

# Regexes do the per-character work in C; segment counting runs often while paging.
_NON_GSM = re.compile("[^" + re.escape("".join(sorted(GSM7_BASIC | GSM7_EXTENSION))) + "]")
_GSM_EXTENSION = re.compile("[" + re.escape("".join(sorted(GSM7_EXTENSION))) + "]")
# Outside the basic table: an escaped (two-septet) character, or not GSM-7 at all.
_NON_GSM_BASIC = re.compile("[^" + re.escape("".join(sorted(GSM7_BASIC))) + "]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_WHITESPACE_RUN = re.compile(r"\s+")
# A whitespace run with a line break in it, matched from the start of the run.
_LINE_BREAK_RUN = re.compile(r"[^\S\n]*\n\s*")
# CR LF and a lone CR (a browser's textarea), vertical tab and form feed (the line and page
# breaks of text pasted from a word processor): line breaks, as LF.
_BREAKS = re.compile(r"\r\n?|[\x0b\x0c]")
# What no message may carry: the other C0 controls but tab, newline and carriage return,
# and U+FFFE/U+FFFF. XML 1.0 cannot carry them, so one in a TwiML reply would make the whole
# document unreadable to Twilio and the resident hear nothing; a phone shows none of them.
_UNSENDABLE = re.compile(r"[\x00-\x08\x0e-\x1f\ufffe\uffff]")
# What changes an emoji's look but not its meaning: the zero-width joiner of emoji
# sequences, the text and emoji presentation selectors, and the five skin tones.
EMOJI_MODIFIERS: Final = frozenset(
    {"\u200d", "\ufe0e", "\ufe0f"} | {chr(c) for c in range(0x1F3FB, 0x1F400)}
)
# Characters that must stay glued to the character before them on a hard cut.
_GLUE_BEFORE = EMOJI_MODIFIERS
_GLUE_AFTER = {"\u200d"}  # ZERO WIDTH JOINER glues to what follows as well


def sendable(text: str) -> str:
    """Return `text` as a message can carry it: CR LF, a lone CR, vertical tabs and form
    feeds become line breaks (LF: a CR is one more character an SMS pays for), and the
    characters XML 1.0 cannot carry (NUL among them) are left out."""
    return _UNSENDABLE.sub("", _BREAKS.sub("\n", text))


# Typographic look-alikes of GSM-7 characters, as phones' "smart punctuation" and word
# processors type them: one of them in a text makes all of it UCS-2, 70 characters a
# segment instead of 160. What Twilio's Smart Encoding does, done here so that the
# segments we count are the segments sent whatever the account's setting. Letters with
# diacritics (Afrikaans ê) are not look-alikes: they are left as they are.
_LOOKALIKES: Final = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u02bc\u00b4\u0060", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2022", "-"),
        **dict.fromkeys(
            "\t\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "
        ),
        **dict.fromkeys("\u200b\u2060\ufeff\u00ad", None),
        "\u2026": "...",
    }
)


def plain_punctuation(text: str) -> str:
    """Return text with its typographic look-alikes (curly quotes, dashes, the ellipsis,
    odd spaces) as GSM-7 writes them, when that makes all of it GSM-7; else unchanged,
    since one other character (an emoji, ê) keeps it UCS-2 anyway."""
    if is_gsm7(text):
        return text
    plain = text.translate(_LOOKALIKES)
    return plain if is_gsm7(plain) else text


def as_gsm7(text: str) -> str:
    """Return text as long as GSM-7 would count it: look-alikes as GSM-7 writes them, and
    each other character outside GSM-7 as one GSM-7 character. For measuring words that may
    be written in any language's spelling (Sepedi š, Tshivenda ṱ, Afrikaans ê) by their
    length alone, never for sending."""
    return _NON_GSM.sub("?", text.translate(_LOOKALIKES))


def is_gsm7(text: str) -> bool:
    """Return True when every character of text is in the GSM-7 alphabet."""
    return _NON_GSM.search(text) is None


def non_gsm_chars(text: str) -> list[str]:
    """Return the distinct characters that force text into UCS-2, in order of appearance."""
    seen: dict[str, None] = {}
    for ch in text:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION:
            seen.setdefault(ch, None)
    return list(seen)


def encoding(text: str) -> Encoding:
    """Return the encoding a phone network would use for text."""
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def _char_cost(ch: str, enc: Encoding) -> int:
    if enc == "GSM-7":
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def _double_cost(text: str, enc: Encoding) -> int:
    """Return how many characters of text cost two units in enc."""
    return len((_GSM_EXTENSION if enc == "GSM-7" else _ASTRAL).findall(text))


def units(text: str) -> int:
    """Return the length of text in its encoding's units (septets or UTF-16 code units)."""
    return len(text) + _double_cost(text, encoding(text))


def _limits(enc: Encoding) -> tuple[int, int]:
    return (GSM7_SINGLE, GSM7_PART) if enc == "GSM-7" else (UCS2_SINGLE, UCS2_PART)


def split(text: str) -> list[str]:
    """Split text into the parts a phone would receive; an empty text has no parts."""
    if not text:
        return []
    enc = encoding(text)
    single, part = _limits(enc)
    costs = [_char_cost(ch, enc) for ch in text]
    if sum(costs) <= single:
        return [text]
    parts: list[str] = []
    start = 0
    used = 0
    for i, cost in enumerate(costs):
        # An escape pair or a surrogate pair that does not fit moves whole to the next part.
        if used + cost > part:
            parts.append(text[start:i])
            start, used = i, 0
        used += cost
    parts.append(text[start:])
    return parts


def segments(text: str) -> int:
    """Return how many SMS segments text costs (0 for an empty text)."""
    if not text:
        return 0
    enc = encoding(text)
    single, part = _limits(enc)
    doubles = _double_cost(text, enc)
    total = len(text) + doubles
    if total <= single:
        return 1
    if not doubles:
        return -(-total // part)
    return len(split(text))  # a two-unit character may not straddle parts: count exactly


def _max_chars(max_segments: int) -> int:
    """Return an upper bound on the characters max_segments can carry (every char costs >= 1):
    exactly what they carry of text in the GSM-7 basic table, one septet a character."""
    return max(GSM7_SINGLE, GSM7_PART * max_segments)


def _fits(text: str, max_segments: int) -> bool:
    return len(text) <= _max_chars(max_segments) and segments(text) <= max_segments


def _longest_prefix(rest: str, suffix: str, max_segments: int) -> int:
    """Return the largest n such that rest[:n] + suffix fits in max_segments (0 if none)."""
    if _NON_GSM_BASIC.search(rest) is None and _NON_GSM_BASIC.search(suffix) is None:
        # Every character costs one septet, whatever the prefix: no search needed.
        return max(0, min(len(rest), _max_chars(max_segments) - len(suffix)))
    lo, hi = 0, min(len(rest), _max_chars(max_segments))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if segments(rest[:mid] + suffix) <= max_segments:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _safe_hard_cut(rest: str, limit: int) -> int:
    """Move a hard cut back so it does not separate a character from its combining marks."""
    cut = limit
    while cut > 1 and (
        unicodedata.combining(rest[cut])
        or rest[cut] in _GLUE_BEFORE
        or rest[cut - 1] in _GLUE_AFTER
    ):
        cut -= 1
    return cut if cut > 0 else limit


def _break_point(rest: str, limit: int, min_fill: float) -> tuple[int, int]:
    """Return (end of this page, start of the next) for a page of at most limit characters."""
    if limit >= len(rest):
        return len(rest), len(rest)
    # The candidates are whitespace runs that start after 0 and at or before limit: the
    # last with two line breaks, the last with one, the last of all.
    line = paragraph = None
    for m in _LINE_BREAK_RUN.finditer(rest):
        if m.start() > limit:
            break
        if m.start() == 0:
            continue
        line = m.span()
        if m.group().count("\n") >= 2:
            paragraph = line
    word = _last_space_run(rest, limit)
    for span in (paragraph, line, word):
        if span is not None and span[0] >= limit * min_fill:
            return span
    if word is not None:
        return word
    cut = _safe_hard_cut(rest, limit)
    return cut, cut


def _take_page(rest: str, limit: int, min_fill: float) -> tuple[str, str]:
    """Return the page of at most `limit` characters that `rest` begins with (`_break_point`)
    and what is left after it, without the whitespace at the break."""
    end, nxt = _break_point(rest, limit, min_fill)
    page = rest[:end].rstrip()
    if not page:  # only whitespace before the break: cut the text instead
        end = nxt = _safe_hard_cut(rest, limit)
        page = rest[:end]
    return page, rest[nxt:].lstrip()


def _last_space_run(rest: str, limit: int) -> tuple[int, int] | None:
    """Return the span of the last whitespace run in rest that starts after 0 and at or
    before limit, if any (found backwards: a page holds dozens of words)."""
    start = limit
    while start > 0 and not rest[start].isspace():
        start -= 1
    while start > 0 and rest[start - 1].isspace():
        start -= 1
    if start == 0:
        return None
    match = _WHITESPACE_RUN.match(rest, start)
    assert match is not None
    return start, match.end()


def pages(
    text: str,
    *,
    max_segments: int = 3,
    more_hint: str,
    joiner: str = "\n\n",
    min_fill: float = 0.5,
) -> Iterator[str]:
    """Yield text in pages within max_segments each, more_hint ending all but the last;
    each page is cut only when asked for."""
    # Pages break at a paragraph, else a line, else a word boundary; a boundary kind is
    # preferred only if it leaves the page at least min_fill full. A word too long for a
    # page is cut. Only whitespace at the breaks is dropped. Each page is costed as sent
    # (with joiner + more_hint), so a non-GSM hint correctly turns a page into UCS-2.
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    if segments(text) <= max_segments:
        yield text
        return
    suffix = joiner + more_hint
    rest = text
    while rest:
        if _fits(rest, max_segments):
            yield rest
            return
        limit = _longest_prefix(rest, suffix, max_segments)
        if limit == 0:
            raise ValueError("more_hint does not leave room for any text within max_segments")
        page, rest = _take_page(rest, limit, min_fill)
        yield page + suffix if rest else page


# How each of a message's numbered parts begins: digits and punctuation only, so it is
# GSM-7 and reads the same in every language (no words to translate).
PART_MARK: Final = "({number}/{total}) "
# Room kept for the mark while cutting: single digits, so at most 9 parts.
_PART_MARK_ROOM: Final = PART_MARK.format(number=9, total=9)


def numbered_parts(
    text: str, *, max_parts: int, max_segments: int = MAX_SEGMENTS, min_fill: float = 0.5
) -> list[str] | None:
    """Return `text` as numbered SMS, "(1/3) ...", "(2/3) ...", each within `max_segments`
    with its mark, or None when it would take more than `max_parts` (at most 9).

    Parts end at a paragraph, else a line, else a word break (as `pages` cuts), so a word
    or a link is cut only when it alone is longer than a part. Each part is encoded on its
    own: one without a character outside GSM-7 stays GSM-7 when another part is UCS-2."""
    if not 1 <= max_parts <= 9:
        raise ValueError("max_parts must be between 1 and 9")
    rest = text.strip()
    chunks: list[str] = []
    while rest:
        if len(chunks) == max_parts:
            return None
        if _fits(_PART_MARK_ROOM + rest, max_segments):
            chunks.append(rest)
            break
        limit = _longest_prefix(rest, _PART_MARK_ROOM, max_segments)
        # Counted as sent, mark first: a two-unit character may not straddle segments.
        while limit > 0 and segments(_PART_MARK_ROOM + rest[:limit]) > max_segments:
            limit -= 1
        if limit == 0:
            raise ValueError("max_segments leaves no room for text after the part mark")
        chunk, rest = _take_page(rest, limit, min_fill)
        chunks.append(chunk)
    total = len(chunks)
    return [PART_MARK.format(number=n, total=total) + c for n, c in enumerate(chunks, 1)]
