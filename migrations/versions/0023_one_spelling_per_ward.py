"""Wards: one spelling each, the one its first settlement was imported with

Since 585da9e a ward typed in another case or spacing ("WARD 14", "ward  14") takes the
settlements' spelling when it is stored (a settlement import, a meeting, a staff scope, a
broadcast's audience), and scopes, forums, residents' lists of meetings, reminders and
audiences compare wards as stored, exactly. Rows stored before it kept the spelling they
were typed with, so such a row matched nothing spelt the other way: a ward-14 officer whose
scope said "WARD 14" saw none of ward 14's settlements, though the meeting form, which
compared wards folded, let them add its forums; a forum stored as "ward 14" was never
listed or reminded to the residents of "Ward 14".

Each ward is respelt as its first settlement (the lowest id) spells it: settlements,
meetings, staff scopes (a user's two rows for one ward become one) and broadcasts'
audiences. A ward no settlement is in is left as it is. Meetings' natural keys fold the
ward already, so they do not change.

Downgrade does nothing: the spellings replaced meant the same ward, and are not kept.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 05:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SETTLEMENT = sa.table("settlement", sa.column("id", sa.Integer()), sa.column("ward", sa.String()))
MEETING = sa.table("meeting", sa.column("id", sa.Integer()), sa.column("ward", sa.String()))
SCOPE = sa.table(
    "staff_scope",
    sa.column("id", sa.Integer()),
    sa.column("user_id", sa.Integer()),
    sa.column("ward", sa.String()),
)
BROADCAST = sa.table(
    "broadcast", sa.column("id", sa.Integer()), sa.column("audience", sa.JSON())
)


def _key(ward: str) -> str:
    """Fold a ward as `settlements.models.name_key` does (case, spaces)."""
    return " ".join(ward.split()).casefold()


def upgrade() -> None:
    bind = op.get_bind()
    spelling: dict[str, str] = {}
    for ward in bind.execute(
        sa.select(SETTLEMENT.c.ward).where(SETTLEMENT.c.ward != "").order_by(SETTLEMENT.c.id)
    ).scalars():
        spelling.setdefault(_key(ward), ward)

    def spelt(ward: str) -> str:
        return spelling.get(_key(ward), ward)

    for table in (SETTLEMENT, MEETING):
        for row_id, ward in bind.execute(sa.select(table.c.id, table.c.ward)).all():
            if ward and spelt(ward) != ward:
                bind.execute(
                    sa.update(table).where(table.c.id == row_id).values(ward=spelt(ward))
                )
    held: set[tuple[int, str]] = set()
    rows = bind.execute(
        sa.select(SCOPE.c.id, SCOPE.c.user_id, SCOPE.c.ward)
        .where(SCOPE.c.ward.is_not(None))
        .order_by(SCOPE.c.id)
    ).all()
    for row_id, user_id, ward in rows:
        if (user_id, spelt(ward)) in held:
            bind.execute(sa.delete(SCOPE).where(SCOPE.c.id == row_id))
            continue
        held.add((user_id, spelt(ward)))
        if spelt(ward) != ward:
            bind.execute(sa.update(SCOPE).where(SCOPE.c.id == row_id).values(ward=spelt(ward)))
    for row_id, audience in bind.execute(sa.select(BROADCAST.c.id, BROADCAST.c.audience)).all():
        wards = (audience or {}).get("wards") or []
        respelt = list(dict.fromkeys(spelt(ward) for ward in wards))
        if respelt != wards:
            bind.execute(
                sa.update(BROADCAST)
                .where(BROADCAST.c.id == row_id)
                .values(audience={**audience, "wards": respelt})
            )


def downgrade() -> None:
    pass
