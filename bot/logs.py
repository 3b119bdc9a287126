"""Structured logging that never writes a full phone number or a message body.

Residents' phone numbers and words are personal information under POPIA: at every
level the formatter masks anything that looks like a phone number
(+27821234567 -> +2782***4567) and drops fields named like message bodies.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

# A phone number: 9 to 15 digits, perhaps after + and broken by spaces; in a URL's query
# string (as uvicorn logs a GET form, or the Twilio client its requests) the + is %2B and a
# space is + or %20: %2B27821234567, 082+123+4567, 082%20123%204567.
_PHONE = re.compile(r"(?:%2[Bb]|(?<![\w+%])\+?)\d(?:[\d +]|%20){7,40}\d(?!\w)")
_SENSITIVE_KEYS = {"body", "text", "message_body", "media_url", "profile_name", "name"}
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def mask_phone(value: str) -> str:
    """Mask the middle of every phone-like number in `value`: +27821234567 -> +2782***4567,
    and in URLs %2B27821234567 -> %2B2782***4567, 082+123+4567 -> 082***4567."""

    def _mask(match: re.Match[str]) -> str:
        raw = match.group(0)
        prefix = raw[:3] if raw[:3].upper() == "%2B" else raw[:1] if raw[0] == "+" else ""
        digits = re.sub(r"\D", "", raw.replace("%20", " ")[len(prefix) :])
        if not 9 <= len(digits) <= 15:
            return raw
        head = prefix.upper() + digits[:4] if prefix else digits[:3]
        return f"{head}***{digits[-4:]}"

    return _PHONE.sub(_mask, value)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phone(value)
    if isinstance(value, dict):
        return {k: "[redacted]" if k in _SENSITIVE_KEYS else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object per line, masked."""

    _last: tuple[int | None, str] = (None, "")  # a second, and its time as written

    def format(self, record: logging.LogRecord) -> str:
        """Return the masked JSON line for `record`."""
        second = int(record.created)
        cached, stamp = self._last
        if second != cached:  # the lines of one second share its time, written once
            stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z")
            self._last = (second, stamp)
        payload: dict[str, Any] = {
            "ts": stamp,
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_phone(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            payload[key] = "[redacted]" if key in _SENSITIVE_KEYS else _scrub(value)
        if record.exc_info:
            payload["exc"] = mask_phone(self.formatException(record.exc_info))
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Render a record as a human line, masked, for terminals."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the masked line for `record`."""
        return mask_phone(super().format(record))


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send every log record through the masking formatter on stderr."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # No formatter here shows where a record was logged from, or the thread or process
    # that logged it: not looking them up takes 15 % off each record (the logging
    # HOWTO's "Optimization"). Without the caller, `stack_info=True` adds nothing either;
    # no code here passes it.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces every plugin it loads at INFO; keep only its warnings.
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))
    # The Twilio client logs every request's URL at INFO, numbers in its query string
    # (reconciling, deleting an erased resident's messages): masked, and kept to warnings.
    logging.getLogger("twilio.http_client").setLevel(max(root.level, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
