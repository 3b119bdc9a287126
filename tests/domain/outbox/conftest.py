"""Fixtures of the outbox tests: the local Twilio stand-in and a sender that talks to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.channels.sender import TwilioSender
from tests.twilio_standin import TwilioStandIn, standin_settings


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    """A stand-in for Twilio's Messages API, serving on a random local port."""
    with TwilioStandIn() as server:
        yield server


@pytest.fixture
def sender(standin: TwilioStandIn, database_url: str) -> TwilioSender:
    """The real Twilio sender, pointed at the stand-in."""
    return TwilioSender(standin_settings(standin, database_url))
