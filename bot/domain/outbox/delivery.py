"""Deliver outbox rows: claim, route, rate-limit, send on a thread pool, record, reconcile.

Exactly-once rests on three rules:
1. A row is sent only by the worker that claimed it, within its lease (a send that
   could not start early enough is released unsent).
2. Whatever may have reached the provider (a crash, a timeout, a 5xx) stays in
   'sending' until reconciliation has looked for it at the provider: found, it is
   recorded as sent; not found, it goes back to pending.
3. A provider message is matched to at most one row (sids already recorded are
   excluded), so two identical messages to one number are told apart by count.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import random
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from sqlalchemy.engine import Engine

from bot import sms
from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.outbox import service
from bot.domain.outbox.ports import OutgoingMessage, ProviderMessage, Sender, SendError
from bot.domain.outbox.ratelimit import TokenBucket
from bot.domain.outbox.routing import (
    WINDOW_CLOSED_CODE,
    Draft,
    Route,
    Split,
    Stop,
    find_template,
    route,
    sms_text,
    template_variable,
)
from bot.domain.outbox.service import Claimed, Outcome, Stale

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 600.0
# Provider clocks and list timestamps (whole seconds) differ from ours: widen the search.
CLOCK_SKEW = dt.timedelta(seconds=90)
CHANNELS = ("whatsapp", "sms")
# A claimed row that waited longer than this since its claim (for its rate limit, say) is
# checked again before it goes: the resident may have sent DELETE or STOP meanwhile. An
# unthrottled drain sends within a second or two of the claim; checking every row cost a
# transaction per message and halved it (bench/outbox.py).
RECHECK_AFTER = dt.timedelta(seconds=5)


def backoff(attempts: int, *, base: float = BACKOFF_BASE_SECONDS) -> dt.timedelta:
    """Return the wait before attempt `attempts + 1`: exponential, capped, with jitter."""
    ceiling = min(BACKOFF_CAP_SECONDS, base * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=random.uniform(ceiling / 2, ceiling))


@dataclass
class DeliveryConfig:
    """The worker's knobs, from settings (tests and benchmarks set them directly)."""

    rates: dict[str, float]
    concurrency: int = 8
    batch: int = 200
    lease: dt.timedelta = dt.timedelta(seconds=120)
    send_timeout: dt.timedelta = dt.timedelta(seconds=20)
    max_attempts: int = 8
    backoff_base: float = BACKOFF_BASE_SECONDS
    templates: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.send_deadline <= dt.timedelta(0):
            raise ValueError(
                "the outbox lease must be longer than the send timeout plus a margin "
                f"(lease {self.lease}, send timeout {self.send_timeout})"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        """Build the configuration from settings."""
        return cls(
            rates={"whatsapp": settings.rate_whatsapp, "sms": settings.rate_sms},
            concurrency=settings.worker_concurrency,
            batch=settings.worker_batch,
            lease=dt.timedelta(seconds=settings.outbox_lease_seconds),
            send_timeout=dt.timedelta(seconds=settings.twilio_timeout_seconds),
            max_attempts=settings.outbox_max_attempts,
            templates=settings.whatsapp_templates,
        )

    def lane_capacity(self, channel: str) -> int:
        """Return how many rows of `channel` one worker may hold: what it can send in a lease."""
        rate = self.rates.get(channel, 0)
        if rate <= 0:
            return self.batch
        budget = max(1.0, (self.lease - self.send_timeout).total_seconds() / 2)
        return max(1, min(self.batch, int(rate * budget)))

    @property
    def send_deadline(self) -> dt.timedelta:
        """Return how long after its claim a send may still start."""
        margin = max(dt.timedelta(seconds=1), self.lease / 10)
        return max(dt.timedelta(0), self.lease - self.send_timeout - margin)


def as_outgoing(outbox_id: int, decision: Route) -> OutgoingMessage:
    """Return the provider message for a routing decision."""
    return OutgoingMessage(
        outbox_id=outbox_id,
        channel=decision.channel,
        to=decision.to,
        body=decision.body,
        content_sid=decision.content_sid,
        content_variables=decision.content_variables,
    )


class Dispatcher:
    """One worker's delivery loop state: lanes per channel, a pool, a results queue."""

    def __init__(
        self,
        *,
        engine: Engine,
        sender: Sender,
        config: DeliveryConfig,
        worker_id: str,
        stop: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.config = config
        self.worker_id = worker_id
        self.stop = stop or threading.Event()
        self.buckets = {ch: TokenBucket(config.rates.get(ch, 0)) for ch in CHANNELS}
        self.pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="outbox-send")
        self.results: queue.Queue[tuple[Claimed, Outcome]] = queue.Queue()
        self.in_flight = dict.fromkeys(CHANNELS, 0)
        self.sent = 0
        self._wake = threading.Event()

    # -- the loop ------------------------------------------------------------------------
    def run(self, *, idle_wait: float = 1.0, until_idle: bool = False) -> None:
        """Deliver until `stop` is set (or, with `until_idle`, until nothing is due)."""
        try:
            while not self.stop.is_set():
                claimed = self.top_up()
                written = self.drain_results()
                busy = any(self.in_flight.values())
                if until_idle and not claimed and not busy and not written:
                    return
                if not claimed and not written:
                    self._wake.wait(0.05 if busy else idle_wait)
                    self._wake.clear()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Let sends in progress finish (waiting ones are released), record everything."""
        self.stop.set()
        self.pool.shutdown(wait=True)
        self.drain_results()

    def top_up(self) -> int:
        """Claim rows for every lane that is under half full; return how many."""
        total = 0
        for channel in CHANNELS:
            capacity = self.config.lane_capacity(channel)
            if self.in_flight[channel] > capacity // 2:
                continue
            with session_scope(self.engine) as session:
                rows = service.claim(
                    session=session,
                    worker_id=self.worker_id,
                    channel=channel,
                    limit=capacity - self.in_flight[channel],
                    lease=self.config.lease,
                )
            total += len(rows)
            stops = []
            for row in rows:
                outcome = self._dispatch(row)
                if outcome is not None:
                    stops.append(outcome)
            if stops:
                with session_scope(self.engine) as session:
                    service.record_outcomes(session=session, outcomes=stops)
        return total

    def _dispatch(self, row: Claimed, *, window_closed: bool = False) -> Outcome | None:
        draft = row.draft
        if window_closed:
            draft = replace(draft, error_code=WINDOW_CLOSED_CODE)
        decision = route(draft, row.recipient, now=utcnow(), templates=self.config.templates)
        if isinstance(decision, Stop):
            log.info(
                "outbox row not sent",
                extra={"outbox_id": row.id, "status": decision.status, "reason": decision.reason},
            )
            return Outcome(
                row.id,
                row.resident_id,
                "final",
                status=decision.status,
                channel=None,
                code=WINDOW_CLOSED_CODE if window_closed else None,
                message=decision.reason,
            )
        if self.stop.is_set():
            return Outcome(row.id, row.resident_id, "release", message="released unsent")
        if isinstance(decision, Split):  # queued as numbered SMS rows, sent in order
            return Outcome(row.id, row.resident_id, "split", channel="sms", parts=decision.parts)
        self.in_flight[row.draft.channel] += 1
        self.pool.submit(self._send, row, decision)
        return None

    # -- on the pool -----------------------------------------------------------------------
    def _send(self, row: Claimed, decision: Route) -> None:
        try:
            outcome = self._attempt(row, decision)
        except Exception as exc:  # never lose a row to a bug: reconcile it later
            log.exception("unexpected error sending an outbox row", extra={"outbox_id": row.id})
            outcome = Outcome(
                row.id, row.resident_id, "ambiguous", message=f"{type(exc).__name__}: {exc}"
            )
        self.results.put((row, outcome))
        self._wake.set()

    def _attempt(self, row: Claimed, decision: Route) -> Outcome:
        release = Outcome(row.id, row.resident_id, "release", message="released unsent")
        # A send must start inside the lease (else someone may reconcile it): a row that
        # could not get its turn at the channel's rate by then takes no turn from another.
        # Rows claimed for WhatsApp's rate that fall back to SMS would otherwise book the
        # SMS lane for minutes ahead, and be released unsent, over and over.
        deadline = row.claimed_at + self.config.send_deadline
        left = (deadline - utcnow()).total_seconds()
        if left <= 0 or not self.buckets[decision.channel].acquire(self.stop, within=left):
            return release
        if utcnow() > deadline:  # woken late: the lease may be gone
            return release
        if utcnow() > row.claimed_at + RECHECK_AFTER and not self._still_to_send(row):
            log.info("outbox row no longer to be sent", extra={"outbox_id": row.id})
            return release  # erased, opted out or cancelled while it waited for its turn
        try:
            result = self.sender.send(as_outgoing(row.id, decision))
        except SendError as error:
            return self._failure(row, decision, error)
        return Outcome(
            row.id,
            row.resident_id,
            "sent",
            sid=result.sid,
            status=result.status,
            channel=decision.channel,
            content_sid=decision.content_sid,
        )

    def _still_to_send(self, row: Claimed) -> bool:
        with session_scope(self.engine) as session:
            return service.still_to_send(
                session=session, outbox_id=row.id, worker_id=self.worker_id
            )

    def _failure(self, row: Claimed, decision: Route, error: SendError) -> Outcome:
        log.info(
            "provider refused an outbox message",
            extra={
                "outbox_id": row.id,
                "kind": error.kind,
                "error_code": error.code,
                "http_status": error.status,
            },
        )
        if error.code == WINDOW_CLOSED_CODE and decision.channel == "whatsapp":
            return Outcome(
                row.id, row.resident_id, "reroute", code=error.code, message=error.message
            )
        exhausted = row.attempts >= self.config.max_attempts
        if error.kind == "permanent" or (error.kind == "retry" and exhausted):
            return Outcome(
                row.id,
                row.resident_id,
                "final",
                status="failed",
                channel=decision.channel,
                code=error.code,
                message=error.message
                + (
                    "" if error.kind == "permanent" else f" (gave up after {row.attempts} attempts)"
                ),
            )
        retry_at = utcnow() + backoff(row.attempts, base=self.config.backoff_base)
        return Outcome(
            row.id,
            row.resident_id,
            error.kind,
            code=error.code,
            message=error.message,
            retry_at=retry_at,
        )

    # -- results ---------------------------------------------------------------------------
    def drain_results(self) -> int:
        """Write every finished send's outcome in one transaction; return how many."""
        batch: list[Outcome] = []
        while True:
            try:
                row, outcome = self.results.get_nowait()
            except queue.Empty:
                break
            self.in_flight[row.draft.channel] -= 1
            if outcome.kind == "reroute" and row.draft.error_code != WINDOW_CLOSED_CODE:
                # 63016: the window was closed after all. Route again now, as a template or SMS.
                retry = replace(row, draft=replace(row.draft, error_code=WINDOW_CLOSED_CODE))
                stopped = self._dispatch(retry)
                if stopped is not None:
                    batch.append(stopped)
                continue
            if outcome.kind == "reroute":
                outcome = Outcome(
                    row.id,
                    row.resident_id,
                    "final",
                    status="failed",
                    channel="whatsapp",
                    code=outcome.code,
                    message=outcome.message,
                )
            if outcome.kind == "sent":
                self.sent += 1
            batch.append(outcome)
        if batch:
            with session_scope(self.engine) as session:
                service.record_outcomes(session=session, outcomes=batch)
        return len(batch)


# --- reconciliation -----------------------------------------------------------------------


def _texts(draft: Draft) -> list[str]:
    texts = [text for text in (draft.body, draft.sms_body) if text]
    texts += [sms.plain_punctuation(text) for text in texts]
    texts += [text for text in [sms_text(draft)] if text]  # as SMS carries it (`_by_sms`)
    return [" ".join(text.split()) for text in dict.fromkeys(texts)]


def _template_values(draft: Draft) -> list[str]:
    if draft.content_variables:
        return [str(v) for v in draft.content_variables.values()]
    return [template_variable(draft.body)] if draft.body else []


def matches(draft: Draft, message: ProviderMessage) -> bool:
    """Return whether a provider message is this row's text (free-form, SMS or template)."""
    text = " ".join((message.body or "").split())
    if not text:
        return False
    if text in _texts(draft):
        return True
    values = _template_values(draft)
    return bool(values) and all(value in text for value in values)


def _template_sent(
    draft: Draft, message: ProviderMessage, channel: str, config: DeliveryConfig
) -> str | None:
    """Return the template a WhatsApp message found at the provider went out as, or None
    when it went as the row's own text (free-form, or SMS)."""
    if channel != "whatsapp" or " ".join(message.body.split()) in _texts(draft):
        return None
    return draft.content_sid or find_template(config.templates, draft.purpose, draft.language)


def _addresses(phone: str, channel: str) -> tuple[str, ...]:
    # A WhatsApp row may have gone out by SMS (fallback); an SMS row only by SMS.
    return (f"whatsapp:{phone}", phone) if channel == "whatsapp" else (phone,)


def reconcile(
    *,
    engine: Engine,
    sender: Sender,
    config: DeliveryConfig,
    worker_id: str,
    limit: int = 100,
) -> int:
    """Settle rows left in 'sending' past their lease by asking the provider; return how many.

    A row whose message the provider has is recorded as sent; one it lacks goes back to
    pending (or fails after the last attempt). If the provider cannot be asked, the row
    keeps waiting for the next pass: it is never resent unchecked.
    """
    with session_scope(engine) as session:
        stale = service.claim_stale(
            session=session, worker_id=worker_id, lease=config.lease, limit=limit
        )
    if not stale:
        return 0
    listings: dict[tuple[str, dt.datetime], list[ProviderMessage]] = {}
    outcomes: list[Outcome] = []
    pending_lookups: list[tuple[Stale, list[ProviderMessage]]] = []
    for row in stale:
        since = row.claimed_at - CLOCK_SKEW
        found: list[ProviderMessage] = []
        try:
            for address in _addresses(row.phone, row.draft.channel):
                key = (address, since.replace(second=0, microsecond=0))
                if key not in listings:
                    listings[key] = sender.find_sent(to=address, since=key[1])
                found.extend(listings[key])
        except SendError as error:
            log.warning(
                "cannot reconcile an outbox row now",
                extra={"outbox_id": row.id, "error": str(error)},
            )
            outcomes.append(
                Outcome(
                    row.id,
                    row.resident_id,
                    "ambiguous",
                    code=error.code,
                    message=f"reconcile failed: {error.message}",
                    retry_at=utcnow() + backoff(1),
                )
            )
            continue
        pending_lookups.append((row, found))

    with session_scope(engine) as session:
        every_sid = {m.sid for _, found in pending_lookups for m in found}
        taken = service.known_sids(session=session, sids=every_sid)
        for row, found in pending_lookups:
            upper = row.lease_ended_at + CLOCK_SKEW
            lower = row.claimed_at - CLOCK_SKEW
            match = next(
                (
                    m
                    for m in sorted(found, key=lambda m: (m.created_at or upper, m.sid))
                    if m.sid not in taken
                    and (m.created_at is None or lower <= m.created_at <= upper)
                    and matches(row.draft, m)
                ),
                None,
            )
            if match is not None:
                taken.add(match.sid)
                channel = "whatsapp" if match.to.startswith("whatsapp:") else "sms"
                outcomes.append(
                    Outcome(
                        row.id,
                        row.resident_id,
                        "sent",
                        sid=match.sid,
                        status=match.status,
                        channel=channel,
                        content_sid=_template_sent(row.draft, match, channel, config),
                    )
                )
                log.info("reconciled: the provider has the message", extra={"outbox_id": row.id})
            elif row.attempts >= config.max_attempts:
                outcomes.append(
                    Outcome(
                        row.id,
                        row.resident_id,
                        "final",
                        status="failed",
                        message=f"not accepted by the provider after {row.attempts} attempts",
                    )
                )
            else:
                outcomes.append(
                    Outcome(
                        row.id,
                        row.resident_id,
                        "retry",
                        message="reconciled: not at the provider; resend",
                    )
                )
                log.info("reconciled: the provider lacks the message", extra={"outbox_id": row.id})
        service.record_outcomes(session=session, outcomes=outcomes)
    return len(stale)
