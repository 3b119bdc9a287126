"""Messages past the retention period are deleted at Twilio too (job
outbox.forget_at_provider), against the local stand-in, through the real Twilio client."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy.engine import Engine

from bot import worker
from bot.channels import sender as senders
from bot.channels.sender import ConsoleSender, TwilioSender, make_sender
from bot.config import Settings
from bot.domain.outbox import jobs
from tests import TEST_SECRET_KEY
from tests.domain.outbox.test_delivery import config
from tests.live_server import free_port
from tests.twilio_standin import TwilioStandIn, standin_settings

PHONE = "+27821110400"
SMS_FROM, WHATSAPP_FROM = "+27870000001", "whatsapp:+27870000002"  # standin_settings'
# Midday, so that the cutoff a year back is midday too and "the same day" is unambiguous.
NOW = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(12), tzinfo=dt.UTC)
CUTOFF = NOW - dt.timedelta(days=365)  # SIYAKHA_RETENTION_DAYS' default
OLD = CUTOFF - dt.timedelta(days=30)


def _sent(sender: TwilioSender, standin: TwilioStandIn, when: dt.datetime, **message: str) -> str:
    """Send a message through Twilio (from our number unless told), dated `when`."""
    created = sender.client.messages.create(**{"from_": SMS_FROM, "body": "Hi", **message})
    assert created.sid
    standin.backdate(created.sid, when)
    return created.sid


def _received(
    standin: TwilioStandIn,
    when: dt.datetime,
    sender: str,
    body: str,
    to: str = SMS_FROM,
    media: int = 0,
) -> str:
    """Record a message a resident sent us, dated `when`."""
    sid = standin.received(sender, body, to, media=media)
    standin.backdate(sid, when)
    return sid


def _bodies(standin: TwilioStandIn) -> list[str]:
    return [m["body"] for m in standin.messages]


def test_old_messages_both_ways_on_both_channels_go_with_their_media_and_young_ones_stay(
    sender: TwilioSender, standin: TwilioStandIn, database_url: str
) -> None:
    photo = _received(standin, OLD, PHONE, body="old photo of the leak", media=1)
    _received(standin, OLD, f"whatsapp:{PHONE}", body="old voice note", to=WHATSAPP_FROM, media=1)
    _sent(sender, standin, OLD, to=PHONE, body="old SMS reply")
    _sent(sender, standin, OLD, to=f"whatsapp:{PHONE}", from_=WHATSAPP_FROM, body="old TwiML")
    young = NOW - dt.timedelta(days=10)
    kept = _received(standin, young, PHONE, body="young photo", media=1)
    _received(standin, young, f"whatsapp:{PHONE}", body="young WhatsApp", to=WHATSAPP_FROM)
    _sent(sender, standin, young, to=PHONE, body="young SMS reply")
    _sent(sender, standin, young, to=f"whatsapp:{PHONE}", from_=WHATSAPP_FROM, body="young TwiML")
    assert photo in standin.media

    settings = standin_settings(standin, database_url)
    assert jobs.forget_at_provider(sender=sender, settings=settings, now=NOW) == 4
    assert sorted(_bodies(standin)) == [
        "young SMS reply",
        "young TwiML",
        "young WhatsApp",
        "young photo",
    ]
    assert list(standin.media) == [kept]  # the old photo and voice note went with theirs
    assert jobs.forget_at_provider(sender=sender, settings=settings, now=NOW) == 0


def test_no_message_younger_than_the_period_is_deleted_though_twilio_filters_by_day(
    sender: TwilioSender, standin: TwilioStandIn, database_url: str
) -> None:
    day_before = CUTOFF.replace(hour=0) - dt.timedelta(seconds=1)  # 23:59:59, the day before
    _sent(sender, standin, day_before, to=PHONE, body="the day before the cutoff's")
    _sent(sender, standin, CUTOFF - dt.timedelta(seconds=1), to=PHONE, body="just older")
    _sent(sender, standin, CUTOFF + dt.timedelta(seconds=1), to=PHONE, body="just younger")
    _sent(sender, standin, CUTOFF.replace(hour=23, minute=59), to=PHONE, body="same day")
    # Twilio, asked for messages sent before the cutoff, answers with its whole day.
    listed = sender.client.messages.list(to=PHONE, date_sent_before=CUTOFF)
    assert "just younger" in [m.body for m in listed]

    settings = standin_settings(standin, database_url)
    assert jobs.forget_at_provider(sender=sender, settings=settings, now=NOW) == 1
    # "just older" waits a day longer, as the day it was sent is not over a year ago yet.
    assert _bodies(standin) == ["just older", "just younger", "same day"]
    tomorrow = NOW + dt.timedelta(days=1)
    assert jobs.forget_at_provider(sender=sender, settings=settings, now=tomorrow) == 3
    assert standin.messages == []


def test_a_run_is_bounded_and_the_next_run_goes_on_page_by_page(
    sender: TwilioSender,
    standin: TwilioStandIn,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(senders, "OLD_PAGE_SIZE", 2)
    for n in range(7):
        _sent(sender, standin, OLD + dt.timedelta(minutes=n), to=PHONE, body=f"old {n}")
    settings = standin_settings(standin, database_url)
    runs = [
        jobs.forget_at_provider(sender=sender, settings=settings, now=NOW, limit=3)
        for _ in range(4)
    ]
    assert runs == [3, 3, 1, 0]  # each of the first two crossed a page of 2
    assert standin.messages == []


def test_a_failed_deletion_is_logged_and_tried_again_next_run(
    sender: TwilioSender,
    standin: TwilioStandIn,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sids = [_sent(sender, standin, OLD, to=PHONE, body=f"old {n}") for n in range(3)]
    standin.fail_delete(500, 20500, sid=sids[1])
    settings = standin_settings(standin, database_url)
    with caplog.at_level(logging.INFO, logger=jobs.__name__):
        assert jobs.forget_at_provider(sender=sender, settings=settings, now=NOW) == 2
    assert _bodies(standin) == ["old 1"]
    failed = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.__dict__["provider_sid"] for r in failed] == [sids[1]]
    assert jobs.forget_at_provider(sender=sender, settings=settings, now=NOW) == 1
    assert standin.messages == []


def test_twilio_out_of_reach_is_logged_and_the_job_returns(
    standin: TwilioStandIn, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = standin_settings(
        standin, database_url, SIYAKHA_TWILIO_API_URL=f"http://127.0.0.1:{free_port()}"
    )
    with caplog.at_level(logging.WARNING, logger=jobs.__name__):
        sender = TwilioSender(unreachable)
        assert jobs.forget_at_provider(sender=sender, settings=unreachable, now=NOW) == 0
    assert "listing old messages at the provider failed" in caplog.text


def test_another_applications_messages_on_the_account_are_left_alone(
    sender: TwilioSender, standin: TwilioStandIn, database_url: str
) -> None:
    theirs = "+27870009999"
    _sent(sender, standin, OLD, to=PHONE, from_=theirs, body="another app's")
    _received(standin, OLD, PHONE, body="to another app", to=theirs)
    _sent(sender, standin, OLD, to=PHONE, body="ours")
    settings = standin_settings(standin, database_url)
    assert jobs.forget_at_provider(sender=sender, settings=settings, now=NOW) == 1
    assert _bodies(standin) == ["another app's", "to another app"]


def test_with_no_sender_numbers_nothing_is_listed_and_it_says_so(
    standin: TwilioStandIn, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = standin_settings(
        standin,
        database_url,
        SIYAKHA_SMS_FROM="",
        SIYAKHA_WHATSAPP_FROM="",
        SIYAKHA_MESSAGING_SERVICE_SID="MG" + "1" * 32,
    )
    sender = TwilioSender(settings)
    _sent(sender, standin, OLD, to=PHONE, body="through the service")
    with caplog.at_level(logging.WARNING):
        assert jobs.forget_at_provider(sender=sender, settings=settings, now=NOW) == 0
    assert "SIYAKHA_SMS_FROM" in caplog.text
    assert standin.state.requests["list"] == 0
    assert _bodies(standin) == ["through the service"]


def test_the_simulator_setup_deletes_nothing_and_the_worker_schedules_the_job(
    database_url: str, engine: Engine
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        SIYAKHA_ENV="test",
        SIYAKHA_SECRET_KEY=TEST_SECRET_KEY,
        DATABASE_URL=database_url,
    )
    console = make_sender(settings)  # no Twilio account: SIYAKHA_OUTBOUND=console
    assert isinstance(console, ConsoleSender)
    assert jobs.forget_at_provider(sender=console, settings=settings, now=NOW) == 0
    jobs.bind(engine=engine, sender=console, config=config(), worker_id="leader")
    jobs.run_forget_at_provider()  # as the scheduler calls it
    declared = {job["id"]: job for job in worker.JobRunner(engine, settings).declared_jobs()}
    assert declared["outbox.forget_at_provider"]["func"] == (
        "bot.domain.outbox.jobs:run_forget_at_provider"
    )


@pytest.mark.parametrize(("status", "code", "deleted"), [(400, 21610, 4), (500, 20500, 0)])
def test_messages_twilio_refuses_to_delete_do_not_hold_up_the_rest(
    sender: TwilioSender,
    standin: TwilioStandIn,
    database_url: str,
    status: int,
    code: int,
    deleted: int,
) -> None:
    """A refusal (4xx) is that message's own: the run goes on past more of them than the
    failures that stop it (Twilio lists the same ones first in every run, so they would
    stop every run). Server errors (5xx) still stop it: Twilio is in trouble."""
    for n in range(jobs.FORGET_MAX_FAILURES + 5):
        _sent(sender, standin, OLD + dt.timedelta(minutes=n), to=PHONE, body=f"old {n}")
    listed_first = [m["sid"] for m in standin.messages][::-1][: jobs.FORGET_MAX_FAILURES + 1]
    for sid in listed_first:
        standin.fail_delete(status, code, sid=sid, times=99)
    settings = standin_settings(standin, database_url)
    assert jobs.forget_at_provider(sender=sender, settings=settings, now=NOW) == deleted
    assert len(standin.messages) == len(listed_first) + 4 - deleted
