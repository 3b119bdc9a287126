"""Outbound senders for the worker: Twilio's REST API, or the console (log and store only).

Both implement `bot.domain.outbox.ports.Sender`. The Twilio sender uses the real
`twilio.rest.Client`; SIYAKHA_TWILIO_API_URL replaces the base URL of its 2010-04-01
API domain, so tests and benchmarks talk to a local stand-in.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request
import uuid
from collections.abc import Iterator

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from bot.config import Settings
from bot.domain.outbox.ports import OutgoingMessage, ProviderMessage, Sender, SendError, SendResult

log = logging.getLogger(__name__)

# Provider error codes that say "slow down and try again" (no message was created): too
# many requests, the sender's queue is full (21611), WhatsApp rate limits.
RETRY_CODES = frozenset({20429, 21611, 63017, 63018})


# How many of a number's newest messages reconciliation reads for ones still queued.
NEWEST_TO_CHECK = 50
# Messages per page when listing the old ones to delete (Twilio allows up to 1,000).
OLD_PAGE_SIZE = 200


def _whatsapp_address(number: str) -> str:
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


def status_callback_url(settings: Settings, outbox_id: int) -> str:
    """Return the status-callback URL for a row (the id lets early callbacks find it)."""
    return f"{settings.public_url.rstrip('/')}/webhooks/twilio/status?outbox={outbox_id}"


def classify(exc: Exception) -> SendError:
    """Turn an exception from the Twilio client into a SendError of the right kind."""
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, TwilioRestException):
        message = str(exc.msg or "")[:300]
        if exc.status == 429 or exc.code in RETRY_CODES:
            return SendError("retry", message, code=exc.code or 20429, status=exc.status)
        if exc.status >= 500:
            # The provider may have created the message before failing: check, then resend.
            return SendError("ambiguous", message, code=exc.code, status=exc.status)
        return SendError("permanent", message, code=exc.code, status=exc.status)
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(exc, requests.ConnectTimeout) or isinstance(reason, NewConnectionError):
            return SendError("retry", f"cannot connect: {type(reason or exc).__name__}")
    return SendError("ambiguous", f"{type(exc).__name__}: {str(exc)[:200]}")


class TwilioSender:
    """Send through Twilio's Messages API with the official client."""

    def __init__(self, settings: Settings, *, pool_size: int | None = None) -> None:
        if not settings.twilio_account_sid or not settings.twilio_auth_token:
            raise ValueError(
                "SIYAKHA_OUTBOUND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
            )
        self.settings = settings
        # Proxies are read from the environment once, not on every request (requests'
        # trust_env scans os.environ per call, a third of the client's time per message).
        http = TwilioHttpClient(
            timeout=settings.twilio_timeout_seconds, proxy=urllib.request.getproxies() or None
        )
        size = pool_size or max(10, settings.worker_concurrency * 2)
        assert http.session is not None
        http.session.trust_env = False
        for scheme in ("https://", "http://"):
            # No transport retries: a retried POST could create a second message.
            http.session.mount(scheme, HTTPAdapter(pool_connections=4, pool_maxsize=size))
        self.client = Client(
            settings.twilio_account_sid, settings.twilio_auth_token, http_client=http
        )
        if settings.twilio_api_url:
            self.client.api.base_url = settings.twilio_api_url.rstrip("/")

    def _senders(self, channel: str) -> dict[str, str]:
        if self.settings.messaging_service_sid:
            return {"messaging_service_sid": self.settings.messaging_service_sid}
        sender = self.settings.whatsapp_from if channel == "whatsapp" else self.settings.sms_from
        if not sender:
            name = "SIYAKHA_WHATSAPP_FROM" if channel == "whatsapp" else "SIYAKHA_SMS_FROM"
            raise SendError("permanent", f"no sender configured: set {name}")
        return {"from_": _whatsapp_address(sender) if channel == "whatsapp" else sender}

    def send(self, message: OutgoingMessage) -> SendResult:
        """Create the message at Twilio; raise SendError when it is not accepted."""
        kwargs: dict[str, str] = {
            "to": message.to,
            "status_callback": status_callback_url(self.settings, message.outbox_id),
            **self._senders(message.channel),
        }
        if message.content_sid:
            kwargs["content_sid"] = message.content_sid
            kwargs["content_variables"] = json.dumps(message.content_variables or {})
        else:
            kwargs["body"] = message.body or ""
        try:
            created = self.client.messages.create(**kwargs)
        except Exception as exc:
            raise classify(exc) from exc
        return SendResult(sid=created.sid or "", status=str(created.status or "queued"))

    def find_sent(self, *, to: str, since: dt.datetime) -> list[ProviderMessage]:
        """List messages to `to` that may have been created since `since`: those Twilio
        sent since then (DateSent>), and among its newest messages to `to` those still in
        its queue, which have no send date yet and which no DateSent filter finds."""
        try:
            sent = self.client.messages.list(to=to, date_sent_after=since, page_size=100)
            newest = self.client.messages.list(to=to, limit=NEWEST_TO_CHECK)
        except Exception as exc:
            raise classify(exc) from exc
        unsent = [m for m in newest if m.date_sent is None]
        found = {m.sid: m for m in [*sent, *unsent]}.values()
        return [
            ProviderMessage(
                sid=m.sid or "",
                to=m.to or "",
                body=m.body or "",
                status=str(m.status or ""),
                created_at=m.date_created,
            )
            for m in found
        ]

    def delete_messages(self, *, phone: str, before: dt.datetime) -> int:
        """Delete every message to or from `phone` (SMS and WhatsApp) created before
        `before`, TwiML replies included; deleting a message deletes its media. One already
        gone (a 404) counts as deleted. Not filtered by DateSent: a message still in
        Twilio's queue has no send date yet, and would escape."""
        deleted = 0
        for address in (phone, _whatsapp_address(phone)):
            for direction in ({"to": address}, {"from_": address}):
                try:
                    found = [
                        message
                        for message in self.client.messages.list(**direction)
                        if message.date_created is None or message.date_created < before
                    ]
                except Exception as exc:
                    raise classify(exc) from exc
                for message in found:
                    self.delete_message(sid=message.sid or "")
                    deleted += 1
        return deleted

    def own_addresses(self) -> list[str]:
        """Return our numbers as Twilio writes them: SIYAKHA_SMS_FROM, and
        SIYAKHA_WHATSAPP_FROM with its `whatsapp:` prefix (those set)."""
        addresses = [self.settings.sms_from] if self.settings.sms_from else []
        if self.settings.whatsapp_from:
            addresses.append(_whatsapp_address(self.settings.whatsapp_from))
        return addresses

    def sent_before(self, *, before: dt.datetime) -> Iterator[str]:
        """Yield, page by page, the sids of the messages to or from our own numbers (SMS and
        WhatsApp, TwiML replies included) that Twilio sent before `before`.

        Twilio's DateSent< filter reads a day and includes all of it, so the day asked for
        is the last one wholly before `before`: a message can be found a day late, never
        early. Each is checked against `before` again, whatever the filter did. Only our
        numbers are listed: another application on the same account keeps its messages."""
        addresses = self.own_addresses()
        if not addresses:
            log.warning(
                "no sender numbers set (SIYAKHA_SMS_FROM, SIYAKHA_WHATSAPP_FROM): "
                "messages past the retention period are not deleted at Twilio"
            )
            return
        day = (before.astimezone(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
        for address in addresses:
            for direction in ({"to": address}, {"from_": address}):
                try:
                    for message in self.client.messages.stream(
                        **direction, date_sent_before=day, page_size=OLD_PAGE_SIZE
                    ):
                        if message.date_sent is not None and message.date_sent < before:
                            yield message.sid or ""
                except Exception as exc:
                    raise classify(exc) from exc

    def delete_message(self, *, sid: str) -> None:
        """Delete one message at Twilio, and with it its media; one already gone (a 404)
        counts as deleted."""
        try:
            self.client.messages(sid).delete()
        except TwilioRestException as exc:
            if exc.status != 404:
                raise classify(exc) from exc
        except Exception as exc:
            raise classify(exc) from exc


class ConsoleSender:
    """Log proactive messages (phone masked, no body) instead of sending them."""

    def send(self, message: OutgoingMessage) -> SendResult:
        """Log the message and return a fake sid; the outbox row keeps the text."""
        sid = "SMconsole" + uuid.uuid4().hex[:25]
        log.info(
            "outbound message (console: not sent)",
            extra={
                "outbox_id": message.outbox_id,
                "channel": message.channel,
                "to": message.to,
                "template": message.content_sid,
                "provider_sid": sid,
            },
        )
        return SendResult(sid=sid, status="sent")

    def find_sent(self, *, to: str, since: dt.datetime) -> list[ProviderMessage]:
        """Return nothing: the console keeps no record beyond the outbox itself."""
        return []

    def delete_messages(self, *, phone: str, before: dt.datetime) -> int:
        """Delete nothing: the console sent nothing."""
        return 0

    def sent_before(self, *, before: dt.datetime) -> Iterator[str]:
        """Yield nothing: the console sent nothing."""
        yield from ()

    def delete_message(self, *, sid: str) -> None:
        """Delete nothing: the console sent nothing."""


def make_sender(settings: Settings) -> Sender:
    """Return the sender SIYAKHA_OUTBOUND asks for."""
    if settings.outbound == "twilio":
        return TwilioSender(settings)
    return ConsoleSender()
