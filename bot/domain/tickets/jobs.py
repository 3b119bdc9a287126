"""Scheduled ticket jobs, run by the leader worker's APScheduler (see bot/worker.py).

- `tickets.flag_breaches` (every 10 minutes): a ticket whose acknowledge or resolve time
  has passed gets an internal `sla_breach` event, once per clock, and its assignee is
  notified by an email-style log line; SIYAKHA_SLA_TEAM_EMAIL is, instead, when nobody is
  assigned or the assignee can no longer work the ticket (deactivated, no longer a ticket
  worker, or their scope no longer includes it). A resolve clock paused while the ticket
  waits on the resident does not pass meanwhile (see sla.py).
- `tickets.close_unanswered` (hourly): a resolved ticket whose resident has not said
  whether it is fixed closes after SIYAKHA_TICKET_CONFIRM_DAYS days, and the resident is
  told it is closed, as when staff close it.
- `tickets.end_unanswered_waits` (hourly): a ticket that has waited on its resident for
  SIYAKHA_TICKET_WAIT_DAYS days without an answer goes back to staff (in progress, its
  resolve clock running again, moved on by the wait, as an answer would leave it), with
  the reason in its status event; its assignee, or the team address as for a breach, is
  told. It is not closed, and the resident is not told (they were asked and said nothing).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from bot.config import Settings, get_settings
from bot.db import session_scope, utcnow
from bot.domain.staff.models import StaffUser
from bot.domain.tickets import notify, service
from bot.domain.tickets.models import OPEN_STATUSES, Ticket

log = logging.getLogger(__name__)
BATCH = 500


def flag_breaches(
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Record and announce every SLA breach not yet flagged; return how many."""
    settings = settings or get_settings()
    now = now or utcnow()
    flagged = 0
    with session_scope(engine) as session:
        stands = service.clock_at_sql(now)
        ack = and_(
            col(Ticket.acknowledged_at).is_(None),
            col(Ticket.ack_due_at) < stands,
            col(Ticket.ack_breach_flagged_at).is_(None),
        )
        resolve = and_(
            col(Ticket.resolve_due_at) < stands, col(Ticket.resolve_breach_flagged_at).is_(None)
        )
        rows = session.execute(
            select(Ticket)
            .where(col(Ticket.status).in_(sorted(OPEN_STATUSES)), or_(ack, resolve))
            .order_by(col(Ticket.id))
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).scalars()
        for ticket in rows:
            clocks = []
            stood = service.clock_at(ticket, now)
            if (
                ticket.acknowledged_at is None
                and ticket.ack_due_at < stood
                and not ticket.ack_breach_flagged_at
            ):
                ticket.ack_breach_flagged_at = now
                clocks.append(("acknowledge", ticket.ack_due_at))
            if ticket.resolve_due_at < stood and not ticket.resolve_breach_flagged_at:
                ticket.resolve_breach_flagged_at = now
                clocks.append(("resolve", ticket.resolve_due_at))
            to = _notice_to(session, ticket, settings)
            for clock, due in clocks:
                service.add_event(
                    session,
                    ticket,
                    actor="system",
                    kind="sla_breach",
                    now=now,
                    data={"clock": clock, "due": due.isoformat(), "notified": to},
                )
                _email("ticket SLA breached", to, ticket, clock=clock, due=due.isoformat())
                flagged += 1
    return flagged


def _notice_to(session: Session, ticket: Ticket, settings: Settings) -> str | None:
    """Return who hears about a ticket's clock: its assignee, or SIYAKHA_SLA_TEAM_EMAIL when
    nobody is assigned or the assignee may no longer work it."""
    assignee = session.get(StaffUser, ticket.assignee_id) if ticket.assignee_id else None
    if assignee is not None and not service.may_work(session=session, user=assignee, ticket=ticket):
        assignee = None  # deactivated, or no longer theirs to see: the team hears
    return assignee.email if assignee else settings.sla_team_email


def _email(subject: str, to: str | None, ticket: Ticket, **details: str) -> None:
    """Send a notice about a ticket to staff (an email-style log line)."""
    log.warning(
        f"email: {subject}",
        extra={
            "to": to or "(no assignee who may work it, no SIYAKHA_SLA_TEAM_EMAIL)",
            "reference": ticket.reference,
            **details,
            "category": ticket.category,
            "priority": ticket.priority,
        },
    )


def end_unanswered_waits(
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Give back to staff every ticket that has waited on its resident for longer than
    SIYAKHA_TICKET_WAIT_DAYS, telling the assignee or the team; return how many."""
    settings = settings or get_settings()
    now = now or utcnow()
    days = settings.ticket_wait_days
    cutoff = now - dt.timedelta(days=days)
    reason = f"no answer from the resident after {days} day{'' if days == 1 else 's'}"
    with session_scope(engine) as session:
        rows = list(
            session.execute(
                select(Ticket)
                .where(
                    col(Ticket.status) == "waiting_on_resident",
                    col(Ticket.waiting_since) < cutoff,
                )
                .order_by(col(Ticket.id))
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        for ticket in rows:
            assert ticket.waiting_since is not None
            since = ticket.waiting_since.isoformat()
            to = _notice_to(session, ticket, settings)
            # As when the resident answers (service._resident_said): the ticket is worked
            # again and its resolve clock resumes, moved on by the wait. The resident is not
            # told: they were asked and have said nothing; their report stays open.
            service.move_status(
                session,
                ticket,
                "in_progress",
                now=now,
                actor="system",
                data={"reason": reason, "notified": to},
            )
            _email(
                "ticket back from waiting on the resident",
                to,
                ticket,
                reason=reason,
                waiting_since=since,
                resolve_due=ticket.resolve_due_at.isoformat(),
            )
    return len(rows)


def close_unanswered(
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Close resolved tickets nobody confirmed within the confirmation period, telling each
    resident; return how many."""
    settings = settings or get_settings()
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=settings.ticket_confirm_days)
    with session_scope(engine) as session:
        rows = list(
            session.execute(
                select(Ticket)
                .where(col(Ticket.status) == "resolved", col(Ticket.resolved_at) < cutoff)
                .order_by(col(Ticket.id))
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        for ticket in rows:
            event = service.move_status(
                session, ticket, "closed", now=now, actor="system", data={"reason": "no answer"}
            )
            assert event.id is not None
            notify.status_changed(session=session, ticket=ticket, event_id=event.id)
    return len(rows)


def run_flag_breaches() -> None:
    """Job `tickets.flag_breaches`."""
    count = flag_breaches()
    if count:
        log.info("ticket SLA breaches flagged", extra={"count": count})


def run_close_unanswered() -> None:
    """Job `tickets.close_unanswered`."""
    count = close_unanswered()
    if count:
        log.info("unanswered resolved tickets closed", extra={"count": count})


def run_end_unanswered_waits() -> None:
    """Job `tickets.end_unanswered_waits`."""
    count = end_unanswered_waits()
    if count:
        log.info("unanswered waits on residents ended", extra={"count": count})


def schedule(settings: Settings) -> list[dict[str, Any]]:
    """Declare this domain's jobs for the worker's scheduler."""
    return [
        {
            "id": "tickets.flag_breaches",
            "func": "bot.domain.tickets.jobs:run_flag_breaches",
            "trigger": "interval",
            "minutes": 10,
        },
        {
            "id": "tickets.close_unanswered",
            "func": "bot.domain.tickets.jobs:run_close_unanswered",
            "trigger": "interval",
            "minutes": 60,
        },
        {
            "id": "tickets.end_unanswered_waits",
            "func": "bot.domain.tickets.jobs:run_end_unanswered_waits",
            "trigger": "interval",
            "minutes": 60,
        },
    ]
