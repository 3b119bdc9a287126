"""Tickets: when their SLA clocks started, and since when they wait on the resident

`clock_started_at` is where the clocks run from (the opening, or the last reopening,
moved on by time spent waiting on the resident): a change of category or priority
recomputed them from `created_at` and undid a reopening's fresh clock. `waiting_since`
pauses the resolve clock while the ticket waits on the resident. Existing tickets start
their clocks at their last reopening, else when they were opened; one waiting on the
resident now waits since it last began to.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 07:50:00+00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TICKET = sa.table(
    "ticket",
    sa.column("id", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("status", sa.String()),
    sa.column("clock_started_at", sa.DateTime(timezone=True)),
    sa.column("waiting_since", sa.DateTime(timezone=True)),
)
EVENT = sa.table(
    "ticket_event",
    sa.column("ticket_id", sa.Integer()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("kind", sa.String()),
    sa.column("data", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("clock_started_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    bind.execute(TICKET.update().values(clock_started_at=TICKET.c.created_at))
    last: dict[tuple[int, str], Any] = {}  # (ticket, status it moved to): when it last did
    rows = bind.execute(
        sa.select(EVENT.c.ticket_id, EVENT.c.at, EVENT.c.data).where(EVENT.c.kind == "status")
    )
    for ticket_id, at, data in rows:
        to = (data or {}).get("to")
        if to in ("reopened", "waiting_on_resident"):
            last[(ticket_id, to)] = max(at, last.get((ticket_id, to), at))
    for (ticket_id, to), at in last.items():
        query = TICKET.update().where(TICKET.c.id == ticket_id)
        if to == "reopened":
            bind.execute(query.values(clock_started_at=at))
        else:  # only one still waiting: paused since it last began to
            bind.execute(query.where(TICKET.c.status == to).values(waiting_since=at))


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_column("waiting_since")
        batch_op.drop_column("clock_started_at")
