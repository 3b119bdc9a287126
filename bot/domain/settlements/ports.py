"""The engine's SettlementDirectory port, read from the database."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from bot.domain.settlements import service
from bot.domain.settlements.models import Settlement
from bot.engine.ports import MeetingInfo, MilestoneInfo, SettlementInfo, SettlementRef


def _info(settlement: Settlement) -> SettlementInfo:
    assert settlement.id is not None
    return SettlementInfo(
        id=settlement.id,
        name=settlement.name,
        ward=settlement.ward,
        municipality=settlement.municipality,
        category=settlement.category,  # type: ignore[arg-type]
        category_note=settlement.category_note,
        current_phase=settlement.current_phase,
    )


class SqlSettlementDirectory:
    """Settlements, milestones and meetings for the conversation engine."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def candidates(self) -> list[SettlementRef]:
        """Return every settlement a resident may choose."""
        return [
            SettlementRef(id=s.id, name=s.name, aliases=tuple(s.aliases))  # type: ignore[arg-type]
            for s in service.list_all(session=self.session)
        ]

    def get(self, settlement_id: int) -> SettlementInfo | None:
        """Return one settlement, or None."""
        settlement = service.get(session=self.session, settlement_id=settlement_id)
        return _info(settlement) if settlement else None

    def milestones(self, settlement_id: int) -> list[MilestoneInfo]:
        """Return a settlement's milestones in display order."""
        return [
            MilestoneInfo(
                strand=m.strand,  # type: ignore[arg-type]
                title=m.title,
                target_date=m.target_date,
                status=m.status,  # type: ignore[arg-type]
                note=m.note,
            )
            for m in service.milestones(session=self.session, settlement_id=settlement_id)
        ]

    def upcoming_meetings(
        self, *, settlement_id: int | None, ward: str | None, now: dt.datetime, limit: int
    ) -> list[MeetingInfo]:
        """Return the next meetings of a settlement, its ward forum and the city forum."""
        return [
            MeetingInfo(
                title=m.title,
                level=m.level,  # type: ignore[arg-type]
                starts_at=m.starts_at,
                venue=m.venue,
                cancelled=m.cancelled,
                ward=m.ward,
            )
            for m in service.upcoming_meetings(
                session=self.session, settlement_id=settlement_id, ward=ward, now=now, limit=limit
            )
        ]
