"""Import every domain's table models so SQLModel.metadata (and Alembic) sees them all."""

from bot.domain.broadcasts.models import Broadcast, MeetingAttendance, MeetingReminder
from bot.domain.messages.models import InboundMessage
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.settlements.models import (
    ImportedRow,
    Meeting,
    Milestone,
    Settlement,
    UnmatchedSettlementName,
)
from bot.domain.staff.models import (
    ApiToken,
    AuditEvent,
    IdempotencyKey,
    LoginAttempt,
    StaffScope,
    StaffSession,
    StaffUser,
)
from bot.domain.tickets.models import Ticket, TicketEvent

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Broadcast",
    "IdempotencyKey",
    "ImportedRow",
    "InboundMessage",
    "LoginAttempt",
    "Meeting",
    "MeetingAttendance",
    "MeetingReminder",
    "Milestone",
    "Outbox",
    "Resident",
    "Settlement",
    "StaffScope",
    "StaffSession",
    "StaffUser",
    "Ticket",
    "TicketEvent",
    "UnmatchedSettlementName",
]
