"""Load the bot's words from `content/*.yaml` and render a message id for a translator.

Every YAML file in the content directory is a mapping. A top-level `messages:` key holds
`id: English source text` pairs (ids are unique across files); `keywords.yaml` holds the
words residents may send; `languages.yaml` the languages they may choose; other top-level
keys (`codes`, `strands`, `notice_version`) are small facts the flows rely on.

The content is parsed once per directory and cached; a key repeated within one mapping is
refused (PyYAML would keep the last silently). Rendering asks the translator for the
text (msgctxt = id, msgid = English source) and fills named placeholders, refusing missing
or unexpected ones so a typo fails loudly in tests instead of reaching a resident.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml

from bot.sms import EMOJI_MODIFIERS

# libyaml's loader when PyYAML has it: several times faster at start-up.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEFAULT_CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"

__all__ = [
    "DEFAULT_CONTENT_DIR",
    "Content",
    "ContentError",
    "Language",
    "Message",
    "PlaceholderError",
    "TextSource",
    "UnknownMessageError",
    "iter_messages",
    "load",
    "normalise",
    "placeholders",
    "read_yaml",
    "render",
]


class ContentError(Exception):
    """The content directory is malformed, or a message cannot be rendered."""


class UnknownMessageError(ContentError, KeyError):
    """A message id that no content file defines."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown message id"


class PlaceholderError(ContentError, ValueError):
    """The parameters given to a message do not match its placeholders."""


class _UniqueKeyLoader(_YamlLoader):  # type: ignore[valid-type,misc]
    """A safe YAML loader that refuses a key repeated in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping; raise ContentError on a key it already has (PyYAML keeps the
        last one silently, and the extractor would offer both to translators)."""
        first_lines: dict[Any, int] = {}
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys merged in by `<<:` may be overridden on purpose
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base class refuses it with its own error
            line = key_node.start_mark.line + 1
            if key in first_lines:
                raise ContentError(
                    f"line {line}: key {key!r} is repeated (first on line {first_lines[key]})"
                )
            first_lines[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(document: str, where: str) -> Any:
    """Parse one content YAML document, refusing a key repeated in one mapping."""
    try:
        return yaml.load(document, Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)
    except ContentError as exc:
        raise ContentError(f"{where}: {exc}") from None


class TextSource(Protocol):
    """Anything that can translate a message id (a `bot.i18n.Translator`)."""

    def text(self, msg_id: str, source: str) -> str:
        """Return the translation of `source` for `msg_id`, or `source` itself."""
        ...


@dataclass(frozen=True)
class Message:
    """One message: its id, English source text and where it is defined."""

    id: str
    text: str
    source_file: str
    line: int
    placeholders: frozenset[str]


@dataclass(frozen=True)
class Language:
    """A language a resident can choose, named in itself."""

    code: str
    name: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Content:
    """Everything parsed from one content directory."""

    directory: Path
    messages: Mapping[str, Message]
    languages: tuple[Language, ...]
    keywords: Mapping[str, str] = field(repr=False)
    """normalised word -> action (`menu`, `help`, `stop`, ...)."""
    keywords_by_action: Mapping[str, Mapping[str, tuple[str, ...]]] = field(repr=False)
    """action -> language -> words as written in the file."""
    answers: Mapping[str, str] = field(repr=False)
    """normalised word -> `yes` | `no`."""
    menu_words: Mapping[str, int] = field(repr=False)
    """normalised word -> main menu option number."""
    facts: Mapping[str, Any] = field(repr=False)
    """Other top-level keys, e.g. `notice_version`, `strands`, `codes`."""
    attend_words: frozenset[str] = field(default=frozenset(), repr=False)
    """normalised words that answer a meeting reminder with "I will come"."""
    thanks_words: frozenset[str] = field(default=frozenset(), repr=False)
    """normalised words that say thank you."""
    thanks_emoji: frozenset[str] = field(default=frozenset(), repr=False)
    """emoji that say thank you in a message of their own (without skin tone)."""

    def message(self, msg_id: str) -> Message:
        """Return the message with this id or raise UnknownMessageError."""
        try:
            return self.messages[msg_id]
        except KeyError:
            raise UnknownMessageError(f"unknown message id {msg_id!r}") from None

    def render(self, msg_id: str, translator: TextSource, /, **params: object) -> str:
        """Render one of these messages in the translator's language with named parameters."""
        message = self.message(msg_id)
        given = frozenset(params)
        if given != message.placeholders:
            missing = sorted(message.placeholders - given)
            extra = sorted(given - message.placeholders)
            raise PlaceholderError(
                f"{msg_id}: missing placeholders {missing}, unexpected parameters {extra}"
            )
        translated = translator.text(msg_id, message.text)
        try:
            # A translation whose placeholders drifted from the source must not crash a
            # conversation: fall back to English (CI refuses such .po files anyway).
            if _translated_placeholders(translated) == message.placeholders:
                return _fill(translated, params)
        except (ContentError, ValueError, KeyError, IndexError):
            pass
        return _fill(message.text, params)

    def keyword(self, text: str) -> str | None:
        """Return the action (`menu`, `help`, `stop`...) a message is the keyword for, if any."""
        action = self.keywords.get(normalise(text))
        if action == "stop" and _fold(text).endswith("?"):
            # Opting out takes effect at once: "stop?" is a question, not the request.
            return None
        return action

    def is_thanks(self, text: str) -> bool:
        """Return whether a message only says thank you ("Enkosi!", "👍🏾", "🙏🙏")."""
        folded = normalise(text)
        if folded:
            return folded in self.thanks_words
        emoji = "".join(c for c in text if not c.isspace() and c not in EMOJI_MODIFIERS)
        return bool(emoji) and all(c in self.thanks_emoji for c in emoji)

    def language(self, code: str) -> Language | None:
        """Return the choosable language with this code, if any."""
        for language in self.languages:
            if language.code == code:
                return language
        return None

    def fact(self, name: str) -> Any:
        """Return a top-level fact such as `notice_version`, or raise ContentError."""
        try:
            return self.facts[name]
        except KeyError:
            raise ContentError(f"no {name!r} in {self.directory}") from None


def normalise(text: str) -> str:
    """Fold text for matching: no case, accents, punctuation, emoji or extra spaces.

    A question mark at the end asks for the same thing ("Help?", "Menu ?" match HELP and
    MENU); "?" alone is a word of its own (HELP). See `Content.keyword` for the opt-out.
    """
    # The flows fold the same keywords and names on every message: short texts are cached
    # (a resident's long description is folded and not kept).
    return _match_form_cached(text) if len(text) <= 80 else _match_form(text)


def _fold(text: str) -> str:
    """Fold case, accents, punctuation but "?", emoji and extra spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        kept.append(char if char.isalnum() or char == "?" else " ")
    return " ".join("".join(kept).split())


def _match_form(text: str) -> str:
    """Fold text and drop trailing question marks, unless nothing else is left."""
    folded = _fold(text)
    return folded.rstrip("? ") or folded[:1]  # "?" (or "??") alone stays "?"


_match_form_cached = lru_cache(maxsize=4096)(_match_form)


def placeholders(text: str) -> frozenset[str]:
    """Return the names of the `{placeholders}` in a message text."""
    names = set()
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ContentError(f"placeholder {{{name}}} must be a plain name in {text!r}")
        names.add(name)
    return frozenset(names)


# Every reply renders several messages: a translation's placeholders are read once.
_translated_placeholders = lru_cache(maxsize=4096)(placeholders)


def _message_lines(path: Path, document: str) -> dict[str, int]:
    """Map each message id in a file to its 1-based line number."""
    lines: dict[str, int] = {}
    root = yaml.compose(document)
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key_node, value_node in root.value:
        if key_node.value == "messages" and isinstance(value_node, yaml.MappingNode):
            for msg_key, _msg_value in value_node.value:
                lines[str(msg_key.value)] = msg_key.start_mark.line + 1
    return lines


def _words(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    """Validate a `language -> [words]` mapping."""
    if not isinstance(raw, dict):
        raise ContentError(f"{where} must map language codes to lists of words")
    out = {}
    for lang, words in raw.items():
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ContentError(f"{where}.{lang} must be a list of quoted strings")
        out[str(lang)] = tuple(words)
    return out


def _index(table: dict[str, str], word: str, value: str, where: str) -> None:
    """Add a normalised word to a lookup table, refusing a word with two meanings."""
    key = normalise(word)
    if not key:
        raise ContentError(f"{where}: {word!r} is empty once normalised")
    if table.get(key, value) != value:
        raise ContentError(f"{where}: {word!r} means both {table[key]!r} and {value!r}")
    table[key] = value


def _parse(directory: Path) -> Content:
    """Read and validate every YAML file in a content directory."""
    messages: dict[str, Message] = {}
    facts: dict[str, Any] = {}
    languages: list[Language] = []
    keywords: dict[str, str] = {}
    keywords_by_action: dict[str, dict[str, tuple[str, ...]]] = {}
    answers: dict[str, str] = {}
    menu_words: dict[str, int] = {}
    attend_words: set[str] = set()
    thanks_words: set[str] = set()
    thanks_emoji: set[str] = set()

    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ContentError(f"no content files in {directory}")
    for path in files:
        document = path.read_text(encoding="utf-8")
        data = read_yaml(document, path.name) or {}
        if not isinstance(data, dict):
            raise ContentError(f"{path.name} must be a mapping")
        lines = _message_lines(path, document)
        for key, value in data.items():
            if key == "messages":
                if not isinstance(value, dict):
                    raise ContentError(f"{path.name}: messages must be a mapping")
                for msg_id, text in value.items():
                    if not isinstance(text, str) or not text.strip():
                        raise ContentError(f"{path.name}: {msg_id} needs English text")
                    if msg_id in messages:
                        raise ContentError(
                            f"{msg_id} is defined in both "
                            f"{messages[msg_id].source_file} and {path.name}"
                        )
                    messages[msg_id] = Message(
                        id=msg_id,
                        text=text,
                        source_file=path.name,
                        line=lines.get(msg_id, 0),
                        placeholders=placeholders(text),
                    )
            elif key == "keywords":
                for action, raw in value.items():
                    keywords_by_action[action] = _words(raw, f"keywords.{action}")
                    for words in keywords_by_action[action].values():
                        for word in words:
                            _index(keywords, word, action, "keywords")
            elif key == "answers":
                for answer, raw in value.items():
                    for words in _words(raw, f"answers.{answer}").values():
                        for word in words:
                            _index(answers, word, str(answer), "answers")
            elif key == "menu_words":
                numbers: dict[str, str] = {}
                for number, raw in value.items():
                    for words in _words(raw, f"menu_words.{number}").values():
                        for word in words:
                            _index(numbers, word, str(int(number)), "menu_words")
                menu_words = {word: int(number) for word, number in numbers.items()}
            elif key == "attend_words":
                for words in _words(value, "attend_words").values():
                    attend_words.update(normalise(word) for word in words)
            elif key == "thanks_words":
                for words in _words(value, "thanks_words").values():
                    thanks_words.update(normalise(word) for word in words)
            elif key == "thanks_emoji":
                thanks_emoji.update(c for e in value for c in e if c not in EMOJI_MODIFIERS)
            elif key == "languages":
                for entry in value:
                    languages.append(
                        Language(
                            code=str(entry["code"]),
                            name=str(entry["name"]),
                            words=tuple(str(w) for w in entry.get("words", ())),
                        )
                    )
            else:
                if key in facts:
                    raise ContentError(f"{key} is defined twice (again in {path.name})")
                facts[key] = value
    return Content(
        directory=directory,
        messages=messages,
        languages=tuple(languages),
        keywords=keywords,
        keywords_by_action=keywords_by_action,
        answers=answers,
        menu_words=menu_words,
        facts=facts,
        attend_words=frozenset(attend_words),
        thanks_words=frozenset(thanks_words),
        thanks_emoji=frozenset(thanks_emoji),
    )


@lru_cache(maxsize=8)
def _load_cached(directory: Path) -> Content:
    return _parse(directory)


def load(directory: Path | str | None = None) -> Content:
    """Return the parsed content of a directory (default `<repo>/content`), cached."""
    if directory is None:  # the hot path: skip resolving the path on every message
        return _load_cached(DEFAULT_CONTENT_DIR)
    return _load_cached(Path(directory).resolve())


def _fill(text: str, params: Mapping[str, object]) -> str:
    """Substitute named placeholders without interpreting anything in the values."""
    return text.format_map({key: str(value) for key, value in params.items()})


def render(msg_id: str, translator: TextSource, /, **params: object) -> str:
    """Render a message id in the translator's language with named parameters."""
    return load().render(msg_id, translator, **params)


def iter_messages(directory: Path | str | None = None) -> Iterator[tuple[str, str, str, int]]:
    """Yield (id, English text, source file name, line) for every message, by file and line."""
    content = load(directory)
    ordered = sorted(content.messages.values(), key=lambda m: (m.source_file, m.line))
    for message in ordered:
        yield message.id, message.text, message.source_file, message.line
