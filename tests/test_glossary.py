"""The glossary (locales/glossary.csv) fixes key terms per language; translations use them.

Where an English message uses a glossary term (matched case-insensitively on its
`en_stem`, so "upgrade" and "upgrading" both count), the translation in every language
with a glossary column must contain that language's stem (which allows prefixes and
endings: isiXhosa "kuMasipala" holds "masipala"). Complete languages translate every
message, so for them this covers every use of every term; for the others it covers what
is translated so far. A stem may list alternatives separated by ";".
"""

from __future__ import annotations

import csv
import re
from functools import cache

import pytest

from bot import content, i18n, i18n_tools

GLOSSARY = i18n_tools.REPO_ROOT / "locales" / "glossary.csv"
REQUIRED_TERMS = {
    "informal_settlement",
    "upgrading",
    "category",
    "relocation",
    "emergency_services",
    "essential_services",
    "housing_list",
    "ward_councillor",
    "meeting",
    "forum",
    "tenure",
    "title_deed",
    "complaint",
    "reference_number",
    "municipality",
    "settlement_layout",
}
_PLACEHOLDER = re.compile(r"\{\w+\}")
TRANSLATED = [code for code in i18n.SUPPORTED_LOCALES if code != i18n.DEFAULT_LOCALE]


@cache
def rows() -> list[dict[str, str]]:
    """Return the glossary rows."""
    with GLOSSARY.open(encoding="utf-8", newline="") as fp:
        return list(csv.DictReader(fp))


def stems(row: dict[str, str], locale: str) -> list[str]:
    """Return the lowercase stems that show a term is used in a locale."""
    raw = row.get(f"{locale}_stem") or row.get(locale) or ""
    return [s.strip().lower() for s in raw.split(";") if s.strip()]


@cache
def translations(locale: str) -> dict[str, str]:
    """Return message id -> the translation gettext would use, from the .po file."""
    catalog = i18n_tools._read_catalog(i18n_tools.po_path(locale), locale)
    return {
        str(m.context): str(m.string) for m in catalog if m.id and m.context and i18n_tools._used(m)
    }


def test_glossary_has_every_key_term_in_every_language() -> None:
    assert {row["term_id"] for row in rows()} >= REQUIRED_TERMS
    header = set(rows()[0])
    for locale in i18n.SUPPORTED_LOCALES:
        assert {locale, f"{locale}_stem"} <= header, locale
    for row in rows():
        for locale in i18n.SUPPORTED_LOCALES:
            assert row[locale].strip(), (row["term_id"], locale)
            # The first stem is part of the term; others may be inflected forms.
            assert stems(row, locale)[0] in row[locale].lower(), (row["term_id"], locale)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_use_the_glossary_terms(locale: str) -> None:
    # Placeholder names ("{municipality}") are not words the resident reads.
    english = {msg_id: _PLACEHOLDER.sub("", text) for msg_id, text, _, _ in content.iter_messages()}
    done = translations(locale)
    problems = []
    for row in rows():
        wanted = stems(row, locale)
        for msg_id, text in english.items():
            if msg_id not in done or not any(s in text.lower() for s in stems(row, "en")):
                continue
            if not any(s in done[msg_id].lower() for s in wanted):
                problems.append(f"{msg_id}: {row['term_id']} should be {row[locale]!r}")
    assert problems == []
