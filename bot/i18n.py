"""Translations per locale and locale-aware date and time formatting.

A `Translator` is made per resident locale and passed explicitly; there is no
global locale state. Messages are looked up with `pgettext`: the message id
from `content/*.yaml` is the context (msgctxt) and the English source text is
the msgid, so a changed English text never silently keeps an old translation.
Anything untranslated, fuzzy or missing falls back to English, string by
string.

Catalogs are read from `<repo>/locales/<lang>/LC_MESSAGES/messages.mo` (compiled by
`python -m bot.i18n_tools compile`; .mo files are not committed); set
`SIYAKHA_LOCALES_DIR` (or pass a directory to `get_translator`) to read them from
elsewhere. A supported locale without a compiled catalog speaks English (with one
warning in the log); its translator still formats dates in its own language, but the
flows write a date in the language of the sentence around it
(`bot.engine.ports.render_dated`), so an English sentence gets an English date.

Dates and times render with Babel (CLDR) in the translator's locale, in
Africa/Johannesburg time. CLDR has day and month names for all eleven
languages, but for Sesotho, Setswana, Sepedi, Xitsonga, Tshivenda, siSwati and
isiNdebele only its root date patterns (year first: "2025 Mat 4"). For those
we use South African day-month-year patterns with the language's own CLDR
names (`_DATE_PATTERN_OVERRIDES`). CLDR's isiXhosa and isiZulu dates are month first
("Disemba 3, 2026", and isiXhosa's numeric short date is the US M/d/yy); they are made
day-first too. Formatted values use plain spaces and ASCII apostrophes instead of
CLDR's no-break spaces and curly apostrophes, which would force a whole SMS into UCS-2,
and Sepedi and Tshivenda day and month names are written in GSM-7's letters as on a phone
(š as "sh", or "s" before an h; ḓ ḽ ṅ ṋ ṱ as d l n n t), for the same reason (`_PLAIN_LETTERS`).
"""

from __future__ import annotations

import gettext
import logging
import os
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal
from zoneinfo import ZoneInfo

from babel import Locale, dates, numbers

log = logging.getLogger(__name__)

SUPPORTED_LOCALES: Final = ("en", "xh", "zu", "af", "st", "tn", "nso", "ts", "ve", "ss", "nr")
DEFAULT_LOCALE: Final = "en"
# Languages whose every message must be translated (CI refuses a missing id). The others
# fall back to English string by string; the language menu offers them once the minimum in
# `language_offer_requires` (content/languages.yaml) is translated.
COMPLETE_LOCALES: Final = ("en", "xh", "zu", "af", "st")

LANGUAGE_NAMES: Final[dict[str, str]] = {
    "en": "English",
    "xh": "isiXhosa",
    "zu": "isiZulu",
    "af": "Afrikaans",
    "st": "Sesotho",
    "tn": "Setswana",
    "nso": "Sepedi",
    "ts": "Xitsonga",
    "ve": "Tshivenda",
    "ss": "siSwati",
    "nr": "isiNdebele",
}

TIMEZONE: Final[tzinfo] = ZoneInfo("Africa/Johannesburg")
DOMAIN: Final = "messages"
DEFAULT_LOCALES_DIR: Final = Path(__file__).resolve().parent.parent / "locales"
LOCALES_DIR_ENV: Final = "SIYAKHA_LOCALES_DIR"

# CLDR locales used for formatting: the South African variant of each language.
_BABEL_LOCALES: Final[dict[str, str]] = {code: f"{code}_ZA" for code in SUPPORTED_LOCALES}

# Where CLDR only has root's year-first patterns, write dates day-month-year as South
# Africans do, keeping the language's own CLDR month and weekday names.
_DAY_FIRST: Final[dict[str, str]] = {
    "full": "EEEE, d MMMM y",
    "long": "d MMMM y",
    "medium": "d MMM y",
    "short": "dd/MM/y",
}
_DATE_PATTERN_OVERRIDES: Final[dict[str, dict[str, str]]] = {
    **{code: _DAY_FIRST for code in ("st", "tn", "nso", "ts", "ve", "ss", "nr")},
    # CLDR writes isiXhosa and isiZulu dates month first ("Disemba 3, 2026"), and its
    # isiXhosa short date is the US "M/d/yy": 3/4/25 would read as 3 April. isiZulu's
    # short date is CLDR's unambiguous year-first 2025-03-04.
    "xh": _DAY_FIRST,
    "zu": {width: _DAY_FIRST[width] for width in ("full", "long", "medium")},
}


_WIDTHS: Final = ("short", "medium", "long", "full")

# CLDR characters outside GSM-7 that have a plain equivalent.
_SMS_PLAIN: Final = str.maketrans(
    {"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2019": "'", "\u2018": "'"}
)
# Letters of CLDR's Sepedi and Tshivenda day and month names that GSM-7 lacks, written as
# people write them on phones and as those catalogs' drafts do, in this order: Sepedi
# s-caron as "s" before an h (Matšhe: Matshe), else "sh" (Mošupologo: Moshupologo);
# Tshivenda without the dots and circumflex below (Ṱhafamuhwe: Thafamuhwe).
_PLAIN_LETTERS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "nso": (("\u0161h", "sh"), ("\u0160h", "Sh"), ("\u0161", "sh"), ("\u0160", "Sh")),
    "ve": tuple(
        zip(
            "\u1e13\u1e12\u1e3d\u1e3c\u1e45\u1e44\u1e4b\u1e4a\u1e71\u1e70",
            "dDlLnNnNtT",
            strict=True,
        )
    ),
}


_PLACEHOLDER = re.compile(r"\{\w+\}")
_NOT_WORDS = " \n.,:;()*"


def offer_required_ids(messages: Mapping[str, str], wanted: Iterable[str]) -> list[str]:
    """Return the message ids a language must translate before the language menu offers it.

    `messages` maps id -> English text; `wanted` holds ids, or prefixes ending in "." for a
    group (`language_offer_requires` in content/languages.yaml). A message with nothing to
    translate (only placeholders and punctuation) never counts.
    """
    wanted = [str(w) for w in wanted]
    return sorted(
        msg_id
        for msg_id, text in messages.items()
        if _PLACEHOLDER.sub("", text).strip(_NOT_WORDS)
        and any(msg_id == w or (w.endswith(".") and msg_id.startswith(w)) for w in wanted)
    )


def normalise_locale(code: str | None) -> str | None:
    """Return the supported locale for a code like "xh", "xh_ZA" or "XH-za", else None."""
    if not code:
        return None
    language = code.strip().replace("-", "_").split("_", 1)[0].lower()
    return language if language in SUPPORTED_LOCALES else None


_WHEN_CACHE_SIZE = 1024  # meeting times kept formatted, per language


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Write a moment as staff read it, in Africa/Johannesburg time ("2026-12-08 06:40"; ""
    for none): the dashboard, the CLI's and the domain's refusals and notes alike."""
    return value.astimezone(TIMEZONE).strftime(fmt) if value else ""


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: pass a timezone-aware datetime (UTC in storage)")
    return value.astimezone(TIMEZONE)


class Translator:
    """Translate message ids and format dates for one locale."""

    locale: str

    def __init__(self, locale: str, translations: gettext.NullTranslations | None = None) -> None:
        self.locale = locale
        self._translations = translations or gettext.NullTranslations()
        self._babel_locale = Locale.parse(_BABEL_LOCALES.get(locale, locale))
        self._plain_letters = _PLAIN_LETTERS.get(locale, ())
        # Every resident asking for the meetings is shown the same few times: each is
        # formatted once per language (Babel's formatting costs more than the rest of
        # the reply).
        self._when: dict[datetime, str] = {}

    def __repr__(self) -> str:
        return f"Translator({self.locale!r})"

    @property
    def babel_locale(self) -> Locale:
        """Return the Babel locale used for formatting."""
        return self._babel_locale

    def text(self, msg_id: str, source: str) -> str:
        """Return the translation of source for message id msg_id, or source itself."""
        return self._translations.pgettext(msg_id, source)

    def gettext(self, message: str) -> str:
        """Translate a message without context (for `_()` in code and templates)."""
        return self._translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Translate a message with a plural form."""
        return self._translations.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        """Translate a message with a context."""
        return self._translations.pgettext(context, message)

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        """Translate a message with a context and a plural form."""
        return self._translations.npgettext(context, singular, plural, n)

    def _plain(self, text: str) -> str:
        """Return a formatted value in GSM-7 where it has a plain equivalent."""
        text = text.translate(_SMS_PLAIN)
        for letter, plain in self._plain_letters:
            text = text.replace(letter, plain)
        return text

    def _date_pattern(self, format: str) -> str:
        """Return the date pattern for a named width ("short" ... "full") or a pattern."""
        override = _DATE_PATTERN_OVERRIDES.get(self.locale, {}).get(format)
        if override is not None:
            return override
        if format in _WIDTHS:
            return str(self._babel_locale.date_formats[format].pattern)
        return format

    def _datetime_pattern(self, date_width: str, time_width: str) -> str:
        """Join a date and a time pattern with the locale's glue for date_width."""
        glue = str(self._babel_locale.datetime_formats.get(date_width, "{1} {0}"))
        time_pattern = str(self._babel_locale.time_formats[time_width].pattern)
        return glue.replace("{1}", self._date_pattern(date_width)).replace("{0}", time_pattern)

    def format_date(self, value: date, format: str = "medium") -> str:
        """Format a date (or an aware datetime, in Africa/Johannesburg) for this locale."""
        if isinstance(value, datetime):
            value = _require_aware(value).date()
        return self._plain(
            dates.format_date(value, self._date_pattern(format), locale=self._babel_locale)
        )

    def format_datetime(self, value: datetime, format: str = "medium") -> str:
        """Format an aware datetime in Africa/Johannesburg time for this locale."""
        local = _require_aware(value)
        pattern = self._datetime_pattern(format, format) if format in _WIDTHS else format
        return self._plain(
            dates.format_datetime(local, pattern, tzinfo=TIMEZONE, locale=self._babel_locale)
        )

    def format_when(self, value: datetime) -> str:
        """Format an aware datetime as weekday, date and hour:minute, e.g. for a meeting."""
        local = _require_aware(value)
        formatted = self._when.get(local)
        if formatted is None:
            if len(self._when) >= _WHEN_CACHE_SIZE:
                self._when.clear()
            pattern = self._datetime_pattern("full", "short")
            formatted = self._when[local] = self._plain(
                dates.format_datetime(local, pattern, tzinfo=TIMEZONE, locale=self._babel_locale)
            )
        return formatted

    def format_time(self, value: datetime | time, format: str = "short") -> str:
        """Format an aware datetime's Africa/Johannesburg time, or a local wall-clock time."""
        if isinstance(value, datetime):
            local = _require_aware(value)
            return self._plain(
                dates.format_time(local, format, tzinfo=TIMEZONE, locale=self._babel_locale)
            )
        return self._plain(dates.format_time(value, format, locale=self._babel_locale))

    def format_weekday(
        self, value: date, width: Literal["abbreviated", "narrow", "short", "wide"] = "wide"
    ) -> str:
        """Return the weekday name of a date (aware datetimes in Africa/Johannesburg)."""
        if isinstance(value, datetime):
            value = _require_aware(value).date()
        names = dates.get_day_names(width, context="format", locale=self._babel_locale)
        return self._plain(names[value.weekday()])

    def format_number(self, value: float | int) -> str:
        """Format a number with this locale's separators."""
        return self._plain(numbers.format_decimal(value, locale=self._babel_locale))


def locales_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Return the catalog directory: the argument, else $SIYAKHA_LOCALES_DIR, else locales/."""
    if override is not None:
        return Path(override)
    from_env = os.environ.get(LOCALES_DIR_ENV)
    return Path(from_env) if from_env else DEFAULT_LOCALES_DIR


@lru_cache(maxsize=64)
def _load(locale: str, directory: Path) -> Translator:
    mo_path = directory / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with mo_path.open("rb") as fp:
            return Translator(locale, gettext.GNUTranslations(fp))
    except FileNotFoundError:
        if locale != DEFAULT_LOCALE:
            # lru_cache makes this a once-per-locale warning.
            log.warning(
                "no compiled catalog for %s at %s; using English (run the i18n compile step)",
                locale,
                mo_path,
            )
    except (OSError, ValueError, UnicodeError) as exc:  # a corrupt .mo must not take the bot down
        log.warning("cannot read catalog %s (%s); using English", mo_path, exc)
    return Translator(locale)


def get_translator(
    locale: str | None, locales_dir_override: str | os.PathLike[str] | None = None
) -> Translator:
    """Return the cached translator for a locale; unknown locales get English."""
    code = normalise_locale(locale) or DEFAULT_LOCALE
    directory = locales_dir(locales_dir_override)
    # Resolving touches the file system: only a relative path needs it (not the hot path's).
    return _load(code, directory if directory.is_absolute() else directory.resolve())


def clear_cache() -> None:
    """Forget loaded catalogs (after recompiling, and in tests)."""
    _load.cache_clear()
