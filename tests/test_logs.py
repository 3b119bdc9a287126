"""Logs are JSON and never carry a full phone number or a message body."""

from __future__ import annotations

import json
import logging

from bot.logs import JsonFormatter, mask_phone


def _format(msg: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("siyakha.test", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter().format(record))


def test_mask_phone_keeps_prefix_and_last_four() -> None:
    assert mask_phone("+27821234567") == "+2782***4567"
    assert mask_phone("whatsapp:+27821234567") == "whatsapp:+2782***4567"
    assert mask_phone("call 082 123 4567 now") == "call 082***4567 now"


def test_mask_phone_masks_numbers_in_urls_as_the_twilio_client_logs_them() -> None:
    url = "GET /Messages.json?To=whatsapp%3A%2B27821234567&From=%2b27831112222&PageSize=50"
    assert mask_phone(url) == (
        "GET /Messages.json?To=whatsapp%3A%2B2782***4567&From=%2B2783***2222&PageSize=50"
    )


def test_mask_phone_masks_numbers_typed_into_a_get_form() -> None:
    # uvicorn logs the query string of the dashboard's resident search as the browser sent
    # it: spaces as + or %20, the + of +27 as %2B. These reached the log whole.
    for typed, masked in [
        ("phone=082+123+4567", "phone=082***4567"),
        ("phone=082%20123%204567", "phone=082***4567"),
        ("phone=%2B27+82+123+4567", "phone=%2B2782***4567"),
        ("phone=%2b27821234567&page=2", "phone=%2B2782***4567&page=2"),
    ]:
        line = f'"GET /staff/residents?{typed} HTTP/1.1" 200'
        assert mask_phone(line) == f'"GET /staff/residents?{masked} HTTP/1.1" 200'


def test_sids_and_short_numbers_are_left_alone() -> None:
    sid = "SM0123456789abcdef0123456789abcdef"
    assert mask_phone(sid) == sid
    assert mask_phone("ward 14, 3 segments") == "ward 14, 3 segments"
    assert mask_phone("page=2&ward=14+3") == "page=2&ward=14+3"
    assert mask_phone("at 2026-12-07T11:22:03+0000") == "at 2026-12-07T11:22:03+0000"


def test_json_record_masks_message_and_extra_fields_and_drops_bodies() -> None:
    line = _format("inbound from %s", "+27821234567", phone="+27831112222", body="my secret")
    assert line["msg"] == "inbound from +2782***4567"
    assert line["phone"] == "+2783***2222"
    assert line["body"] == "[redacted]"
    assert line["level"] == "INFO"
    assert "27821234567" not in json.dumps(line)


def test_each_line_carries_its_own_second() -> None:
    formatter = JsonFormatter()
    lines = []
    for created in (1_000_000_000.2, 1_000_000_000.9, 1_000_000_001.1, 1_000_000_000.5):
        record = logging.LogRecord("siyakha.test", logging.INFO, __file__, 1, "x", (), None)
        record.created = created
        lines.append(json.loads(formatter.format(record))["ts"])
        assert lines[-1] == formatter.formatTime(record, "%Y-%m-%dT%H:%M:%S%z")
    assert lines[0] == lines[1] == lines[3] != lines[2]
