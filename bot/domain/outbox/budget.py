"""How long staff words may be where they may reach a resident by SMS: within the bot's own
budget (`bot.sms.MAX_SEGMENTS`, 3 segments), as the bot's replies are (those are paged).

Checked when staff write the words (a reply, a public note, a broadcast, a meeting that
will be reminded), not when a message is sent: what was queued goes as it was queued.
Words queued for WhatsApp that fall back to SMS when sent (the 24-hour window closed) are
the exception: never measured for SMS, they are measured then (`routing`), and go as
numbered SMS within the budget each, at most MAX_PARTS of them. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot import sms

MAX_SEGMENTS = sms.MAX_SEGMENTS
# Words written for WhatsApp that must go by SMS at send time (the window closed after
# they were written) go as numbered SMS of MAX_SEGMENTS each, at most this many; longer
# ones are refused, as before. 5 parts is 15 segments, R5.25 at the default segment price
# (35 WhatsApp messages): room for the longest staff reply (1,000 characters and its frame,
# 3 parts in GSM-7) and for most in UCS-2 (about 195 characters a part), where a longer
# text costs more than staff would choose to pay for one message if asked.
MAX_PARTS = 5
# The input a refusal names, as FastAPI names a field that fails its check.
ERROR_TYPE = "sms_segments"


@dataclass(frozen=True)
class SmsSize:
    """An SMS as it would be sent: segments, encoding, characters, and the characters that
    make it UCS-2 (none for GSM-7)."""

    segments: int
    encoding: sms.Encoding
    characters: int
    ucs2_because: tuple[str, ...] = ()

    @property
    def fits(self) -> bool:
        """Return whether it is within the budget."""
        return self.segments <= MAX_SEGMENTS

    def describe(self) -> str:
        """Say its size in a few words: "4 SMS segments (UCS-2, 230 characters)"."""
        plural = "" if self.segments == 1 else "s"
        return (
            f"{self.segments} SMS segment{plural} ({self.encoding}, {self.characters:,} characters)"
        )


def measure(text: str) -> SmsSize:
    """Return the size of `text` sent as one SMS (the text as sent: plain punctuation and
    all, see `bot.sms`)."""
    return SmsSize(
        segments=sms.segments(text),
        encoding=sms.encoding(text),
        characters=len(text),
        ucs2_because=tuple(sms.non_gsm_chars(text)[:5]),
    )


def _ucs2_note(size: SmsSize) -> str:
    if not size.ucs2_because:
        return ""
    chars = " ".join(size.ucs2_because)
    return (
        f" (UCS-2 because of {chars}: one character outside GSM-7 makes every segment "
        f"{sms.UCS2_PART} characters instead of {sms.GSM7_PART})"
    )


@dataclass(frozen=True)
class Problem:
    """Words given in `field` (e.g. `("texts", "xh")`) whose SMS, `what` (e.g. "the
    isiXhosa SMS"), is too long."""

    field: tuple[str, ...]
    what: str
    size: SmsSize
    shorten: str = "it"
    advice: str = ""

    def message(self) -> str:
        """Say what is too long, by how much, and what to do, for the staff member."""
        return (
            f"{self.what} would be {self.size.describe()}{_ucs2_note(self.size)}: at most "
            f"{MAX_SEGMENTS} segments go to a resident by SMS, so shorten {self.shorten}"
            f"{self.advice}"
        )


def problem(
    text: str, *, field: tuple[str, ...], what: str, shorten: str = "it", advice: str = ""
) -> Problem | None:
    """Return the problem with `text` as the SMS `what`, or None when it fits."""
    size = measure(text)
    return None if size.fits else Problem(field, what, size, shorten, advice)


class TooManySegments(ValueError):
    """Staff words whose SMS would take more than MAX_SEGMENTS; the API answers 422 naming
    each field (`errors`), the dashboard says the same in a sentence (`str`)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{'.'.join(p.field)}: {p.message()}" for p in self.problems))

    def errors(self) -> list[dict[str, Any]]:
        """Return the problems as FastAPI lists a refused input (`loc`, `msg`, `type`)."""
        return [
            {"loc": ["body", *p.field], "msg": p.message(), "type": ERROR_TYPE}
            for p in self.problems
        ]


def refuse(problems: Sequence[Problem | None]) -> None:
    """Raise TooManySegments for the problems found, if any."""
    found = [p for p in problems if p is not None]
    if found:
        raise TooManySegments(found)
