"""Matching a resident's settlement name against the demo settlements, read through the port.

A name is saved outright only when it is a settlement's name or alias (case, accents and
spaces aside) or a clear typo of one whole name; a shared word is offered as a choice; a
fragment or a word no name shares matches nothing and is recorded for officers.
"""

from __future__ import annotations

import pytest
from sqlmodel import Session

from bot.domain.settlements import demo
from bot.domain.settlements.ports import SqlSettlementDirectory
from bot.engine.ports import SettlementRef
from bot.flows.settlement import resolve


@pytest.fixture
def candidates(session: Session) -> list[SettlementRef]:
    demo.load(session=session)
    return SqlSettlementDirectory(session).candidates()


@pytest.mark.parametrize(
    ("text", "saved"),
    [
        ("Ubuhle Gardens", "Ubuhle Gardens"),
        ("UBUHLE GARDENS", "Ubuhle Gardens"),
        ("ubuhle gardns", "Ubuhle Gardens"),
        ("UbuhleGardens", "Ubuhle Gardens"),
        ("Ubuhle", "Ubuhle Gardens"),
        ("masakhane", "Masakhane Heights"),
        ("Masakhane Heigths", "Masakhane Heights"),
        ("Masakhani", "Masakhane Heights"),
        ("Émthonjeni  Valley!", "Emthonjeni Valley"),
        ("morning star", "Ikhwezi Bend"),
    ],
)
def test_a_name_alias_or_clear_typo_is_saved(candidates, text: str, saved: str) -> None:
    found, choices = resolve(text, candidates)
    assert found is not None and found.name == saved
    assert choices == []


@pytest.mark.parametrize(
    ("text", "offered"),
    [
        ("Ikhwezi Park", ["Ikhwezi Bend"]),
        ("Nomzamo Park", ["Nomzamo View"]),
        ("Masakhane Extension 7", ["Masakhane Heights"]),
        ("I live in Masakhane", ["Masakhane Heights"]),
        ("Park", ["Lindokuhle Park"]),
        ("Star", ["Ikhwezi Bend"]),
        ("Camp", ["Siyanqoba Ridge", "Sunrise Camp"]),
    ],
)
def test_a_neighbouring_name_or_shared_word_is_offered(
    candidates, text: str, offered: list[str]
) -> None:
    # WRatio scored each of these 90 or more against one settlement, which was saved.
    found, choices = resolve(text, candidates)
    assert found is None
    assert [m.ref.name for m in choices] == offered


@pytest.mark.parametrize(
    "text", ["ok", "Ma", "Si", "Ub", "Lin", "a", "yes", "Sunset", "Vuka", "Masiphumelele"]
)
def test_a_fragment_or_unshared_word_matches_nothing(candidates, text: str) -> None:
    assert resolve(text, candidates) == (None, [])
