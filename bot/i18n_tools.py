"""Translation workflow: extract, update, compile, check and report on the catalogs.

Run it as `python -m bot.i18n_tools COMMAND` (or `scripts/i18n.sh COMMAND`):

- `extract`  writes `locales/messages.pot` from `locales/babel.cfg`: the YAML content
  (message id -> msgctxt, English text -> msgid), `_()` in `bot/` and `api/`, and the
  Jinja templates. The output is deterministic: a fixed creation date, entries sorted
  by (msgctxt, msgid), locations without line numbers, so it only changes when the
  words do.
- `update`   merges the template into every supported locale's `messages.po`, creating
  missing catalogs. A message whose English text changed keeps its old translation
  as a fuzzy suggestion (matched by id, not by similar text); fuzzy entries are not
  used until a translator clears the flag.
- `compile`  writes `messages.mo` beside each `.po` (or under `--output-dir`); fails on
  any catalog error.
- `check`    fails when `messages.pot` is stale, a catalog does not parse or compile,
  a catalog lags the template, a placeholder differs between msgid and msgstr in a
  used (non-fuzzy) entry, or a complete language misses a translation.
- `report`   prints, per language, the share translated and reviewed, the mean SMS
  segments per message, whether the language menu offers the language (its catalog
  translates every message `language_offer_requires` in content/languages.yaml names),
  and the messages that force UCS-2 on SMS. `siyakha i18n report` prints `report()`.
- `all`      extract, update, compile.

A translation counts as reviewed unless it is fuzzy or carries a translator comment
starting with `unreviewed` (see `UNREVIEWED_COMMENT`).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import yaml
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po, unescape, write_po

from bot import content, sms
from bot.engine.render import strip_markup
from bot.i18n import (
    COMPLETE_LOCALES,
    DEFAULT_LOCALE,
    DOMAIN,
    LANGUAGE_NAMES,
    SUPPORTED_LOCALES,
    offer_required_ids,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
POT_NAME = "messages.pot"
MAPPING_NAME = "babel.cfg"
# Fixed so that re-extracting unchanged words leaves messages.pot byte for byte the same.
CREATION_DATE = datetime(2025, 1, 1, tzinfo=UTC)
UNREVIEWED_COMMENT = "unreviewed: machine-drafted, needs first-language review"
# Holds `language_offer_requires`: what the language menu needs translated (see the report).
LANGUAGES_FILE = "languages.yaml"
PROJECT = "Siyakha"
VERSION = "1"
PO_WIDTH = 100
# Top-level directories that may hold translatable text; .venv, node_modules etc. are skipped.
SOURCE_DIRS = frozenset({"bot", "api", "content"})

_PERCENT_PLACEHOLDER = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
_PO_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')


# --- the YAML extractor ------------------------------------------------------------------


def _comments_above(lines: Sequence[str], line_index: int) -> list[str]:
    """Return the block of `#` comment lines directly above line_index (no blank line between)."""
    block: list[str] = []
    i = line_index - 1
    while i >= 0:
        stripped = lines[i].strip()
        if not stripped.startswith("#"):
            break
        block.append(stripped.lstrip("#").strip())
        i -= 1
    return [c for c in reversed(block) if c]


def _walk_messages(
    node: yaml.Node, prefix: str, lines: Sequence[str]
) -> Iterator[tuple[int, str, tuple[str, str], list[str]]]:
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        msg_id = f"{prefix}{key_node.value}"
        if isinstance(value_node, yaml.MappingNode):
            yield from _walk_messages(value_node, f"{msg_id}.", lines)
        elif isinstance(value_node, yaml.ScalarNode) and value_node.tag.endswith(":str"):
            line_index = key_node.start_mark.line
            comments = _comments_above(lines, line_index)
            yield line_index + 1, "pgettext", (msg_id, value_node.value), comments


def extract_content_yaml(
    fileobj: IO[bytes],
    keywords: Any,
    comment_tags: Any,
    options: dict[str, Any],
) -> Iterator[tuple[int, str, tuple[str, str], list[str]]]:
    """Extract a content YAML file's messages for Babel (id as msgctxt, English as msgid)."""
    # Every string under the top-level `messages:` mapping is a message; nested mappings
    # give dotted ids. The comment lines directly above a message become comments for
    # translators. Yielding funcname "pgettext" with (context, msgid) makes Babel set msgctxt.
    text = fileobj.read().decode(options.get("encoding", "utf-8"))
    # The bot's own load refuses a repeated id first: the node tree below would yield both.
    content.read_yaml(text, Path(getattr(fileobj, "name", "content YAML")).name)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return
    lines = text.splitlines()
    for key_node, value_node in root.value:
        if key_node.value == "messages":
            yield from _walk_messages(value_node, "", lines)


# --- paths -------------------------------------------------------------------------------


def _locales(root: Path) -> Path:
    return root / "locales"


def pot_path(root: Path = REPO_ROOT) -> Path:
    """Return the path of the message template."""
    return _locales(root) / POT_NAME


def po_path(locale: str, root: Path = REPO_ROOT) -> Path:
    """Return the path of a locale's catalog."""
    return _locales(root) / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


# --- extract -----------------------------------------------------------------------------


def _directory_filter(root: Path) -> Any:
    def keep(dirpath: str) -> bool:
        """Descend only into the source directories, never into hidden or private ones."""
        parts = Path(os.path.relpath(dirpath, root)).parts
        if not parts or parts == (".",):
            return True
        return parts[0] in SOURCE_DIRS and not any(p.startswith((".", "_")) for p in parts)

    return keep


_HEADER = (
    "# {title}\n"
    "# Source: content/*.yaml (msgctxt = message id, msgid = English source), `_()` in\n"
    "# bot/ and api/, and api/templates. Regenerate with `python -m bot.i18n_tools all`.\n"
    "# Mark a translation nobody has reviewed with the translator comment\n"
    "# `# {unreviewed}`."
)


def _new_catalog(locale: str | None = None) -> Catalog:
    if locale is None:
        title = "Siyakha messages template. Generated: do not edit by hand."
    else:
        title = f"Siyakha messages in {LANGUAGE_NAMES.get(locale, locale)} ({locale})."
    return Catalog(
        header_comment=_HEADER.format(title=title, unreviewed=UNREVIEWED_COMMENT),
        locale=locale,
        domain=DOMAIN,
        project=PROJECT,
        version=VERSION,
        copyright_holder=PROJECT,
        charset="utf-8",
        creation_date=CREATION_DATE,
        revision_date=CREATION_DATE,
        fuzzy=False,
    )


def build_template(root: Path = REPO_ROOT) -> Catalog:
    """Extract every translatable message under root into a sorted template catalog."""
    with (_locales(root) / MAPPING_NAME).open(encoding="utf-8") as fp:
        method_map, options_map = parse_mapping_cfg(fp, str(_locales(root) / MAPPING_NAME))
    found = _new_catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root),
        method_map,
        options_map,
        keywords=DEFAULT_KEYWORDS,
        comment_tags=("TRANSLATORS:",),
        strip_comment_tags=True,
        directory_filter=_directory_filter(root),
    ):
        found.add(
            message,
            None,
            [(Path(filename).as_posix(), lineno)],
            auto_comments=comments,
            context=context,
        )
    template = _new_catalog()
    for msg in sorted(found, key=_sort_key):
        if msg.id:
            template[msg.id] = msg
    return template


def _sort_key(msg: Message) -> tuple[str, str]:
    msgid = msg.id if isinstance(msg.id, str) else msg.id[0]
    return (msg.context or "", msgid)


def render_catalog(catalog: Catalog) -> bytes:
    """Serialise a catalog the one deterministic way this project uses."""
    buf = io.BytesIO()
    write_po(
        buf,
        catalog,
        width=PO_WIDTH,
        include_lineno=False,
        ignore_obsolete=False,
        include_previous=True,
    )
    return buf.getvalue()


def extract(root: Path = REPO_ROOT) -> Path:
    """Write locales/messages.pot from the sources and return its path."""
    path = pot_path(root)
    path.write_bytes(render_catalog(build_template(root)))
    return path


# --- update ------------------------------------------------------------------------------


def _read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=locale, abort_invalid=True)
    _restore_previous_ids(catalog)
    return catalog


def _restore_previous_ids(catalog: Catalog) -> None:
    """Turn `#| msgid ...` lines back into previous ids (Babel reads them as user comments)."""
    for msg in [*catalog, *catalog.obsolete.values()]:
        lines = [c[1:].strip() for c in msg.user_comments if c.startswith("|")]
        if not lines:
            continue
        msg.user_comments = [c for c in msg.user_comments if not c.startswith("|")]
        parts: dict[str, list[str]] = {"msgid": [], "msgid_plural": []}
        current: str | None = None
        for line in lines:
            keyword, _, rest = line.partition(" ")
            if keyword in parts:
                current = keyword
            elif line.startswith('"') and current is not None:
                rest = line
            else:  # msgctxt of the previous entry: the context is the id and never changes
                current = None
                continue
            # Babel writes a wrapped previous msgid as several literals on one line.
            parts[current].extend(unescape(lit) for lit in _PO_LITERAL.findall(rest))
        previous = ["".join(parts["msgid"])]
        if parts["msgid_plural"]:
            previous.append("".join(parts["msgid_plural"]))
        msg.previous_id = previous


def _carry_over_by_id(catalog: Catalog) -> None:
    """Offer the old translation of a message whose English changed, as a fuzzy suggestion."""
    by_context = {m.context: (key, m) for key, m in catalog.obsolete.items() if m.context}
    for msg in catalog:
        if not msg.id or msg.string or msg.context not in by_context:
            continue
        key, old = by_context.pop(msg.context)
        if not old.string:
            continue
        msg.string = old.string
        msg.flags.add("fuzzy")
        msg.previous_id = _translated_from(old)
        msg.user_comments = list(old.user_comments)
        del catalog.obsolete[key]


def _translated_from(msg: Message) -> list[str]:
    """Return the English a translation was made from: a suggestion's own previous id."""
    # A fuzzy entry whose English changed again still translates the English before both
    # changes; the intermediate text was never translated, so comparing with it misleads.
    if "fuzzy" in msg.flags and msg.previous_id:
        return list(msg.previous_id)
    return [msg.id] if isinstance(msg.id, str) else list(msg.id)


def update(root: Path = REPO_ROOT, locales: Iterable[str] = SUPPORTED_LOCALES) -> list[Path]:
    """Merge the template into each locale's catalog, creating missing ones; return the paths."""
    written = []
    for locale in locales:
        # Read afresh for each catalog: Babel's update adds the template's own message
        # objects for new entries, and the carried-over suggestion is written onto them.
        template = _read_catalog(pot_path(root))
        path = po_path(locale, root)
        if path.exists():
            catalog = _read_catalog(path, locale)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = _new_catalog(locale)
            catalog.language_team = f"{LANGUAGE_NAMES.get(locale, locale)} <{locale}@siyakha>"
        previous_ids = {
            (m.id if isinstance(m.id, str) else m.id[0], m.context): m.previous_id
            for m in catalog
            if m.id and m.previous_id
        }
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=True)
        for msg in catalog:  # Babel's update drops the previous id of an entry still fuzzy
            key = (msg.id if isinstance(msg.id, str) else msg.id[0], msg.context)
            if msg.id and "fuzzy" in msg.flags and key in previous_ids:
                msg.previous_id = previous_ids[key]
        _carry_over_by_id(catalog)
        # An entry no longer in the template keeps, commented out, only a translation worth
        # keeping: untranslated ones (e.g. every English entry whose text changed) go.
        for gone in [k for k, m in catalog.obsolete.items() if not any(_strings(m.string))]:
            del catalog.obsolete[gone]
        # Babel marks a freshly merged header fuzzy in some paths; a fuzzy header would make
        # the whole catalog be skipped on compile.
        catalog.fuzzy = False
        data = render_catalog(catalog)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        written.append(path)
    return written


# --- compile -----------------------------------------------------------------------------


@dataclass
class CompileResult:
    """What compiling one catalog produced."""

    locale: str
    translated: int = 0
    total: int = 0
    errors: list[str] = field(default_factory=list)
    mo_path: Path | None = None


def _catalog_errors(path: Path, catalog: Catalog) -> list[str]:
    return [
        f"{path}:{message.lineno}: {error}"
        for message, errors in catalog.check()
        for error in errors
    ]


def compile_catalogs(
    root: Path = REPO_ROOT,
    output_dir: Path | None = None,
    locales: Iterable[str] = SUPPORTED_LOCALES,
) -> list[CompileResult]:
    """Compile every existing catalog to messages.mo (beside it, or under output_dir)."""
    results = []
    for locale in locales:
        path = po_path(locale, root)
        if not path.exists():
            continue
        result = CompileResult(locale)
        results.append(result)
        try:
            catalog = _read_catalog(path, locale)
        except PoFileError as exc:
            result.errors.append(f"{path}: {exc}")
            continue
        result.errors.extend(_catalog_errors(path, catalog))
        result.total = sum(1 for m in catalog if m.id)
        result.translated = sum(1 for m in catalog if m.id and _used(m))
        if result.errors:
            continue
        target = (
            path.with_suffix(".mo")
            if output_dir is None
            else output_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as fp:
            write_mo(fp, catalog, use_fuzzy=False)
        result.mo_path = target
    return results


# --- check -------------------------------------------------------------------------------


def placeholders(text: str) -> set[str]:
    """Return the named placeholders in text: `{name}` and `%(name)s` forms.

    Raise ContentError for a `{placeholder}` the bot refuses to fill (not a plain name:
    `{count!r}`, `{count:>5}`), as rendering would fall back to English for it, and
    ValueError for unbalanced braces.
    """
    names = {f"%({m})" for m in _PERCENT_PLACEHOLDER.findall(text)}
    names.update(f"{{{name}}}" for name in content.placeholders(text))
    return names


def _strings(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [s for s in value]


def _used(msg: Message) -> bool:
    """Return True when gettext will use this entry's translation."""
    return bool(msg.id) and "fuzzy" not in msg.flags and any(_strings(msg.string))


def _reviewed(msg: Message) -> bool:
    return _used(msg) and not any(
        c.strip().lower().startswith("unreviewed") for c in msg.user_comments
    )


def _label(msg: Message) -> str:
    msgid = _strings(msg.id)[0]
    return msg.context or msgid[:40]


def _signature(msg: Message) -> tuple[Any, ...]:
    return (
        tuple(msg.auto_comments),
        tuple(sorted({loc for loc, _ in msg.locations})),
    )


def template_drift(root: Path = REPO_ROOT) -> list[str]:
    """Return how messages.pot differs from what extraction would write now (empty = fresh)."""
    path = pot_path(root)
    if not path.exists():
        return [f"{path} is missing"]
    current = _read_catalog(path)
    fresh = build_template(root)
    old = {(m.id, m.context): m for m in current if m.id}
    new = {(m.id, m.context): m for m in fresh if m.id}
    drift = []
    for key in sorted(new.keys() - old.keys(), key=str):
        drift.append(f"new message not in {POT_NAME}: {_label(new[key])}")
    for key in sorted(old.keys() - new.keys(), key=str):
        drift.append(f"message in {POT_NAME} no longer in the sources: {_label(old[key])}")
    for key in sorted(new.keys() & old.keys(), key=str):
        if _signature(new[key]) != _signature(old[key]):
            drift.append(f"comments or location changed: {_label(new[key])}")
    return drift


def placeholder_problems(path: Path, catalog: Catalog) -> list[str]:
    """Return the used entries whose placeholders differ from their msgid's."""
    problems = []
    for msg in catalog:
        if not _used(msg):
            continue
        ids = _strings(msg.id)
        try:
            expected = set().union(*(placeholders(i) for i in ids))
            for translation in _strings(msg.string):
                if not translation:
                    continue
                found = placeholders(translation)
                if found != expected:
                    problems.append(
                        f"{path}:{msg.lineno}: {_label(msg)}: placeholders "
                        f"{sorted(found)} in translation, {sorted(expected)} in source"
                    )
        except (ValueError, content.ContentError) as exc:  # unbalanced braces, not a plain name
            problems.append(f"{path}:{msg.lineno}: {_label(msg)}: bad placeholder syntax: {exc}")
    return problems


def check(
    root: Path = REPO_ROOT,
    locales: Iterable[str] = SUPPORTED_LOCALES,
    complete: Iterable[str] = COMPLETE_LOCALES,
) -> list[str]:
    """Return every problem with the template and catalogs (empty = all good)."""
    problems = [f"{POT_NAME} is stale: {d} (run the extract step)" for d in template_drift(root)]
    template_keys: set[tuple[Any, str | None]] = set()
    if pot_path(root).exists():
        template_keys = {(m.id, m.context) for m in _read_catalog(pot_path(root)) if m.id}
    complete = set(complete)
    for locale in locales:
        path = po_path(locale, root)
        shown = path.relative_to(root)
        if not path.exists():
            problems.append(f"{shown} is missing (run the update step)")
            continue
        try:
            catalog = _read_catalog(path, locale)
        except PoFileError as exc:
            problems.append(f"{shown} does not parse: {exc}")
            continue
        problems.extend(_catalog_errors(shown, catalog))
        try:
            write_mo(io.BytesIO(), catalog, use_fuzzy=False)
        except Exception as exc:  # anything write_mo raises means "does not compile"
            problems.append(f"{shown} does not compile: {exc}")
        problems.extend(placeholder_problems(shown, catalog))
        keys = {(m.id, m.context) for m in catalog if m.id}
        lagging = template_keys - keys
        if lagging:
            problems.append(
                f"{shown} lacks {len(lagging)} message(s) of {POT_NAME} (run the update step)"
            )
        if locale in complete and locale != DEFAULT_LOCALE:
            missing = sorted(
                _label(m)
                for m in catalog
                if m.id and (m.id, m.context) in template_keys and not _used(m)
            )
            for label in missing:
                problems.append(f"{shown}: complete language {locale} misses {label}")
    return problems


# --- report ------------------------------------------------------------------------------


def sms_text(text: str) -> str:
    """Return text as it goes out by SMS: WhatsApp *bold* stars removed."""
    return strip_markup(text)


@dataclass
class LocaleReport:
    """Coverage and SMS cost of one language."""

    locale: str
    total: int
    translated: int
    reviewed: int
    fuzzy: int
    mean_segments: float
    ucs2: list[tuple[str, list[str]]]
    offer_missing: list[str] = field(default_factory=list)
    """Messages the language menu needs translated before it offers this language."""

    @property
    def offered(self) -> bool:
        """Return True when the language menu offers this language."""
        return not self.offer_missing

    @property
    def translated_share(self) -> float:
        """Return the share of messages translated (and used)."""
        return self.translated / self.total if self.total else 0.0

    @property
    def reviewed_share(self) -> float:
        """Return the share of messages translated and reviewed."""
        return self.reviewed / self.total if self.total else 0.0


def locale_report(locale: str, root: Path = REPO_ROOT) -> LocaleReport:
    """Measure one language's catalog against the template."""
    template = [m for m in _read_catalog(pot_path(root)) if m.id]
    path = po_path(locale, root)
    catalog = _read_catalog(path, locale) if path.exists() else _new_catalog(locale)
    translated = reviewed = fuzzy = 0
    segment_counts: list[int] = []
    ucs2: list[tuple[str, list[str]]] = []
    for tmsg in template:
        msg = catalog.get(tmsg.id, tmsg.context)
        text = _strings(tmsg.id)[0]
        if locale == DEFAULT_LOCALE:
            translated += 1
            reviewed += 1
        elif msg is not None:
            if "fuzzy" in msg.flags:
                fuzzy += 1
            if _used(msg):
                translated += 1
                reviewed += _reviewed(msg)
                text = _strings(msg.string)[0]
        out = sms_text(text)
        segment_counts.append(sms.segments(out))
        if sms.encoding(out) == "UCS-2":
            ucs2.append((_label(tmsg), sms.non_gsm_chars(out)))
    mean = sum(segment_counts) / len(segment_counts) if segment_counts else 0.0
    return LocaleReport(
        locale,
        len(template),
        translated,
        reviewed,
        fuzzy,
        mean,
        ucs2,
        offer_missing=[] if locale == DEFAULT_LOCALE else _offer_missing(catalog, template, root),
    )


def _offer_missing(catalog: Catalog, template: list[Message], root: Path) -> list[str]:
    """Return the ids the language menu requires that this catalog does not translate."""
    # The same rule as bot/flows/onboarding.py, read from the .po instead of a compiled .mo.
    path = root / "content" / LANGUAGES_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    wanted = (data or {}).get("language_offer_requires") or ()
    sources = {m.context: _strings(m.id)[0] for m in template if m.context}
    used = {m.context for m in catalog if m.context and _used(m)}
    return [i for i in offer_required_ids(sources, wanted) if i not in used]


def report(root: Path = REPO_ROOT, locales: Iterable[str] = SUPPORTED_LOCALES) -> str:
    """Return a plain-text coverage and SMS-cost report for every language."""
    lines = [
        "Translation coverage (translated = used by the bot; reviewed = translated and not "
        "marked unreviewed)",
        f"{'language':<22}{'translated':>12}{'reviewed':>10}{'fuzzy':>7}{'SMS seg/msg':>13}"
        f"{'UCS-2 msgs':>12}  in language menu",
    ]
    reports = [locale_report(locale, root) for locale in locales]
    for r in reports:
        name = f"{LANGUAGE_NAMES.get(r.locale, r.locale)} ({r.locale})"
        lines.append(
            f"{name:<22}{r.translated_share:>11.0%} {r.reviewed_share:>9.0%}{r.fuzzy:>7}"
            f"{r.mean_segments:>13.2f}{len(r.ucs2):>12}  "
            + ("yes" if r.offered else f"no ({len(r.offer_missing)} required messages missing)")
        )
    for r in reports:
        if r.ucs2:
            lines.append("")
            lines.append(f"Messages forcing UCS-2 on SMS in {r.locale}:")
            for label, chars in r.ucs2:
                lines.append(f"  {label}: {' '.join(repr(c) for c in chars)}")
    return "\n".join(lines)


# --- command line ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run an i18n workflow command; return the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.i18n_tools", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "command", choices=["extract", "update", "compile", "check", "report", "all"]
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    parser.add_argument(
        "--locale", action="append", dest="locales", help="limit to a locale (repeatable)"
    )
    parser.add_argument("--output-dir", type=Path, help="compile: write .mo files here")
    args = parser.parse_args(argv)
    root: Path = args.root
    locales: tuple[str, ...] = tuple(args.locales or SUPPORTED_LOCALES)

    if args.command in ("extract", "all"):
        path = extract(root)
        count = sum(1 for m in _read_catalog(path) if m.id)
        print(f"wrote {path.relative_to(root)} ({count} messages)")
    if args.command in ("update", "all"):
        for path in update(root, locales):
            print(f"updated {path.relative_to(root)}")
    if args.command in ("compile", "all"):
        failed = False
        for result in compile_catalogs(root, args.output_dir, locales):
            share = result.translated * 100 // result.total if result.total else 0
            if result.locale == DEFAULT_LOCALE:
                print(f"{result.locale}: source language ({result.translated} overrides)")
            else:
                print(
                    f"{result.locale}: {result.translated} of {result.total} ({share}%) translated"
                )
            for error in result.errors:
                print(f"  error: {error}", file=sys.stderr)
                failed = True
        if failed:
            return 1
    if args.command == "check":
        problems = check(root, locales)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"i18n check: {len(problems)} problem(s)", file=sys.stderr)
            return 1
        print("i18n check: ok")
    if args.command == "report":
        print(report(root, locales))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
