"""Tickets: duplicates left waiting on their parent's reporter go back to work

Until 43b592e a parent put on waiting on the resident put its duplicates on waiting too
(a status event with `via`: the parent's number): their resolve clocks paused, and the
answer of the parent's reporter resumed only the parent, so a duplicate stayed paused
until a later change of the parent, its own reporter's message or staff moved it on. Since
43b592e the question is for the parent's reporter alone and a duplicate keeps its status.

A ticket still waiting whose last status event is such a carried wait goes back to where
43b592e's code leaves it: the status it had (the event's `from`: new, acknowledged,
in progress or reopened), its resolve clock running as if it had never paused (its due
time was not moved, and is not). It stays acknowledged: it was linked, and linking is
triage that acknowledges a ticket (13c0456), so its acknowledge clock, long past, does
not draw a breach email now. That it is a duplicate now or not does not matter: the wait
was the parent's all the same. A wait staff set on the
ticket itself, or one after its reporter answered, is not carried and stays. An internal
status event ("system") records the change; the resident is told nothing (they were told
of the wait, and nothing of theirs was asked or answered). Duplicates that left such a
wait before this migration keep the time it added to their due time: moving it back
would rewrite SLA results already reported.

Downgrade does nothing: this is a correction of data, and the waits it ended were wrong.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 16:00:00+00:00
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "waiting_on_resident"
TICKET = sa.table(
    "ticket",
    sa.column("id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("waiting_since", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
EVENT = sa.table(
    "ticket_event",
    sa.column("id", sa.Integer()),
    sa.column("ticket_id", sa.Integer()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String()),
    sa.column("staff_user_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("public", sa.Boolean()),
    sa.column("body", sa.String()),
    sa.column("media", sa.JSON()),
    sa.column("data", sa.JSON()),
)
# The statuses a ticket could be carried to waiting from.
BACK_TO = ("new", "acknowledged", "in_progress", "reopened")


def upgrade() -> None:
    bind = op.get_bind()
    last: dict[int, Any] = {}  # waiting ticket: the data of its last status event
    rows = bind.execute(
        sa.select(EVENT.c.ticket_id, EVENT.c.data)
        .select_from(EVENT.join(TICKET, TICKET.c.id == EVENT.c.ticket_id))
        .where(TICKET.c.status == WAITING, EVENT.c.kind == "status")
        .order_by(EVENT.c.at, EVENT.c.id)
    )
    for ticket_id, data in rows:
        last[ticket_id] = data or {}
    now = dt.datetime.now(dt.UTC)
    for ticket_id, data in sorted(last.items()):
        back = data.get("from")
        if data.get("to") != WAITING or not data.get("via") or back not in BACK_TO:
            continue
        values: dict[str, Any] = {"status": back, "waiting_since": None, "updated_at": now}
        bind.execute(
            TICKET.update()
            .where(TICKET.c.id == ticket_id, TICKET.c.status == WAITING)
            .values(**values)
        )
        bind.execute(
            EVENT.insert().values(
                ticket_id=ticket_id,
                at=now,
                actor="system",
                staff_user_id=None,
                kind="status",
                public=False,
                body="",
                media=[],
                data={
                    "from": WAITING,
                    "to": back,
                    "reason": "migration 0014: the wait was for the parent's reporter",
                },
            )
        )


def downgrade() -> None:
    pass  # a correction of data: the waits it ended were wrong, and are not put back
