"""Plain factories and helpers for ticket tests (staff users with tokens, tickets, chats)."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from bot.config import Settings
from bot.db import utcnow
from bot.domain.staff import service as staff
from bot.domain.staff.models import StaffUser
from bot.domain.tickets import service as tickets
from bot.domain.tickets.models import Ticket
from tests.twilio_payloads import new_sid, payload, signed

WEBHOOK = "/webhooks/twilio/messages"


def make_staff(
    session: Session, email: str = "triage@ubuntubay.example.org", role: str = "triage"
) -> tuple[StaffUser, str]:
    """Add a staff user with an API token; return both."""
    user = staff.create_user(session=session, email=email, role=role, password="correct horse 1")
    _row, token = staff.create_token(session=session, user=user, name="tests")
    return user, token


def make_ticket(
    session: Session,
    *,
    status: str = "new",
    category: str = "water",
    resident_id: int | None = None,
    now: dt.datetime | None = None,
    urgent: bool = False,
    **fields: Any,
) -> Ticket:
    """Open a ticket (through the service) and put it in `status` directly."""
    ticket = tickets.open_ticket(
        session=session,
        reference=tickets.new_reference(session=session),
        kind="problem",
        category=category,
        description=fields.pop("description", "The standpipe leaks"),
        where=fields.pop("where", "Lane 4"),
        source=fields.pop("source", "sms"),
        now=now or utcnow(),
        resident_id=resident_id,
        urgent=urgent,
    )
    ticket.status = status
    for name, value in fields.items():
        setattr(ticket, name, value)
    session.flush()
    return ticket


class Phone:
    """A resident writing to the webhook over SMS or WhatsApp; `send` returns the reply."""

    def __init__(
        self, client: TestClient, settings: Settings, number: str, channel: str = "whatsapp"
    ) -> None:
        self.client, self.settings, self.number, self.channel = client, settings, number, channel
        self.sid = ""

    def send(
        self, body: str = "", fixture: str | None = None, sid: str | None = None, **fields: str
    ) -> str:
        """Post one signed inbound message (a new MessageSid unless `sid` is given; the
        last one is `self.sid`) and return the TwiML reply text."""
        sid = sid or new_sid("MM" if fixture == "whatsapp_media" else "SM")
        self.sid = sid
        if self.channel == "whatsapp":
            form = payload(
                fixture or "whatsapp_text",
                Body=body,
                From=f"whatsapp:{self.number}",
                WaId=self.number.lstrip("+"),
                MessageSid=sid,
                SmsSid=sid,
                SmsMessageSid=sid,
                **fields,
            )
        else:
            form = payload(
                "sms_text",
                Body=body,
                From=self.number,
                MessageSid=sid,
                SmsSid=sid,
                SmsMessageSid=sid,
                **fields,
            )
        assert self.settings.twilio_auth_token
        response = self.client.post(
            WEBHOOK,
            **signed(self.settings.public_url + WEBHOOK, form, self.settings.twilio_auth_token),
        )
        assert response.status_code == 200, response.text
        root = ET.fromstring(response.text)
        return "\n".join(m.text or "" for m in root.findall("Message"))

    def onboard(self, settlement: str) -> None:
        """Choose English, agree to the notice and name the settlement."""
        self.send("hi")
        self.send("1")
        self.send("1")
        assert "Main menu" in self.send(settlement)
