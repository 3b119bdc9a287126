"""The pure conversation core: an `Inbound` message in, replies + state + effects out.

Belongs here: the message and effect values, the ports (Protocols the domain implements),
the turn context, channel rendering (SMS segments, WhatsApp length) and `handle`. May
import the stdlib, babel, rapidfuzz, yaml, `bot.content`, `bot.i18n`, `bot.sms` and
`bot.flows`; never FastAPI/Starlette, SQLModel/SQLAlchemy, Twilio, `bot.channels`,
`bot.domain`, `bot.db`, `bot.config` or `api` (tests/engine/test_purity.py checks).
"""

from bot.engine.effects import (
    Effect,
    EraseResident,
    OptIn,
    OptOut,
    RecordConsent,
    RecordUnknownSettlement,
    SetLanguage,
    SetSettlement,
)
from bot.engine.engine import IDLE_AFTER, Outcome, handle
from bot.engine.messages import Channel, Inbound, Location, Media
from bot.engine.ports import (
    DataSummary,
    MeetingInfo,
    MilestoneInfo,
    Ports,
    ResidentData,
    ResidentView,
    SettlementDirectory,
    SettlementInfo,
    SettlementRef,
    Translator,
)

__all__ = [
    "IDLE_AFTER",
    "Channel",
    "DataSummary",
    "Effect",
    "EraseResident",
    "Inbound",
    "Location",
    "Media",
    "MeetingInfo",
    "MilestoneInfo",
    "OptIn",
    "OptOut",
    "Outcome",
    "Ports",
    "RecordConsent",
    "RecordUnknownSettlement",
    "ResidentData",
    "ResidentView",
    "SetLanguage",
    "SetSettlement",
    "SettlementDirectory",
    "SettlementInfo",
    "SettlementRef",
    "Translator",
    "handle",
]
