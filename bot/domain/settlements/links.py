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
(their menu then answers for it) but not told: they get nothing proactive. The notice's
1 and 7 are read as its answer for a while (bot/flows/settlement.py `linked_reply`, which
asks `notice_reached` when it reached the resident).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, func, select
from sqlmodel import Session, col

from bot.content import load
from bot.db import EPOCH, utcnow
from bot.domain.outbox import service as outbox
from bot.domain.outbox.models import SENT_STATUSES, Outbox
from bot.domain.residents import service as residents
from bot.domain.residents.models import Resident
from bot.domain.settlements import service as settlements
from bot.flows.settlement import linked_notice
from bot.i18n import get_translator
from bot.names import same_name_key

# The notice's dedupe key: NOTICE_KEY:<resident id>:<the typed name's row id>.
NOTICE_KEY = "settlement_linked"
# When the newest notice reached the resident (Twilio has it: SENT_STATUSES, not one still
# queued) after a time: its 1 and 7 are answered only then (bot/flows/settlement.py).
_NOTICE_REACHED = (
    select(func.max(col(Outbox.sent_at)))
    .join(Resident, col(Resident.id) == col(Outbox.resident_id))
    .where(
        col(Resident.phone) == bindparam("phone"),
        col(Outbox.purpose) == "notice",
        col(Outbox.dedupe_key).startswith(f"{NOTICE_KEY}:"),
        col(Outbox.status).in_(SENT_STATUSES),
        col(Outbox.sent_at) > bindparam("since"),
    )
)


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
            dedupe_key=f"{NOTICE_KEY}:{resident.id}:{last_typed[resident.id]}",
            body=linked_notice(content, translator, settlement=names[resident.settlement_id]),
            ref=f"settlement:{resident.settlement_id}",
        )
    return len(linked)


def notice_reached(
    *, session: Session, phone: str, since: dt.datetime | None
) -> dt.datetime | None:
    """Return when the newest notice that the resident was linked reached them after `since`
    (None: any), or None."""
    params = {"phone": phone, "since": since or EPOCH}
    reached: dt.datetime | None = session.connection().execute(_NOTICE_REACHED, params).scalar()
    return reached
