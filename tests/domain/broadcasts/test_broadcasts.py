"""Broadcasts: audience, per-language words, preview, approval, schedule, cancel, progress."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from bot import sms
from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.broadcasts import audience as audiences
from bot.domain.broadcasts import jobs
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import Audience, Broadcast, BroadcastCreate, TemplateIn
from bot.domain.outbox import budget
from bot.domain.outbox import service as outbox
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.settlements import edit
from bot.domain.settlements.importer import import_csv
from bot.domain.settlements.models import Settlement
from bot.domain.staff import scope as scopes
from bot.domain.staff.models import AuditEvent, StaffUser
from bot.flows import broadcast_notices
from bot.i18n import SUPPORTED_LOCALES, TIMEZONE
from tests.domain.broadcasts.factories import make_failing_broadcast, make_member
from tests.domain.tickets.factories import make_staff
from tests.factories import make_meeting, make_milestone, make_settlement

NOW = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    """Two settlements in ward 14 and one in ward 9; residents in four languages."""
    a = make_settlement(session, "Ubuhle Gardens", ward="14", category="B1")
    b = make_settlement(session, "Masakhane", ward="14", category="A")
    c = make_settlement(session, "Thembalethu", ward="9", category="B1")
    people = {
        "en_sms": make_member(session, settlement_id=a.id, language="en", channel="sms", now=NOW),
        "xh_wa": make_member(
            session, settlement_id=a.id, language="xh", channel="whatsapp", now=NOW
        ),
        "af_sms": make_member(session, settlement_id=b.id, language="af", channel="sms", now=NOW),
        "zu_wa_old": make_member(
            session,
            settlement_id=c.id,
            language="zu",
            channel="whatsapp",
            now=NOW,
            last_inbound_whatsapp_at=NOW - dt.timedelta(days=3),
        ),
        "none_lang": make_member(
            session, settlement_id=c.id, language=None, channel="sms", now=NOW
        ),
        "opted_out": make_member(session, settlement_id=a.id, opted_out_at=NOW, now=NOW),
        "no_consent": make_member(session, settlement_id=a.id, consented_at=None, now=NOW),
    }
    officer, _ = make_staff(session, "officer@ubuntubay.example.org", "officer")
    second, _ = make_staff(session, "second@ubuntubay.example.org", "officer")
    return {"a": a, "b": b, "c": c, "people": people, "officer": officer, "second": second}


def _ids(session: Session, audience: dict[str, Any]) -> set[int]:
    return {m.resident_id for m in audiences.members(session=session, audience=audience)}


def _person(world: dict[str, Any], *names: str) -> set[int]:
    return {world["people"][n].id for n in names}


def test_audience_filters_and_always_excludes_opted_out_and_unconsented(
    session: Session, world: dict[str, Any]
) -> None:
    everyone = Audience(everyone=True).model_dump()
    assert _ids(session, everyone) == _person(
        world, "en_sms", "xh_wa", "af_sms", "zu_wa_old", "none_lang"
    )
    a: Settlement = world["a"]
    assert _ids(session, {"settlement_ids": [a.id]}) == _person(world, "en_sms", "xh_wa")
    assert _ids(session, {"wards": ["14"]}) == _person(world, "en_sms", "xh_wa", "af_sms")
    assert _ids(session, {"categories": ["B1"]}) == _person(
        world, "en_sms", "xh_wa", "zu_wa_old", "none_lang"
    )
    assert _ids(session, {"languages": ["en"]}) == _person(world, "en_sms", "none_lang")
    assert _ids(session, {"channels": ["whatsapp"]}) == _person(world, "xh_wa", "zu_wa_old")
    assert _ids(session, {"wards": ["14"], "channels": ["sms"]}) == _person(
        world, "en_sms", "af_sms"
    )
    assert audiences.count(session=session, audience=everyone) == 5


def test_an_audience_must_choose_something() -> None:
    with pytest.raises(ValueError, match="everyone"):
        Audience()
    with pytest.raises(ValueError, match="English"):
        BroadcastCreate(audience=Audience(everyone=True), texts={"xh": "Molo"})


def _create(session: Session, settings: Settings, world: dict[str, Any], **fields: Any) -> Any:
    fields.setdefault("audience", Audience(everyone=True))
    return broadcasts.create(
        session=session,
        settings=settings,
        broadcast_in=BroadcastCreate(**fields),
        staff=world["officer"],
        now=NOW,
    )


def _rows(session: Session, broadcast_id: int) -> list[Outbox]:
    query = select(Outbox).where(col(Outbox.ref) == f"broadcast:{broadcast_id}")
    return list(session.execute(query).scalars())


def test_texts_per_language_fall_back_to_english_and_send_now(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    texts = {"en": "Water tanks arrive on Monday.", "xh": "Iitanki zamanzi zifika ngoMvulo."}
    broadcast = _create(session, settings, world, texts=texts)
    assert broadcast.status == "enqueued"
    rows = {row.resident_id: row for row in _rows(session, broadcast.id)}
    people = world["people"]
    assert set(rows) == _person(world, "en_sms", "xh_wa", "af_sms", "zu_wa_old", "none_lang")
    assert rows[people["xh_wa"].id].body == texts["xh"]
    assert rows[people["xh_wa"].id].channel == "whatsapp"
    assert rows[people["af_sms"].id].body.startswith(texts["en"])  # falls back to English
    assert "Reply STOP" in (rows[people["en_sms"].id].body or "")  # SMS carries the STOP hint
    assert rows[people["en_sms"].id].channel == "sms"
    assert all(row.purpose == "broadcast" and not row.allow_sms_fallback for row in rows.values())
    # Releasing again queues nothing twice.
    broadcast.status = "scheduled"
    assert broadcasts.release(session=session, broadcast=broadcast, now=NOW) == 0


def _preview(
    session: Session,
    settings: Settings,
    texts: dict[str, str],
    *,
    audience: dict[str, Any] | None = None,
) -> Any:
    """Preview staff words (no template, no SMS fallback) for everyone, or `audience`."""
    return broadcasts.preview(
        session=session,
        settings=settings,
        audience=audience or {"everyone": True},
        texts=texts,
        template=None,
        sms_fallback=False,
        now=NOW,
    )


def test_staff_words_are_previewed_and_queued_as_a_message_can_carry_them(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    texts = {"en": "Water tanks\x0barrive on Monday.\x07", "xh": "Iitanki\x01 zifika."}
    preview = _preview(session, settings, texts, audience={"settlement_ids": [world["a"].id]})
    shown = {p.language: p.text for p in preview.languages}
    assert shown["en"] == "Water tanks\narrive on Monday."
    broadcast = _create(session, settings, world, texts=texts)
    bodies = {row.language: row.body or "" for row in _rows(session, broadcast.id)}
    assert bodies["xh"] == "Iitanki zifika."
    assert bodies["en"].startswith("Water tanks\narrive on Monday.\n")  # with the STOP hint
    assert all(sms.sendable(body) == body for body in bodies.values())


def test_the_sms_version_loses_bold_but_keeps_a_ussd_code(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    texts = {"en": "*Subsidy*: dial *120*4664# to check.", "xh": "*Inkxaso*: cofa *120*4664#."}
    broadcast = _create(session, settings, world, texts=texts)
    bodies = {row.language: row.body or "" for row in _rows(session, broadcast.id)}
    assert bodies["en"].startswith("Subsidy: dial *120*4664# to check.\n")  # SMS
    assert bodies["xh"] == "*Inkxaso*: cofa *120*4664#."  # WhatsApp keeps its bold


def test_renders_once_per_language_not_per_recipient(
    session: Session, settings: Settings, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = broadcast_notices.template

    def counting(content: Any, translator: Any, name: str, values: Any, **kw: Any) -> str:
        calls.append(translator.locale)
        return real(content, translator, name, values, **kw)

    monkeypatch.setattr(broadcast_notices, "template", counting)
    for _ in range(30):
        make_member(session, settlement_id=world["a"].id, language="xh", now=NOW)
    template = TemplateIn(
        name="water_interruption",
        area="Block C",
        starts_at=dt.datetime(2026, 3, 4, 7, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 3, 4, 15, tzinfo=dt.UTC),
    )
    broadcast = _create(session, settings, world, template=template)
    assert len(_rows(session, broadcast.id)) == 35
    # Once for every language when it is created (each must fit Twilio's 1,600), once for
    # each of its residents' languages when it goes: never once per recipient.
    assert sorted(calls) == sorted([*SUPPORTED_LOCALES, "af", "en", "xh", "zu"])


def test_structured_template_renders_in_each_language_with_babel_dates(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    meeting = make_meeting(
        session,
        dt.datetime(2026, 3, 12, 16, 0, tzinfo=dt.UTC),
        settlement_id=world["a"].id,
        title="Layout plan",
        venue="Community hall",
    )
    template = TemplateIn(
        name="meeting_moved",
        meeting_id=meeting.id,
        previous_starts_at=dt.datetime(2026, 3, 10, 16, 0, tzinfo=dt.UTC),
    )
    broadcast = _create(session, settings, world, template=template)
    by_language = {row.language: row.body for row in _rows(session, broadcast.id)}
    assert "Thursday, 12 March 2026 at 18:00" in (by_language["en"] or "") or "12 March 2026" in (
        by_language["en"] or ""
    )
    assert "Layout plan" in (by_language["en"] or "")
    assert "Tuesday" in (by_language["en"] or "")  # the previous date
    assert "Matshi" in (by_language["xh"] or "")  # isiXhosa month name from CLDR
    assert "Maart" in (by_language["af"] or "")
    assert broadcast.meeting_id == meeting.id


def test_milestone_template_includes_the_note(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    milestone = make_milestone(
        session, world["a"], title="Standpipes installed", status="delayed", note="Pipes late."
    )
    template = TemplateIn(name="milestone_delayed", milestone_id=milestone.id)
    rendered = broadcasts.render(
        session=session, texts=None, template=template.model_dump(), languages=["en"]
    )
    assert "Ubuhle Gardens" in rendered["en"].text
    assert "Standpipes installed" in rendered["en"].text
    assert "Pipes late." in rendered["en"].text


def test_a_milestone_template_must_say_what_is_true_when_composed_and_when_sent(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    # "This step of the upgrading is done" could be composed, and sent, of a milestone
    # still planned (switching the template on the compose page, or the API), as
    # "cancelled" of a meeting still on could not.
    planned = make_milestone(session, world["a"], title="Standpipes installed")
    reached = TemplateIn(name="milestone_reached", milestone_id=planned.id)
    with pytest.raises(broadcasts.Conflict) as refused:
        _create(session, settings, world, template=reached)
    assert str(refused.value) == (
        f"milestone {planned.id} is planned, not done: set its status to done first, or tell "
        "residents something else"
    )
    planned.status = "done"
    later = NOW + dt.timedelta(hours=2)
    scheduled = _create(session, settings, world, template=reached, send_at=later)
    assert scheduled.status == "scheduled"
    planned.status = "in_progress"  # put back before it went: it fails, saying why
    broadcasts.send_due(session=session, now=later)
    assert scheduled.status == "failed" and _rows(session, scheduled.id) == []
    assert scheduled.status_reason is not None and "is in progress, not done" in (
        scheduled.status_reason
    )


def test_bad_template_references_are_refused(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    with pytest.raises(broadcasts.NotFound):
        _create(
            session, settings, world, template=TemplateIn(name="meeting_announced", meeting_id=999)
        )
    # No number given: said so ("no meeting None" before, a 404 for what was never named).
    for name, kind in (("meeting_announced", "meeting"), ("milestone_reached", "milestone")):
        with pytest.raises(broadcasts.BroadcastError) as unnamed:
            _create(session, settings, world, template=TemplateIn(name=name))
        assert not isinstance(unnamed.value, broadcasts.NotFound)
        assert str(unnamed.value) == f"{name} needs the {kind}'s number: choose the {kind}"
    with pytest.raises(broadcasts.BroadcastError, match="area"):
        _create(session, settings, world, template=TemplateIn(name="water_interruption"))
    with pytest.raises(broadcasts.BroadcastError, match="no such language"):
        _create(session, settings, world, texts={"en": "Hi.", "fr": "Salut."})


def test_preview_counts_segments_cost_time_and_window(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    settings = settings.model_copy(
        update={
            "sms_segment_price": 0.5,
            "whatsapp_message_price": 0.1,
            "rate_sms": 2.0,
            "rate_whatsapp": 10.0,
        }
    )
    texts = {"en": "Water tanks arrive on Monday.", "af": "Watertenks kom Maandag. Sê dit voort."}
    preview = _preview(session, settings, texts)
    assert preview.recipients == 5
    assert preview.by_language_channel == {
        "en": {"sms": 2},
        "xh": {"whatsapp": 1},
        "af": {"sms": 1},
        "zu": {"whatsapp": 1},
    }
    languages = {p.language: p for p in preview.languages}
    assert languages["af"].sms_encoding == "UCS-2"  # ê is outside GSM-7
    assert languages["en"].sms_encoding == "GSM-7"
    assert languages["en"].sms_segments == 1
    assert sorted(preview.fallback_languages) == ["xh", "zu"]
    assert preview.whatsapp_recipients == 2
    assert preview.whatsapp_outside_window == 1  # zu wrote three days ago
    assert preview.whatsapp_outside_window_without_template == 1
    assert preview.sms_recipients == 3
    af_segments = languages["af"].sms_segments
    assert af_segments == 2  # UCS-2: 67 characters a segment
    assert preview.sms_segments_total == 2 * 1 + af_segments
    assert preview.estimated_cost == pytest.approx((2 + af_segments) * 0.5 + 1 * 0.1)
    assert preview.estimated_seconds == pytest.approx(1.5)
    assert not preview.needs_approval


def test_the_sms_version_has_plain_punctuation_and_is_counted_so(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    typed = "Meeting moved to Tuesday \u2013 same hall. Bring your ID\u2019s\u2026 " * 2
    preview = _preview(session, settings, {"en": typed})
    english = next(p for p in preview.languages if p.language == "en")
    assert english.sms_encoding == "GSM-7" and english.sms_segments == 1  # UCS-2: 3
    assert english.sms_text.startswith("Meeting moved to Tuesday - same hall. Bring your ID's...")
    assert "\u2013 same hall" in english.text and "ID\u2019s\u2026" in english.text  # WhatsApp


def test_preview_counts_a_text_too_long_for_the_template_as_not_reaching_whatsapp(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    settings = settings.model_copy(update={"whatsapp_templates": {"broadcast": {"en": "HXen"}}})

    def outside_without_template(text: str) -> int:
        preview = _preview(session, settings, {"en": text})
        assert preview.whatsapp_outside_window == 1
        return preview.whatsapp_outside_window_without_template

    assert outside_without_template("Water tanks arrive on Monday.") == 0
    assert outside_without_template("Water tanks arrive on Monday. " * 40) == 1  # 1,199 characters


def test_preview_of_a_scheduled_broadcast_counts_the_window_at_send_time(
    session: Session, settings: Settings
) -> None:
    now = utcnow()  # preview_draft counts from the clock
    place = make_settlement(session, "Ubuhle Gardens", ward="14")
    make_member(session, settlement_id=place.id, channel="whatsapp", language="xh", now=now)
    officer, _ = make_staff(session, "officer@ubuntubay.example.org", "officer")
    scope = scopes.for_user(session=session, user=officer)
    draft = BroadcastCreate(
        audience=Audience(settlement_ids=[place.id]), texts={"en": "Water tanks arrive."}
    )

    def outside(send_at: dt.datetime | None) -> tuple[int, int, dt.datetime]:
        shown = broadcasts.preview_draft(
            session=session,
            settings=settings,
            scope=scope,
            broadcast_in=draft.model_copy(update={"send_at": send_at}),
        )
        window = shown.whatsapp_outside_window, shown.whatsapp_outside_window_without_template
        return (*window, shown.whatsapp_window_at)

    # They wrote an hour ago: inside the window now, outside it by tomorrow's send time
    # (no template is configured, so it will not reach them).
    assert outside(None)[:2] == (0, 0) and outside(None)[2] >= now
    tomorrow = now + dt.timedelta(days=1)
    assert outside(tomorrow) == (1, 1, tomorrow)
    assert outside(now - dt.timedelta(hours=1))[:2] == (0, 0)  # a past time means now
    stored = broadcasts.create(
        session=session,
        settings=settings,
        broadcast_in=draft.model_copy(update={"send_at": tomorrow}),
        staff=officer,
        now=now,
    )
    again = broadcasts.preview_of(
        session=session, settings=settings, scope=scope, broadcast=stored, now=now
    )
    assert again.whatsapp_outside_window == 1 and again.whatsapp_window_at == tomorrow


def test_big_audiences_wait_for_a_second_officer(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    settings = settings.model_copy(update={"broadcast_approval_threshold": 3})
    broadcast = _create(session, settings, world, texts={"en": "Hello."})
    assert broadcast.status == "awaiting_approval" and broadcast.needs_approval
    assert _rows(session, broadcast.id) == []
    with pytest.raises(broadcasts.Conflict, match="second officer"):
        broadcasts.approve(session=session, broadcast=broadcast, staff=world["officer"], now=NOW)
    second: StaffUser = world["second"]
    broadcasts.approve(session=session, broadcast=broadcast, staff=second, now=NOW)
    assert broadcast.status == "enqueued" and broadcast.approved_by_id == second.id
    assert len(_rows(session, broadcast.id)) == 5
    with pytest.raises(broadcasts.Conflict):
        broadcasts.approve(session=session, broadcast=broadcast, staff=second, now=NOW)


def test_a_scheduled_audience_that_grew_past_the_threshold_waits_for_approval(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    # Scheduled for 3 residents of a settlement; 10 more joined before it went. Nobody
    # approved 13 messages, and the threshold is 5.
    settings = settings.model_copy(update={"broadcast_approval_threshold": 5})
    later = NOW + dt.timedelta(days=1)
    audience = Audience(settlement_ids=[world["a"].id])
    broadcast = _create(
        session, settings, world, texts={"en": "Hello."}, audience=audience, send_at=later
    )
    assert broadcast.status == "scheduled" and broadcast.audience_size <= 5
    for _ in range(10):
        make_member(session, settlement_id=world["a"].id, now=NOW)
    broadcasts.send_due(session=session, now=later, settings=settings)
    assert broadcast.status == "awaiting_approval" and broadcast.audience_size > 5
    assert _rows(session, broadcast.id) == []
    broadcasts.approve(session=session, broadcast=broadcast, staff=world["second"], now=later)
    assert broadcast.status == "enqueued"
    assert len(_rows(session, broadcast.id)) == broadcast.audience_size


def test_scheduled_broadcasts_go_when_due(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    later = NOW + dt.timedelta(hours=2)
    broadcast = _create(session, settings, world, texts={"en": "Hello."}, send_at=later)
    assert broadcast.status == "scheduled"
    assert broadcasts.send_due(session=session, now=NOW) == 0
    assert broadcasts.send_due(session=session, now=later) == 1
    assert broadcast.status == "enqueued"
    assert len(_rows(session, broadcast.id)) == 5


def test_a_scheduled_broadcast_that_reaches_nobody_when_due_fails_and_says_why(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    later = NOW + dt.timedelta(hours=2)
    broadcast = _create(session, settings, world, texts={"en": "Hello."}, send_at=later)
    assert broadcast.status == "scheduled" and broadcast.audience_size == 5
    # Everyone it was meant for stopped messages before it was due.
    session.execute(update(Resident).values(opted_out_at=NOW + dt.timedelta(hours=1)))
    assert broadcasts.send_due(session=session, now=later) == 1
    assert _rows(session, broadcast.id) == []
    assert broadcast.status == "failed"
    assert broadcast.status_reason is not None
    assert "no resident" in broadcast.status_reason.lower()
    assert broadcasts.to_public(session=session, broadcast=broadcast).done


def test_a_broadcast_stored_with_cr_lf_goes_with_lf(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    later = NOW + dt.timedelta(hours=2)
    broadcast = _create(session, settings, world, texts={"en": "Hello."}, send_at=later)
    broadcast.texts = {"en": "No water on Monday.\r\nBring buckets."}  # stored before 49bb9b7
    broadcasts.send_due(session=session, now=later)
    rows = _rows(session, broadcast.id)
    assert rows and all("\r" not in (row.body or "") + (row.sms_body or "") for row in rows)
    assert "Monday.\nBring" in (rows[0].body or "")


def test_a_broadcast_that_can_no_longer_be_built_fails_and_the_later_ones_go(
    clean_db: Engine, settings: Settings
) -> None:
    with session_scope(clean_db) as session:
        place = make_settlement(session, "Ubuhle Gardens", ward="14")
        make_member(session, settlement_id=place.id, now=NOW)
        officer, _ = make_staff(session, "officer@ubuntubay.example.org", "officer")
        # Scheduled first; then its milestone's note grew past what Twilio takes.
        delayed = make_failing_broadcast(
            session,
            settings=settings,
            settlement=place,
            staff=officer,
            send_at=NOW + dt.timedelta(minutes=5),
            now=NOW,
        )
        water = broadcasts.create(
            session=session,
            settings=settings,
            broadcast_in=BroadcastCreate(
                audience=Audience(settlement_ids=[place.id]),
                texts={"en": "No water tomorrow from 9 to 12."},
                send_at=NOW + dt.timedelta(minutes=10),
            ),
            staff=officer,
            now=NOW,
        ).id
    # One run of the job: the broken one fails, the next one goes.
    later = NOW + dt.timedelta(minutes=15)
    assert jobs.send_due(engine=clean_db, settings=settings, now=later) == 2
    with session_scope(clean_db) as session:
        failed, sent = session.get(Broadcast, delayed), session.get(Broadcast, water)
        assert failed is not None and sent is not None
        assert failed.status == "failed" and not _rows(session, delayed)
        assert failed.status_reason is not None and "at most 1,600" in failed.status_reason
        assert sent.status == "enqueued" and len(_rows(session, sent.id)) == 1
        public = broadcasts.to_public(session=session, broadcast=failed)
        assert public.done and public.status_reason == failed.status_reason


def test_cancel_scheduled_and_running(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    later = NOW + dt.timedelta(hours=2)
    scheduled = _create(session, settings, world, texts={"en": "Hello."}, send_at=later)
    assert broadcasts.cancel(session=session, broadcast=scheduled, staff=world["officer"]) == 0
    assert broadcasts.send_due(session=session, now=later) == 0
    assert _rows(session, scheduled.id) == []

    running = _create(session, settings, world, texts={"en": "Hello."})
    first, waiting = _rows(session, running.id)[:2]
    session.execute(update(Outbox).where(col(Outbox.id) == first.id).values(status="sent"))
    # A worker has claimed this one and waits for its rate limit: it must not go either.
    session.execute(
        update(Outbox)
        .where(col(Outbox.id) == waiting.id)
        .values(status="sending", claimed_by="worker-1")
    )
    assert broadcasts.cancel(session=session, broadcast=running, staff=world["officer"]) == 4
    counts = broadcasts.progress(session=session, ref=f"broadcast:{running.id}")
    assert (counts.sent, counts.cancelled, counts.queued) == (1, 4, 0)
    assert not outbox.still_to_send(session=session, outbox_id=waiting.id, worker_id="worker-1")
    with pytest.raises(broadcasts.Conflict):
        broadcasts.cancel(session=session, broadcast=running, staff=None)


def test_a_finished_or_failed_broadcast_cannot_be_cancelled(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    finished = _create(session, settings, world, texts={"en": "Hello."})
    ref = f"broadcast:{finished.id}"
    session.execute(update(Outbox).where(col(Outbox.ref) == ref).values(status="delivered"))
    with pytest.raises(broadcasts.Conflict, match="finished: no message is left to send"):
        broadcasts.cancel(session=session, broadcast=finished, staff=world["officer"], now=NOW)
    session.expire_all()
    assert finished.status == "enqueued" and finished.cancelled_at is None
    assert all(row.withdrawn_at is None for row in _rows(session, finished.id))
    failed = session.get_one(
        Broadcast,
        make_failing_broadcast(
            session,
            settings=settings,
            settlement=world["a"],
            staff=world["officer"],
            send_at=NOW + dt.timedelta(hours=1),
            now=NOW,
        ),
    )
    broadcasts.send_due(session=session, now=NOW + dt.timedelta(hours=2))
    with pytest.raises(broadcasts.Conflict, match="already failed"):
        broadcasts.cancel(session=session, broadcast=failed, staff=world["officer"], now=NOW)
    assert failed.status == "failed"


def test_progress_per_language_and_channel(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    broadcast = _create(session, settings, world, texts={"en": "Hello."})
    people = world["people"]
    marks = {"xh_wa": "read", "en_sms": "delivered", "af_sms": "undelivered"}
    for name, status in marks.items():
        session.execute(
            update(Outbox)
            .where(col(Outbox.resident_id) == people[name].id, col(Outbox.ref).startswith("broad"))
            .values(status=status, sent_channel=people[name].consent_channel)
        )
    public = broadcasts.to_public(session=session, broadcast=broadcast)
    counts = public.progress
    assert (counts.total, counts.queued, counts.read, counts.delivered, counts.failed) == (
        5,
        2,
        1,
        1,
        1,
    )
    assert counts.by_language_channel["xh"]["whatsapp"]["read"] == 1
    assert counts.by_language_channel["af"]["sms"]["failed"] == 1
    assert counts.by_language_channel["en"]["sms"]["queued"] == 1
    assert not public.done


def test_meeting_announcement_targets_who_the_meeting_concerns(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    ward_forum = make_meeting(
        session, NOW + dt.timedelta(days=5), level="ward", ward="14", title="Ward 14 forum"
    )
    broadcast = broadcasts.announce_meeting(
        session=session,
        settings=settings,
        meeting=ward_forum,
        change="announced",
        staff=world["officer"],
        now=NOW,
    )
    assert {row.resident_id for row in _rows(session, broadcast.id)} == _person(
        world, "en_sms", "xh_wa", "af_sms"
    )
    with pytest.raises(
        broadcasts.BroadcastError,
        match="the time it was planned for before, the venue it had, or both",
    ):
        broadcasts.meeting_announcement(meeting=ward_forum, change="moved", now=NOW)
    with pytest.raises(broadcasts.Conflict, match="is not cancelled"):  # it is still on
        broadcasts.meeting_announcement(meeting=ward_forum, change="cancelled", now=NOW)
    ward_forum.cancelled = True
    cancelled = broadcasts.meeting_announcement(meeting=ward_forum, change="cancelled", now=NOW)
    assert cancelled.template is not None and cancelled.template.name == "meeting_cancelled"


def test_a_scheduled_announcement_of_a_meeting_cancelled_since_is_not_sent(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:

    meeting = make_meeting(
        session, NOW + dt.timedelta(days=5), settlement_id=world["a"].id, title="Layout plan"
    )

    def announce(change: str, now: dt.datetime, **when: Any) -> Any:
        return broadcasts.announce_meeting(
            session=session,
            settings=settings,
            meeting=meeting,
            change=change,
            staff=world["officer"],
            now=now,
            **when,
        )

    announced = announce("announced", NOW, send_at=NOW + dt.timedelta(days=1))
    edit.cancel_meeting(session=session, meeting=meeting)
    broadcasts.send_due(session=session, now=NOW + dt.timedelta(days=2))
    assert announced.status == "cancelled" and not _rows(session, announced.id)
    notice = announce("cancelled", NOW + dt.timedelta(days=2))  # its own notice still goes
    assert notice.status == "enqueued" and _rows(session, notice.id)


def test_an_announcement_due_after_its_meeting_started_fails_and_says_why(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    meeting = make_meeting(
        session, NOW + dt.timedelta(hours=3), settlement_id=world["a"].id, title="Layout plan"
    )
    announced = broadcasts.announce_meeting(
        session=session,
        settings=settings,
        meeting=meeting,
        change="announced",
        staff=world["officer"],
        send_at=NOW + dt.timedelta(hours=1),
        now=NOW,
    )
    # Moved earlier before the announcement went (its "moved" notice is another broadcast).
    meeting.starts_at = NOW + dt.timedelta(minutes=30)
    broadcasts.send_due(session=session, now=NOW + dt.timedelta(hours=1))
    assert announced.status == "failed" and not _rows(session, announced.id)
    assert announced.status_reason is not None and "had started" in announced.status_reason


def test_cancelling_a_meeting_withdraws_its_queued_announcement(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    def announced(title: str) -> Any:
        meeting = make_meeting(
            session, NOW + dt.timedelta(days=5), settlement_id=world["a"].id, title=title
        )
        broadcast = broadcasts.announce_meeting(
            session=session,
            settings=settings,
            meeting=meeting,
            change="announced",
            staff=world["officer"],
            now=NOW,
        )
        return meeting, broadcast, _rows(session, broadcast.id)

    # A round goes at the SMS rate: one message has gone, the other is still queued when
    # the officer cancels the meeting.
    meeting, running, (sent, queued) = announced("Layout plan")
    session.execute(update(Outbox).where(col(Outbox.id) == sent.id).values(status="sent"))
    # This one's every message had gone.
    gone_meeting, gone, gone_rows = announced("Water committee")
    session.execute(
        update(Outbox).where(col(Outbox.ref) == f"broadcast:{gone.id}").values(status="delivered")
    )
    for each in (meeting, gone_meeting):
        edit.cancel_meeting(session=session, meeting=each)
    session.expire_all()
    assert queued.status == "cancelled" and queued.error_message == "the meeting was cancelled"
    assert sent.status == "sent" and sent.withdrawn_at is not None  # never tried again
    assert running.status == "cancelled" and running.cancelled_by_id is None
    assert gone.status == "enqueued"  # it was sent: not relabelled cancelled
    assert all(row.status == "delivered" and row.withdrawn_at for row in gone_rows)


def test_scoped_officers_reach_only_their_settlements_and_wards(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    from bot.domain.staff import scope as scopes

    officer: StaffUser = world["officer"]
    scopes.set_scope(session=session, user=officer, settlement_ids=[], wards=["14"])
    with pytest.raises(broadcasts.Conflict, match="scope"):
        _create(session, settings, world, texts={"en": "Hello."})
    with pytest.raises(broadcasts.Conflict, match="scope"):
        _create(session, settings, world, texts={"en": "Hello."}, audience=Audience(wards=["9"]))
    with pytest.raises(broadcasts.Conflict, match="scope"):
        _create(
            session,
            settings,
            world,
            texts={"en": "Hello."},
            audience=Audience(settlement_ids=[world["c"].id]),
        )
    mine = _create(
        session, settings, world, texts={"en": "Hello."}, audience=Audience(wards=["14"])
    )
    assert mine.audience_size == 3


def test_a_scoped_officer_cannot_approve_a_broadcast_quoting_what_they_may_not_see(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    # Composed by an unscoped officer for ward 9, quoting a milestone of ward 14's Ubuhle
    # Gardens: ward 9's officer may not preview its words (`preview_of`), nor approve them.
    settings = settings.model_copy(update={"broadcast_approval_threshold": 1})
    milestone = make_milestone(session, world["a"], title="Farm 12 bought", status="done")
    draft = BroadcastCreate(
        audience=Audience(wards=["9"]),
        template=TemplateIn(name="milestone_reached", milestone_id=milestone.id),
    )
    stored = broadcasts.create(
        session=session, settings=settings, broadcast_in=draft, staff=world["officer"], now=NOW
    )
    assert stored.status == "awaiting_approval"
    second: StaffUser = world["second"]
    scopes.set_scope(session=session, user=second, settlement_ids=[], wards=["9"])
    with pytest.raises(broadcasts.NotFound, match=f"no milestone {milestone.id}"):
        broadcasts.approve(session=session, broadcast=stored, staff=second, now=NOW)
    assert stored.status == "awaiting_approval" and stored.approved_by_id is None
    scopes.set_scope(session=session, user=second, settlement_ids=[], wards=[])
    broadcasts.approve(session=session, broadcast=stored, staff=second, now=NOW)
    assert stored.status == "enqueued" and stored.approved_by_id == second.id


def test_audience_wards_take_the_settlements_spelling(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    # Compared as stored, " 14 " reached no one in ward "14".
    sent = _create(
        session, settings, world, texts={"en": "Hello."}, audience=Audience(wards=[" 14 "])
    )
    assert sent.audience["wards"] == ["14"]
    assert sent.audience_size == 3
    with pytest.raises(broadcasts.BroadcastError, match="no settlement is in ward 99"):
        _create(session, settings, world, texts={"en": "Hello."}, audience=Audience(wards=["99"]))


def test_a_scoped_officer_lists_their_newest_broadcasts_however_many_others_are_newer(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    from bot.domain.staff import scope as scopes

    mine = _create(
        session, settings, world, texts={"en": "Ward 14."}, audience=Audience(wards=["14"])
    )
    for _ in range(3):  # newer, to everyone: not theirs
        _create(session, settings, world, texts={"en": "Everyone."})
    officer: StaffUser = world["officer"]
    scopes.set_scope(session=session, user=officer, settlement_ids=[], wards=["14"])
    scope = scopes.for_user(session=session, user=officer)
    assert broadcasts.list_visible(session=session, scope=scope, limit=1) == [mine]
    everyone = scopes.for_user(session=session, user=world["second"])  # no scope: all
    assert len(broadcasts.list_visible(session=session, scope=everyone, limit=2)) == 2


def test_a_broadcast_scheduled_before_sms_were_measured_still_goes_whole(
    session: Session, world: dict[str, Any]
) -> None:
    # Stored by an earlier version, which took 1,500 characters for SMS residents too: when
    # it comes due it goes as it was written (nothing queued or scheduled is lost).
    news = "The water tanks arrive on Monday morning at the hall, bring containers. " * 8
    stored = Broadcast(
        title="Water tanks",
        audience={"settlement_ids": [world["a"].id]},
        texts={"en": news},
        send_at=NOW,
        audience_size=2,
    )
    session.add(stored)
    session.flush()
    assert broadcasts.release(session=session, broadcast=stored, now=NOW) == 2
    rows = session.execute(select(Outbox).order_by(col(Outbox.id))).scalars().all()
    sms_row = next(row for row in rows if row.channel == "sms")
    assert news.strip() in (sms_row.body or "") and sms.segments(sms_row.body or "") == 4
    # Composed today, the same words are refused before anything is stored.
    with pytest.raises(budget.TooManySegments):
        broadcasts.create(
            session=session,
            settings=Settings(),
            broadcast_in=BroadcastCreate(
                audience=Audience(settlement_ids=[world["a"].id]), texts={"en": news}
            ),
            staff=None,
            now=NOW,
        )


def _category_news(
    settlement: Settlement, category: str, previous: str | None = None
) -> TemplateIn:
    return TemplateIn.model_validate(
        {
            "name": "category_changed",
            "settlement_id": settlement.id,
            "category": category,
            "previous_category": previous,
        }
    )


@pytest.mark.parametrize("category", ["A", "B1", "B2", "C"])
def test_category_news_renders_in_every_language_within_the_sms_budget(
    session: Session, world: dict[str, Any], category: str
) -> None:
    settlement = world["a"]
    settlement.name = "Kwa-Langa Extension 4"  # long-ish, as the catalog tests fill it
    settlement.category = category
    template = _category_news(settlement, category).model_dump()
    rendered = broadcasts.render(
        session=session, texts=None, template=template, languages=list(SUPPORTED_LOCALES)
    )
    english = rendered["en"].text
    assert english.startswith(f"*News for Kwa-Langa Extension 4: category {category}*\n")
    assert f"placed Kwa-Langa Extension 4 in category {category}: " in english
    for language, words in rendered.items():
        assert not words.falls_back, language  # drafted in every catalog
        assert words.text != english or language == "en"
        assert words.text.count("Kwa-Langa Extension 4") == 2, language
        assert f" {category}" in words.text and "MENU" in words.text, language
        assert "*" not in words.sms_text and words.sms_text.endswith("."), language
        assert sms.encoding(words.sms_text) == "GSM-7", (language, words.sms_text)
        assert sms.segments(words.sms_text) <= budget.MAX_SEGMENTS, (language, words.sms_text)
    assert rendered["xh"].text.startswith(f"*Iindaba ze-Kwa-Langa Extension 4: udidi {category}*")


def test_category_news_must_say_what_is_true_when_composed_and_when_sent(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    ubuhle = world["a"]  # category B1
    audience = Audience(settlement_ids=[ubuhle.id])
    for template, refusal in (
        (
            _category_news(ubuhle, "C"),
            f"settlement {ubuhle.id} (Ubuhle Gardens) is now in category B1, not C: its "
            "category changed since; announce the category it has, or nothing",
        ),
        (
            _category_news(ubuhle, "B1", previous="B1"),
            f"settlement {ubuhle.id} (Ubuhle Gardens) was in category B1 already: placing it "
            "there again is no change to announce",
        ),
        (
            TemplateIn(name="category_changed", settlement_id=ubuhle.id),
            "category_changed needs the settlement and the category it was placed in",
        ),
    ):
        with pytest.raises(broadcasts.BroadcastError) as refused:
            _create(session, settings, world, template=template, audience=audience)
        assert str(refused.value) == refusal
    with pytest.raises(broadcasts.NotFound):
        _create(
            session,
            settings,
            world,
            template=TemplateIn(name="category_changed", settlement_id=999_999, category="A"),
            audience=audience,
        )
    # Composed for B1 (from A), scheduled; placed in C before it went: it fails, saying why.
    later = NOW + dt.timedelta(hours=2)
    scheduled = _create(
        session,
        settings,
        world,
        template=_category_news(ubuhle, "B1", previous="A"),
        audience=audience,
        send_at=later,
    )
    assert scheduled.status == "scheduled"
    ubuhle.category = "C"
    broadcasts.send_due(session=session, now=later)
    assert scheduled.status == "failed" and _rows(session, scheduled.id) == []
    assert scheduled.status_reason is not None and "is now in category C, not B1" in (
        scheduled.status_reason
    )
    # A settlement with no category has nothing to announce.
    ubuhle.category = None
    with pytest.raises(broadcasts.Conflict, match="has no category"):
        broadcasts.category_announcement(settlement=ubuhle)


def test_category_news_goes_to_the_settlement_s_residents_in_their_language(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    ubuhle = world["a"]
    ubuhle.category = "C"
    assert broadcasts.category_is_news(settlement=ubuhle, category_before="B1")
    assert not broadcasts.category_is_news(settlement=ubuhle, category_before="C")
    broadcast = broadcasts.announce_category(
        session=session,
        settings=settings,
        settlement=ubuhle,
        staff=world["officer"],
        previous_category="B1",
        now=NOW,
    )
    assert broadcast.status == "enqueued" and broadcast.title == "Category C: Ubuhle Gardens"
    assert broadcast.template == {
        "name": "category_changed",
        "settlement_id": ubuhle.id,
        "category": "C",
        "previous_category": "B1",
    }
    rows = {row.resident_id: row for row in _rows(session, broadcast.id)}
    people = world["people"]
    assert set(rows) == _person(world, "en_sms", "xh_wa")  # not opted out, not unconsented
    assert rows[people["en_sms"].id].body == (
        "News for Ubuhle Gardens: category C\nThe municipality has placed Ubuhle Gardens in "
        "category C: families will move to a prepared new place soon. Send MENU, then 1, to "
        "see what this means for you.\nReply STOP to stop these messages."
    )
    xhosa = rows[people["xh_wa"].id]
    assert (xhosa.language, xhosa.channel) == ("xh", "whatsapp")
    assert xhosa.body is not None
    assert xhosa.body.startswith("*Iindaba ze-Ubuhle Gardens: udidi C*\nUMasipala ubeke ")


def test_a_category_changed_again_withdraws_its_announcement_not_sent_yet_and_says_why(
    session: Session, settings: Settings, world: dict[str, Any]
) -> None:
    # A scheduled "placed in B1" was left standing when the category changed again: it
    # failed only when due, hours later, and no one was told at the change.
    ubuhle, masakhane, officer = world["a"], world["b"], world["officer"]
    later = NOW + dt.timedelta(hours=2)
    here = Audience(settlement_ids=[ubuhle.id])
    news = _category_news(ubuhle, "B1", previous="A")
    scheduled = _create(session, settings, world, template=news, audience=here, send_at=later)
    waiting = _create(
        session,
        settings.model_copy(update={"broadcast_approval_threshold": 1}),
        world,
        template=news,
        audience=here,
        send_at=later,
    )
    sending = _create(session, settings, world, template=news, audience=here)
    elsewhere = _create(
        session,
        settings,
        world,
        template=_category_news(masakhane, "A", previous="B1"),
        audience=Audience(settlement_ids=[masakhane.id]),
        send_at=later,
    )
    words = _create(session, settings, world, texts={"en": "Hello."}, audience=here, send_at=later)
    assert [b.status for b in (scheduled, waiting, sending)] == [
        "scheduled",
        "awaiting_approval",
        "enqueued",
    ]
    # A save that keeps the category (its note changed) withdraws nothing.
    same = edit.update_settlement(
        session=session,
        settlement=ubuhle,
        category="B1",
        category_note="Water first",
        current_phase="",
        staff=officer,
    )
    assert same == [] and scheduled.status == "scheduled"
    withdrawn = edit.update_settlement(
        session=session,
        settlement=ubuhle,
        category="B2",
        category_note="Water first",
        current_phase="",
        staff=officer,
        via="api",
    )
    day = utcnow().astimezone(TIMEZONE).strftime("%Y-%m-%d")
    reason = f"the category changed again to B2 on {day}"
    assert withdrawn == [
        broadcasts.Withdrawn(scheduled.id, scheduled.title, reason),
        broadcasts.Withdrawn(waiting.id, waiting.title, reason),
    ]
    for gone in (scheduled, waiting):
        assert (gone.status, gone.status_reason) == ("cancelled", reason)
        assert _rows(session, gone.id) == []
    # One already sending is left to the check made as each message goes; another
    # settlement's news and an officer's own words stay as they were.
    assert (sending.status, elsewhere.status, words.status) == (
        "enqueued",
        "scheduled",
        "scheduled",
    )
    withdrawals = select(AuditEvent).where(col(AuditEvent.action) == "broadcast.withdraw")
    events = session.execute(withdrawals.order_by(col(AuditEvent.id))).scalars().all()
    assert [(e.target, e.staff_user_id, e.detail) for e in events] == [
        (
            f"broadcast:{b.id}",
            officer.id,
            {"reason": reason, "settlement_id": ubuhle.id, "via": "api"},
        )
        for b in (scheduled, waiting)
    ]
    # The CSV import does the same, and says so; checked only, it says so and writes nothing.
    row = "name,aliases,ward,municipality,category,category_note,current_phase\n"
    row += f"Masakhane,,14,{masakhane.municipality},C,,\n"
    checked = import_csv(session=session, kind="settlements", data=row, dry_run=True)
    assert [str(w) for w in checked.withdrawn] == [
        f"broadcast {elsewhere.id}: the category changed again to C on {day}"
    ]
    session.refresh(elsewhere)
    assert elsewhere.status == "scheduled" and masakhane.category == "A"
    imported = import_csv(session=session, kind="settlements", data=row, staff=officer)
    assert [w.broadcast_id for w in imported.withdrawn] == [elsewhere.id]
    assert imported.categories == [
        broadcasts.CategoryNews(masakhane.id, "Masakhane", "C", previous="A")
    ]
    assert elsewhere.status == "cancelled" and elsewhere.status_reason == (
        f"the category changed again to C on {day}"
    )
    [event] = session.execute(
        select(AuditEvent).where(col(AuditEvent.target) == f"broadcast:{elsewhere.id}")
    ).scalars()
    assert (event.action, event.staff_user_id, event.detail["via"]) == (
        "broadcast.withdraw",
        officer.id,
        "import",
    )


def test_a_category_s_news_is_offered_only_in_scope_and_while_it_is_true(
    session: Session, world: dict[str, Any]
) -> None:
    ubuhle, thembalethu = world["a"], world["c"]  # ward 14 and ward 9, both B1
    news = [
        broadcasts.CategoryNews(ubuhle.id, ubuhle.name, "B1", "A"),
        broadcasts.CategoryNews(thembalethu.id, thembalethu.name, "B1", ""),
    ]
    everyone, ward_14 = scopes.Scope(), scopes.Scope(wards=frozenset({"14"}))
    assert broadcasts.category_news_offered(session=session, scope=everyone, news=news) == news
    assert broadcasts.category_news_offered(session=session, scope=ward_14, news=news) == news[:1]
    thembalethu.category = "C"  # changed again since: its news is no longer true
    assert broadcasts.category_news_offered(session=session, scope=everyone, news=news) == news[:1]
    assert news[0].compose_path == (
        f"/staff/broadcasts/new?settlement_id={ubuhle.id}&category=B1&previous_category=A"
    )
