"""Real Twilio webhook payloads (tests/fixtures/twilio) and signing them as Twilio does."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

FIXTURES = Path(__file__).parent / "fixtures" / "twilio"
_sids = itertools.count(1)


def payload(name: str, **overrides: str) -> dict[str, str]:
    """Return a fixture payload with some fields replaced."""
    data: dict[str, str] = json.loads((FIXTURES / f"{name}.json").read_text())
    data.update(overrides)
    return data


def new_sid(prefix: str = "SM") -> str:
    """Return a fresh, well-formed message sid."""
    return f"{prefix}{next(_sids):032x}"


def sms(body: str, phone: str = "+27821234567", **fields: str) -> dict[str, str]:
    """Return an inbound SMS payload with a new MessageSid."""
    sid = new_sid()
    return payload(
        "sms_text", Body=body, From=phone, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid, **fields
    )


def whatsapp(body: str, phone: str = "+27821234567", **fields: str) -> dict[str, str]:
    """Return an inbound WhatsApp text payload with a new MessageSid."""
    sid = new_sid()
    return payload(
        "whatsapp_text",
        Body=body,
        From=f"whatsapp:{phone}",
        WaId=phone.lstrip("+"),
        MessageSid=sid,
        SmsSid=sid,
        SmsMessageSid=sid,
        **fields,
    )


def signed(url: str, form: dict[str, str], token: str) -> dict[str, Any]:
    """Return request kwargs (body and headers) for `form` signed for `url` with `token`."""
    signature = RequestValidator(token).compute_signature(url, form)
    return {
        "content": urlencode(form).encode(),
        "headers": {
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    }


def signed_by_rule(
    url: str, form: dict[str, str], secret: str, algorithm: str = "HMAC_SHA256"
) -> dict[str, Any]:
    """Return request kwargs for `form` signed as a Twilio Webhook Rule does: with a
    SharedKey's `secret` and `algorithm`, named in X-Twilio-Webhooks-Signature-Settings."""
    request = signed(url, form, "unused")
    request["headers"]["X-Twilio-Signature"] = RequestValidator(secret).compute_signature(
        url, form, algorithm
    )
    request["headers"]["X-Twilio-Webhooks-Signature-Settings"] = (
        f"key=KY{'0' * 32},algorithm={algorithm}"
    )
    return request
