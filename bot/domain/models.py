"""Import every domain's table models so SQLModel.metadata (and Alembic) sees them all."""

from bot.domain.messages.models import InboundMessage
from bot.domain.residents.models import Resident
from bot.domain.settlements.models import Meeting, Milestone, Settlement, UnmatchedSettlementName

__all__ = [
    "InboundMessage",
    "Meeting",
    "Milestone",
    "Resident",
    "Settlement",
    "UnmatchedSettlementName",
]
