"""The engine's SettlementDirectory port, read from the database."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from bot.domain.settlements import links, service
from bot.engine.ports import MeetingInfo, MilestoneInfo, SettlementInfo, SettlementRef


class SqlSettlementDirectory:
    """Settlements, milestones and meetings for the conversation engine (plain rows, no ORM)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def candidates(self) -> list[SettlementRef]:
        """Return every settlement a resident may choose."""
        return [
            SettlementRef(id=row.id, name=row.name, aliases=tuple(row.aliases))
            for row in service.refs(session=self.session)
        ]

    def get(self, settlement_id: int) -> SettlementInfo | None:
        """Return one settlement, or None."""
        row = service.summary(session=self.session, settlement_id=settlement_id)
        return SettlementInfo(**row._asdict()) if row else None

    def milestones(self, settlement_id: int) -> list[MilestoneInfo]:
        """Return a settlement's milestones in display order."""
        rows = service.milestones(session=self.session, settlement_id=settlement_id)
        return [MilestoneInfo(**row._asdict()) for row in rows]

    def upcoming_meetings(
        self, *, settlement_id: int | None, ward: str | None, now: dt.datetime, limit: int
    ) -> list[MeetingInfo]:
        """Return the next meetings of a settlement, its ward forum and the city forum."""
        rows = service.upcoming_meetings(
            session=self.session, settlement_id=settlement_id, ward=ward, now=now, limit=limit
        )
        return [MeetingInfo(**row._asdict()) for row in rows]

    def linked_notice_at(self, phone: str, *, since: dt.datetime | None) -> dt.datetime | None:
        """Return when the newest notice that the resident was linked to a settlement
        reached them after `since` (None: any), or None."""
        return links.notice_reached(session=self.session, phone=phone, since=since)
