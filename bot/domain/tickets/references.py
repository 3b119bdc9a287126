"""Report numbers: digits only, short enough to type on a keypad, not guessable in sequence.

A number is six random digits (no leading zero) and a Luhn check digit, so one mistyped
digit or two swapped neighbours are caught before a lookup. When six digits get crowded
the body grows to seven. Uniqueness is finally guaranteed by the unique index.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

BODY_DIGITS = 6
ATTEMPTS_PER_LENGTH = 20


def luhn_digit(body: str) -> str:
    """Return the Luhn check digit for a string of digits."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def is_valid(reference: str) -> bool:
    """Return whether a report number is well formed (digits, right check digit)."""
    return (
        reference.isdecimal()
        and BODY_DIGITS + 1 <= len(reference) <= 12
        and luhn_digit(reference[:-1]) == reference[-1]
    )


def random_reference(body_digits: int = BODY_DIGITS) -> str:
    """Return a random, well-formed report number."""
    low = 10 ** (body_digits - 1)
    body = str(low + secrets.randbelow(9 * low))
    return body + luhn_digit(body)


def new_reference(*, taken: Callable[[str], bool]) -> str:
    """Return a random report number that `taken` says is free."""
    for body_digits in range(BODY_DIGITS, 11):
        for _ in range(ATTEMPTS_PER_LENGTH):
            candidate = random_reference(body_digits)
            if not taken(candidate):
                return candidate
    raise RuntimeError("no free report number found")
