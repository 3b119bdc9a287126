"""The resident export: everything kept about a resident, for an access request."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from bot.domain.residents import export
from tests.factories import make_resident

NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)


def test_the_export_shows_which_channel_an_opt_out_came_on(session: Session) -> None:
    # "sms": YES by SMS opts them back in, as Twilio unblocks the number; "whatsapp": not.
    resident = make_resident(session, opted_out_at=NOW, opted_out_channel="sms")
    data = export.export(session=session, resident=resident)
    assert (data["opted_out_at"], data["opted_out_channel"]) == (NOW.isoformat(), "sms")
