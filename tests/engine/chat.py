"""Conversation scripts against the pure engine: fake ports, a frozen clock, a fake resident.

`Chat.send("4")` runs one turn through `bot.engine.handle`, applies the effects the way
the domain would (language, settlement, consent, opt-out, erasure) and returns the reply
text, so a test reads like the chat on the resident's phone.

Loaded by tests/engine/conftest.py and tests/flows/conftest.py (no test package needed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

from bot.engine import (
    Channel,
    DataSummary,
    Effect,
    EraseResident,
    Inbound,
    Location,
    Media,
    MeetingInfo,
    MilestoneInfo,
    OptIn,
    OptOut,
    Outcome,
    Ports,
    RecordConsent,
    RecordUnknownSettlement,
    ResidentView,
    SetLanguage,
    SetSettlement,
    SettlementInfo,
    SettlementRef,
    Translator,
    handle,
)
from bot.engine.effects import AttendMeeting
from bot.i18n import get_translator


def attended(effects: list[Any]) -> list[Any]:
    """Return a turn's effects with each AttendMeeting as its meeting id (scripts whose
    point is which meetings were said yes to, not at which start)."""
    return [e.meeting_id if isinstance(e, AttendMeeting) else e for e in effects]


START = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)  # a Monday, 10:00 in Johannesburg
MUNICIPALITY = "Ubuntu Bay Municipality"

MASAKHANE = 1
MASAKHANE_EXT2 = 2
PHOLA_PARK = 3
ZWELITSHA = 4
VUKUZENZELE = 5
SIYANQOBA = 6
SIYAHLALA = 7


def _settlements() -> dict[int, tuple[SettlementInfo, tuple[str, ...]]]:
    rows = [
        (
            SettlementInfo(
                MASAKHANE,
                "Masakhane",
                "12",
                MUNICIPALITY,
                "B1",
                "Standpipes and toilets first; the land deal is being negotiated.",
                "Essential services",
            ),
            ("Masakhane Informal Settlement",),
        ),
        (
            SettlementInfo(MASAKHANE_EXT2, "Masakhane Extension 2", "12", MUNICIPALITY, "A"),
            ("Ext 2",),
        ),
        (
            SettlementInfo(
                PHOLA_PARK,
                "Phola Park",
                "3",
                MUNICIPALITY,
                "C",
                "The river bank floods every winter.",
            ),
            ("Phola",),
        ),
        (SettlementInfo(ZWELITSHA, "Zwelitsha", "7", MUNICIPALITY, None), ()),
        (SettlementInfo(VUKUZENZELE, "Vukuzenzele", "9", MUNICIPALITY, "B2"), ("VZ", "Vuku")),
        (SettlementInfo(SIYANQOBA, "Siyanqoba", "9", MUNICIPALITY, "A"), ()),
        (SettlementInfo(SIYAHLALA, "Siyahlala", "", MUNICIPALITY, "B1"), ()),
    ]
    return {info.id: (info, aliases) for info, aliases in rows}


def _milestones() -> dict[int, list[MilestoneInfo]]:
    return {
        MASAKHANE: [
            MilestoneInfo("planning", "Community action plan agreed", date(2024, 11, 30), "done"),
            MilestoneInfo("services", "Standpipes on every lane", date(2025, 8, 31), "in_progress"),
            MilestoneInfo(
                "services",
                "Flush toilets block C",
                date(2025, 3, 31),
                "delayed",
                "The contractor left the site; a new one is being appointed.",
            ),
            MilestoneInfo("tenure", "Land purchase from the province", None, "planned"),
            MilestoneInfo(
                "housing", "Self-build support office opens", date(2026, 2, 1), "planned"
            ),
        ],
    }


def _meetings() -> list[tuple[int | None, str, MeetingInfo]]:
    def at(day: int, hour: int) -> datetime:
        return datetime(2025, 6, day, hour, 0, tzinfo=UTC)

    return [
        (
            MASAKHANE,
            "12",
            MeetingInfo(
                "Water committee report-back",
                "neighbourhood",
                at(14, 8),
                "Masakhane Community Hall",
                meeting_id=1,
            ),
        ),
        (
            None,
            "12",
            MeetingInfo(
                "Ward 12 planning forum",
                "ward",
                at(19, 15),
                "Ward 12 Library",
                ward="12",
                meeting_id=2,
            ),
        ),
        (
            MASAKHANE,
            "12",
            MeetingInfo(
                "Layout walkabout",
                "neighbourhood",
                at(10, 7),
                "Lane 4 taxi stop",
                cancelled=True,
                meeting_id=3,
            ),
        ),
        (
            None,
            "",
            MeetingInfo("City upgrading forum", "city", at(26, 12), "Civic Centre", meeting_id=4),
        ),
        (
            PHOLA_PARK,
            "3",
            MeetingInfo(
                "Relocation questions",
                "neighbourhood",
                at(1, 8),
                "Phola Park creche",
                meeting_id=5,
            ),
        ),  # in the past
    ]


@dataclass
class FakeDirectory:
    """An in-memory SettlementDirectory."""

    settlements: dict[int, tuple[SettlementInfo, tuple[str, ...]]] = field(
        default_factory=_settlements
    )
    milestone_rows: dict[int, list[MilestoneInfo]] = field(default_factory=_milestones)
    meeting_rows: list[tuple[int | None, str, MeetingInfo]] = field(default_factory=_meetings)
    calls: list[str] = field(default_factory=list)
    # When notices that the chat's resident was linked to a settlement reached them.
    linked_notices: list[datetime] = field(default_factory=list)

    def candidates(self) -> list[SettlementRef]:
        return [
            SettlementRef(i, info.name, aliases) for i, (info, aliases) in self.settlements.items()
        ]

    def get(self, settlement_id: int) -> SettlementInfo | None:
        row = self.settlements.get(settlement_id)
        return row[0] if row else None

    def milestones(self, settlement_id: int) -> list[MilestoneInfo]:
        return list(self.milestone_rows.get(settlement_id, []))

    def upcoming_meetings(
        self, *, settlement_id: int | None, ward: str | None, now: datetime, limit: int
    ) -> list[MeetingInfo]:
        self.calls.append(f"meetings {settlement_id} {ward}")
        found = [
            m
            for sid, mward, m in self.meeting_rows
            if m.starts_at >= now
            and (
                (m.level == "neighbourhood" and sid is not None and sid == settlement_id)
                or (m.level == "ward" and ward and mward == ward)
                or m.level == "city"
            )
        ]
        return sorted(found, key=lambda m: m.starts_at)[:limit]

    def linked_notice_at(self, phone: str, *, since: datetime | None) -> datetime | None:
        return max((at for at in self.linked_notices if since is None or at > since), default=None)


@dataclass
class FakeResident:
    """What the domain would store about one resident."""

    phone: str
    exists: bool = False
    language: str | None = None
    settlement_id: int | None = None
    consented_at: datetime | None = None
    consent: RecordConsent | None = None
    opted_out: bool = False
    opted_out_channel: Channel | None = None
    first_seen: datetime | None = None
    messages: int = 0
    unknown_names: list[str] = field(default_factory=list)
    attending: list[int] = field(default_factory=list)  # meetings they said they will come to
    sms_blocked: bool = False  # Twilio said SMS cannot reach them (outbox routing's rule)
    whatsapp_blocked: bool = False


@dataclass
class FakeResidents:
    """An in-memory ResidentData over the chat's one resident."""

    directory: FakeDirectory
    residents: dict[str, FakeResident] = field(default_factory=dict)

    def summary(self, inbound: Inbound) -> DataSummary | None:
        r = self.residents.get(inbound.phone)
        if r is None or not r.exists:
            return None
        info = self.directory.get(r.settlement_id) if r.settlement_id else None
        return DataSummary(
            phone=r.phone,
            language=r.language,
            settlement_name=info.name if info else None,
            consented_at=r.consented_at,
            opted_out=r.opted_out,
            first_seen=r.first_seen,
            messages=r.messages,
            reports=0,
            names_typed=tuple(dict.fromkeys(r.unknown_names)),
            sms_blocked=r.sms_blocked,
            whatsapp_blocked=r.whatsapp_blocked,
        )


class MarkedTranslator:
    """Wraps a real translator and tags every text with its locale, to prove which
    language a message was rendered in without depending on compiled catalogs."""

    def __init__(self, locale: str) -> None:
        self._real = get_translator(locale)
        self.locale = locale

    def text(self, msg_id: str, source: str) -> str:
        return source if self.locale == "en" else f"[{self.locale}] {source}"

    def format_date(self, value: date, format: str = "medium") -> str:
        return self._real.format_date(value, format)

    def format_datetime(self, value: datetime, format: str = "medium") -> str:
        return self._real.format_datetime(value, format)

    def format_when(self, value: datetime) -> str:
        return self._real.format_when(value)


_ids = count(1)


class Chat:
    """One resident talking to the engine; `send` returns the reply text."""

    def __init__(
        self,
        *,
        channel: str = "whatsapp",
        phone: str = "+27821234567",
        directory: FakeDirectory | None = None,
        translator_for: Callable[[str], Translator] | None = None,
        now: datetime = START,
    ) -> None:
        self.channel = channel
        self.phone = phone
        self.directory = directory or FakeDirectory()
        self.residents = FakeResidents(self.directory)
        self.record = FakeResident(phone)
        self.residents.residents[phone] = self.record
        kwargs: dict[str, Any] = {}
        if translator_for is not None:
            kwargs["translator_for"] = translator_for
        self.ports = Ports(settlements=self.directory, residents=self.residents, **kwargs)
        self.state: dict[str, Any] | None = None
        self.now = now
        self.outcome: Outcome | None = None
        self.effects: list[Effect] = []
        self.transcript: list[tuple[str, str]] = []

    # --- setting the scene -------------------------------------------------
    def onboarded(self, *, language: str = "en", settlement_id: int | None = MASAKHANE) -> Chat:
        """Start as a resident who finished onboarding a while ago (no state kept)."""
        self.record.exists = True
        self.record.language = language
        self.record.settlement_id = settlement_id
        self.record.consented_at = self.now - timedelta(days=30)
        self.record.first_seen = self.now - timedelta(days=30)
        self.state = {"step": "menu", "last_seen": (self.now - timedelta(minutes=1)).isoformat()}
        return self

    def wait(self, *, minutes: float) -> None:
        """Let time pass without messages."""
        self.now += timedelta(minutes=minutes)

    @property
    def view(self) -> ResidentView:
        """Return the resident as the domain would present it."""
        r = self.record
        return ResidentView(
            phone=r.phone,
            language=r.language,
            settlement_id=r.settlement_id,
            consented=r.consented_at is not None,
            opted_out=r.opted_out,
            opted_out_channel=r.opted_out_channel,
            is_new=not r.exists,
        )

    # --- talking -----------------------------------------------------------
    def send(
        self,
        text: str = "",
        *,
        media: tuple[Media, ...] = (),
        location: Location | None = None,
    ) -> str:
        """Send one message; apply the effects; return the reply (one message)."""
        self.now += timedelta(seconds=20)
        inbound = Inbound(
            message_id=f"SM{next(_ids):032d}",
            phone=self.phone,
            channel=self.channel,  # type: ignore[arg-type]
            text=text,
            received_at=self.now,
            media=media,
            location=location,
        )
        view = self.view
        if not self.record.exists:
            self.record.exists = True
            self.record.first_seen = self.now
        self.record.messages += 1
        outcome = handle(inbound, resident=view, state=self.state, now=self.now, ports=self.ports)
        assert len(outcome.replies) == 1, outcome.replies
        assert outcome.replies[0].strip(), "the engine must never be silent"
        self.outcome = outcome
        self.effects = list(outcome.effects)
        self.state = outcome.state
        self._apply(outcome.effects)
        reply = outcome.replies[0]
        self.transcript.append((text, reply))
        return reply

    def _apply(self, effects: list[Effect]) -> None:
        r = self.record
        for effect in effects:
            if isinstance(effect, SetLanguage):
                r.language = effect.language
            elif isinstance(effect, SetSettlement):
                r.settlement_id = effect.settlement_id
            elif isinstance(effect, RecordConsent):
                r.consented_at = self.now
                r.consent = effect
            elif isinstance(effect, RecordUnknownSettlement):
                r.unknown_names.append(effect.text)
            elif isinstance(effect, OptOut):
                r.opted_out = True
                r.opted_out_channel = effect.channel
            elif isinstance(effect, OptIn):
                r.opted_out = False
                r.opted_out_channel = None
            elif isinstance(effect, AttendMeeting):
                r.attending.append(effect.meeting_id)
            elif isinstance(effect, EraseResident):
                fresh = FakeResident(r.phone)
                self.record = fresh
                self.residents.residents[r.phone] = fresh
                self.state = None
            else:  # pragma: no cover - a new effect type needs handling here
                raise AssertionError(f"unhandled effect {effect!r}")

    @property
    def step(self) -> str | None:
        """Return the step the conversation is on."""
        return (self.state or {}).get("step")
