"""Tests for bot.i18n_tools: the YAML extractor and extract / update / compile / check / report."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from bot import i18n, i18n_tools
from bot.content import ContentError

REAL_CFG = i18n_tools.REPO_ROOT / "locales" / "babel.cfg"

FIXTURE_YAML = """\
# A fixture content file.
codes: [A, B]

messages:
  greeting.hello: "Hello {name}."
  # Shown when nobody has chosen a language yet.
  # Keep it short.
  greeting.bye: |-
    Goodbye.
    See you soon.

  nested:
    deeper:
      leaf: "Nested leaf."
    count: 3
  plain: Plain words here.
other:
  not.a.message: "Not extracted."
"""


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    i18n.clear_cache()
    yield
    i18n.clear_cache()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A miniature repository: content, a bit of Python and a template, with the real babel.cfg."""
    (tmp_path / "locales").mkdir()
    shutil.copy(REAL_CFG, tmp_path / "locales" / "babel.cfg")
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "messages.yaml").write_text(FIXTURE_YAML, encoding="utf-8")
    (tmp_path / "content" / "demo").mkdir()
    (tmp_path / "content" / "demo" / "data.yaml").write_text(
        "messages:\n  demo.ignored: Demo only.\n", encoding="utf-8"
    )
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "thing.py").write_text(
        "def _(s):\n    return s\n\n\nLABEL = _('Dashboard')\n", encoding="utf-8"
    )
    (tmp_path / "api" / "templates").mkdir(parents=True)
    (tmp_path / "api" / "templates" / "page.html").write_text(
        "<h1>{{ _('Queue') }}</h1>{% trans %}Log out{% endtrans %}\n", encoding="utf-8"
    )
    # Not a source directory: must never be scanned.
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "x.py").write_text("_('Hidden')\n", encoding="utf-8")
    return tmp_path


def keys(catalog_path: Path) -> set[tuple[str | None, str]]:
    with catalog_path.open("rb") as fp:
        return {(m.context, m.id) for m in read_po(fp) if m.id}  # type: ignore[misc]


def set_translations(
    path: Path,
    translations: dict[str, str],
    *,
    fuzzy: frozenset[str] = frozenset(),
    unreviewed: frozenset[str] = frozenset(),
) -> None:
    with path.open("rb") as fp:
        catalog = read_po(fp)
    for msg in catalog:
        if msg.context in translations:
            msg.string = translations[msg.context]
            if msg.context in fuzzy:
                msg.flags.add("fuzzy")
            if msg.context in unreviewed:
                msg.user_comments = [i18n_tools.UNREVIEWED_COMMENT]
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, include_lineno=False)
    path.write_bytes(buf.getvalue())


# --- the extractor --------------------------------------------------------------------------


def test_extractor_yields_pgettext_with_id_as_context() -> None:
    found = list(i18n_tools.extract_content_yaml(io.BytesIO(FIXTURE_YAML.encode()), {}, [], {}))
    assert [(line, func, msg) for line, func, msg, _ in found] == [
        (5, "pgettext", ("greeting.hello", "Hello {name}.")),
        (8, "pgettext", ("greeting.bye", "Goodbye.\nSee you soon.")),
        (14, "pgettext", ("nested.deeper.leaf", "Nested leaf.")),
        (16, "pgettext", ("plain", "Plain words here.")),
    ]
    comments = {msg[0]: c for _, _, msg, c in found}
    assert comments["greeting.bye"] == [
        "Shown when nobody has chosen a language yet.",
        "Keep it short.",
    ]
    assert comments["greeting.hello"] == []


def test_extract_refuses_a_message_id_repeated_in_one_file(repo: Path) -> None:
    # Both went into messages.pot; the bot itself kept only the second.
    yaml_path = repo / "content" / "messages.yaml"
    yaml_path.write_text(FIXTURE_YAML + 'messages:\n  again: "Again."\n', encoding="utf-8")
    with pytest.raises(ContentError, match=r"messages.yaml: line 19: key 'messages' is repeated"):
        i18n_tools.extract(repo)
    yaml_path.write_text(
        FIXTURE_YAML.replace("  plain: Plain words here.\n", "  plain: A.\n  plain: B.\n"),
        encoding="utf-8",
    )
    with pytest.raises(ContentError, match=r"line 17: key 'plain' is repeated"):
        i18n_tools.extract(repo)
    assert not i18n_tools.pot_path(repo).exists()


def test_extractor_ignores_files_without_messages() -> None:
    assert list(i18n_tools.extract_content_yaml(io.BytesIO(b"- a\n- b\n"), {}, [], {})) == []
    assert list(i18n_tools.extract_content_yaml(io.BytesIO(b""), {}, [], {})) == []
    assert list(i18n_tools.extract_content_yaml(io.BytesIO(b"codes: [A]\n"), {}, [], {})) == []


# --- extract --------------------------------------------------------------------------------


def test_extract_collects_yaml_python_and_templates(repo: Path) -> None:
    pot = i18n_tools.extract(repo)
    assert keys(pot) == {
        ("greeting.hello", "Hello {name}."),
        ("greeting.bye", "Goodbye.\nSee you soon."),
        ("nested.deeper.leaf", "Nested leaf."),
        ("plain", "Plain words here."),
        (None, "Dashboard"),
        (None, "Queue"),
        (None, "Log out"),
    }
    text = pot.read_text(encoding="utf-8")
    assert 'msgctxt "greeting.hello"' in text
    assert "#: content/messages.yaml\n" in text  # no line numbers: no churn on edits
    assert "#. Shown when nobody has chosen a language yet." in text
    assert "Hidden" not in text and "Demo only" not in text


def test_extract_is_deterministic_and_sorted(repo: Path) -> None:
    first = i18n_tools.extract(repo).read_bytes()
    second = i18n_tools.extract(repo).read_bytes()
    assert first == second
    assert b"POT-Creation-Date: 2025-01-01 00:00+0000" in first
    contexts = [line for line in first.decode().splitlines() if line.startswith("msgctxt")]
    assert contexts == sorted(contexts)


def test_line_shifts_do_not_change_the_template(repo: Path) -> None:
    before = i18n_tools.extract(repo).read_bytes()
    yaml_path = repo / "content" / "messages.yaml"
    yaml_path.write_text("\n\n\n" + FIXTURE_YAML, encoding="utf-8")
    assert i18n_tools.extract(repo).read_bytes() == before


# --- staleness ------------------------------------------------------------------------------


def test_stale_template_is_caught(repo: Path) -> None:
    i18n_tools.extract(repo)
    assert i18n_tools.template_drift(repo) == []
    yaml_path = repo / "content" / "messages.yaml"
    yaml_path.write_text(
        FIXTURE_YAML.replace("Plain words here.", "Plain words, changed.") + "  # added after\n",
        encoding="utf-8",
    )
    (repo / "content" / "more.yaml").write_text(
        "messages:\n  extra.one: One more.\n", encoding="utf-8"
    )
    drift = i18n_tools.template_drift(repo)
    assert "new message not in messages.pot: plain" in drift
    assert "message in messages.pot no longer in the sources: plain" in drift
    assert "new message not in messages.pot: extra.one" in drift
    problems = i18n_tools.check(repo, locales=())
    assert problems and all("messages.pot is stale" in p for p in problems)
    i18n_tools.extract(repo)
    assert i18n_tools.check(repo, locales=()) == []


def test_changed_translator_comment_makes_template_stale(repo: Path) -> None:
    i18n_tools.extract(repo)
    yaml_path = repo / "content" / "messages.yaml"
    yaml_path.write_text(FIXTURE_YAML.replace("Keep it short.", "Keep it very short."))
    assert i18n_tools.template_drift(repo) == ["comments or location changed: greeting.bye"]


def test_missing_template_is_stale(repo: Path) -> None:
    assert i18n_tools.template_drift(repo) == [f"{repo / 'locales' / 'messages.pot'} is missing"]


# --- update and compile ---------------------------------------------------------------------


def test_update_creates_every_catalog_and_compile_uses_translations(repo: Path) -> None:
    i18n_tools.extract(repo)
    written = i18n_tools.update(repo)
    assert len(written) == len(i18n.SUPPORTED_LOCALES)
    xh = i18n_tools.po_path("xh", repo)
    text = xh.read_text(encoding="utf-8")
    assert '"Language: xh\\n"' in text
    assert '#, fuzzy\nmsgid ""' not in text  # a fuzzy header would skip the whole catalog
    set_translations(
        xh, {"greeting.hello": "Molo {name}.", "plain": "Amazwi."}, fuzzy=frozenset({"plain"})
    )

    results = {r.locale: r for r in i18n_tools.compile_catalogs(repo, repo / "out")}
    assert results["xh"].errors == []
    assert (results["xh"].translated, results["xh"].total) == (1, 7)
    t = i18n.get_translator("xh", repo / "out")
    assert t.text("greeting.hello", "Hello {name}.") == "Molo {name}."
    assert t.text("plain", "Plain words here.") == "Plain words here."  # fuzzy: not used
    assert t.text("nested.deeper.leaf", "Nested leaf.") == "Nested leaf."


def test_update_is_idempotent(repo: Path) -> None:
    i18n_tools.extract(repo)
    i18n_tools.update(repo, ["zu"])
    first = i18n_tools.po_path("zu", repo).read_bytes()
    i18n_tools.update(repo, ["zu"])
    assert i18n_tools.po_path("zu", repo).read_bytes() == first


def test_changed_english_keeps_old_translation_as_fuzzy_suggestion(repo: Path) -> None:
    i18n_tools.extract(repo)
    i18n_tools.update(repo, ["xh"])
    xh = i18n_tools.po_path("xh", repo)
    set_translations(xh, {"plain": "Amazwi."}, unreviewed=frozenset({"plain"}))

    yaml_path = repo / "content" / "messages.yaml"
    yaml_path.write_text(FIXTURE_YAML.replace("Plain words here.", "Completely different text."))
    i18n_tools.extract(repo)
    i18n_tools.update(repo, ["xh"])
    catalog = i18n_tools._read_catalog(xh)
    msg = catalog.get("Completely different text.", "plain")
    assert msg is not None
    assert msg.string == "Amazwi."
    assert "fuzzy" in msg.flags
    assert '#| msgid "Plain words here."' in xh.read_text(encoding="utf-8")
    assert msg.previous_id == ["Plain words here."]
    assert msg.user_comments == [i18n_tools.UNREVIEWED_COMMENT]
    assert not catalog.obsolete
    # A second update keeps the suggestion, its previous id and the comment, unchanged.
    before = xh.read_bytes()
    i18n_tools.update(repo, ["xh"])
    assert xh.read_bytes() == before


def test_english_changed_twice_keeps_the_english_the_translation_was_made_from(
    repo: Path,
) -> None:
    # The previous-text note showed the intermediate English, which nobody translated:
    # a translator comparing it with the new English missed the first change.
    i18n_tools.extract(repo)
    i18n_tools.update(repo, ["xh"])
    xh = i18n_tools.po_path("xh", repo)
    set_translations(xh, {"plain": "Amazwi."})
    yaml_path = repo / "content" / "messages.yaml"
    for english in ("Completely different text.", "Different again."):
        yaml_path.write_text(FIXTURE_YAML.replace("Plain words here.", english))
        i18n_tools.extract(repo)
        i18n_tools.update(repo, ["xh"])
    catalog = i18n_tools._read_catalog(xh)
    msg = catalog.get("Different again.", "plain")
    assert msg is not None
    assert (msg.string, "fuzzy" in msg.flags) == ("Amazwi.", True)
    assert msg.previous_id == ["Plain words here."]
    assert '#| msgid "Plain words here."' in xh.read_text(encoding="utf-8")
    assert not catalog.obsolete


def test_each_language_keeps_its_own_old_translation_when_the_english_changes(
    repo: Path,
) -> None:
    # The template's messages were shared by every catalog in one update: the first
    # language's suggestion was written onto them and then handed to the others.
    i18n_tools.extract(repo)
    i18n_tools.update(repo, ["xh", "af"])
    old = {"xh": "Amazwi.", "af": "Gewone woorde."}
    for locale, text in old.items():
        set_translations(i18n_tools.po_path(locale, repo), {"plain": text})
    yaml_path = repo / "content" / "messages.yaml"
    yaml_path.write_text(FIXTURE_YAML.replace("Plain words here.", "Completely different text."))
    i18n_tools.extract(repo)
    i18n_tools.update(repo, ["xh", "af"])
    for locale, text in old.items():
        catalog = i18n_tools._read_catalog(i18n_tools.po_path(locale, repo))
        msg = catalog.get("Completely different text.", "plain")
        assert msg is not None and (msg.string, "fuzzy" in msg.flags) == (text, True), locale
    template = i18n_tools._read_catalog(i18n_tools.pot_path(repo))
    assert template.get("Completely different text.", "plain").string == ""


def test_an_untranslated_entry_whose_english_changed_leaves_nothing_behind(repo: Path) -> None:
    i18n_tools.extract(repo)
    i18n_tools.update(repo, ["zu"])
    yaml_path = repo / "content" / "messages.yaml"
    yaml_path.write_text(FIXTURE_YAML.replace("Plain words here.", "Completely different text."))
    i18n_tools.extract(repo)
    i18n_tools.update(repo, ["zu"])
    catalog = i18n_tools._read_catalog(i18n_tools.po_path("zu", repo))
    assert not catalog.obsolete
    assert "Plain words here." not in i18n_tools.po_path("zu", repo).read_text(encoding="utf-8")


def test_compile_fails_on_catalog_errors(repo: Path) -> None:
    i18n_tools.extract(repo)
    i18n_tools.update(repo, ["af"])
    af = i18n_tools.po_path("af", repo)
    af.write_text(
        af.read_text(encoding="utf-8")
        + '\nmsgid "%(count)d reports"\nmsgstr "%(total)d verslae"\n',
        encoding="utf-8",
    )
    results = i18n_tools.compile_catalogs(repo, repo / "out", ["af"])
    assert results[0].errors
    assert i18n_tools.main(["compile", "--root", str(repo), "--locale", "af"]) == 1


# --- check ----------------------------------------------------------------------------------


@pytest.fixture
def updated(repo: Path) -> Path:
    i18n_tools.extract(repo)
    i18n_tools.update(repo)
    return repo


def test_check_passes_on_a_consistent_repo(updated: Path) -> None:
    assert i18n_tools.check(updated, complete=()) == []
    assert i18n_tools.main(["check", "--root", str(updated)]) == 1  # xh is complete
    set_translations(
        i18n_tools.po_path("xh", updated),
        {
            "greeting.hello": "Molo {name}.",
            "greeting.bye": "Sala kakuhle.",
            "nested.deeper.leaf": "Igqabi.",
            "plain": "Amazwi.",
        },
    )
    problems = i18n_tools.check(updated, complete=("en", "xh"))
    # The three context-free strings (Python, templates) are still missing in xh.
    assert len(problems) == 3
    assert all("complete language xh misses" in p for p in problems)


def test_check_catches_placeholder_mismatch(updated: Path) -> None:
    xh = i18n_tools.po_path("xh", updated)
    set_translations(xh, {"greeting.hello": "Molo {igama}."})
    problems = i18n_tools.check(updated, complete=())
    assert len(problems) == 1
    assert "greeting.hello" in problems[0]
    assert "['{igama}'] in translation, ['{name}'] in source" in problems[0]


def test_check_catches_a_dropped_placeholder(updated: Path) -> None:
    set_translations(i18n_tools.po_path("zu", updated), {"greeting.hello": "Sawubona."})
    assert len(i18n_tools.check(updated, complete=())) == 1


def test_check_ignores_placeholders_in_fuzzy_entries(updated: Path) -> None:
    xh = i18n_tools.po_path("xh", updated)
    set_translations(xh, {"greeting.hello": "Molo {igama}."}, fuzzy=frozenset({"greeting.hello"}))
    assert i18n_tools.check(updated, complete=()) == []


def test_check_catches_bad_brace_syntax(updated: Path) -> None:
    set_translations(i18n_tools.po_path("st", updated), {"greeting.hello": "Dumela {name."})
    problems = i18n_tools.check(updated, complete=())
    assert len(problems) == 1 and "bad placeholder syntax" in problems[0]


@pytest.mark.parametrize("translation", ["Molo {name!r}.", "Molo {name:>5}."])
def test_check_catches_a_placeholder_the_bot_would_refuse_to_fill(
    updated: Path, translation: str
) -> None:
    # The same name as the source passed, and the resident silently got English.
    set_translations(i18n_tools.po_path("xh", updated), {"greeting.hello": translation})
    problems = i18n_tools.check(updated, complete=())
    assert len(problems) == 1
    assert "greeting.hello" in problems[0] and "must be a plain name" in problems[0]


def test_check_catches_a_catalog_that_does_not_parse(updated: Path) -> None:
    po = i18n_tools.po_path("ts", updated)
    po.write_text(
        po.read_text(encoding="utf-8") + '\nmsgid "x"\nthis is not po\n', encoding="utf-8"
    )
    problems = i18n_tools.check(updated, complete=())
    assert any("locales/ts/LC_MESSAGES/messages.po does not parse" in p for p in problems)


def test_check_catches_missing_and_lagging_catalogs(updated: Path) -> None:
    i18n_tools.po_path("nr", updated).unlink()
    (updated / "content" / "more.yaml").write_text(
        "messages:\n  extra.one: One more.\n", encoding="utf-8"
    )
    i18n_tools.extract(updated)
    problems = i18n_tools.check(updated, complete=())
    assert "locales/nr/LC_MESSAGES/messages.po is missing (run the update step)" in problems
    lagging = [p for p in problems if "lacks 1 message(s)" in p]
    assert len(lagging) == len(i18n.SUPPORTED_LOCALES) - 1


def test_placeholders() -> None:
    assert i18n_tools.placeholders("Hi {name}, {{literal}} %(count)d and %% x") == {
        "{name}",
        "%(count)",
    }


# --- report ---------------------------------------------------------------------------------


def test_report(updated: Path) -> None:
    po = i18n_tools.po_path("af", updated)
    set_translations(
        po,
        {"greeting.hello": "Hallo {name}.", "plain": "Wat sê jy?"},
        unreviewed=frozenset({"greeting.hello"}),
    )

    af = i18n_tools.locale_report("af", updated)
    assert (af.total, af.translated, af.reviewed) == (7, 2, 1)
    assert af.ucs2 == [("plain", ["ê"])]
    en = i18n_tools.locale_report("en", updated)
    assert en.translated == en.reviewed == en.total
    text = i18n_tools.report(updated)
    assert "Afrikaans (af)" in text and "29%" in text and "14%" in text
    assert "Messages forcing UCS-2 on SMS in af:" in text
    assert i18n_tools.main(["report", "--root", str(updated)]) == 0


def test_report_says_which_languages_the_language_menu_offers(updated: Path) -> None:
    (updated / "content" / "languages.yaml").write_text(
        "language_offer_requires: [greeting.]\n", encoding="utf-8"
    )
    po = i18n_tools.po_path("zu", updated)
    set_translations(po, {"greeting.hello": "Sawubona {name}."})
    assert i18n_tools.locale_report("zu", updated).offer_missing == ["greeting.bye"]
    set_translations(po, {"greeting.hello": "Sawubona {name}.", "greeting.bye": "Sala kahle."})
    assert i18n_tools.locale_report("zu", updated).offered
    assert i18n_tools.locale_report("en", updated).offered
    text = i18n_tools.report(updated, ["zu", "st"])
    assert "isiZulu (zu)" in text and "yes" in text
    assert "no (2 required messages missing)" in text


def test_sms_text_strips_whatsapp_bold() -> None:
    assert i18n_tools.sms_text("*Main menu*\n1 *x* 2*3") == "Main menu\n1 x 2*3"


def test_cli_all_then_check(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert i18n_tools.main(["all", "--root", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "wrote locales/messages.pot (7 messages)" in out
    assert "xh: 0 of 7 (0%) translated" in out
    assert (repo / "locales" / "xh" / "LC_MESSAGES" / "messages.mo").exists()
    assert i18n_tools.main(["check", "--root", str(repo), "--locale", "tn"]) == 0  # not complete
    assert i18n_tools.main(["check", "--root", str(repo), "--locale", "zu"]) == 1  # complete


def test_multiline_previous_id_survives_updates(repo: Path) -> None:
    i18n_tools.extract(repo)
    i18n_tools.update(repo, ["xh"])
    xh = i18n_tools.po_path("xh", repo)
    set_translations(xh, {"greeting.bye": "Sala kakuhle.\nSobonana."})
    yaml_path = repo / "content" / "messages.yaml"
    yaml_path.write_text(FIXTURE_YAML.replace("See you soon.", "See you later."))
    i18n_tools.extract(repo)
    i18n_tools.update(repo, ["xh"])
    first = xh.read_bytes()
    i18n_tools.update(repo, ["xh"])
    assert xh.read_bytes() == first
    msg = i18n_tools._read_catalog(xh).get("Goodbye.\nSee you later.", "greeting.bye")
    assert msg is not None
    assert msg.previous_id == ["Goodbye.\nSee you soon."]
    assert msg.user_comments == []
    assert "fuzzy" in msg.flags
