"""Changes the engine asks for; the domain applies them in the same transaction as the reply.

The engine never writes anything itself. Each effect is a small frozen value, so a
conversation script can assert exactly what a turn would change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.engine.messages import Channel, Location, Media


@dataclass(frozen=True)
class SetLanguage:
    """Remember the resident's language (a code from `bot.i18n.SUPPORTED_LOCALES`)."""

    language: str


@dataclass(frozen=True)
class SetSettlement:
    """Remember which settlement the resident lives in (None: not known)."""

    settlement_id: int | None


@dataclass(frozen=True)
class RecordUnknownSettlement:
    """Keep a settlement name that matched nothing, for officers to review."""

    text: str


@dataclass(frozen=True)
class RecordConsent:
    """Record that the resident agreed to this version of the privacy notice."""

    channel: Channel
    notice_version: str


@dataclass(frozen=True)
class OptOut:
    """Stop all messages to the resident until they opt back in.

    `channel`: "sms" once a STOP came by SMS (Twilio then blocks the number until it texts
    START or YES, and YES opts back in here too), else "whatsapp".
    """

    channel: Channel


@dataclass(frozen=True)
class OptIn:
    """Let the resident receive messages again."""


@dataclass(frozen=True)
class EraseResident:
    """Delete everything kept about the resident (their conversation state included)."""


@dataclass(frozen=True)
class OpenTicket:
    """Open a report with the number reserved through `TicketDesk.new_reference`."""

    reference: str
    kind: str
    category: str
    description: str
    where: str
    channel: Channel
    urgent: bool = False
    media: tuple[Media, ...] = ()
    location: Location | None = None


@dataclass(frozen=True)
class AddToTicket:
    """Add the resident's words, media or pin to one of their open reports."""

    reference: str
    text: str
    media: tuple[Media, ...] = ()
    location: Location | None = None


@dataclass(frozen=True)
class AnswerResolution:
    """The resident says whether a resolved report is fixed (not fixed: reopen with `text`)."""

    reference: str
    fixed: bool
    text: str = ""


@dataclass(frozen=True)
class AttendMeeting:
    """The resident says they will come to a meeting they were reminded of, at the start
    the reply names (`starts_at`; a yes stands only while the meeting keeps it)."""

    meeting_id: int
    starts_at: datetime


Effect = (
    SetLanguage
    | SetSettlement
    | RecordUnknownSettlement
    | RecordConsent
    | OptOut
    | OptIn
    | EraseResident
    | OpenTicket
    | AddToTicket
    | AnswerResolution
    | AttendMeeting
)
