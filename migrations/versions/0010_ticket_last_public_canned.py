"""Tickets: which canned response the last public reply was, if it was one

The report screen showed `last_public_note`, the English text of a canned reply, to a
resident who reads another language; with the code it shows the canned response in
theirs. Existing tickets take the code of their last public reply when it was canned.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:20:00+00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TICKET = sa.table(
    "ticket", sa.column("id", sa.Integer()), sa.column("last_public_canned", sa.String())
)
EVENT = sa.table(
    "ticket_event",
    sa.column("id", sa.Integer()),
    sa.column("ticket_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("public", sa.Boolean()),
    sa.column("data", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_public_canned", sa.String(length=40), nullable=False, server_default="")
        )
    bind = op.get_bind()
    last: dict[int, Any] = {}  # ticket: the data of its last public reply
    rows = bind.execute(
        sa.select(EVENT.c.ticket_id, EVENT.c.data)
        .where(EVENT.c.kind == "reply", EVENT.c.public.is_(True))
        .order_by(EVENT.c.id)
    )
    for ticket_id, data in rows:
        last[ticket_id] = data or {}
    for ticket_id, data in last.items():
        if data.get("canned"):
            query = TICKET.update().where(TICKET.c.id == ticket_id)
            bind.execute(query.values(last_public_canned=str(data["canned"])[:40]))


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_column("last_public_canned")
