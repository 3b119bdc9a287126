"""Residents whose settlement name matched nothing are linked, and told, once it is imported."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select, update

from bot.config import Settings
from bot.content import render
from bot.db import session_scope, utcnow
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.settlements import service as settlements
from bot.domain.settlements.importer import import_csv, iter_lines
from bot.domain.settlements.models import Settlement, UnmatchedSettlementName
from bot.i18n import get_translator
from tests.domain.tickets.factories import Phone
from tests.factories import make_resident, make_settlement

HEADER = "name,aliases,ward,municipality,category,category_note,current_phase\n"


def _typed(session: Session, phone: str, text: str, **fields: object) -> Resident:
    """Add a consented resident with no settlement who typed `text` and matched nothing."""
    resident = make_resident(session, phone, consented_at=utcnow(), conversation={}, **fields)
    assert resident.id is not None
    settlements.record_unmatched_name(session=session, text=text, resident_id=resident.id)
    session.flush()
    return resident


def _names(session: Session) -> list[tuple[str, int | None]]:
    rows = session.exec(select(UnmatchedSettlementName).order_by(UnmatchedSettlementName.id))
    return [(row.text, row.resident_id) for row in rows]


def _notices(session: Session) -> list[Outbox]:
    return list(session.exec(select(Outbox).order_by(Outbox.resident_id)).all())


def test_a_settlement_imported_under_the_name_typed_links_and_tells_each_resident(
    session: Session,
) -> None:
    thandi = _typed(session, "+27821110101", "Sinethemba Ext 2", language="xh")
    sipho = _typed(session, "+27821110102", "sinethemba extension 2", language="zu")
    typo = _typed(session, "+27821110103", "Sinethemba Extnsion 2", language="en")
    result = import_csv(
        session=session, kind="settlements", data=HEADER + "Sinethemba Extension 2,,9,Test,,,\n"
    )
    new = session.exec(select(Settlement).where(Settlement.name == "Sinethemba Extension 2")).one()
    assert result.linked == 2
    assert any("linked: 2 resident(s)" in line for line in iter_lines(result))
    for resident in (thandi, sipho, typo):
        session.refresh(resident)
    assert (thandi.settlement_id, sipho.settlement_id) == (new.id, new.id)
    # A likeness the bot would have asked about links no one: no one is there to confirm it.
    assert typo.settlement_id is None
    assert _names(session) == [("Sinethemba Extnsion 2", typo.id)]
    notices = _notices(session)
    assert [(n.resident_id, n.language, n.purpose) for n in notices] == [
        (thandi.id, "xh", "notice"),
        (sipho.id, "zu", "notice"),
    ]
    expected = render("settlement.linked", get_translator("xh"), settlement=new.name)
    assert notices[0].body == expected and "Sinethemba Extension 2" in expected
    assert expected != render("settlement.linked", get_translator("en"), settlement=new.name)
    # Told once: importing the file again changes nothing and queues nothing more.
    again = import_csv(
        session=session, kind="settlements", data=HEADER + "Sinethemba Extension 2,,9,Test,,,\n"
    )
    assert again.linked == 0 and len(_notices(session)) == 2


def test_an_opted_out_resident_is_linked_but_not_told(session: Session) -> None:
    settlement = make_settlement(session, "Lindokuhle Park")
    quiet = _typed(session, "+27821110111", "Lindo Park", language="af", opted_out_at=utcnow())
    import_csv(
        session=session,
        kind="settlements",
        data=HEADER + "Lindokuhle Park,Lindo Park,14,Test Municipality,,,\n",
    )
    session.refresh(quiet)
    assert quiet.settlement_id == settlement.id
    assert _names(session) == [] and _notices(session) == []


def test_a_resident_who_chose_a_settlement_meanwhile_is_left_alone(session: Session) -> None:
    chosen = make_settlement(session, "Ubuhle Gardens")
    resident = _typed(session, "+27821110121", "Emaplangweni", language="xh")
    resident.settlement_id = chosen.id  # sent 7 and chose one since
    session.flush()
    import_csv(
        session=session, kind="settlements", data=HEADER + "Emaplangweni,,15,Test Municipality,,,\n"
    )
    session.refresh(resident)
    assert resident.settlement_id == chosen.id
    assert _notices(session) == []
    assert _names(session) == [("Emaplangweni", resident.id)]


def test_a_name_two_settlements_are_called_by_links_no_one(session: Session) -> None:
    resident = _typed(session, "+27821110131", "Phola Park", language="st")
    import_csv(
        session=session,
        kind="settlements",
        data=HEADER + "Phola Park,,3,Ekurhuleni,,,\nPhola Park,,Ward 8,Msunduzi,,,\n",
    )
    session.refresh(resident)
    assert resident.settlement_id is None
    assert _notices(session) == [] and _names(session) == [("Phola Park", resident.id)]
    assert settlements.now_known(session=session, texts=["Phola Park"]) == {
        "Phola Park": ["Phola Park", "Phola Park"]
    }


def test_a_resident_whose_names_read_as_two_settlements_is_not_linked(session: Session) -> None:
    resident = _typed(session, "+27821110141", "Zwelitsha", language="xh")
    settlements.record_unmatched_name(session=session, text="Enkanini", resident_id=resident.id)
    import_csv(
        session=session,
        kind="settlements",
        data=HEADER + "Zwelitsha,,3,Test Municipality,,,\nEnkanini,,4,Test Municipality,,,\n",
    )
    session.refresh(resident)
    assert resident.settlement_id is None and _notices(session) == []


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize(
    ("number", "category"),
    [
        pytest.param("1", "Lindokuhle Park: category B1", id="en"),
        pytest.param("2", "Lindokuhle Park: udidi B1", id="xh"),
    ],
)
def test_1_answers_the_notice_at_the_settlement_question_it_answered(
    client: TestClient,
    settings: Settings,
    clean_db: Engine,
    channel: str,
    number: str,
    category: str,
) -> None:
    phone = Phone(client, settings, "+27821110121", channel)
    for text in ("hi", number, "1", "Lindokuhle Park"):  # language, notice, no such settlement
        phone.send(text)
    phone.send("7")  # which settlement? The resident is still thinking about it.
    with session_scope(clean_db) as session:
        row = "Lindokuhle Park,,14,Test Municipality,B1,,\n"
        assert import_csv(session=session, kind="settlements", data=HEADER + row).linked == 1
    # Still queued: no notice reached them, and a bare number is no settlement's name.
    assert category not in phone.send("1")
    with session_scope(clean_db) as session:
        session.execute(update(Outbox).values(status="delivered", sent_at=utcnow()))
    assert category in phone.send("1")  # "Send 1 to learn its category"
