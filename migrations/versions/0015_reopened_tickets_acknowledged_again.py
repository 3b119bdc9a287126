"""Tickets: one reopened before 086b4bb is to be acknowledged again

Reopening starts both clocks again since 086b4bb; before, it kept the acknowledgement of
the ticket's earlier opening, so a reopened ticket had no acknowledge time running and
nobody was told when no one looked at it. A ticket still reopened whose acknowledgement
is older than its clock start (its last reopening, migration 0009) loses it, and gets
an acknowledge time as long after its reopening as its first one was after its opening
(the category's working days or urgent hours, as they were worked out then: the holiday
calendar is the application's, and this keeps the migration to the data); a breach flag
on the old time is cleared, so the breach job flags the new one if it passes. Tickets
that moved on since their reopening were acknowledged by that move (when is not kept)
and are left; reports count no time to acknowledge for them (`hours_to_acknowledge`).

Downgrade does nothing: the acknowledgements it cleared were of an earlier opening.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 17:30:00+00:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TICKET = sa.table(
    "ticket",
    sa.column("id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("clock_started_at", sa.DateTime(timezone=True)),
    sa.column("acknowledged_at", sa.DateTime(timezone=True)),
    sa.column("ack_due_at", sa.DateTime(timezone=True)),
    sa.column("ack_breach_flagged_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            TICKET.c.id,
            TICKET.c.created_at,
            TICKET.c.clock_started_at,
            TICKET.c.acknowledged_at,
            TICKET.c.ack_due_at,
        ).where(
            TICKET.c.status == "reopened",
            TICKET.c.acknowledged_at.is_not(None),
            TICKET.c.clock_started_at.is_not(None),
        )
    ).all()
    for ticket_id, created_at, started_at, acknowledged_at, ack_due_at in rows:
        if acknowledged_at >= started_at:
            continue  # acknowledged since it was reopened
        window = max(ack_due_at - created_at, dt.timedelta(0))
        bind.execute(
            TICKET.update()
            .where(TICKET.c.id == ticket_id)
            .values(
                acknowledged_at=None,
                ack_due_at=started_at + window,
                ack_breach_flagged_at=None,
            )
        )


def downgrade() -> None:
    pass  # the acknowledgements it cleared were of an earlier opening, not put back
