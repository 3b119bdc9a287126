"""The provider interface the worker's sender implements (Twilio REST or the console)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

ErrorKind = Literal["retry", "ambiguous", "permanent"]
_SID = re.compile(r"[A-Za-z0-9]{2,64}")


def is_message_sid(value: str) -> bool:
    """Return whether a value can be a Twilio message sid (letters and digits, at most 64)."""
    # fullmatch: `$` in a match() would let a final newline through.
    return _SID.fullmatch(value) is not None


@dataclass(frozen=True)
class OutgoingMessage:
    """One message as the provider will get it: exactly one of body or content_sid."""

    outbox_id: int
    channel: str
    to: str
    body: str | None = None
    content_sid: str | None = None
    content_variables: dict[str, str] | None = None


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the message and gave it this id and status."""

    sid: str
    status: str


class SendError(Exception):
    """The provider did not (or may not have) accepted the message.

    `kind` says what may follow: "retry" (certainly not accepted: back off and send
    again), "ambiguous" (the request may have been accepted: check the provider before
    any resend) or "permanent" (do not send this again).
    """

    def __init__(
        self, kind: ErrorKind, message: str, *, code: int | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.code = code
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ProviderMessage:
    """A message as the provider lists it (used to reconcile rows left mid-send)."""

    sid: str
    to: str
    body: str
    status: str
    created_at: dt.datetime | None


class Sender(Protocol):
    """Sends messages and lists what was sent to a number."""

    def send(self, message: OutgoingMessage) -> SendResult:
        """Hand `message` to the provider; raise SendError when it is not accepted."""
        ...

    def find_sent(self, *, to: str, since: dt.datetime) -> list[ProviderMessage]:
        """Return the messages sent to `to` since `since` (raise SendError on failure)."""
        ...

    def delete_messages(self, *, phone: str, before: dt.datetime) -> int:
        """Delete at the provider every message (and its media) sent to or from `phone`, on
        any channel, before `before`; return how many. Raise SendError on failure."""
        ...

    def sent_before(self, *, before: dt.datetime) -> Iterator[str]:
        """Yield, page by page, the sids of the messages to or from our own numbers, on any
        channel, that the provider sent before `before` (raise SendError on failure)."""
        ...

    def delete_message(self, *, sid: str) -> None:
        """Delete one message and its media at the provider; one already gone is deleted.
        Raise SendError on failure."""
        ...
