"""Phone numbers: one E.164 identity per person across SMS and WhatsApp."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

DEFAULT_REGION = "ZA"


class InvalidPhone(ValueError):
    """The text is not a valid phone number."""


@lru_cache(maxsize=8192)  # residents write from the same numbers again and again
def normalise(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return `raw` (national, international, `whatsapp:+27...` or a WaId) as E.164."""
    text = raw.strip().removeprefix("whatsapp:").strip()
    if text.isdecimal() and not text.startswith("0"):
        text = "+" + text  # a WhatsApp WaId is the international number without "+"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
