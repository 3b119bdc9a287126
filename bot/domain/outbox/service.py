"""Outbox queries: enqueue, claim, record send outcomes and status callbacks, list.

Every function takes the caller's session, flushes when it must and never commits:
enqueueing joins the transaction of the change that causes the message, and the
worker commits once per unit of work.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import operator
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col

from bot.db import UTCDateTime, utcnow
from bot.domain.outbox.models import PURPOSES, RANK, Outbox, ProviderDeletion
from bot.domain.outbox.ports import is_message_sid
from bot.domain.outbox.routing import (
    INVALID_NUMBER_CODE,
    NOT_SMS_CAPABLE_CODES,
    WINDOW_CLOSED_CODE,
    Draft,
    Recipient,
    Route,
    Split,
    Stop,
    route,
)
from bot.domain.residents.models import Resident
from bot.sms import sendable

log = logging.getLogger(__name__)

outbox_table: Table = SQLModel.metadata.tables["outbox"]
resident_table: Table = SQLModel.metadata.tables["resident"]

ENQUEUE_CHUNK = 1000
SMS_OPT_OUT_CODE = 21610
WHATSAPP_BLOCKED_CODE = 63014
NUMBER_FLAG_CODES = frozenset({INVALID_NUMBER_CODE, *NOT_SMS_CAPABLE_CODES})

# Provider statuses (Twilio's MessageInstance.Status) as outbox statuses. The provider's
# own "queued"/"accepted"/"sending" all mean it holds the message: our "sent".
PROVIDER_STATUS: dict[str, str] = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "undelivered",
    "canceled": "cancelled",
}


class UnknownPurpose(ValueError):
    """The purpose is not one the outbox knows (see models.PURPOSES)."""


def preferred_channel(resident: Resident) -> str:
    """Return the channel a resident last used (or consented on), SMS when unknown."""
    wa, sms = resident.last_inbound_whatsapp_at, resident.last_inbound_sms_at
    if wa and (sms is None or wa >= sms):
        return "whatsapp"
    if sms:
        return "sms"
    return resident.consent_channel or "sms"


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(outbox_table)
    if dialect == "sqlite":
        return sqlite.insert(outbox_table)
    raise NotImplementedError(f"enqueue needs ON CONFLICT support; {dialect} is not supported")


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise UnknownPurpose(f"unknown outbox purpose {purpose!r}; known: {sorted(PURPOSES)}")


def _sendable(text: str | None) -> str | None:
    return None if text is None else sendable(text)


def _sendable_values(variables: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if variables is None:
        return None
    return {k: sendable(v) if isinstance(v, str) else v for k, v in variables.items()}


def _row(values: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """Return the outbox row for `values`, its words as a message can carry them: text typed
    or pasted by staff may hold control characters, and they are stored as sent."""
    purpose = values["purpose"]
    _check_purpose(purpose)
    if values.get("channel") not in ("sms", "whatsapp"):
        raise ValueError(f"channel must be 'sms' or 'whatsapp', not {values.get('channel')!r}")
    if not values.get("body") and not values.get("content_sid"):
        raise ValueError("an outbox message needs a body or a WhatsApp template (content_sid)")
    fallback = values.get("sms_fallback")
    return {
        "resident_id": values["resident_id"],
        "channel": values["channel"],
        "purpose": purpose,
        "ref": values.get("ref"),
        "dedupe_key": values["dedupe_key"],
        "language": values.get("language"),
        "body": _sendable(values.get("body")),
        "sms_body": _sendable(values.get("sms_body")),
        "content_sid": values.get("content_sid"),
        "content_variables": _sendable_values(values.get("content_variables")),
        "allow_sms_fallback": PURPOSES[purpose] if fallback is None else bool(fallback),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": values.get("not_before") or now,
        "created_at": now,
        "updated_at": now,
    }


def enqueue(
    *,
    session: Session,
    resident: Resident,
    purpose: str,
    dedupe_key: str,
    body: str | None = None,
    channel: str | None = None,
    sms_body: str | None = None,
    content_sid: str | None = None,
    content_variables: Mapping[str, Any] | None = None,
    language: str | None = None,
    ref: str | None = None,
    sms_fallback: bool | None = None,
    not_before: dt.datetime | None = None,
) -> Outbox:
    """Queue one message for `resident` in the caller's transaction; idempotent on dedupe_key.

    `body` is free text in the resident's language; `content_sid` (with
    `content_variables`) names an approved WhatsApp template instead. The channel
    defaults to the one the resident last used. Returns the (possibly existing) row.
    """
    assert resident.id is not None, "flush the resident before enqueueing for it"
    now = utcnow()
    values = _row(
        {
            "resident_id": resident.id,
            "channel": channel or preferred_channel(resident),
            "purpose": purpose,
            "ref": ref,
            "dedupe_key": dedupe_key,
            "language": language or resident.language,
            "body": body,
            "sms_body": sms_body,
            "content_sid": content_sid,
            "content_variables": dict(content_variables) if content_variables else None,
            "sms_fallback": sms_fallback,
            "not_before": not_before,
        },
        now,
    )
    session.flush()
    session.execute(_insert(session).values(values).on_conflict_do_nothing())
    return session.execute(select(Outbox).where(col(Outbox.dedupe_key) == dedupe_key)).scalar_one()


def sms_if_queued_now(
    *,
    session: Session,
    resident: Resident,
    purpose: str,
    body: str,
    now: dt.datetime,
    templates: Mapping[str, Mapping[str, str]],
) -> str | None:
    """Return the SMS `body` would reach `resident` as if `enqueue`d now and sent at once
    (the channel `enqueue` takes, routing's rules), or None when it would go by WhatsApp
    or not at all. A WhatsApp message goes by SMS when routing falls back to it; one still
    queued when the 24-hour window closes may then, as it would anyway."""
    assert resident.id is not None, "flush the resident before asking how to reach it"
    # The row `enqueue` would write, as the worker would route it.
    row = _row(
        {
            "resident_id": resident.id,
            "channel": preferred_channel(resident),
            "purpose": purpose,
            "dedupe_key": "",
            "language": resident.language,
            "body": body,
        },
        now,
    )
    draft = _draft(SimpleNamespace(**row, error_code=None))
    recipient = recipients(session=session, resident_ids=[resident.id])[resident.id]
    decision = route(draft, recipient, now=now, templates=templates)
    if isinstance(decision, Route) and decision.channel == "sms":
        return decision.body
    if isinstance(decision, Split):
        return decision.text
    return decision.too_long if isinstance(decision, Stop) else None


# What `enqueue_select` and `enqueue_many` set themselves on a new row, in this order.
_STATE_COLUMNS = ("status", "attempts", "next_attempt_at", "created_at", "updated_at")
# The columns `enqueue_many` writes, in the order of its rows' tuples.
_BULK_COLUMNS = (
    "resident_id",
    "channel",
    "purpose",
    "ref",
    "dedupe_key",
    "language",
    "body",
    "sms_body",
    "content_sid",
    "content_variables",
    "allow_sms_fallback",
    *_STATE_COLUMNS,
)
# The columns an `enqueue_select` SELECT yields, in order: the bulk columns without the
# WhatsApp template and the row state.
SELECT_COLUMNS = tuple(
    name
    for name in _BULK_COLUMNS
    if name not in ("content_sid", "content_variables", *_STATE_COLUMNS)
)


def enqueue_select(
    *, session: Session, rows: Select[Any], purpose: str, ref: str, now: dt.datetime
) -> int:
    """Queue the rows a SELECT yields (columns in SELECT_COLUMNS order) in one INSERT ... SELECT.

    For audiences too large to move through Python: the database builds the rows. Dedupe
    keys already queued are skipped; returns how many rows were added.
    """
    _check_purpose(purpose)
    stamp = literal(now, UTCDateTime)
    complete = rows.add_columns(literal("pending"), literal(0), stamp, stamp, stamp)
    columns = [*SELECT_COLUMNS, *_STATE_COLUMNS]
    statement = _insert(session).from_select(columns, complete).on_conflict_do_nothing()
    session.flush()
    # psycopg reports no row count for INSERT ... SELECT ... ON CONFLICT, and RETURNING
    # every id costs more than counting the rows of this `ref` (indexed) before and after.
    counted = select(func.count()).select_from(outbox_table).where(outbox_table.c.ref == ref)
    before = int(session.execute(counted).scalar_one())
    session.execute(statement)
    return int(session.execute(counted).scalar_one()) - before


def enqueue_many(*, session: Session, messages: Iterable[Mapping[str, Any]]) -> int:
    """Queue many messages at once (a broadcast); skip dedupe keys already queued.

    Each mapping has the keys of `enqueue` with `resident_id` instead of `resident`,
    and `channel` is required. Returns how many rows were added.
    """
    now = utcnow()
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        return _insert_postgresql(session, [_row(message, now) for message in messages])
    added = 0
    chunk: list[dict[str, Any]] = []
    for message in messages:
        chunk.append(_row(message, now))
        if len(chunk) >= ENQUEUE_CHUNK:
            added += _insert_chunk(session, chunk)
            chunk = []
    if chunk:
        added += _insert_chunk(session, chunk)
    return added


# PostgreSQL: COPY the rows into a temporary table (the driver's C path), then one
# INSERT ... SELECT ... ON CONFLICT moves them in; parameter handling dominated otherwise.
_PG_LOAD_TABLE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS outbox_load (resident_id integer, "
    "channel varchar, purpose varchar, ref varchar, dedupe_key varchar, language varchar, "
    "body varchar, sms_body varchar, content_sid varchar, content_variables json, "
    "allow_sms_fallback boolean, status varchar, attempts integer, "
    "next_attempt_at timestamptz, created_at timestamptz, updated_at timestamptz) "
    "ON COMMIT DROP"
)
_PG_MOVE = (
    f"WITH added AS (INSERT INTO outbox ({', '.join(_BULK_COLUMNS)}) "  # noqa: S608
    f"SELECT {', '.join(_BULK_COLUMNS)} FROM outbox_load "
    "ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1) SELECT count(*) FROM added"
)


def _copy_rows(session: Session, table: str, rows: list[tuple[Any, ...]]) -> None:
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    copy_sql = f"COPY {table} ({', '.join(_BULK_COLUMNS)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:  # type: ignore[attr-defined]
        for row in rows:
            copy.write_row(row)


def _insert_postgresql(session: Session, rows: list[dict[str, Any]]) -> int:
    connection = session.connection()
    for row in rows:
        if row["content_variables"] is not None:
            row["content_variables"] = json.dumps(row["content_variables"])
    # Fast path: drop the keys already queued and COPY straight into the table. If a
    # concurrent transaction queued one of the rest meanwhile, the unique key refuses the
    # COPY: roll back to the savepoint and take the slower path that skips conflicts.
    keys = [row["dedupe_key"] for row in rows]
    existing: set[str] = set()
    if keys:
        found = connection.exec_driver_sql(
            "SELECT dedupe_key FROM outbox WHERE dedupe_key = ANY(%s)", (keys,)
        )
        existing = set(found.scalars())
    fresh: dict[str, tuple[Any, ...]] = {}
    pick = operator.itemgetter(*_BULK_COLUMNS)
    for row in rows:
        if row["dedupe_key"] not in existing:
            fresh.setdefault(row["dedupe_key"], pick(row))
    if not fresh:
        return 0
    try:
        with session.begin_nested():
            _copy_rows(session, "outbox", list(fresh.values()))
        return len(fresh)
    except IntegrityError:
        log.info("enqueue_many met a concurrent enqueue; skipping the conflicting keys")
    connection.exec_driver_sql(_PG_LOAD_TABLE)
    connection.exec_driver_sql("TRUNCATE outbox_load")
    _copy_rows(session, "outbox_load", list(fresh.values()))
    return int(connection.exec_driver_sql(_PG_MOVE).scalar_one())


def _memoised(process: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    # A broadcast repeats the same timestamps, body and flags on every row: convert once.
    if process is None:
        return None
    seen: dict[Any, Any] = {}

    def run(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = converted = process(value)
            return converted
        except TypeError:  # unhashable (a dict of template variables)
            return process(value)

    return run


def _insert_chunk(session: Session, chunk: list[dict[str, Any]]) -> int:
    connection = session.connection()
    dialect = connection.dialect
    # SQLite: the driver's executemany on one plain statement, values already converted
    # by each column's own bind processor (so stored exactly as the ORM would store them).
    processors = []
    for name in _BULK_COLUMNS:
        column_type = outbox_table.c[name].type
        processors.append(_memoised(column_type.dialect_impl(dialect).bind_processor(dialect)))
    placeholders = ", ".join("?" for _ in _BULK_COLUMNS)
    sql = (
        f"INSERT INTO outbox ({', '.join(_BULK_COLUMNS)}) VALUES ({placeholders}) "  # noqa: S608
        "ON CONFLICT (dedupe_key) DO NOTHING"
    )
    params = [
        tuple(
            process(row[name]) if process else row[name]
            for name, process in zip(_BULK_COLUMNS, processors, strict=True)
        )
        for row in chunk
    ]
    result = connection.exec_driver_sql(sql, params)
    return int(result.rowcount)


def cancel(*, session: Session, outbox_id: int, reason: str) -> bool:
    """Cancel a row that has not been claimed yet; return whether it was cancelled."""
    now = utcnow()
    result = session.execute(
        update(outbox_table)
        .where(outbox_table.c.id == outbox_id, outbox_table.c.status == "pending")
        .values(status="cancelled", error_message=reason[:500], status_at=now, updated_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


def cancel_queued(
    *,
    session: Session,
    refs: Collection[str],
    reason: str,
    now: dt.datetime | None = None,
    release_keys: bool = False,
    keep_sent: bool = False,
) -> int:
    """Cancel the messages of `refs` not sent yet, those a worker has claimed included (it
    checks again before sending one that waited); return how many. One a worker is
    sending at this moment may still go: its delivery raises the status again. Those
    already sent are marked withdrawn, a failed one is not tried again, unless `keep_sent`
    (what they said still stands).

    With `release_keys`, the messages withdrawn now give up their dedupe keys (their id is
    appended), so the same key can be queued again: a meeting changed and then changed
    back is reminded again, not found already reminded."""
    if not refs:
        return 0
    now = now or utcnow()
    t = outbox_table
    unsent = t.c.status.in_(("pending", "sending"))
    released = t.c.dedupe_key + ":withdrawn:" + cast(t.c.id, String)
    cancelled: dict[str, Any] = {
        "status": "cancelled",
        "claimed_by": None,
        "error_message": reason[:500],
        "status_at": now,
        "updated_at": now,
    }
    if keep_sent:
        # One statement: a worker recording "sent" between a mark and a cancel left a sent
        # message withdrawn, its key released to be queued again for the same resident.
        # One withdrawn before keeps its mark and key, as the mark below leaves it.
        first_time = t.c.withdrawn_at.is_(None)
        cancelled["withdrawn_at"] = case(
            (first_time, literal(now, UTCDateTime())), else_=t.c.withdrawn_at
        )
        if release_keys:
            cancelled["dedupe_key"] = case((first_time, released), else_=t.c.dedupe_key)
    else:  # those already sent are marked too, first
        withdrawn: dict[str, Any] = {"withdrawn_at": now}
        if release_keys:
            withdrawn["dedupe_key"] = released
        session.execute(
            update(t).where(t.c.ref.in_(list(refs)), t.c.withdrawn_at.is_(None)).values(withdrawn)
        )
    result = session.execute(update(t).where(t.c.ref.in_(list(refs)), unsent).values(cancelled))
    return int(getattr(result, "rowcount", 0) or 0)


def forget_before(
    *, session: Session, before: dt.datetime, after_id: int, limit: int, now: dt.datetime
) -> list[int]:
    """Blank the words of up to `limit` of the messages created before `before` that are
    past sending (POPIA s14 retention), taking those with an id above `after_id` in id
    order: body, SMS body and template variables go; who, when, purpose and delivery
    status stay. Return the ids changed, ascending; fewer than `limit` means none is left
    (the next batch starts after the last id, as in `messages.service.forget_before`)."""
    t = outbox_table
    due = (
        select(t.c.id)
        .where(
            t.c.id > after_id,
            t.c.created_at < before,
            t.c.status.not_in(("pending", "sending")),
            or_(
                t.c.body != "",
                t.c.sms_body.is_not(None),
                and_(
                    t.c.content_variables.is_not(None),
                    cast(t.c.content_variables, String) != "null",
                ),
            ),
        )
        .order_by(t.c.id)
        .limit(limit)
    )
    forgotten = (
        update(t)
        .where(t.c.id.in_(due.scalar_subquery()))
        .values(
            body=case((t.c.body.is_(None), None), else_=""),
            sms_body=None,
            content_variables=null(),
            updated_at=now,
        )
        .returning(t.c.id)
    )
    return sorted(session.execute(forgotten).scalars())


# --- deleting an erased resident's messages at the provider --------------------------------

deletion_table: Table = ProviderDeletion.__table__  # type: ignore[attr-defined]


# How much earlier than our clock reads a webhook the provider dates its message.
PROVIDER_LEAD = dt.timedelta(seconds=5)


def queue_provider_deletion(*, session: Session, phone: str, before: dt.datetime) -> None:
    """Queue the deletion at the provider of every message exchanged with `phone` before
    `before` (an erased resident's)."""
    session.execute(
        insert(deletion_table).values(phone=phone, before=before, next_attempt_at=before)
    )


def spare_provider_messages(
    *, session: Session, phone: str, since: dt.datetime, not_before: dt.timedelta
) -> None:
    """Keep at the provider what `phone` exchanges from `since` on (a resident back after an
    erasure): a deletion queued for it stops there instead of at its end, but never sooner
    than `not_before` before that end (its erasure). The provider dates a message a moment
    before its webhook reaches us, in whole seconds: PROVIDER_LEAD allows for it."""
    until = since - PROVIDER_LEAD
    t = deletion_table
    for row in session.execute(
        select(t.c.id, t.c.before).where(t.c.phone == phone, t.c.before > until)
    ).all():
        before = max(until, row.before - not_before)
        session.execute(update(t).where(t.c.id == row.id).values(before=before))


@dataclass(frozen=True)
class DueDeletion:
    """One erased number whose messages are due for deletion at the provider."""

    id: int
    phone: str
    before: dt.datetime
    attempts: int


def due_provider_deletions(*, session: Session, now: dt.datetime, limit: int) -> list[DueDeletion]:
    """Return up to `limit` provider deletions due now, oldest first."""
    t = deletion_table
    query = (
        select(t.c.id, t.c.phone, t.c.before, t.c.attempts)
        .where(t.c.next_attempt_at <= now)
        .order_by(t.c.id)
        .limit(limit)
    )
    return [DueDeletion(*row) for row in session.execute(query).all()]


def record_provider_deletion(
    *, session: Session, due: DueDeletion, error: str | None, now: dt.datetime
) -> None:
    """Forget the number once the provider has deleted its messages; after a failure, try
    again later (after 2, 4, 8 ... minutes, at most a day)."""
    t = deletion_table
    if error is None:
        session.execute(delete(t).where(t.c.id == due.id))
        return
    attempts = due.attempts + 1
    session.execute(
        update(t)
        .where(t.c.id == due.id)
        .values(
            attempts=attempts,
            next_attempt_at=now + dt.timedelta(minutes=min(2**attempts, 24 * 60)),
            last_error=error[:500],
        )
    )


def list_for_phone(
    *, session: Session, phone: str, since: dt.datetime | None = None, limit: int = 50
) -> list[Outbox]:
    """Return the newest proactive messages for a phone as it receives them (the simulator
    shows them): a message sent as several SMS as those SMS."""
    part = outbox_table.alias("part")
    split = select(part.c.id).where(part.c.parent_id == col(Outbox.id)).exists()
    query = (
        select(Outbox)
        .join(Resident, col(Resident.id) == col(Outbox.resident_id))
        .where(col(Resident.phone) == phone, ~split)
        .order_by(col(Outbox.created_at).desc(), col(Outbox.id).desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(col(Outbox.created_at) > since)
    return list(session.execute(query).scalars())


def counts_by_status(*, session: Session, ref: str | None = None) -> dict[str, int]:
    """Return how many rows are in each status (for one broadcast when `ref` is given)."""
    t = outbox_table
    query = select(t.c.status, func.count()).group_by(t.c.status)
    if ref is not None:
        query = query.where(t.c.ref == ref)
    return {status: count for status, count in session.execute(query).all()}


# --- claiming ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A row this worker now holds in 'sending', with what routing needs."""

    id: int
    resident_id: int
    attempts: int
    claimed_at: dt.datetime
    draft: Draft
    recipient: Recipient


_DRAFT_COLUMNS = (
    "id",
    "resident_id",
    "attempts",
    "claimed_at",
    "channel",
    "purpose",
    "body",
    "sms_body",
    "content_sid",
    "content_variables",
    "language",
    "allow_sms_fallback",
    "error_code",
)
_RECIPIENT_FIELDS = (
    "phone",
    "language",
    "consented_at",
    "opted_out_at",
    "sms_opted_out_at",
    "whatsapp_opted_out_at",
    "number_flag_code",
    "last_inbound_sms_at",
    "last_inbound_whatsapp_at",
)


def recipients(*, session: Session, resident_ids: Iterable[int]) -> dict[int, Recipient]:
    """Return routing snapshots of the given residents, by id."""
    ids = sorted(set(resident_ids))
    if not ids:
        return {}
    columns = [resident_table.c.id, *(resident_table.c[name] for name in _RECIPIENT_FIELDS)]
    rows = session.execute(select(*columns).where(resident_table.c.id.in_(ids))).all()
    return {row[0]: Recipient(*row[1:]) for row in rows}


def _draft(row: Any) -> Draft:
    """Return the message a claimed row holds, as routing sees it."""
    return Draft(
        channel=row.channel,
        purpose=row.purpose,
        body=row.body,
        sms_body=row.sms_body,
        content_sid=row.content_sid,
        content_variables=row.content_variables,
        language=row.language,
        allow_sms_fallback=row.allow_sms_fallback,
        error_code=row.error_code,
    )


def claim(
    *,
    session: Session,
    worker_id: str,
    channel: str,
    limit: int,
    lease: dt.timedelta,
    now: dt.datetime | None = None,
) -> list[Claimed]:
    """Move up to `limit` due pending rows of `channel` to 'sending' for this worker.

    On PostgreSQL, rows other workers hold are skipped (FOR UPDATE SKIP LOCKED). A
    claimed row's lease ends at `next_attempt_at`; if the worker has not recorded an
    outcome by then, reconciliation checks the provider before it is sent again.
    """
    now = now or utcnow()
    t = outbox_table
    due = (
        select(t.c.id)
        .where(t.c.status == "pending", t.c.channel == channel, t.c.next_attempt_at <= now)
        .order_by(t.c.next_attempt_at, t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(t)
        .where(t.c.id.in_(due.scalar_subquery()))
        .values(
            status="sending",
            claimed_at=now,
            claimed_by=worker_id,
            attempts=t.c.attempts + 1,
            next_attempt_at=now + lease,
            updated_at=now,
        )
        .returning(*(t.c[name] for name in _DRAFT_COLUMNS))
    )
    rows = session.execute(stmt).all()
    people = recipients(session=session, resident_ids=(row.resident_id for row in rows))
    claimed = []
    for row in sorted(rows, key=lambda r: r.id):
        recipient = people.get(row.resident_id)
        if recipient is None:  # deleted between claim and read: the cascade removes the row
            continue
        draft = _draft(row)
        claimed.append(
            Claimed(row.id, row.resident_id, row.attempts, row.claimed_at, draft, recipient)
        )
    return claimed


@dataclass(frozen=True)
class Stale:
    """A row whose sender stopped mid-send: check the provider before sending it again."""

    id: int
    resident_id: int
    attempts: int
    claimed_at: dt.datetime
    lease_ended_at: dt.datetime
    phone: str
    draft: Draft


def still_to_send(*, session: Session, outbox_id: int, worker_id: str) -> bool:
    """Return whether a row this worker claimed should still go out now: it still exists
    and is still this worker's to send, and its resident has not opted out meanwhile. A
    claimed row can wait minutes for its rate limit while the resident sends DELETE or
    STOP, or a broadcast is cancelled."""
    t = outbox_table
    r = resident_table
    found = session.execute(
        select(t.c.id)
        .join(r, r.c.id == t.c.resident_id)
        .where(
            t.c.id == outbox_id,
            t.c.status == "sending",
            t.c.claimed_by == worker_id,
            r.c.opted_out_at.is_(None),
        )
    ).first()
    return found is not None


def claim_stale(
    *,
    session: Session,
    worker_id: str,
    lease: dt.timedelta,
    limit: int = 100,
    now: dt.datetime | None = None,
) -> list[Stale]:
    """Take over rows left in 'sending' past their lease, for reconciliation.

    `claimed_at` is kept (the provider search starts there); the row gets a new lease
    so that a second reconciler leaves it alone.
    """
    now = now or utcnow()
    t = outbox_table
    stale = (
        select(t.c.id)
        .where(t.c.status == "sending", t.c.next_attempt_at <= now)
        .order_by(t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    # RETURNING gives new values; the old lease end is read first, in the same transaction.
    ids_and_ends = session.execute(stale.add_columns(t.c.next_attempt_at)).all()
    if not ids_and_ends:
        return []
    ends = {row.id: row.next_attempt_at for row in ids_and_ends}
    rows = session.execute(
        update(t)
        .where(t.c.id.in_(list(ends)), t.c.status == "sending")
        .values(claimed_by=worker_id, next_attempt_at=now + lease, updated_at=now)
        .returning(*(t.c[name] for name in _DRAFT_COLUMNS))
    ).all()
    people = recipients(session=session, resident_ids=(row.resident_id for row in rows))
    result = []
    for row in sorted(rows, key=lambda r: r.id):
        person = people.get(row.resident_id)
        if person is None:
            continue
        end = ends[row.id]
        end = end if end.tzinfo else end.replace(tzinfo=dt.UTC)
        draft = _draft(row)
        claimed_at = row.claimed_at or now
        result.append(
            Stale(row.id, row.resident_id, row.attempts, claimed_at, end, person.phone, draft)
        )
    return result


def known_sids(*, session: Session, sids: Iterable[str]) -> set[str]:
    """Return which of these provider sids are already recorded on some row, as its send
    or as a failed send it was tried again after."""
    wanted = list(set(sids))
    if not wanted:
        return set()
    t = outbox_table
    found = session.execute(
        select(t.c.provider_sid, t.c.retried_sid).where(
            or_(t.c.provider_sid.in_(wanted), t.c.retried_sid.in_(wanted))
        )
    ).all()
    return {sid for row in found for sid in row if sid in wanted}


# --- outcomes ---------------------------------------------------------------------------

OutcomeKind = Literal["sent", "retry", "ambiguous", "final", "release", "reroute", "split"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed row; written in batches by `record_outcomes`."""

    outbox_id: int
    resident_id: int
    kind: OutcomeKind
    sid: str | None = None
    status: str | None = None
    channel: str | None = None
    code: int | None = None
    message: str | None = None
    retry_at: dt.datetime | None = None
    content_sid: str | None = None
    """For 'sent': the WhatsApp template it went out as (None: free-form text or SMS)."""
    parts: tuple[str, ...] = ()
    """For 'split': the numbered SMS it goes as, in order (routing's `Split`)."""


def _keep_window_closed(t: Table) -> ColumnElement[Any]:
    """The error code to record on a row sent back to wait: a row Twilio refused with 63016
    keeps that code, which tells routing the WhatsApp window is closed, whatever went wrong
    after (a lost answer, a 429)."""
    return case(
        (t.c.error_code == WINDOW_CLOSED_CODE, WINDOW_CLOSED_CODE), else_=bindparam("b_code")
    )


def _unsettled(t: Table) -> ColumnElement[bool]:
    # Not IN (...): an expanding IN cannot go into an executemany statement.
    return or_(t.c.status == "pending", t.c.status == "sending")


def record_outcomes(
    *, session: Session, outcomes: Sequence[Outcome], now: dt.datetime | None = None
) -> None:
    """Write a batch of outcomes (one statement per kind) and the resident flags they imply.

    A 'sent' outcome never lowers a status a status callback has already raised.
    """
    now = now or utcnow()
    t = outbox_table
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.kind, []).append(outcome)

    if groups.get("sent"):
        _record_sent(session, groups["sent"], now)
        _release_next_parts(session, now)
    for split in groups.get("split", []):
        _record_split(session, split, now)
    retry_like = [*groups.get("retry", []), *groups.get("reroute", []), *groups.get("release", [])]
    if retry_like:
        session.execute(
            update(t)
            .where(t.c.id == bindparam("b_id"), t.c.status == "sending")
            .values(
                status="pending",
                next_attempt_at=bindparam("b_at"),
                attempts=t.c.attempts - bindparam("b_refund"),
                claimed_by=None,
                error_code=_keep_window_closed(t),
                error_message=bindparam("b_message"),
                updated_at=now,
            ),
            [
                {
                    "b_id": o.outbox_id,
                    "b_at": o.retry_at or now,
                    "b_refund": 1 if o.kind == "release" else 0,
                    "b_code": o.code,
                    "b_message": (o.message or "")[:500] or None,
                }
                for o in retry_like
            ],
        )
    if groups.get("ambiguous"):
        # Stays 'sending' with its claim time; the lease now ends at retry_at, after which
        # reconciliation looks for it at the provider before any resend.
        session.execute(
            update(t)
            .where(t.c.id == bindparam("b_id"), t.c.status == "sending")
            .values(
                next_attempt_at=bindparam("b_at"),
                claimed_by=None,
                error_code=_keep_window_closed(t),
                error_message=bindparam("b_message"),
                updated_at=now,
            ),
            [
                {
                    "b_id": o.outbox_id,
                    "b_at": o.retry_at or now,
                    "b_code": o.code,
                    "b_message": (o.message or "")[:500] or None,
                }
                for o in groups["ambiguous"]
            ],
        )
    if groups.get("final"):
        session.execute(
            update(t)
            .where(t.c.id == bindparam("b_id"), _unsettled(t))
            .values(
                status=bindparam("b_status"),
                sent_channel=bindparam("b_channel"),
                claimed_by=None,
                error_code=bindparam("b_code"),
                error_message=bindparam("b_message"),
                status_at=now,
                updated_at=now,
            ),
            [
                {
                    "b_id": o.outbox_id,
                    "b_status": o.status or "failed",
                    "b_channel": o.channel,
                    "b_code": o.code,
                    "b_message": (o.message or "")[:500] or None,
                }
                for o in groups["final"]
            ],
        )
    flags = [(o.resident_id, o.code) for o in outcomes if o.code is not None]
    if flags:
        flag_residents(session=session, flags=flags, now=now)
    if groups.get("final"):
        ended = [o.outbox_id for o in groups["final"]]
        parents = session.execute(
            select(t.c.parent_id).where(t.c.id.in_(ended), t.c.parent_id.is_not(None))
        ).scalars()
        settle_parts(session=session, parent_ids=set(parents), now=now)


# --- messages sent as several SMS -------------------------------------------------------

# The statuses of a part that reached the provider: the next part may go.
PART_SENT = ("sent", "delivered", "read")
# When a part after the first is due until the part before it reached the provider: never,
# until `_release_next_parts` makes it due. Held so, a part costs the claim query nothing
# (a condition on the part before, in the claim, made PostgreSQL's estimate of it high
# enough to compile it with JIT: 4x slower on 100,000 due rows).
PART_HELD = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
# The statuses of a part that did not, and will not: the parts after it are not sent.
PART_STOPPED = ("failed", "undelivered", "cancelled")


def _record_split(session: Session, outcome: Outcome, now: dt.datetime) -> None:
    """Queue the numbered SMS a claimed row goes as, the first due now, each of the others
    once the one before it reached the provider (`_release_next_parts`), and mark the row
    sent as them: its own status then follows theirs (`settle_parts`). Each part keeps the row's
    resident, purpose, ref (a withdrawal by ref reaches it) and creation time (retention
    forgets it with the row)."""
    t = outbox_table
    row = session.execute(
        select(t.c.resident_id, t.c.purpose, t.c.ref, t.c.dedupe_key, t.c.language)
        .add_columns(t.c.created_at)
        .where(t.c.id == outcome.outbox_id, t.c.status == "sending")
    ).first()
    if row is None:  # cancelled or erased since the claim
        return
    parts = [
        {
            "resident_id": row.resident_id,
            "channel": "sms",
            "purpose": row.purpose,
            "ref": row.ref,
            "dedupe_key": f"{row.dedupe_key}:part:{number}",
            "language": row.language,
            "body": text,
            # As sent: routing takes an SMS row's `sms_body` as it is.
            "sms_body": text,
            "allow_sms_fallback": False,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now if number == 1 else PART_HELD,
            "created_at": row.created_at,
            "updated_at": now,
            "parent_id": outcome.outbox_id,
            "part": number,
        }
        for number, text in enumerate(outcome.parts, 1)
    ]
    session.execute(_insert(session).values(parts).on_conflict_do_nothing())
    session.execute(
        update(t)
        .where(t.c.id == outcome.outbox_id, t.c.status == "sending")
        .values(
            status="sent",
            sent_channel="sms",
            sent_content_sid=None,
            sent_at=now,
            status_at=now,
            claimed_by=None,
            error_code=None,
            error_message=None,
            updated_at=now,
        )
    )
    log.info(
        "outbox row goes as SMS parts",
        extra={"outbox_id": outcome.outbox_id, "parts": len(outcome.parts)},
    )


def settle_parts(
    *, session: Session, parent_ids: Collection[int], now: dt.datetime | None = None
) -> None:
    """Bring messages sent as parts up to date with their parts: a part that failed (or
    was cancelled) stops the parts after it not sent yet and fails the message, naming the
    part and why; a message whose every part was delivered is delivered (read: read)."""
    if not parent_ids:
        return
    now = now or utcnow()
    t = outbox_table
    found = session.execute(
        select(t.c.parent_id, t.c.part, t.c.status, t.c.error_code, t.c.error_message)
        .where(t.c.parent_id.in_(sorted(parent_ids)))
        .order_by(t.c.parent_id, t.c.part)
    ).all()
    by_parent: dict[int, list[Any]] = {}
    for part in found:
        by_parent.setdefault(part.parent_id, []).append(part)
    for parent_id, parts in by_parent.items():
        total = len(parts)
        stopped = next((p for p in parts if p.status in PART_STOPPED), None)
        values: dict[str, Any]
        if stopped is not None:
            session.execute(
                update(t)
                .where(t.c.parent_id == parent_id, t.c.part > stopped.part, t.c.status == "pending")
                .values(
                    status="cancelled",
                    error_message=f"not sent: part {stopped.part} of {total} was not",
                    status_at=now,
                    updated_at=now,
                )
            )
            reason = stopped.error_message or stopped.status
            values = {
                "status": stopped.status,
                "error_code": stopped.error_code,
                "error_message": f"part {stopped.part} of {total}: {reason}"[:500],
            }
        elif all(p.status in ("delivered", "read") for p in parts):
            read = all(p.status == "read" for p in parts)
            values = {"status": "read" if read else "delivered"}
        else:
            continue
        session.execute(
            update(t)
            .where(t.c.id == parent_id, t.c.status != values["status"])
            .values(**values, status_at=now, updated_at=now)
        )


def _release_next_parts(session: Session, now: dt.datetime) -> None:
    """Make due now each held part whose part before it reached the provider. Held parts
    are few, found by the due index (status, next_attempt_at): cheap beside any batch."""
    t = outbox_table
    earlier = t.alias("earlier")
    before_sent = (
        select(earlier.c.id)
        .where(
            earlier.c.parent_id == t.c.parent_id,
            earlier.c.part == t.c.part - 1,
            earlier.c.status.in_(PART_SENT),
        )
        .exists()
    )
    session.execute(
        update(t)
        .where(t.c.status == "pending", t.c.next_attempt_at == PART_HELD, before_sent)
        .values(next_attempt_at=now, updated_at=now)
    )


def _record_sent(session: Session, sent: list[Outcome], now: dt.datetime) -> None:
    t = outbox_table
    unsettled = _unsettled(t)
    stmt = (
        update(t)
        # A send a 63016 callback already routed again (it came first) is not recorded.
        .where(
            t.c.id == bindparam("b_id"),
            or_(t.c.retried_sid.is_(None), t.c.retried_sid != bindparam("b_sid")),
        )
        .values(
            status=case((unsettled, bindparam("b_status")), else_=t.c.status),
            provider_sid=func.coalesce(t.c.provider_sid, bindparam("b_sid")),
            sent_channel=bindparam("b_channel"),
            sent_content_sid=bindparam("b_content_sid"),
            sent_at=now,
            status_at=now,
            claimed_by=None,
            # A failure a callback recorded before the worker got here keeps its reason.
            error_code=case((unsettled, None), else_=t.c.error_code),
            error_message=case((unsettled, None), else_=t.c.error_message),
            updated_at=now,
        )
    )
    params = [
        {
            "b_id": o.outbox_id,
            "b_status": PROVIDER_STATUS.get(o.status or "", "sent"),
            "b_sid": o.sid,
            "b_channel": o.channel,
            "b_content_sid": o.content_sid,
        }
        for o in sent
    ]
    try:
        with session.begin_nested():
            session.execute(stmt, params)
    except IntegrityError:
        # A provider sid already on another row: record the rest one by one, log the clash.
        for one in params:
            try:
                with session.begin_nested():
                    session.execute(stmt, [one])
            except IntegrityError:
                log.error(
                    "provider sid already recorded on another outbox row",
                    extra={"outbox_id": one["b_id"], "provider_sid": one["b_sid"]},
                )


def flag_residents(
    *, session: Session, flags: Iterable[tuple[int, int | None]], now: dt.datetime | None = None
) -> None:
    """Record what provider error codes say about residents (opt-outs, bad numbers)."""
    now = now or utcnow()
    r = resident_table
    for resident_id, code in flags:
        if code == SMS_OPT_OUT_CODE:
            values: dict[str, Any] = {"sms_opted_out_at": now}
        elif code == WHATSAPP_BLOCKED_CODE:
            values = {"whatsapp_opted_out_at": now}
        elif code in NUMBER_FLAG_CODES:
            values = {"number_flag_code": code, "number_flagged_at": now}
        else:
            continue
        session.execute(update(r).where(r.c.id == resident_id).values(**values, updated_at=now))
        log.info(
            "resident flagged from a provider error",
            extra={"resident_id": resident_id, "error_code": code},
        )


# --- status callbacks -------------------------------------------------------------------


# The largest error code a row keeps (its column is a 32-bit integer on PostgreSQL).
MAX_ERROR_CODE = 2**31 - 1


def _error_code(value: str | None) -> int | None:
    """Return a provider error code, or None for none, or one that cannot be a code."""
    try:
        code = int(value) if value not in (None, "") else None
    except ValueError:
        return None
    return code if code is not None and 0 <= code <= MAX_ERROR_CODE else None


def _free_form(row: Outbox) -> bool:
    """Return whether a row still being sent, or just sent, went out as free-form WhatsApp
    text: what 63016 refuses outside the 24-hour window, and what a template can replace.
    A callback that comes before the worker recorded the send cannot tell free-form text
    from the configured template: it counts as free-form, and the template's own 63016, if
    it gets one, is final."""
    if row.content_sid is not None or row.status not in ("sending", "sent"):
        return False
    if row.sent_channel is None:  # a re-routed row's next send is the template
        return (
            row.status == "sending"
            and row.channel == "whatsapp"
            and row.error_code != WINDOW_CLOSED_CODE
        )
    return row.sent_channel == "whatsapp" and row.sent_content_sid is None


# Failures reported by callback after which a send is tried again: after how long, and
# up to how many sends in all (twilio-facts: 30003 "retry later, with a limit", 30008
# "retry once", 30001 queue overflow "slow down").
TRY_AGAIN: dict[int, tuple[dt.timedelta, int]] = {
    30003: (dt.timedelta(minutes=30), 3),
    30008: (dt.timedelta(minutes=10), 2),
    30001: (dt.timedelta(minutes=10), 2),
}


def _try_again_after(row: Outbox, status: str, code: int | None) -> dt.timedelta | None:
    """Return when a send this callback reports as failed is to be tried again, or None
    when the failure is final: a free-form WhatsApp message refused with 63016 goes again
    at once (routing then takes a template or SMS), an unreachable handset and the like
    later, within a limit."""
    if status not in ("failed", "undelivered") or code is None or row.withdrawn_at is not None:
        return None
    if code == WINDOW_CLOSED_CODE:
        return dt.timedelta(0) if _free_form(row) else None
    if code not in TRY_AGAIN or row.status not in ("sending", "sent"):
        return None
    wait, sends = TRY_AGAIN[code]
    return wait * row.attempts if row.attempts < sends else None


def record_status(
    *, session: Session, form: Mapping[str, str], outbox_id: int | None = None
) -> Outbox | None:
    """Apply a provider status callback; never move a row to a lower-ranked status.

    The row is found by MessageSid, or by `outbox_id` (from the callback URL) when the
    worker has not recorded the sid yet: only while the row is 'sending', when the
    callback can be for the send in flight. Unknown sids are logged and ignored. A send
    that failed in a way worth another try (`_try_again_after`) goes back to pending;
    later callbacks for that send are ignored.
    """
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not is_message_sid(sid):  # ignored, as an unknown one is (nor fits provider_sid)
        log.info("status callback without a well-formed MessageSid: ignored")
        return None
    provider_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    status = PROVIDER_STATUS.get(provider_status)
    code = _error_code(form.get("ErrorCode"))
    found = select(Outbox).where(col(Outbox.provider_sid) == sid)
    row = session.execute(found).scalars().first()
    if row is None and outbox_id is not None:
        candidate = session.get(Outbox, outbox_id, populate_existing=True)  # status now
        # Only a row being sent: its send may be answered by callback before the worker
        # records the sid. A row waiting to be sent again is left alone: a late callback
        # for an earlier send (not only the last, `retried_sid`) would take it over, and
        # the next send would never happen.
        if (
            candidate is not None
            and candidate.status == "sending"
            and candidate.provider_sid is None
            and candidate.retried_sid != sid
        ):
            row = candidate
        elif candidate is not None:
            log.warning(
                "status callback for an outbox row not being sent under that sid",
                extra={"outbox_id": outbox_id, "provider_sid": sid},
            )
    if row is None:
        log.info(
            "status callback for an unknown message",
            extra={"provider_sid": sid, "provider_status": provider_status},
        )
        return None
    if status is None:
        log.info(
            "status callback with a status the outbox does not track",
            extra={"outbox_id": row.id, "provider_status": provider_status},
        )
        return row
    now = utcnow()
    t = outbox_table
    wait = _try_again_after(row, status, code)
    if wait is not None:
        session.execute(
            update(t)
            .where(t.c.id == row.id, or_(t.c.provider_sid == sid, t.c.provider_sid.is_(None)))
            .values(
                status="pending",
                provider_sid=None,
                retried_sid=sid,
                sent_channel=None,
                claimed_by=None,
                next_attempt_at=now + wait,
                error_code=code,
                error_message=(form.get("ErrorMessage") or f"error {code}: sent again")[:500],
                updated_at=now,
            )
        )
        session.refresh(row)
        return row
    lower = [name for name, rank in RANK.items() if rank < RANK[status]]
    values: dict[str, Any] = {"status": status, "status_at": now, "updated_at": now}
    if row.provider_sid is None:
        values["provider_sid"] = sid
    if status in ("failed", "undelivered"):
        values["error_code"] = code
        values["error_message"] = (form.get("ErrorMessage") or "")[:500] or None
    session.execute(update(t).where(and_(t.c.id == row.id, t.c.status.in_(lower))).values(**values))
    if code is not None and status in ("failed", "undelivered"):
        flag_residents(session=session, flags=[(row.resident_id, code)], now=now)
    if row.parent_id is not None:
        # A send whose answer the worker lost may be known from its callback alone.
        _release_next_parts(session, now)
        settle_parts(session=session, parent_ids=[row.parent_id], now=now)
    session.refresh(row)
    return row
