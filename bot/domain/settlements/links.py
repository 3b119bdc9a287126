"""Residents whose settlement name matched nothing, linked to it once officers add it.

A resident who typed a name no settlement had was told it was passed on and carries on
without a settlement. When settlements are imported (created, renamed, given an alias:
the dashboard's upload, the CLI and the demo all go through `importer.import_csv`), each
resident who still has no settlement and whose typed name now reads as exactly one
settlement's name or alias is linked to it, the names they typed are forgotten (they are
no longer unmatched), and they are told once, in their language, through the outbox
(which applies the WhatsApp window and SMS fallback at send time).

The match is the bot's exact one (`bot.names.same_name_key`: no case, accents,
punctuation or spaces, Ext is Extension), never its fuzzy likeness: the bot asks a
resident to confirm a likeness, and no one is there to confirm this. A name two
settlements are called by (of two municipalities), or a resident whose names read as two
settlements, links no one: the officers' list says so. An opted-out resident is linked
(their menu then answers for it) but not told: they get nothing proactive.
"""

from __future__ import annotations

from sqlmodel import Session

from bot.content import load
from bot.db import utcnow
from bot.domain.outbox import service as outbox
from bot.domain.residents import service as residents
from bot.domain.settlements import service as settlements
from bot.flows.settlement import linked_notice
from bot.i18n import get_translator
from bot.names import same_name_key


def link_unmatched(*, session: Session) -> int:
    """Link each resident with no settlement whose typed name now names one settlement,
    forget their typed names and queue a notice for them; return how many were linked."""
    called = settlements.called_by(session=session)
    meant: dict[int, set[int]] = {}
    last_typed: dict[int, int] = {}  # each resident's last matching name: what the notice answers
    for row in settlements.unmatched_names_of_unsettled(session=session):
        refs = called.get(same_name_key(row.text), [])
        if len(refs) == 1:
            meant.setdefault(row.resident_id, set()).add(refs[0][0])
            last_typed[row.resident_id] = row.id
    settlement_of = {who: ids.pop() for who, ids in meant.items() if len(ids) == 1}
    if not settlement_of:
        return 0
    linked = residents.link_unsettled(session=session, settlement_of=settlement_of, now=utcnow())
    ids = [resident.id for resident in linked if resident.id is not None]
    settlements.forget_unmatched_names_of(session=session, resident_ids=ids)
    names = {id_: name for refs in called.values() for id_, name in refs}
    content = load()
    for resident in linked:
        if resident.opted_out_at is not None or resident.id is None:
            continue
        assert resident.settlement_id is not None
        translator = get_translator(resident.language)
        outbox.enqueue(
            session=session,
            resident=resident,
            purpose="notice",
            dedupe_key=f"settlement_linked:{resident.id}:{last_typed[resident.id]}",
            body=linked_notice(content, translator, settlement=names[resident.settlement_id]),
            ref=f"settlement:{resident.settlement_id}",
        )
    return len(linked)
