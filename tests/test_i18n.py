"""Tests for bot.i18n: locales, the Translator's fallback and date/time formatting."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from babel import dates
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from bot import i18n, sms

TUESDAY = date(2025, 3, 4)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    i18n.clear_cache()
    yield
    i18n.clear_cache()


def write_catalog(directory: Path, locale: str, catalog: Catalog) -> None:
    target = directory / locale / "LC_MESSAGES" / "messages.mo"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as fp:
        write_mo(fp, catalog)


@pytest.fixture
def catalogs(tmp_path: Path) -> Path:
    catalog = Catalog(locale="xh", fuzzy=False)
    catalog.add("Hello.", "Molo.", context="greeting.hello")
    catalog.add("Hello.", "Molweni.", context="greeting.group")
    catalog.add("Not yet.", "", context="untranslated.one")
    catalog.add("Maybe.", "Mhlawumbi.", context="fuzzy.one", flags=["fuzzy"])
    catalog.add("Thank you for agreeing.", "Enkosi ngokuvuma.", context="consent.thanks")
    catalog.add("Dashboard", "Ibhodi")
    write_catalog(tmp_path, "xh", catalog)
    return tmp_path


# --- locales --------------------------------------------------------------------------------


def test_supported_locales_are_the_eleven_official_languages() -> None:
    assert i18n.SUPPORTED_LOCALES == (
        "en",
        "xh",
        "zu",
        "af",
        "st",
        "tn",
        "nso",
        "ts",
        "ve",
        "ss",
        "nr",
    )
    assert tuple(i18n.LANGUAGE_NAMES) == i18n.SUPPORTED_LOCALES
    assert i18n.LANGUAGE_NAMES["xh"] == "isiXhosa"
    assert i18n.LANGUAGE_NAMES["nso"] == "Sepedi"
    assert i18n.LANGUAGE_NAMES["ss"] == "siSwati"
    assert set(i18n.COMPLETE_LOCALES) <= set(i18n.SUPPORTED_LOCALES)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("xh", "xh"),
        ("xh_ZA", "xh"),
        ("XH-za", "xh"),
        (" zu ", "zu"),
        ("nso_ZA", "nso"),
        ("en-GB", "en"),
        ("fr", None),
        ("", None),
        (None, None),
        ("x", None),
    ],
)
def test_normalise_locale(code: str | None, expected: str | None) -> None:
    assert i18n.normalise_locale(code) == expected


# --- translation ----------------------------------------------------------------------------


def test_text_uses_context(catalogs: Path) -> None:
    t = i18n.get_translator("xh", catalogs)
    assert t.locale == "xh"
    assert t.text("greeting.hello", "Hello.") == "Molo."
    assert t.text("greeting.group", "Hello.") == "Molweni."


def test_text_falls_back_to_english_string_by_string(catalogs: Path) -> None:
    t = i18n.get_translator("xh", catalogs)
    assert t.text("untranslated.one", "Not yet.") == "Not yet."
    assert t.text("fuzzy.one", "Maybe.") == "Maybe."
    assert t.text("no.such.id", "Anything.") == "Anything."
    # Same id, changed English: the old translation is not used for the new text.
    assert t.text("consent.thanks", "Thank you.") == "Thank you."
    assert t.text("consent.thanks", "Thank you for agreeing.") == "Enkosi ngokuvuma."


def test_gettext_without_context(catalogs: Path) -> None:
    t = i18n.get_translator("xh", catalogs)
    assert t.gettext("Dashboard") == "Ibhodi"
    assert t.gettext("Logout") == "Logout"
    assert t.ngettext("one", "many", 2) == "many"
    assert t.pgettext("greeting.hello", "Hello.") == "Molo."


def test_translator_is_cached_per_locale(catalogs: Path) -> None:
    assert i18n.get_translator("xh", catalogs) is i18n.get_translator("xh_ZA", catalogs)
    assert i18n.get_translator("xh", catalogs) is not i18n.get_translator("zu", catalogs)


def test_unknown_locale_gets_english(catalogs: Path) -> None:
    t = i18n.get_translator("fr", catalogs)
    assert t.locale == "en"
    assert t.text("greeting.hello", "Hello.") == "Hello."
    assert i18n.get_translator(None, catalogs).locale == "en"


def test_missing_catalog_falls_back_to_english_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.i18n")
    t = i18n.get_translator("zu", tmp_path)
    assert t.text("greeting.hello", "Hello.") == "Hello."
    i18n.get_translator("zu", tmp_path)
    i18n.get_translator("zu", tmp_path)
    warnings = [r for r in caplog.records if "no compiled catalog for zu" in r.getMessage()]
    assert len(warnings) == 1
    # Dates still come out in the resident's language.
    assert t.format_weekday(TUESDAY) == "ULwesibili"


def test_english_without_catalog_does_not_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.i18n")
    assert i18n.get_translator("en", tmp_path).text("a", "A") == "A"
    assert not caplog.records


def test_corrupt_catalog_falls_back(tmp_path: Path) -> None:
    target = tmp_path / "af" / "LC_MESSAGES" / "messages.mo"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not a catalog at all")
    assert i18n.get_translator("af", tmp_path).text("x", "English.") == "English."


def test_locales_dir_from_environment(catalogs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(i18n.LOCALES_DIR_ENV, str(catalogs))
    assert i18n.locales_dir() == catalogs
    assert i18n.get_translator("xh").text("greeting.hello", "Hello.") == "Molo."
    monkeypatch.delenv(i18n.LOCALES_DIR_ENV)
    assert i18n.locales_dir() == i18n.DEFAULT_LOCALES_DIR


# --- dates and times ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "Tuesday, 04 March 2025"),
        ("xh", "Lwesibini, 4 Matshi 2025"),
        ("zu", "ULwesibili, 4 Mashi 2025"),
        ("af", "Dinsdag 04 Maart 2025"),
        ("st", "Labobedi, 4 Hlakubele 2025"),
        ("tn", "Labobedi, 4 Mopitlo 2025"),
        ("nso", "Labobedi, 4 Matshe 2025"),
        ("ts", "Ravumbirhi, 4 Nyenyankulu 2025"),
        ("ve", "Lavhuvhili, 4 Thafamuhwe 2025"),
        ("ss", "Lesibili, 4 iNdlovu-lenkhulu 2025"),
        ("nr", "uLesibili, 4 uMatjhi 2025"),
    ],
)
def test_full_date_in_every_language(locale: str, expected: str) -> None:
    assert i18n.get_translator(locale).format_date(TUESDAY, "full") == expected


@pytest.mark.parametrize(
    ("locale", "weekday"),
    [
        ("en", "Tuesday"),
        ("xh", "Lwesibini"),
        ("zu", "ULwesibili"),
        ("af", "Dinsdag"),
        ("st", "Labobedi"),
        ("tn", "Labobedi"),
        ("nso", "Labobedi"),
        ("ts", "Ravumbirhi"),
        ("ve", "Lavhuvhili"),
        ("ss", "Lesibili"),
        ("nr", "uLesibili"),
    ],
)
def test_weekday_names_come_from_cldr(locale: str, weekday: str) -> None:
    assert i18n.get_translator(locale).format_weekday(TUESDAY) == weekday


def test_medium_dates() -> None:
    assert i18n.get_translator("en").format_date(TUESDAY) == "04 Mar 2025"
    assert i18n.get_translator("af").format_date(TUESDAY) == "04 Mrt. 2025"
    # CLDR only has root's year-first pattern for st; we write it day first.
    assert i18n.get_translator("st").format_date(TUESDAY) == "4 Hlb 2025"


def test_short_dates_are_never_month_first() -> None:
    # CLDR's xh short date is M/d/yy, which a South African reads as 3 April.
    assert i18n.get_translator("xh").format_date(TUESDAY, "short") == "04/03/2025"
    assert i18n.get_translator("zu").format_date(TUESDAY, "short") == "2025-03-04"
    assert i18n.get_translator("en").format_date(TUESDAY, "short") == "2025/03/04"


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_dates_the_bot_writes_are_day_first_in_every_language(locale: str) -> None:
    # CLDR's isiXhosa and isiZulu long and full dates were month first: "Disemba 3, 2026".
    t = i18n.get_translator(locale)
    day = date(2026, 12, 3)
    december = dates.get_month_names("wide", locale=t.babel_locale)[12].replace("\u2019", "'")
    when = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
    for text in [t.format_date(day, "long"), t.format_date(day, "full"), t.format_when(when)]:
        assert re.search(rf"\b0?3 {re.escape(december)} 2026\b", text), text
    assert t.format_date(day, "medium").startswith(("03 ", "3 "))


def test_utc_converted_to_south_african_time() -> None:
    four_pm_utc = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)
    for locale in ("en", "xh", "zu", "af", "st"):
        t = i18n.get_translator(locale)
        assert t.format_time(four_pm_utc) == "18:00"
        assert "18:00" in t.format_datetime(four_pm_utc)
    assert i18n.get_translator("en").format_datetime(four_pm_utc) == "04 Mar 2025, 18:00:00"
    assert i18n.get_translator("af").format_datetime(four_pm_utc) == "04 Mrt. 2025 18:00:00"


def test_other_offsets_are_converted_too() -> None:
    new_york = timezone(timedelta(hours=-5))
    value = datetime(2025, 3, 4, 11, 0, tzinfo=new_york)  # 16:00 UTC
    assert i18n.get_translator("xh").format_time(value) == "18:00"


def test_date_of_an_aware_datetime_is_the_south_african_date() -> None:
    late_utc = datetime(2025, 3, 3, 23, 30, tzinfo=UTC)  # 01:30 on Tuesday in SAST
    t = i18n.get_translator("af")
    assert t.format_date(late_utc, "full") == "Dinsdag 04 Maart 2025"
    assert t.format_weekday(late_utc) == "Dinsdag"


def test_format_when_for_meetings() -> None:
    value = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)
    assert i18n.get_translator("en").format_when(value) == "Tuesday, 04 March 2025, 18:00"
    assert i18n.get_translator("xh").format_when(value) == "Lwesibini, 4 Matshi 2025 18:00"
    assert i18n.get_translator("st").format_when(value) == "Labobedi, 4 Hlakubele 2025 18:00"
    # tn's CLDR glue has a quoted literal, which must not leak its quotes.
    assert i18n.get_translator("tn").format_when(value) == "Labobedi, 4 Mopitlo 2025 ka 18:00"


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2025, 3, 4, 16, 0)
    t = i18n.get_translator("xh")
    with pytest.raises(ValueError, match="naive"):
        t.format_datetime(naive)
    with pytest.raises(ValueError, match="naive"):
        t.format_time(naive)
    with pytest.raises(ValueError, match="naive"):
        t.format_date(naive)
    with pytest.raises(ValueError, match="naive"):
        t.format_when(naive)


def test_plain_time_is_a_wall_clock_time() -> None:
    assert i18n.get_translator("zu").format_time(time(9, 30)) == "09:30"


def test_numbers() -> None:
    assert i18n.get_translator("en").format_number(1234567.5) == "1 234 567,5"
    assert i18n.get_translator("zu").format_number(1234567.5) == "1,234,567.5"


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_formatted_values_stay_gsm7(locale: str) -> None:
    # No-break spaces and curly apostrophes from CLDR, and Sepedi's and Tshivenda's letters
    # outside GSM-7, would make a whole SMS UCS-2.
    t = i18n.get_translator(locale)
    start = datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
    for day in range(0, 365, 3):
        value = start + timedelta(days=day, hours=day % 24)
        texts = [t.format_when(value), t.format_number(1234567.5)]
        texts += [t.format_date(value, f) for f in ("short", "medium", "long", "full")]
        texts += [t.format_datetime(value, f) for f in ("short", "medium")]
        for text in texts:
            assert not sms.non_gsm_chars(text), (text, sms.non_gsm_chars(text))


def test_sepedi_and_tshivenda_names_are_written_as_on_a_phone() -> None:
    # CLDR: "Mošupologo" (Monday) and "Matšhe" (March); Tshivenda "Ṱhafamuhwe" (March).
    monday_in_march = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert i18n.get_translator("nso").format_when(monday_in_march) == (
        "Moshupologo, 2 Matshe 2026 ka 10:00"
    )
    tuesday = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    assert i18n.get_translator("ve").format_when(tuesday) == "Lavhuvhili, 3 Thafamuhwe 2026 10:00"
