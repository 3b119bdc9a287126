"""The audit log: one row per staff action, from the dashboard or the API.

Changes are named `<thing>.<verb>` (`ticket.reply`); pages that show residents' data are
logged too, one row per page view, as `<thing>.view` (`ticket.view`, `queue.view`), so an
admin can list changes or views alone (`recent(kind=...)`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import func, not_, select
from sqlmodel import Session, col

from bot.db import utcnow
from bot.domain.staff.models import AuditEvent, StaffUser

VIEW_SUFFIX = ".view"
Kind = Literal["all", "changes", "views"]
KINDS: tuple[Kind, ...] = get_args(Kind)


def record(
    *,
    session: Session,
    user: StaffUser | None,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    ip: str = "",
    actor_email: str | None = None,
    now: dt.datetime | None = None,
) -> AuditEvent:
    """Add one audit event (`action` like `ticket.reply`, `target` like `ticket:123`)."""
    event = AuditEvent(
        at=now or utcnow(),
        staff_user_id=user.id if user else None,
        actor_email=(actor_email if actor_email is not None else (user.email if user else ""))[
            :254
        ],
        action=action[:60],
        target=target[:200],
        detail=detail or {},
        ip=ip[:45],
    )
    session.add(event)
    session.flush()
    return event


def recent(
    *,
    session: Session,
    limit: int = 100,
    offset: int = 0,
    action: str | None = None,
    actor_email: str | None = None,
    kind: Kind = "all",
) -> tuple[list[AuditEvent], int]:
    """Return one page of audit events, newest first, and how many match (`action` is a
    prefix; `kind` keeps only changes or only page views)."""
    conditions = []
    if action:
        conditions.append(col(AuditEvent.action).startswith(action))
    if actor_email:
        conditions.append(col(AuditEvent.actor_email) == actor_email.strip().lower())
    if kind != "all":
        is_view = col(AuditEvent.action).endswith(VIEW_SUFFIX)
        conditions.append(is_view if kind == "views" else not_(is_view))
    total = session.execute(
        select(func.count()).select_from(AuditEvent).where(*conditions)
    ).scalar_one()
    rows = session.execute(
        select(AuditEvent)
        .where(*conditions)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .limit(limit)
        .offset(offset)
    ).scalars()
    return list(rows), int(total)


@dataclass(frozen=True)
class Change:
    """The last change of one thing the audit log has: by whom, when, and whether through
    the API (else on the dashboard)."""

    actor: str
    at: dt.datetime
    by_api: bool


API_PREFIX = "api."  # `api.deps.audit_api` names the API's actions so


def last_change(*, session: Session, target: str, verb: str, since: dt.datetime) -> Change | None:
    """Return the last `<thing>.<verb>` of `target` (like `milestone:12`, verb `update`) on
    the dashboard or with the API at or after `since`, or None."""
    thing = target.partition(":")[0]
    action = f"{thing}.{verb}"
    event = session.execute(
        select(AuditEvent)
        .where(
            col(AuditEvent.target) == target,
            col(AuditEvent.action).in_([action, API_PREFIX + action]),
            col(AuditEvent.at) >= since,
        )
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    if event is None:
        return None
    return Change(event.actor_email, event.at, event.action.startswith(API_PREFIX))
