"""Twilio Messaging webhooks: form fields in, TwiML out. SMS and WhatsApp only: a message
on another of Twilio's channels (RCS, Messenger...) is refused."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping

from twilio.twiml.messaging_response import MessagingResponse

from bot.domain.outbox.ports import is_message_sid
from bot.engine.messages import Channel, Inbound, Location, Media
from bot.phones import InvalidPhone, normalise
from bot.sms import sendable

MAX_MEDIA = 10


class MalformedWebhook(ValueError):
    """A signed request whose fields cannot be a message this service takes."""


class UnsupportedChannel(MalformedWebhook):
    """A message on a channel other than SMS and WhatsApp (Twilio's RCS, `rcs:+27...`)."""


# The channel prefix of an address ("whatsapp:", "rcs:", "messenger:"), written as a URI
# scheme; an SMS address is a bare number, with none.
_PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def channel_of(address: str) -> Channel:
    """Return the channel a Twilio `From`/`To` address belongs to: WhatsApp for
    `whatsapp:+27...`, SMS for a bare number; refuse any other prefix."""
    prefix = _PREFIX.match(address.strip())
    if prefix is None:
        return "sms"
    if prefix.group(1).lower() == "whatsapp":
        return "whatsapp"
    # Its number would be read as an SMS resident's, reached by SMS ever after.
    raise UnsupportedChannel(
        f"From: {prefix.group(1)}: is a channel this service does not serve (SMS and WhatsApp only)"
    )


def _float(form: Mapping[str, str], name: str) -> float | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise MalformedWebhook(f"{name} is not a number") from None
    if not math.isfinite(value):
        raise MalformedWebhook(f"{name} is not a finite number")
    return value


def _location(form: Mapping[str, str]) -> Location | None:
    latitude, longitude = _float(form, "Latitude"), _float(form, "Longitude")
    if latitude is None and longitude is None:
        return None
    if latitude is None or longitude is None:
        raise MalformedWebhook("a location needs both Latitude and Longitude")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise MalformedWebhook("Latitude or Longitude is out of range")
    return Location(
        latitude=latitude,
        longitude=longitude,
        address=form.get("Address") or None,
        label=form.get("Label") or None,
    )


def _media(form: Mapping[str, str]) -> tuple[Media, ...]:
    raw = form.get("NumMedia", "0").strip() or "0"
    if not raw.isdecimal() or int(raw) > MAX_MEDIA:
        raise MalformedWebhook(f"NumMedia must be a whole number up to {MAX_MEDIA}")
    items = []
    for index in range(int(raw)):
        url = form.get(f"MediaUrl{index}", "")
        if not url.startswith(("https://", "http://")):
            raise MalformedWebhook(f"MediaUrl{index} is missing or not a URL")
        items.append(Media(url=url, content_type=form.get(f"MediaContentType{index}", "")))
    return tuple(items)


def parse_inbound(form: Mapping[str, str], *, received_at: dt.datetime) -> Inbound:
    """Read an inbound SMS or WhatsApp message from Twilio's form fields (unknown ones ignored)."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid") or ""
    if not is_message_sid(sid):
        raise MalformedWebhook("MessageSid is missing or malformed")
    sender = form.get("From", "")
    if not sender:
        raise MalformedWebhook("From is missing")
    channel = channel_of(sender)
    wa_id = form.get("WaId", "")
    try:
        phone = normalise(wa_id if channel == "whatsapp" and wa_id else sender)
    except InvalidPhone as exc:
        raise MalformedWebhook(f"From: {exc}") from None
    # A tapped button or list item carries its id; fall back to the text the resident sent.
    text = form.get("ButtonPayload") or form.get("ListId") or form.get("Body") or ""
    return Inbound(
        message_id=sid,
        phone=phone,
        channel=channel,
        text=text,
        received_at=received_at,
        media=_media(form),
        location=_location(form),
        profile_name=form.get("ProfileName") or None,
    )


def twiml(replies: list[str]) -> str:
    """Render replies as a TwiML document (`<Response/>` when there is nothing to say),
    leaving out any character XML cannot carry (`sms.sendable`)."""
    response = MessagingResponse()
    for reply in replies:
        response.message(sendable(reply))
    return str(response)
