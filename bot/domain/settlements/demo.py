"""Load the fictional demo municipality from content/demo/*.csv through the importer.

Dates in the demo files are written relative to today (`{{date:+30}}`,
`{{datetime:+6 18:00}}`, Africa/Johannesburg), so the demo never goes stale. A datetime
(a meeting's start) that would fall on a Sunday or a South African public holiday moves
to the next day that is neither: no municipality calls residents to a meeting on Christmas
Day, nor holds its housing-list open day on a Sunday.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.domain.settlements.importer import ImportResult, Kind, import_csv
from bot.domain.tickets.sla import public_holidays

DEMO_DIR = Path(__file__).resolve().parents[3] / "content" / "demo"
SAST = ZoneInfo("Africa/Johannesburg")
_TOKEN = re.compile(r"\{\{(date|datetime):([+-]\d+)(?: (\d{2}:\d{2}))?\}\}")
SUNDAY = 6
ORDER: tuple[Kind, ...] = ("settlements", "milestones", "meetings")


def render(text: str, today: dt.date) -> str:
    """Replace the relative date tokens in `text` with dates counted from `today`."""

    def _sub(match: re.Match[str]) -> str:
        kind, offset, clock = match.groups()
        day = today + dt.timedelta(days=int(offset))
        if kind == "date":
            return day.isoformat()
        while day.weekday() == SUNDAY or day in public_holidays(day.year):
            day += dt.timedelta(days=1)
        hour, minute = (int(part) for part in (clock or "09:00").split(":"))
        return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SAST).isoformat()

    return _TOKEN.sub(_sub, text)


def load(
    *, session: Session, today: dt.date | None = None, directory: Path = DEMO_DIR
) -> list[ImportResult]:
    """Import the demo settlements, milestones and meetings, dated from `today`. Loaded
    again, the demo is put back as its files say: what was changed on the dashboard since
    is overwritten (`overwrite_edits`; each is listed as overwritten), as a demo reset."""
    today = today or dt.datetime.now(SAST).date()
    results = []
    for kind in ORDER:
        text = (directory / f"{kind}.csv").read_text(encoding="utf-8")
        data = render(text, today)
        results.append(import_csv(session=session, kind=kind, data=data, overwrite_edits=True))
    return results
