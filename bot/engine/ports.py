"""The small interfaces through which flows read the world; `bot.domain` implements them.

Everything here is a plain value or a Protocol, so a conversation can be tested with
in-memory fakes. Datetimes are timezone-aware UTC; rendering converts them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

from bot.content import Content
from bot.engine.messages import Channel, Inbound
from bot.i18n import get_translator

Category = Literal["A", "B1", "B2", "C"]
Strand = Literal["planning", "services", "tenure", "layout", "housing"]
MilestoneStatus = Literal["planned", "in_progress", "done", "delayed"]
MeetingLevel = Literal["neighbourhood", "ward", "city"]
TicketKind = Literal["problem", "question"]
TicketStatus = Literal[
    "new", "acknowledged", "in_progress", "waiting_on_resident", "resolved", "reopened", "closed"
]


@dataclass(frozen=True)
class SettlementRef:
    """A settlement as offered for matching: its name and the other names people use."""

    id: int
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class SettlementInfo:
    """What a resident may learn about their settlement (category None: not yet assessed)."""

    id: int
    name: str
    ward: str
    municipality: str
    category: Category | None
    category_note: str = ""
    current_phase: str = ""


@dataclass(frozen=True)
class MilestoneInfo:
    """One step in one strand of the upgrading, with its status and target date."""

    strand: Strand
    title: str
    target_date: date | None
    status: MilestoneStatus
    note: str = ""


@dataclass(frozen=True)
class MeetingInfo:
    """A meeting or forum; `ward` is set for ward forums."""

    title: str
    level: MeetingLevel
    starts_at: datetime
    venue: str
    cancelled: bool = False
    ward: str = ""
    meeting_id: int = field(kw_only=True)  # what ATTEND records (bot/flows/meetings.py)


@dataclass(frozen=True)
class DataSummary:
    """What is stored about a resident, for MY DATA."""

    phone: str
    language: str | None
    settlement_name: str | None
    consented_at: datetime | None
    opted_out: bool
    first_seen: datetime | None
    messages: int
    reports: int
    profile_name: str | None = None  # their WhatsApp name, kept once they agreed
    media: int = 0  # messages with a photo, voice note, video or location
    sent: int = 0  # proactive messages: updates, replies, reminders, broadcasts
    meetings: int = 0  # meetings they said they will attend
    # Settlement names they typed that matched none, kept for officers, first typed first.
    names_typed: tuple[str, ...] = ()
    # Twilio said our messages cannot reach them on the channel (outbox.routing's rule).
    sms_blocked: bool = False
    whatsapp_blocked: bool = False


@dataclass(frozen=True)
class ResidentView:
    """The resident as the engine sees them at the start of a turn."""

    phone: str
    language: str | None = None
    settlement_id: int | None = None
    consented: bool = False
    opted_out: bool = False
    # "sms" once a STOP came by SMS, "whatsapp" if only by WhatsApp; None when not opted
    # out, or opted out before the channel was kept (YES by SMS does not opt those in).
    opted_out_channel: Channel | None = None
    is_new: bool = False


@dataclass(frozen=True)
class TicketInfo:
    """A resident's report as the conversation shows it (`resolved_at` set: awaiting an answer)."""

    reference: str
    kind: TicketKind
    category: str
    status: TicketStatus
    created_at: datetime
    last_public_note: str = ""
    last_public_canned: str = ""  # the canned response that note is, in English
    resolved_at: datetime | None = None
    # When its "fixed?" question reached the resident (`TicketDesk.awaiting_answer`).
    asked_at: datetime | None = None


class SettlementDirectory(Protocol):
    """Read settlements, their milestones and meetings, and whether a resident was told
    they were linked to one."""

    def candidates(self) -> list[SettlementRef]:
        """Return every settlement a resident may choose."""
        ...

    def get(self, settlement_id: int) -> SettlementInfo | None:
        """Return one settlement, or None if it no longer exists."""
        ...

    def milestones(self, settlement_id: int) -> list[MilestoneInfo]:
        """Return a settlement's milestones in display order."""
        ...

    def upcoming_meetings(
        self,
        *,
        settlement_id: int | None,
        ward: str | None,
        now: datetime,
        limit: int,
    ) -> list[MeetingInfo]:
        """Return the next meetings (cancelled ones included) of a settlement, its ward
        forum and the city forum, soonest first."""
        ...

    def linked_notice_at(self, phone: str, *, since: datetime | None) -> datetime | None:
        """Return when the newest notice that the resident was linked to a settlement
        (`settlement.linked`, after a settlements import named what they had typed) reached
        them after `since` (None: any), or None."""
        ...


class ResidentData(Protocol):
    """Read what is stored about a resident."""

    def summary(self, inbound: Inbound) -> DataSummary | None:
        """Return what is kept about the sender of `inbound`, or None, as it stands once
        the message is recorded (a message on a channel lifts a block on it)."""
        ...


class TicketDesk(Protocol):
    """Read a resident's reports and reserve report numbers (the domain writes tickets when
    it applies the `OpenTicket` effect, with the number reserved here)."""

    def new_reference(self) -> str:
        """Return an unused report number (digits only) for a report about to be opened."""
        ...

    def open_for(self, phone: str) -> list[TicketInfo]:
        """Return the resident's reports that are not closed, newest first."""
        ...

    def find(self, phone: str, reference: str) -> TicketInfo | None:
        """Return one of the resident's reports by number, or None if it is not theirs."""
        ...

    def awaiting_answer(self, phone: str, *, since: datetime | None) -> TicketInfo | None:
        """Return the resolved report whose "fixed?" question reached the resident most
        recently after `since` (None: any), still waiting for them to say whether it is
        fixed (`asked_at`: when it reached them; not before its message did)."""
        ...


class NoTicketDesk:
    """A TicketDesk with no reports, for wirings that do not take reports."""

    def new_reference(self) -> str:
        """Refuse: reports cannot be opened without a ticket desk."""
        raise RuntimeError("no ticket desk is wired into these ports")

    def open_for(self, phone: str) -> list[TicketInfo]:
        """Return no reports."""
        return []

    def find(self, phone: str, reference: str) -> TicketInfo | None:
        """Return no report."""
        return None

    def awaiting_answer(self, phone: str, *, since: datetime | None) -> TicketInfo | None:
        """Return no report."""
        return None


@dataclass(frozen=True)
class InvitationInfo:
    """A meeting a resident was reminded of and may say they will attend."""

    meeting_id: int
    title: str
    starts_at: datetime


class MeetingInvitations(Protocol):
    """Find the meetings a resident was invited to reply about."""

    def pending(self, phone: str, *, since: datetime | None, now: datetime) -> list[InvitationInfo]:
        """Return the meetings, neither cancelled nor over, whose reminders reached the
        resident after `since` (None: any): each once, newest reminder first, a few at most.
        A reminder that asked nothing (to a resident who had already said they will come)
        is not one."""
        ...

    def still_on(self, meeting_id: int, *, now: datetime) -> InvitationInfo | None:
        """Return a meeting, reminded of or not (ATTEND offers option 4's meetings too), if
        it is neither cancelled nor over (as `pending` reads them), else None."""
        ...

    def attending(self, phone: str, meeting_ids: Collection[int]) -> set[int]:
        """Return those of `meeting_ids` the resident already said they will attend."""
        ...


class NoMeetingInvitations:
    """MeetingInvitations with no reminders, for wirings without broadcasts."""

    def pending(self, phone: str, *, since: datetime | None, now: datetime) -> list[InvitationInfo]:
        """Return no invitation."""
        return []

    def still_on(self, meeting_id: int, *, now: datetime) -> InvitationInfo | None:
        """Return no meeting."""
        return None

    def attending(self, phone: str, meeting_ids: Collection[int]) -> set[int]:
        """Return no meeting."""
        return set()


def has_translation(translator: Translator, msg_id: str, source: str) -> bool:
    """Return whether `translator` has words of its own for a message, not its English source."""
    return translator.text(msg_id, source) != source


def render_dated(
    content: Content, translator: Translator, english: Translator, msg_id: str, /, **params: object
) -> str:
    """Render a message in the translator's language with its dates written out: a
    datetime as a meeting time (`format_when`), a date in full. In the translator's
    language when it has the message, else in English (`english`), the language of the
    sentence around them: no "held on Labobedi, 10 Seetebosigo" in an English fallback."""
    if any(isinstance(value, date) for value in params.values()):
        source = content.message(msg_id).text
        writer = translator if has_translation(translator, msg_id, source) else english
        params = {name: _written(writer, value) for name, value in params.items()}
    return content.render(msg_id, translator, **params)


def _written(writer: Translator, value: object) -> object:
    if isinstance(value, datetime):  # a datetime is a date too: first
        return writer.format_when(value)
    if isinstance(value, date):
        return writer.format_date(value, "long")  # full month names: CLDR's short st "Jan" is June
    return value


class Translator(Protocol):
    """The part of `bot.i18n.Translator` the engine uses."""

    locale: str

    def text(self, msg_id: str, source: str) -> str:
        """Return the translation of `source` for `msg_id`, or `source` itself."""
        ...

    def format_date(self, value: date, format: str = "medium") -> str:
        """Format a date for this locale."""
        ...

    def format_datetime(self, value: datetime, format: str = "medium") -> str:
        """Format an aware UTC datetime in Africa/Johannesburg time for this locale."""
        ...

    def format_when(self, value: datetime) -> str:
        """Format an aware UTC datetime as weekday, date and hour:minute, South African time."""
        ...


def default_translator(locale: str) -> Translator:
    """Return the real translator for a locale (unknown locales fall back to English)."""
    return get_translator(locale)


@dataclass(frozen=True)
class Ports:
    """Everything the engine may consult, wired in `api/deps.py` (fakes in tests)."""

    settlements: SettlementDirectory
    residents: ResidentData
    translator_for: Callable[[str], Translator] = field(default=default_translator)
    tickets: TicketDesk = field(default_factory=NoTicketDesk)
    invitations: MeetingInvitations = field(default_factory=NoMeetingInvitations)
