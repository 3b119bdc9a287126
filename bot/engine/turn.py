"""One turn of a conversation: what flows read (the inbound message, the resident, the
state) and what they produce (reply parts, effects, the next step)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from bot.content import Content, normalise
from bot.engine.effects import (
    Effect,
    EraseResident,
    OptIn,
    OptOut,
    RecordConsent,
    SetLanguage,
    SetSettlement,
)
from bot.engine.messages import Inbound
from bot.engine.ports import Ports, ResidentView, SettlementInfo, Translator, render_dated

# Whitespace, and the format characters that show nothing: zero-width space, joiner and
# non-joiner, word joiner, byte-order mark, soft hyphen, Mongolian vowel separator.
_BLANK = "".join(c for c in map(chr, range(0x3001)) if c.isspace()) + (
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
)

DEFAULT_LANGUAGE = "en"
# South Africa keeps one offset all year (no daylight saving), so a fixed zone is exact.
SAST = timezone(timedelta(hours=2), "SAST")

# Conversation steps: what the resident's next message answers.
LANGUAGE = "language"
CONSENT = "consent"
SETTLEMENT = "settlement"
SETTLEMENT_CHOICE = "settlement_choice"
MENU = "menu"
DELETE_CONFIRM = "delete_confirm"
# "1" or ATTEND with two or more meetings pending: which one (bot/flows/meetings.py).
ATTEND_WHICH = "attend_which"
# Reports (bot/flows/report.py and reports.py).
REPORT_KIND = "report_kind"
REPORT_CATEGORY = "report_category"
REPORT_DESCRIBE = "report_describe"
REPORT_WHERE = "report_where"
REPORT_CONFIRM = "report_confirm"
REPORT_CHANGE = "report_change"
MY_REPORTS = "my_reports"
TICKET_VIEW = "ticket_view"
TICKET_ADD = "ticket_add"
TICKET_NOT_FIXED = "ticket_not_fixed"
# The steps of a report being written: the step data is its draft, not yet sent.
REPORT_DRAFT_STEPS = (
    REPORT_KIND,
    REPORT_CATEGORY,
    REPORT_DESCRIBE,
    REPORT_WHERE,
    REPORT_CONFIRM,
    REPORT_CHANGE,
)
REPORT_STEPS = (
    *REPORT_DRAFT_STEPS,
    MY_REPORTS,
    TICKET_VIEW,
    TICKET_ADD,
    TICKET_NOT_FIXED,
)
STEPS = (
    LANGUAGE,
    CONSENT,
    SETTLEMENT,
    SETTLEMENT_CHOICE,
    MENU,
    DELETE_CONFIRM,
    ATTEND_WHICH,
    *REPORT_STEPS,
)


@dataclass
class Turn:
    """The working state of one inbound message while flows handle it."""

    inbound: Inbound
    resident: ResidentView
    now: datetime
    ports: Ports
    content: Content
    translator: Translator
    step: str
    data: dict[str, Any] = field(default_factory=dict)
    """Step-specific values kept for the next turn (e.g. settlement choices)."""
    draft: dict[str, Any] | None = None
    """A report being written, kept aside while a word that works at any time answered:
    {"step", "data", "kept_at", "told"} (bot/flows/report.py `keep_draft`); menu 5 resumes it."""
    parts: list[str] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    erased: bool = False
    language: str | None = None
    consented: bool = False
    opted_out: bool = False
    settlement_id: int | None = None
    _settlement: SettlementInfo | None = None
    _settlement_loaded: bool = False

    @property
    def text(self) -> str:
        """Return the message text, trimmed of spaces and of the invisible characters that
        phones and pasted text carry (a zero-width space alone is no description)."""
        return self.inbound.text.strip(_BLANK)

    @property
    def norm(self) -> str:
        """Return the message text folded for matching."""
        return normalise(self.inbound.text)

    def say(self, msg_id: str, **params: object) -> None:
        """Add a message, in the resident's language, to this turn's reply (a date or
        datetime parameter is written out: `render_dated`)."""
        self.parts.append(self.text_of(msg_id, **params))

    def text_of(self, msg_id: str, **params: object) -> str:
        """Render a message without adding it to the reply (for lists and lines)."""
        return render_dated(self.content, self.translator, self.english, msg_id, **params)

    @cached_property
    def english(self) -> Translator:
        """Return the English translator: a message not yet translated writes its dates in it."""
        return self.ports.translator_for(DEFAULT_LANGUAGE)

    def goto(self, step: str, **data: Any) -> None:
        """Set what the next message answers, replacing step-specific data."""
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}")
        self.step = step
        self.data = dict(data)

    def emit(self, effect: Effect) -> None:
        """Ask the domain for a change, and see it in the rest of this turn."""
        self.effects.append(effect)
        if isinstance(effect, SetLanguage):
            self.language = effect.language
            self.translator = self.ports.translator_for(effect.language)
        elif isinstance(effect, SetSettlement):
            self.settlement_id = effect.settlement_id
            self._settlement_loaded = False
        elif isinstance(effect, RecordConsent):
            self.consented = True
        elif isinstance(effect, OptOut):
            self.opted_out = True
        elif isinstance(effect, OptIn):
            self.opted_out = False
        elif isinstance(effect, EraseResident):
            self.erased = True

    def settlement(self) -> SettlementInfo | None:
        """Return the resident's settlement, looked up once per turn."""
        if not self._settlement_loaded:
            self._settlement = (
                self.ports.settlements.get(self.settlement_id)
                if self.settlement_id is not None
                else None
            )
            self._settlement_loaded = True
        return self._settlement
