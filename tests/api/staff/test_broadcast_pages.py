"""Broadcast pages: compose, preview, send, approve by a second officer, follow progress;
a meeting's or milestone's announcement offered prefilled; the same flow in headless
Chromium."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, Request, expect
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select, update

from api.main import create_app
from bot import sms
from bot.config import Settings
from bot.content import load
from bot.db import session_scope, utcnow
from bot.domain.broadcasts import jobs
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import Audience, Broadcast, BroadcastCreate, TemplateIn
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.settlements.models import Settlement
from bot.domain.staff.models import AuditEvent, StaffUser
from bot.flows import broadcast_notices
from bot.i18n import TIMEZONE, get_translator
from tests.api.staff.conftest import EMAILS, PASSWORD, World, logged_in, make_scoped_user
from tests.browser import chromium
from tests.domain.broadcasts.factories import make_failing_broadcast, make_member
from tests.factories import make_meeting, make_milestone
from tests.live_server import serve

Role = Callable[[str], tuple[TestClient, str]]
WARD_14_OFFICER = "ward14-officer@ubuntubay.example.org"
BROADCAST_PREVIEW = "/staff/broadcasts/preview"


@pytest.fixture
def residents(clean_db: Engine, world: World) -> World:
    """Three residents here (English SMS, isiXhosa WhatsApp, Afrikaans SMS), one there."""
    with session_scope(clean_db) as session:
        make_member(session, settlement_id=world.here, language="en", channel="sms")
        make_member(session, settlement_id=world.here, language="xh", channel="whatsapp")
        make_member(session, settlement_id=world.here, language="af", channel="sms")
        make_member(session, settlement_id=world.there, language="en", channel="sms")
    return world


def _compose(client: TestClient, csrf: str, world: World, **extra: str) -> str:
    form = {
        "csrf_token": csrf,
        "title": "Water tanks",
        "settlement_ids": str(world.here),
        "mode": "texts",
        "text_en": "Water tanks arrive on Monday.",
        "text_xh": "Iitanki zamanzi zifika ngoMvulo.",
        **extra,
    }
    preview = client.post("/staff/broadcasts/preview", data=form)
    assert preview.status_code == 200, preview.text
    return preview.text


class _FormReader(HTMLParser):
    """Read what a browser would submit from one form of a page: its fields' values, the
    checked boxes and the selected options."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.fields = action, False, []
        self._select: tuple[str, bool] | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif not self.inside or ("name" not in a and tag != "option"):
            return
        elif tag == "input":
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.fields.append((a["name"], a.get("value", "on")))
        elif tag == "textarea":
            self._textarea = a["name"]
        elif tag == "select":
            self._select, self._options = (a["name"], "multiple" in a), []
        elif tag == "option" and self._select:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields.append((self._textarea, data))
            self._textarea = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, ""))
            self._textarea = None
        elif tag == "select" and self._select:
            name, multiple = self._select
            chosen = [value for value, selected in self._options if selected]
            if not chosen and not multiple and self._options:
                chosen = [self._options[0][0]]
            self.fields += [(name, value) for value in chosen]
            self._select = None


def _submitted(page: str, action: str) -> dict[str, list[str]]:
    """Return what the form posting to `action` on `page` would send as it stands."""
    reader = _FormReader(action)
    reader.feed(page)
    fields: dict[str, list[str]] = {}
    for name, value in reader.fields:
        fields.setdefault(name, []).append(value)
    return fields


def _payload(html: str) -> str:
    match = re.search(r'name="payload" value="([^"]+)"', html)
    assert match, html[:300]
    return match.group(1).replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&")


def _send_and_read(
    client: TestClient, csrf: str, preview: str, engine: Engine, *, language: str
) -> list[str | None]:
    """Send the previewed broadcast; return the messages queued for residents of `language`."""
    sent = client.post(
        "/staff/broadcasts",
        data={"csrf_token": csrf, "payload": _payload(preview)},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    with Session(engine) as session:
        query = select(Outbox.body).join(Resident).where(col(Resident.language) == language)
        return list(session.exec(query).all())


def test_compose_preview_send_and_follow(as_role: Role, residents: World) -> None:
    client, csrf = as_role("officer")
    assert client.get("/staff/broadcasts/new").status_code == 200
    html = _compose(client, csrf, residents)
    assert 'id="pv-recipients">3<' in html
    assert "These languages get the English text: af" in html
    assert "GSM-7" in html and "Send now" in html
    sent = client.post(
        "/staff/broadcasts",
        data={"csrf_token": csrf, "payload": _payload(html)},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    page = client.get(sent.headers["location"]).text
    assert "<progress" in page and 'id="bc-status">sending<' in page
    assert "Iitanki zamanzi" in page
    listing = client.get("/staff/broadcasts").text
    assert "Water tanks" in listing
    # Each row's progress bar is named, for a screen reader.
    assert re.search(r'<progress aria-label="Progress of Water tanks"', listing), listing


def test_a_broadcast_s_state_is_one_word_on_its_page_and_in_the_list(
    as_role: Role, residents: World, clean_db: Engine
) -> None:
    # A broadcast sent whole read "enqueued, done" (and "enqueued (done)" in the list), a
    # cancelled one "cancelled, done": the worker's words, two states at once.
    client, csrf = as_role("officer")
    sent = client.post(
        "/staff/broadcasts",
        data={"csrf_token": csrf, "payload": _payload(_compose(client, csrf, residents))},
        follow_redirects=False,
    )
    url = sent.headers["location"].split("?")[0]

    def states() -> tuple[str, str]:
        badge = re.search(r'id="bc-status">([^<]*)<', client.get(url).text)
        row = re.search(
            r"Water tanks</a></td>\s*<td>([^<]*)<", client.get("/staff/broadcasts").text
        )
        assert badge and row
        return badge.group(1), row.group(1)

    assert states() == ("sending", "sending")
    with session_scope(clean_db) as session:
        session.execute(update(Outbox).values(status="delivered"))
    assert states() == ("sent", "sent")
    later = _compose(client, csrf, residents, send_at="2030-05-01T18:30")
    scheduled = client.post(
        "/staff/broadcasts", data={"csrf_token": csrf, "payload": _payload(later)}
    )
    assert re.search(r'id="bc-status">scheduled<', scheduled.text)
    confirmed = {"csrf_token": csrf, "confirm": "yes"}
    cancelled = client.post(str(scheduled.url).split("?")[0] + "/cancel", data=confirmed)
    assert re.search(r'id="bc-status">cancelled<', cancelled.text)


def test_a_cancelled_broadcast_s_page_counts_its_withdrawn_messages_as_not_handed_over(
    as_role: Role, residents: World
) -> None:
    # Its page read "3 of 3 handed over" (a full bar) when all three were withdrawn.
    client, csrf = as_role("officer")
    html = _compose(client, csrf, residents)
    sent = client.post(
        "/staff/broadcasts",
        data={"csrf_token": csrf, "payload": _payload(html)},
        follow_redirects=False,
    )
    url = sent.headers["location"].split("?")[0]
    before = client.get(url).text
    assert 'id="bc-handed">0 of 3 handed over</span>' in before
    assert "<dd>3 residents when created</dd>" in before
    # Without `confirm` (the page's script sends it after its dialog), a page asks first
    # and nothing is withdrawn.
    asked = client.post(f"{url}/cancel", data={"csrf_token": csrf}, follow_redirects=False)
    assert asked.status_code == 200
    assert "Cancel the broadcast" in asked.text
    assert "Its messages not yet handed to Twilio are withdrawn" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert 'id="bc-handed">0 of 3 handed over</span>' in client.get(url).text
    cancelled = client.post(
        f"{url}/cancel", data={"csrf_token": csrf, "confirm": "yes"}, follow_redirects=False
    )
    assert cancelled.status_code == 303
    page = client.get(url).text
    assert 'id="bc-handed">0 of 3 handed over, 3 withdrawn before they went</span>' in page


def _sms_cell(preview: str, language: str) -> tuple[str, list[str]]:
    """Return the size line and the parts of the SMS copy the preview shows for `language`."""
    row = re.search(rf'<tr id="pv-{language}">(.*?)</tr>', preview, re.S)
    assert row, preview
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    size = re.search(r'id="pv-[a-z]+-sms-size">([^<]*)<', cells[3])
    parts = re.findall(r'<pre class="words sms-part">(.*?)</pre>', cells[3], re.S)
    assert size, cells[3]
    return html.unescape(size.group(1)), [html.unescape(part) for part in parts]


def test_the_preview_shows_each_language_s_sms_copy_as_residents_get_it(
    as_role: Role, residents: World
) -> None:
    # The preview gave the WhatsApp text and an SMS size alone: what an SMS resident reads
    # (no bold, plain punctuation, the STOP hint in their language, cut in parts) was not
    # shown anywhere.
    client, csrf = as_role("officer")
    english = "*Water tanks* arrive on “Monday”."
    xhosa = "Iitanki zamanzi zifika ngoMvulo eholweni, yiza nezitya zakho. " * 3
    preview = _compose(client, csrf, residents, text_en=english, text_xh=xhosa)
    expected = {
        language: broadcast_notices.sms_version(load(), get_translator(language), text.strip())
        for language, text in (("en", english), ("xh", xhosa))
    }
    size, parts = _sms_cell(preview, "en")
    assert (
        parts == [expected["en"]] and size == f"GSM-7, {len(expected['en'])} characters, 1 segment"
    )
    assert parts[0].startswith('Water tanks arrive on "Monday".\nReply STOP')
    size, parts = _sms_cell(preview, "xh")
    assert len(parts) == sms.segments(expected["xh"]) == 2 and "".join(parts) == expected["xh"]
    assert size == f"GSM-7, {len(expected['xh'])} characters, 2 segments"
    assert "Part 1 of 2" in preview and "Part 2 of 2" in preview
    whatsapp = re.search(r'<tr id="pv-en">.*?<pre class="words">(.*?)</pre>', preview, re.S)
    assert whatsapp and html.unescape(whatsapp.group(1)) == english  # bold and all


def test_the_compose_page_offers_every_language_and_a_setswana_text_reaches_setswana(
    as_role: Role, residents: World, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        make_member(session, settlement_id=residents.here, language="tn", channel="sms")
    client, csrf = as_role("officer")
    page = client.get("/staff/broadcasts/new").text
    boxes = re.findall(r'<textarea id="bc-text-([a-z]+)"', page)
    assert boxes == ["en", "xh", "zu", "af", "st", "tn", "nso", "ts", "ve", "ss", "nr"]
    filters = re.findall(r'name="languages" value="([a-z]+)"', page)
    assert filters == boxes
    # The five first as before; the other six under "More languages", closed when empty.
    more = re.search(r'<details id="bc-more-texts"([^>]*)>(.*?)</details>', page, re.S)
    assert more and "open" not in more.group(1) and "More languages" in more.group(2)
    assert re.findall(r'id="bc-text-([a-z]+)"', more.group(2)) == boxes[5:]
    assert 'for="bc-text-tn">Setswana<' in more.group(2)
    # Refused (too long for SMS), the form comes back with the text shown, not hidden.
    setswana = "Ditanka tsa metsi di goroga ka Mosupologo."
    refused = _compose(client, csrf, residents, text_tn=setswana * 12)
    kept = re.search(r'<details id="bc-more-texts"([^>]*)>', refused)
    assert kept and "open" in kept.group(1) and "the Setswana SMS" in refused
    preview = _compose(client, csrf, residents, text_tn=setswana)
    bodies = _send_and_read(client, csrf, preview, clean_db, language="tn")
    assert len(bodies) == 1 and setswana in str(bodies[0])
    # Filtered to Setswana (a box under "More languages"), it reaches that resident alone.
    only = _compose(client, csrf, residents, text_tn=setswana, languages="tn")
    assert 'id="pv-recipients">1<' in only
    refused = _compose(client, csrf, residents, text_tn=setswana * 12, languages="tn")
    assert re.search(r'<details id="bc-more-filters"[^>]*open', refused)


def test_big_broadcasts_wait_for_a_second_officer(
    app_settings: Settings, clean_db: Engine, residents: World, as_role: Role
) -> None:
    officer, csrf = as_role("officer")
    officer.app.state.settings = app_settings.model_copy(  # type: ignore[attr-defined]
        update={"broadcast_approval_threshold": 1}
    )
    html = _compose(officer, csrf, residents)
    assert "a second officer must approve" in html
    sent = officer.post("/staff/broadcasts", data={"csrf_token": csrf, "payload": _payload(html)})
    assert "waiting for a second officer" in sent.text
    url = str(sent.url).split("?")[0]
    assert "Approve" not in sent.text.split("<h2>Words</h2>")[0].replace("Approval", "")
    admin, admin_csrf = as_role("admin")
    page = admin.get(url).text
    assert "Approve" in page
    assert admin.get(url + "/preview").status_code == 200
    approved = admin.post(url + "/approve", data={"csrf_token": admin_csrf})
    assert approved.status_code == 200 and "approved" in approved.text


def test_triage_and_missing_csrf_are_refused(as_role: Role, residents: World) -> None:
    triage, _ = as_role("triage")
    assert triage.get("/staff/broadcasts").status_code == 403
    officer, _ = as_role("officer")
    assert officer.post("/staff/broadcasts/preview", data={"mode": "texts"}).status_code == 403


def test_a_send_time_is_checked_in_utc(as_role: Role, residents: World) -> None:
    # Johannesburg's 2000-01-01 01:00 is 1999 in UTC: it passed, checked as written.
    client, csrf = as_role("officer")
    form = {
        "csrf_token": csrf,
        "settlement_ids": str(residents.here),
        "mode": "texts",
        "text_en": "Water tanks arrive on Monday.",
    }
    early = client.post("/staff/broadcasts/preview", data={**form, "send_at": "2000-01-01T01:00"})
    assert early.status_code == 422
    assert "send_at 2000-01-01T01:00:00+02:00 is not between 2000 and 2100 in UTC" in early.text
    fine = client.post("/staff/broadcasts/preview", data={**form, "send_at": "2000-01-01T02:00"})
    assert fine.status_code == 200


def test_the_preview_of_a_scheduled_broadcast_counts_the_window_when_it_goes(
    as_role: Role, residents: World
) -> None:
    # The isiXhosa WhatsApp resident wrote an hour ago: inside the window now, not in two
    # days.
    client, csrf = as_role("officer")
    now = _compose(client, csrf, residents)
    assert "of whom 0 outside the 24-hour window now" in now
    later = (utcnow() + dt.timedelta(days=2)).astimezone(TIMEZONE).strftime("%Y-%m-%dT%H:%M")
    scheduled = _compose(client, csrf, residents, send_at=later)
    shown = f"of whom 1 outside the 24-hour window when it is to go, {later.replace('T', ' ')}"
    assert shown in scheduled, scheduled


def test_a_meeting_change_offers_its_announcement(
    clean_db: Engine, residents: World, as_role: Role
) -> None:
    with session_scope(clean_db) as session:
        meeting = make_meeting(
            session, utcnow() + dt.timedelta(days=4), settlement_id=residents.here
        )
        called_off = make_meeting(
            session,
            utcnow() + dt.timedelta(days=5),
            settlement_id=residents.here,
            title="Called off",
            cancelled=True,
        )
    client, csrf = as_role("officer")
    page = client.get(f"/staff/broadcasts/new?meeting_id={called_off.id}&change=cancelled").text
    assert 'value="meeting_cancelled" selected' in page
    assert f'<option value="{residents.here}" selected' in page
    # What is not true of the meeting is not offered, nor previewed: "cancelled" for one
    # still on, "announced" for one cancelled (both were).
    still_on = client.get(f"/staff/broadcasts/new?meeting_id={meeting.id}&change=cancelled")
    assert still_on.status_code == 409
    assert f"meeting {meeting.id} is not cancelled: cancel it first" in still_on.text
    off = client.get(f"/staff/broadcasts/new?meeting_id={called_off.id}&change=announced")
    assert off.status_code == 409
    assert f"meeting {called_off.id} is cancelled: announce that it is cancelled" in off.text
    offer = "Prepare the announcement"
    assert offer in client.get(f"/staff/meetings/{called_off.id}?announce=cancelled").text
    assert offer not in client.get(f"/staff/meetings/{called_off.id}?announce=moved").text
    assert offer not in client.get(f"/staff/meetings/{meeting.id}?announce=cancelled").text
    for meeting_id, name in (
        (meeting.id, "meeting_cancelled"),
        (called_off.id, "meeting_announced"),
    ):
        preview = client.post(
            "/staff/broadcasts/preview",
            data={
                "csrf_token": csrf,
                "settlement_ids": str(residents.here),
                "mode": "template",
                "template_name": name,
                "meeting_id": str(meeting_id),
            },
        )
        assert preview.status_code == 409, name
        assert f"meeting {meeting_id} is " in preview.text and "Send now" not in preview.text
    # A hand-edited time out of range is refused, not a 500.
    odd = f"/staff/broadcasts/new?meeting_id={meeting.id}&change=moved&previous=0001-01-01T00:00"
    assert client.get(odd).status_code == 422


def test_a_moved_meetings_announcement_gives_the_old_time_in_johannesburg_time(
    clean_db: Engine, residents: World, as_role: Role
) -> None:
    # The officer moves 18:00 (16:00 UTC) to 19:00 and follows "Prepare the announcement":
    # "Planned before" was filled with the UTC time and read back as Johannesburg time, so
    # every resident was told it had been planned for 16:00.
    starts = dt.datetime(2030, 3, 12, 16, 0, tzinfo=dt.UTC)
    with session_scope(clean_db) as session:
        meeting = make_meeting(session, starts, settlement_id=residents.here, venue="Hall")
        meeting_id, title = meeting.id, meeting.title
    client, csrf = as_role("officer")
    moved = client.post(
        f"/staff/meetings/{meeting_id}",
        data={
            "csrf_token": csrf,
            "level": "neighbourhood",
            "title": title,
            "starts_at": "2030-03-12T19:00",
            "settlement_id": str(residents.here),
            "venue": "Hall",
        },
        follow_redirects=False,
    )
    assert moved.status_code == 303, moved.text
    page = client.get(moved.headers["location"]).text
    link = re.search(r'href="(/staff/broadcasts/new\?[^"]+)"', page)
    assert link, page
    compose = client.get(html.unescape(link.group(1))).text
    before = re.search(r'name="previous_starts_at" type="datetime-local" value="([^"]*)"', compose)
    assert before and before.group(1) == "2030-03-12T18:00"
    preview = client.post(
        "/staff/broadcasts/preview",
        data={
            "csrf_token": csrf,
            "settlement_ids": str(residents.here),
            "mode": "template",
            "template_name": "meeting_moved",
            "meeting_id": str(meeting_id),
            "previous_starts_at": before.group(1),
        },
    )
    assert preview.status_code == 200, preview.text
    words = re.search(r'<pre class="words">(.*?)</pre>', preview.text, re.S)
    assert words and "18:00" in words.group(1) and "16:00" not in words.group(1)


def _saved_meeting_offer(
    client: TestClient, csrf: str, meeting_id: int, settlement_id: int, **changes: str
) -> str:
    """Save a meeting (18:00 on 12 March 2030 at the Hall, neighbourhood) with `changes` on
    its page and return the page the officer is sent back to."""
    form = {
        "csrf_token": csrf,
        "level": "neighbourhood",
        "title": "Layout plan",
        "starts_at": "2030-03-12T18:00",
        "settlement_id": str(settlement_id),
        "venue": "Hall",
        **changes,
    }
    saved = client.post(f"/staff/meetings/{meeting_id}", data=form)
    assert saved.status_code == 200, saved.text
    return saved.text


def test_a_meeting_given_another_venue_offers_the_announcement_of_its_new_venue(
    clean_db: Engine, residents: World, as_role: Role
) -> None:
    # Only a new start offered "Tell the residents concerned?": residents reminded of the
    # old venue, and city forums' residents (never reminded), were not told it changed;
    # a "moved" announcement at the same time said "planned for 18:00 ... now on 18:00".
    starts = dt.datetime(2030, 3, 12, 16, 0, tzinfo=dt.UTC)  # 18:00 in Johannesburg
    with session_scope(clean_db) as session:
        meeting = make_meeting(
            session, starts, settlement_id=residents.here, title="Layout plan", venue="Hall"
        )
        meeting_id = meeting.id
    client, csrf = as_role("officer")
    page = _saved_meeting_offer(client, csrf, meeting_id, residents.here, venue="Church")
    link = re.search(r'href="(/staff/broadcasts/new\?[^"]+)">Prepare the announcement', page)
    assert link, page
    assert "change=moved" in link.group(1) and "previous_venue=Hall" in link.group(1)
    assert "previous=" not in link.group(1).replace("previous_venue=", "")  # same time
    compose = client.get(html.unescape(link.group(1)))
    assert compose.status_code == 200, compose.text
    fields = _submitted(compose.text, BROADCAST_PREVIEW)
    assert fields["template_name"] == ["meeting_moved"] and fields["venue_changed"] == ["1"]
    assert fields["previous_venue"] == ["Hall"] and fields["previous_starts_at"] == [""]
    preview = client.post(BROADCAST_PREVIEW, data=fields)
    assert preview.status_code == 200, preview.text
    words = html.unescape(preview.text)
    assert "*Meeting venue changed: Layout plan*\nIt is still on " in words, words
    # isiXhosa, in its own words (the time after a colon, not glued to a prefix).
    assert "*Indawo yentlanganiso itshintshile: Layout plan*\nIxesha alitshintshanga: " in words
    bodies = _send_and_read(client, csrf, preview.text, clean_db, language="en")
    assert len(bodies) == 1
    assert str(bodies[0]).startswith(
        "Meeting venue changed: Layout plan\nIt is still on Tuesday, 12 March 2030, 18:00, "
        "at a new place.\nWhere: Church\n"
    ), bodies[0]
    # Time and venue: both are said. Neither: nothing to tell, refused with the reason.
    page = _saved_meeting_offer(
        client, csrf, meeting_id, residents.here, venue="School", starts_at="2030-03-12T19:00"
    )
    link = re.search(r'href="(/staff/broadcasts/new\?[^"]+)">Prepare the announcement', page)
    assert link and "previous_venue=Church" in link.group(1), page
    compose = client.get(html.unescape(link.group(1))).text
    preview = client.post(BROADCAST_PREVIEW, data=_submitted(compose, BROADCAST_PREVIEW))
    words = html.unescape(preview.text)
    assert "It was planned for Tuesday, 12 March 2030, 18:00. It is now on Tuesday, " in words
    assert "2030, 19:00, at a new place.\nWhere: School" in words, words
    same = {**_submitted(compose, BROADCAST_PREVIEW), "previous_venue": "School"}
    same["previous_starts_at"] = ["2030-03-12T19:00"]
    refused = client.post(BROADCAST_PREVIEW, data=same)
    assert refused.status_code == 409
    assert f"meeting {meeting_id} has not moved: it is still on 2030-03-12 19:00 at School" in (
        html.unescape(refused.text)
    )
    # Only its place changed: to the residents it now concerns it is a new meeting.
    page = _saved_meeting_offer(
        client,
        csrf,
        meeting_id,
        residents.there,
        venue="School",
        starts_at="2030-03-12T19:00",
    )
    assert "change=announced" in page and "Prepare the announcement" in page
    # A title alone changed: nothing to offer.
    page = _saved_meeting_offer(
        client,
        csrf,
        meeting_id,
        residents.there,
        title="Layout plan review",
        venue="School",
        starts_at="2030-03-12T19:00",
    )
    assert "Prepare the announcement" not in page


def _announce(client: TestClient, csrf: str, engine: Engine, meeting_id: int, here: int) -> None:
    """Send a meeting's "new meeting" announcement from the compose page, and have every
    message delivered, as the worker would."""
    form = {
        "csrf_token": csrf,
        "settlement_ids": str(here),
        "mode": "template",
        "template_name": "meeting_announced",
        "meeting_id": str(meeting_id),
    }
    payload = _payload(client.post(BROADCAST_PREVIEW, data=form).text)
    sent = client.post("/staff/broadcasts", data={"csrf_token": csrf, "payload": payload})
    assert sent.status_code == 200, sent.text
    with session_scope(engine) as session:
        session.execute(update(Outbox).values(status="delivered"))


def _template_preview(client: TestClient, csrf: str, here: int, **template: str) -> str:
    """Preview a meeting template to the settlement `here`; return the page, unescaped."""
    form = {"csrf_token": csrf, "settlement_ids": str(here), "mode": "template", **template}
    preview = client.post(BROADCAST_PREVIEW, data=form)
    assert preview.status_code == 200, preview.text
    return html.unescape(preview.text)


def test_a_meeting_changed_unannounced_is_cancelled_as_residents_know_it_and_the_preview_says_so(
    clean_db: Engine, residents: World, as_role: Role
) -> None:
    # Announced as "Layout plan" on 12 March at 18:00, renamed and moved to the 13th without
    # a word, then cancelled: residents were told "Meeting cancelled: Budget meeting ... on
    # Wednesday, 13 March", a meeting they never heard of.
    starts = dt.datetime(2030, 3, 12, 16, 0, tzinfo=dt.UTC)  # 18:00 in Johannesburg
    with session_scope(clean_db) as session:
        meeting = make_meeting(
            session, starts, settlement_id=residents.here, title="Layout plan", venue="Hall"
        )
        kept = make_meeting(
            session, starts, settlement_id=residents.here, title="Kept as told", venue="Hall"
        )
        meeting_id, kept_id = meeting.id, kept.id
    client, csrf = as_role("officer")
    _announce(client, csrf, clean_db, meeting_id, residents.here)
    _announce(client, csrf, clean_db, kept_id, residents.here)
    _saved_meeting_offer(
        client,
        csrf,
        meeting_id,
        residents.here,
        title="Budget meeting",
        starts_at="2030-03-13T10:00",
    )
    # Moved now, its move is said from where residents know it.
    moved = _template_preview(
        client,
        csrf,
        residents.here,
        template_name="meeting_moved",
        meeting_id=str(meeting_id),
        previous_starts_at="2030-03-12T18:00",
    )
    heard = "last heard of this meeting as \u201cLayout plan\u201d on 2030-03-12 18:00 at Hall"
    assert heard in moved, moved
    assert "renamed from \u201cLayout plan\u201d to \u201cBudget meeting\u201d" in moved
    assert "moved from 2030-03-12 18:00 to 2030-03-13 10:00 without telling them" in moved
    assert "For them it moves from 2030-03-12 18:00 at Hall" in moved
    for meeting_to_cancel in (meeting_id, kept_id):
        cancelled = client.post(
            f"/staff/meetings/{meeting_to_cancel}/cancel",
            data={"csrf_token": csrf, "confirm": "yes"},
            follow_redirects=False,
        )
        assert cancelled.status_code == 303, cancelled.text
    preview = _template_preview(
        client, csrf, residents.here, template_name="meeting_cancelled", meeting_id=str(meeting_id)
    )
    assert heard in preview
    assert "This notice names it as they know it: \u201cLayout plan\u201d on 2030-03-12 18:00" in (
        preview
    )
    words = re.search(r'<tr id="pv-en">.*?<pre class="words">(.*?)</pre>', preview, re.S)
    assert words, preview
    assert words.group(1).startswith("*Meeting cancelled: Layout plan*\nThe meeting on ")
    assert "12 March 2030, 18:00" in words.group(1) and "Budget" not in words.group(1)
    # One changed in nothing residents would notice: as it is, and nothing to warn of.
    same = _template_preview(
        client, csrf, residents.here, template_name="meeting_cancelled", meeting_id=str(kept_id)
    )
    assert "Residents last heard" not in same
    assert "*Meeting cancelled: Kept as told*" in same


def _offered_milestone_announcement(
    client: TestClient, csrf: str, settlement_id: int, milestone_id: int, **changes: str
) -> str:
    """Save a milestone of a settlement with `changes` on its settlement page, follow the
    offer the page makes and return the compose page it leads to."""
    form = {
        "csrf_token": csrf,
        "milestone_id": str(milestone_id),
        "strand": "services",
        "title": "Standpipes installed",
        "status": "planned",
        **changes,
    }
    saved = client.post(f"/staff/settlements/{settlement_id}/milestones", data=form)
    assert saved.status_code == 200, saved.text
    link = re.search(r'href="(/staff/broadcasts/new\?[^"]+)">Prepare the announcement', saved.text)
    assert link, saved.text
    compose = client.get(html.unescape(link.group(1)))
    assert compose.status_code == 200, compose.text
    return compose.text


def test_a_milestones_offer_composes_its_announcement_and_sends_it(
    clean_db: Engine, residents: World, as_role: Role
) -> None:
    # Residents were told of a milestone done or delayed only if the officer went to
    # Broadcasts, chose template mode and typed the milestone's number by hand.
    with session_scope(clean_db) as session:
        here = session.get_one(Settlement, residents.here)
        milestone_id = make_milestone(session, here, title="Standpipes installed").id
    client, csrf = as_role("officer")
    page = _offered_milestone_announcement(
        client, csrf, residents.here, milestone_id, status="done"
    )
    fields = _submitted(page, "/staff/broadcasts/preview")
    assert fields["mode"] == ["template"]
    assert fields["template_name"] == ["milestone_reached"]
    assert fields["milestone_id"] == [str(milestone_id)]
    assert fields["settlement_ids"] == [str(residents.here)]
    assert fields["title"] == ["Milestone reached: Standpipes installed (Ubuhle Gardens)"]
    preview = client.post("/staff/broadcasts/preview", data=fields)
    assert preview.status_code == 200, preview.text
    assert 'id="pv-recipients">3<' in preview.text
    english = "*Good news for Ubuhle Gardens*\nThis step of the upgrading is done: Standpipes"
    assert english in html.unescape(preview.text)
    bodies = _send_and_read(client, csrf, preview.text, clean_db, language="en")
    assert len(bodies) == 1 and "This step of the upgrading is done: Standpipes" in str(bodies[0])
    # Delayed, the residents are told why, as the note says.
    page = _offered_milestone_announcement(
        client, csrf, residents.here, milestone_id, status="delayed", note="Pipes arrive in May."
    )
    fields = _submitted(page, "/staff/broadcasts/preview")
    assert fields["template_name"] == ["milestone_delayed"]
    preview = client.post("/staff/broadcasts/preview", data=fields)
    words = html.unescape(preview.text)
    assert "*Delay for Ubuhle Gardens*" in words and "municipality: Pipes arrive in May." in words
    # Neither done nor delayed, it has nothing to tell (a hand-made address).
    _offered_milestone_announcement(client, csrf, residents.here, milestone_id, status="done")
    planned = {"csrf_token": csrf, "milestone_id": str(milestone_id), "strand": "services"}
    planned |= {"title": "Standpipes installed", "status": "in_progress"}
    client.post(f"/staff/settlements/{residents.here}/milestones", data=planned)
    refused = client.get(f"/staff/broadcasts/new?milestone_id={milestone_id}")
    assert refused.status_code == 409
    assert f"milestone {milestone_id} is in progress: residents are told" in refused.text


def test_a_milestones_announcement_keeps_to_the_sms_budget(
    clean_db: Engine, residents: World, as_role: Role
) -> None:
    # The note is quoted: measured by its length as GSM-7 counts it (a Tshivenda spelling
    # is no reason to refuse it), a long one is refused at the preview, naming what to
    # shorten.
    tshivenda = "Muṱangano wa u ḓivhadza vhadzulapo ndi nga Ḽavhuraru. " * 3  # UCS-2
    long = "The contractor left the site; pipes arrive in May, then trenches. " * 6
    with session_scope(clean_db) as session:
        here = session.get_one(Settlement, residents.here)
        milestone_id = make_milestone(session, here, title="Standpipes installed").id
    client, csrf = as_role("officer")
    page = _offered_milestone_announcement(
        client, csrf, residents.here, milestone_id, status="delayed", note=tshivenda
    )
    preview = client.post("/staff/broadcasts/preview", data=_submitted(page, BROADCAST_PREVIEW))
    assert "Preview:" in preview.text and "UCS-2" in preview.text
    page = _offered_milestone_announcement(
        client, csrf, residents.here, milestone_id, status="delayed", note=long
    )
    refused = client.post("/staff/broadcasts/preview", data=_submitted(page, BROADCAST_PREVIEW))
    words = html.unescape(refused.text)
    assert "Preview:" not in words
    assert 'id="bc-template-refused">the English SMS, with its STOP hint' in words
    assert "so shorten the milestone's title or note" in words


def _typed_form(csrf: str, world: World, **changes: str | list[str]) -> dict[str, list[str]]:
    """Return a compose form filled in everywhere (both modes' fields), as a browser sends
    it, with `changes`."""
    form: dict[str, list[str]] = {
        "csrf_token": [csrf],
        "title": ["Water tanks"],
        "settlement_ids": [str(world.here), str(world.there)],
        "wards": ["14, 22"],
        "categories": [],
        "languages": ["xh", "tn"],
        "channels": ["sms"],
        "mode": ["texts"],
        "text_en": ["Water tanks arrive on Monday.\nBring containers."],
        "text_xh": ["Iitanki zamanzi zifika ngoMvulo."],
        "text_tn": ["Ditanka tsa metsi di goroga ka Mosupologo."],
        "template_name": ["water_interruption"],
        "meeting_id": [""],
        "previous_starts_at": [""],
        "previous_venue": ["Old hall"],
        "milestone_id": ["7"],
        "area": ["Lane 3"],
        "starts_at": ["2030-05-01T08:00"],
        "ends_at": ["2030-05-01T17:00"],
        "send_at": ["2030-05-01T07:30"],
        "sms_fallback": ["1"],
    }
    return form | {name: [v] if isinstance(v, str) else v for name, v in changes.items()}


def _shown_again(sent: dict[str, list[str]], page: str) -> None:
    """Assert that the compose form on `page` holds every field as `sent` (empty ones as
    the browser leaves them out or sends them blank)."""
    kept = _submitted(page, BROADCAST_PREVIEW)
    for name, values in sent.items():
        if name != "csrf_token":
            assert sorted(v for v in kept.get(name, []) if v) == sorted(v for v in values if v), (
                name
            )


@pytest.mark.parametrize(
    ("changes", "place", "reason"),
    [
        (  # no audience at all
            {"settlement_ids": [], "wards": "", "languages": [], "channels": []},
            "bc-who",
            "choose settlements, wards, categories, languages or channels, or set everyone",
        ),
        ({"text_en": ""}, "bc-what", "texts must include English (en)"),
        ({"send_at": "next Monday"}, "bc-send-at", "send time next Monday is not a date and time"),
        (  # a template that needs what was not given
            {"mode": "template", "area": ""},
            "bc-template",
            "water_interruption needs the area, the start and the end",
        ),
        (  # SMS too long
            {"text_tn": "Ditanka tsa metsi di goroga ka Mosupologo mo mosong. " * 12},
            "bc-text-tn",
            "the Setswana SMS, with its STOP hint, would be",
        ),
    ],
)
def test_a_refused_compose_form_comes_back_as_typed_with_the_reason_beside_the_field(
    as_role: Role,
    residents: World,
    changes: dict[str, str | list[str]],
    place: str,
    reason: str,
) -> None:
    # No audience, no English, a date not understood went to the error page: Back kept the
    # words, but the officer no longer saw what to put right, nor where.
    client, csrf = as_role("officer")
    sent = _typed_form(csrf, residents, **changes)
    refused = client.post(BROADCAST_PREVIEW, data=sent)
    assert refused.status_code in (200, 422), refused.text
    page = html.unescape(refused.text)
    assert "<h1>New broadcast</h1>" in page and "Preview:" not in page
    beside = re.search(rf'<p class="error" id="{place}-refused">([^<]*)</p>', page)
    assert beside and reason in beside.group(1), page
    summary = re.search(r'<div class="error" role="alert" id="bc-refused"(.*?)</div>', page, re.S)
    assert summary and f'href="#{place}"' in summary.group(1)
    assert f'aria-describedby="{place}-refused' in page
    _shown_again(sent, refused.text)
    if place == "bc-text-tn":  # a language under "More languages" is shown, not hidden
        assert re.search(r'<details id="bc-more-texts"[^>]*open', page)


def test_a_refused_preview_keeps_the_times_and_the_sms_fallback(
    as_role: Role, residents: World
) -> None:
    # The page came back with "when" empty: sent again unnoticed, a scheduled broadcast
    # went at once.
    client, csrf = as_role("officer")
    refused = client.post(
        "/staff/broadcasts/preview",
        data={
            "csrf_token": csrf,
            "settlement_ids": str(residents.here),
            "mode": "template",
            "template_name": "water_interruption",
            "area": "Block C",
            "starts_at": "2030-05-02T14:00",
            "ends_at": "2030-05-02T09:00",
            "send_at": "2030-05-01T18:30",
            "sms_fallback": "1",
        },
    )
    assert (
        refused.status_code == 200 and "the interruption must end after it starts" in refused.text
    )
    for name, value in [
        ("send_at", "2030-05-01T18:30"),
        ("starts_at", "2030-05-02T14:00"),
        ("ends_at", "2030-05-02T09:00"),
    ]:
        assert f'name="{name}" type="datetime-local" value="{value}"' in refused.text
    assert 'name="sms_fallback" value="1" checked' in refused.text


def test_a_broadcast_that_failed_when_due_shows_why(
    clean_db: Engine, settings: Settings, residents: World, as_role: Role
) -> None:
    officer = select(StaffUser).where(col(StaffUser.email) == EMAILS["officer"])
    with session_scope(clean_db) as session:
        broadcast_id = make_failing_broadcast(
            session,
            settings=settings,
            settlement=session.get_one(Settlement, residents.here),
            staff=session.execute(officer).scalar_one(),
            send_at=utcnow() + dt.timedelta(hours=1),
        )
    jobs.send_due(engine=clean_db, settings=settings, now=utcnow() + dt.timedelta(hours=2))
    client, _ = as_role("officer")
    page = client.get(f"/staff/broadcasts/{broadcast_id}").text
    assert re.search(r'id="bc-status">failed<', page)
    reason = 'id="bc-reason">Nothing was sent. Its words could not be built when it was due: '
    assert re.search(re.escape(reason) + r"the \w+ message would be [\d,]+ characters", page)
    assert "at most 1,600 can be sent" in page
    assert "Cancel broadcast" not in page
    listing = client.get("/staff/broadcasts").text
    assert 'failed<br><span class="muted">Its words could not be built when it was due' in listing


def test_a_milestone_s_news_to_an_audience_without_its_settlement_is_warned_of_not_refused(
    clean_db: Engine, residents: World, as_role: Role
) -> None:
    # "Good news for Ubuhle Gardens" could go to Kwa-Thema Extension alone, without a word.
    with session_scope(clean_db) as session:
        here = session.get_one(Settlement, residents.here)
        milestone_id = make_milestone(session, here, status="done").id
    client, csrf = as_role("officer")
    form = {
        "csrf_token": csrf,
        "mode": "template",
        "template_name": "milestone_reached",
        "milestone_id": str(milestone_id),
    }
    warning = "news of a milestone of Ubuhle Gardens, but the audience leaves Ubuhle Gardens out"
    for audience in ({"settlement_ids": str(residents.there)}, {"wards": "22"}):
        preview = client.post(BROADCAST_PREVIEW, data={**form, **audience})
        assert preview.status_code == 200, preview.text
        assert warning in preview.text and "Send now" in preview.text, audience
    # Ubuhle Gardens has no category yet: a category filter leaves it out.
    assert warning in client.post(BROADCAST_PREVIEW, data={**form, "categories": "A"}).text
    for audience in (
        {"settlement_ids": str(residents.here)},
        {"wards": "14"},
        {"languages": "xh"},
        {"settlement_ids": [str(residents.here), str(residents.there)]},
    ):
        preview = client.post(BROADCAST_PREVIEW, data={**form, **audience})
        assert preview.status_code == 200, preview.text
        assert warning not in preview.text, audience
    # Stored, its approver's preview says so too.
    sent = client.post(
        "/staff/broadcasts",
        data={
            "csrf_token": csrf,
            "payload": _payload(
                client.post(
                    BROADCAST_PREVIEW, data={**form, "settlement_ids": str(residents.there)}
                ).text
            ),
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    stored = client.get(sent.headers["location"].split("?")[0] + "/preview").text
    assert warning in stored


def test_a_broadcast_that_reaches_nobody_says_so_and_is_not_offered_to_send(
    as_role: Role, residents: World
) -> None:
    # A filter that matches no resident (no Sesotho speaker here) showed "Recipients 0" and
    # a "Send now" button that sent nothing.
    client, csrf = as_role("officer")
    nobody = _compose(client, csrf, residents, languages="st")
    assert 'id="pv-recipients">0<' in nobody and 'id="pv-nobody"' in nobody
    assert "Send now" not in nobody and 'name="payload"' not in nobody
    # Scheduled, it is offered: residents may join before it goes.
    later = _compose(client, csrf, residents, languages="st", send_at="2030-05-01T18:30")
    assert "only residents who join or change before it goes" in later and "Schedule" in later
    assert 'id="pv-nobody"' not in _compose(client, csrf, residents)
    # A time already passed goes now: not offered either, and refused if sent all the same
    # (as the API refuses it).
    passed = _compose(client, csrf, residents, languages="st", send_at="2020-05-01T18:30")
    assert "nothing to send" in passed and 'name="payload"' not in passed
    form = {"csrf_token": csrf, "payload": _payload(later)}
    assert client.post("/staff/broadcasts", data=form, follow_redirects=False).status_code == 303
    crafted = _payload(later).replace("2030-05-01", "2020-05-01")
    refused = client.post("/staff/broadcasts", data={"csrf_token": csrf, "payload": crafted})
    assert refused.status_code == 409 and "no resident matches" in refused.text


def _awaiting_approval(
    app_settings: Settings, residents: World, as_role: Role
) -> tuple[TestClient, str]:
    """Have the officer compose a broadcast to go in an hour that waits for a second
    officer; return the officer's client and the broadcast's page."""
    officer, csrf = as_role("officer")
    officer.app.state.settings = app_settings.model_copy(  # type: ignore[attr-defined]
        update={"broadcast_approval_threshold": 1}
    )
    soon = (utcnow() + dt.timedelta(hours=1)).astimezone(TIMEZONE).strftime("%Y-%m-%dT%H:%M")
    html = _compose(officer, csrf, residents, send_at=soon)
    sent = officer.post("/staff/broadcasts", data={"csrf_token": csrf, "payload": _payload(html)})
    assert "waiting for a second officer" in sent.text
    return officer, str(sent.url).split("?")[0]


def test_an_approved_broadcast_says_who_approved_it_and_when_to_its_author_too(
    app_settings: Settings, clean_db: Engine, residents: World, as_role: Role
) -> None:
    # Its page said "approved 2026-12-08 10:00", not by whom; the list said nothing; the
    # approver was told "Saved.".
    officer, url = _awaiting_approval(app_settings, residents, as_role)
    waiting = officer.get(url).text
    assert 'id="bc-approval">waiting for a second officer<' in waiting
    assert f'id="bc-author">{EMAILS["officer"]}<' in waiting
    admin, admin_csrf = as_role("admin")
    approved = admin.post(url + "/approve", data={"csrf_token": admin_csrf})
    assert 'role="status">Approved: this page now says by whom and when' in approved.text
    with session_scope(clean_db) as session:
        at = session.exec(select(Broadcast)).one().approved_at
    assert at is not None
    said = f"approved by {EMAILS['admin']} at {at.astimezone(TIMEZONE):%Y-%m-%d %H:%M}"
    assert f'id="bc-approval">{said}<' in officer.get(url).text
    assert f'<span class="muted">{said}</span>' in officer.get("/staff/broadcasts").text


def _move_away(engine: Engine, residents: World) -> None:
    """Move everyone here there."""
    with session_scope(engine) as session:
        session.execute(
            update(Resident)
            .where(col(Resident.settlement_id) == residents.here)
            .values(settlement_id=residents.there)
        )


def test_the_approvers_preview_of_a_due_broadcast_that_reaches_nobody_says_approving_sends_nothing(
    app_settings: Settings, clean_db: Engine, residents: World, as_role: Role
) -> None:
    # It was taken: a broadcast due already goes the moment it is approved, yet its preview
    # said "only residents who join or change before it goes would get it".
    _, url = _awaiting_approval(app_settings, residents, as_role)
    preview = url + "/preview"
    _move_away(clean_db, residents)
    admin, _ = as_role("admin")
    scheduled = admin.get(preview).text
    assert 'id="pv-recipients">0<' in scheduled
    assert "only residents who join or change before it goes" in scheduled
    with session_scope(clean_db) as session:  # and its time came while it waited
        session.execute(update(Broadcast).values(send_at=utcnow() - dt.timedelta(minutes=5)))
    due = admin.get(preview).text
    assert 'id="pv-recipients">0<' in due
    assert "only residents who join" not in due and "<dd>now (it was due " in due
    assert "approving it now would send it to nobody, and it would be marked failed" in due


def test_the_broadcast_page_warns_the_approver_that_a_due_broadcast_reaches_nobody(
    app_settings: Settings, clean_db: Engine, residents: World, as_role: Role
) -> None:
    # Its Approve button said nothing: the approver clicked and the broadcast failed.
    officer, url = _awaiting_approval(app_settings, residents, as_role)
    admin, admin_csrf = as_role("admin")
    assert "Approve</button>" in admin.get(url).text
    assert 'id="pv-nobody"' not in admin.get(url).text  # three residents match
    _move_away(clean_db, residents)
    with session_scope(clean_db) as session:  # and its time came while it waited
        session.execute(update(Broadcast).values(send_at=utcnow() - dt.timedelta(minutes=5)))
    page = admin.get(url).text
    warning = "approving it now would send it to nobody, and it would be marked failed"
    assert warning in page and 'id="pv-nobody"' in page
    assert page.index(warning) < page.index("Approve</button>")
    assert 'id="pv-nobody"' not in officer.get(url).text  # who cannot approve is not asked
    approved = admin.post(url + "/approve", data={"csrf_token": admin_csrf})
    assert re.search(r'id="bc-status">failed<', approved.text)
    assert 'id="pv-nobody"' not in approved.text and "Approve</button>" not in approved.text


def _log_in(page: Page, base: str) -> None:
    """Log in as the officer in Chromium."""
    page.goto(base + "/staff/login")
    page.get_by_label("Email").fill(EMAILS["officer"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()


@pytest.mark.browser
@pytest.mark.slow
def test_broadcast_pages_in_chromium(
    app_settings: Settings, clean_db: Engine, residents: World
) -> None:
    local = app_settings.model_copy(update={"public_url": "http://127.0.0.1"})
    app = create_app(local, clean_db)
    with serve(app) as base, chromium() as browser:
        page = browser.new_page()
        _log_in(page, base)
        page.goto(base + "/staff/broadcasts/new")
        page.get_by_label("Settlements").select_option(str(residents.here))
        page.get_by_role("textbox", name="English", exact=True).fill(
            "Water tanks arrive on Monday."
        )
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#pv-recipients")).to_have_text("3")
        expect(page.locator("#pv-fallback")).to_contain_text("af, xh")
        page.get_by_role("button", name="Send now").click()
        expect(page.locator("#bc-status")).to_have_text("sending")
        expect(page.locator("#bc-progress")).to_have_attribute("max", "3")


@pytest.mark.browser
@pytest.mark.slow
def test_a_refused_compose_form_keeps_what_was_typed_with_and_without_javascript_in_chromium(
    app_settings: Settings, clean_db: Engine, residents: World
) -> None:
    # With no audience chosen, Preview led to the error page ("Please check the form"):
    # Back kept the words, but not the reason, nor where it applied.
    local = app_settings.model_copy(update={"public_url": "http://127.0.0.1"})
    requests: list[Request] = []  # the page's, from the click on Preview
    with serve(create_app(local, clean_db)) as base, chromium() as browser:
        for scripted in (True, False):
            page = browser.new_context(java_script_enabled=scripted).new_page()
            _log_in(page, base)
            page.goto(base + "/staff/broadcasts/new")
            page.get_by_label("Title (for staff only)").fill("Water tanks")
            english = page.get_by_role("textbox", name="English", exact=True)
            english.fill("Water tanks arrive on Monday.\nBring containers.")
            page.locator("#bc-more-texts summary").click()
            setswana = page.get_by_role("textbox", name="Setswana", exact=True)
            setswana.fill("Ditanka tsa metsi di goroga ka Mosupologo.")
            page.get_by_label("Send at (Johannesburg time; empty: now)").fill("2030-05-01T07:30")
            requests.clear()
            page.on("request", lambda request: requests.append(request))
            page.get_by_role("button", name="Preview").click()
            who = page.locator("#bc-who-refused")
            expect(who).to_contain_text("choose settlements, wards, categories, languages")
            expect(page.locator("#bc-refused")).to_be_visible()
            expect(page.get_by_role("heading", name="New broadcast")).to_be_visible()
            # One page, the form as typed: no redirect, no second load.
            loads = [f"{r.method} {r.url}" for r in requests if r.is_navigation_request()]
            assert loads == [f"POST {base}{BROADCAST_PREVIEW}"], (scripted, loads)
            expect(english).to_have_value("Water tanks arrive on Monday.\nBring containers.")
            expect(setswana).to_be_visible()
            expect(setswana).to_have_value("Ditanka tsa metsi di goroga ka Mosupologo.")
            expect(page.get_by_label("Title (for staff only)")).to_have_value("Water tanks")
            expect(page.locator("#bc-send-at")).to_have_value("2030-05-01T07:30")
            # Put right, it previews.
            page.get_by_label("Settlements").select_option(str(residents.here))
            page.get_by_role("button", name="Preview").click()
            expect(page.locator("#pv-recipients")).to_have_text("3")
            page.context.close()


def test_scoped_officers_see_only_broadcasts_to_their_places(
    app: object, clean_db: Engine, as_role: Role, residents: World
) -> None:
    officer, csrf = as_role("officer")
    there = _compose(officer, csrf, residents, settlement_ids=str(residents.there))
    sent_there = officer.post(
        "/staff/broadcasts", data={"csrf_token": csrf, "payload": _payload(there)}
    )
    here = _compose(officer, csrf, residents, title="Here only")
    sent_here = officer.post(
        "/staff/broadcasts", data={"csrf_token": csrf, "payload": _payload(here)}
    )
    url_there = str(sent_there.url).split("?")[0].split("/staff", 1)[1]
    url_here = str(sent_here.url).split("?")[0].split("/staff", 1)[1]
    make_scoped_user(clean_db, WARD_14_OFFICER, "officer", wards=["14"])
    with logged_in(app, WARD_14_OFFICER) as (scoped, _csrf):
        assert scoped.get("/staff" + url_there).status_code == 404  # "there" is ward 22
        assert scoped.get("/staff" + url_here).status_code == 200
        listing = scoped.get("/staff/broadcasts").text
    assert f'href="/staff{url_here}"' in listing
    assert f'href="/staff{url_there}"' not in listing


def test_a_scoped_officer_s_broadcast_to_another_ward_is_refused_as_the_api_refuses_it(
    app: object, clean_db: Engine, residents: World
) -> None:
    # The API answered 403 (a change the scope does not allow); the dashboard said 409, as
    # for a state that refuses it.
    make_scoped_user(clean_db, WARD_14_OFFICER, "officer", wards=["14"])
    with logged_in(app, WARD_14_OFFICER) as (scoped, csrf):
        form = {
            "csrf_token": csrf,
            "title": "Water tanks",
            "wards": "22",
            "mode": "texts",
            "text_en": "Water tanks arrive on Monday.",
        }
        refused = scoped.post("/staff/broadcasts/preview", data=form)
        assert refused.status_code == 403, refused.text
        assert "your scope does not include ward 22" in refused.text
        assert "Water tanks arrive on Monday." in refused.text  # kept as typed
        crafted = BroadcastCreate(
            title="Water tanks",
            audience=Audience(wards=["22"]),
            texts={"en": "Water tanks arrive on Monday."},
        ).model_dump_json()
        sent = scoped.post("/staff/broadcasts", data={"csrf_token": csrf, "payload": crafted})
        assert sent.status_code == 403 and "your scope does not include ward 22" in sent.text


def test_a_scoped_officer_gets_no_announcement_of_another_places_meeting(
    app: object, clean_db: Engine, residents: World
) -> None:
    with session_scope(clean_db) as session:
        starts = utcnow() + dt.timedelta(days=4)
        here = make_meeting(session, starts, settlement_id=residents.here).id
        there = make_meeting(session, starts, settlement_id=residents.there).id
    make_scoped_user(clean_db, WARD_14_OFFICER, "officer", wards=["14"])
    with logged_in(app, WARD_14_OFFICER) as (scoped, _csrf):
        assert scoped.get(f"/staff/broadcasts/new?meeting_id={here}").status_code == 200
        # "there" is ward 22: its meeting is as absent as one that does not exist.
        assert scoped.get(f"/staff/broadcasts/new?meeting_id={there}").status_code == 404


def test_a_scoped_officer_gets_no_announcement_of_another_places_milestone(
    app: object, clean_db: Engine, residents: World, as_role: Role
) -> None:
    with session_scope(clean_db) as session:
        here = make_milestone(session, session.get_one(Settlement, residents.here), status="done")
        there = session.get_one(Settlement, residents.there)
        elsewhere = make_milestone(session, there, status="done", note="Secret over there")
    make_scoped_user(clean_db, WARD_14_OFFICER, "officer", wards=["14"])
    with logged_in(app, WARD_14_OFFICER) as (scoped, _csrf):
        assert scoped.get(f"/staff/broadcasts/new?milestone_id={here.id}").status_code == 200
        # "there" is ward 22: its milestone is as absent as one that does not exist.
        for milestone_id in (elsewhere.id, elsewhere.id + 100):
            hidden = scoped.get(f"/staff/broadcasts/new?milestone_id={milestone_id}")
            assert hidden.status_code == 404 and f"no milestone {milestone_id}" in hidden.text
            assert "Secret over there" not in hidden.text
    triage, _ = as_role("triage")
    assert triage.get(f"/staff/broadcasts/new?milestone_id={here.id}").status_code == 403


def test_a_scoped_officer_cannot_preview_a_stored_broadcast_quoting_another_places_milestone(
    app: object, app_settings: Settings, clean_db: Engine, residents: World, as_role: Role
) -> None:
    # An unscoped officer composed it for ward 14's residents, quoting ward 22's milestone:
    # the ward 14 officer sees the broadcast (its audience is theirs), not what it quotes.
    with session_scope(clean_db) as session:
        there = session.get_one(Settlement, residents.there)
        milestone = make_milestone(session, there, title="Secret over there", status="done")
        draft = BroadcastCreate(
            title="News",
            audience=Audience(settlement_ids=[residents.here]),
            template=TemplateIn(name="milestone_reached", milestone_id=milestone.id),
            send_at=utcnow() + dt.timedelta(days=2),
        )
        stored = broadcasts.create(
            session=session, settings=app_settings, broadcast_in=draft, staff=None
        )
    url = f"/staff/broadcasts/{stored.id}"
    make_scoped_user(clean_db, WARD_14_OFFICER, "officer", wards=["14"])
    with logged_in(app, WARD_14_OFFICER) as (scoped, _csrf):
        assert scoped.get(url).status_code == 200
        hidden = scoped.get(f"{url}/preview")
    assert hidden.status_code == 404, hidden.text
    assert f"no milestone {milestone.id}" in hidden.text
    assert "Secret over there" not in hidden.text and "Kwa-Thema" not in hidden.text
    officer, _ = as_role("officer")
    shown = officer.get(f"{url}/preview")
    assert shown.status_code == 200 and "Secret over there" in html.unescape(shown.text)


def test_texts_too_long_for_sms_are_measured_as_written_and_sent_back_with_the_count(
    as_role: Role, residents: World
) -> None:
    client, csrf = as_role("officer")
    page = client.get("/staff/broadcasts/new").text
    assert 'data-sms="/staff/broadcasts/sms"' in page and "at most 3 SMS segments" in page
    long_af = "Die watertenks kom Maandag by die saal aan, bring houers saam. " * 8  # 512
    form = {
        "csrf_token": csrf,
        "settlement_ids": str(residents.here),
        "mode": "texts",
        "text_en": "Water tanks arrive on Monday.",
        "text_af": long_af,
    }
    measured = client.post("/staff/broadcasts/sms", data=form).json()
    assert measured["by_sms"] is True and measured["max_segments"] == 3
    by_language = {size["language"]: size for size in measured["languages"]}
    assert sorted(by_language) == ["af", "en"]
    assert by_language["en"]["fits"] and by_language["en"]["segments"] == 1
    af = by_language["af"]
    assert (af["fits"], af["segments"], af["encoding"]) == (False, 4, "GSM-7")
    assert af["detail"].startswith("the Afrikaans SMS, with its STOP hint, would be 4 SMS")
    # To WhatsApp alone, the same words are counted but may be sent.
    whatsapp = client.post("/staff/broadcasts/sms", data={**form, "channels": "whatsapp"}).json()
    assert whatsapp["by_sms"] is False and all(s["fits"] for s in whatsapp["languages"])

    refused = client.post("/staff/broadcasts/preview", data=form)
    assert refused.status_code == 200 and "Preview:" not in refused.text
    beside = 'id="bc-text-af-refused">the Afrikaans SMS, with its STOP hint, would be 4 SMS'
    assert beside in html.unescape(refused.text)
    assert long_af.strip() in html.unescape(refused.text)  # the words are kept to shorten
    previewed = client.post("/staff/broadcasts/preview", data={**form, "channels": "whatsapp"})
    assert "Preview:" in previewed.text


@pytest.mark.browser
@pytest.mark.slow
def test_the_compose_page_counts_each_languages_sms_as_the_officer_types_in_chromium(
    app_settings: Settings, clean_db: Engine, residents: World
) -> None:
    local = app_settings.model_copy(update={"public_url": "http://127.0.0.1"})
    long_xh = "Iitanki zamanzi zifika ngoMvulo kusasa eholweni, yiza nezitya zakho. " * 7
    with serve(create_app(local, clean_db)) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        _log_in(page, base)
        page.goto(base + "/staff/broadcasts/new")
        page.get_by_label("Settlements").select_option(str(residents.here))
        page.get_by_role("textbox", name="English", exact=True).fill("Water tanks on Monday.")
        english = page.locator("#bc-text-en-sms")
        expect(english).to_have_text(
            re.compile(r"^SMS copy, with its STOP hint: 1 SMS segment of at most 3 \(GSM-7, ")
        )
        xhosa = page.get_by_role("textbox", name="isiXhosa", exact=True)
        xhosa.fill(long_xh)
        counter = page.locator("#bc-text-xh-sms")
        expect(counter).to_contain_text(
            "Too long for SMS: the isiXhosa SMS, with its STOP hint, would be 4 SMS segments"
        )
        page.get_by_role("button", name="Preview").click()  # held back by the browser
        assert "4 SMS segments" in xhosa.evaluate("area => area.validationMessage")
        expect(page.get_by_role("heading", name="New broadcast")).to_be_visible()
        # The six languages under "More languages" are counted too.
        page.locator("#bc-more-texts summary").click()
        page.get_by_role("textbox", name="Setswana", exact=True).fill(
            "Ditanka tsa metsi di goroga ka Mosupologo mo mosong kwa holong. " * 8
        )
        expect(page.locator("#bc-text-tn-sms")).to_contain_text(
            "Too long for SMS: the Setswana SMS, with its STOP hint, would be 4 SMS segments"
        )
        # To the WhatsApp channel alone, without SMS fallback, it may be longer.
        page.get_by_role("checkbox", name="whatsapp", exact=True).check()
        expect(counter).to_contain_text("sent by WhatsApp alone, it may be longer")
        expect(counter).to_have_class("muted")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#pv-recipients")).to_have_text("1")


def _category_offer(page: str) -> str | None:
    """Return the category offer a settlement page makes, as read, if any."""
    found = re.search(r'<p class="notice" id="announce-category">(.*?)</p>', page, re.S)
    return " ".join(html.unescape(found.group(1)).split()) if found else None


def test_a_category_change_offers_its_announcement_and_residents_get_it_in_their_language(
    app: object, clean_db: Engine, residents: World, as_role: Role
) -> None:
    # A settlement placed in another category offered nothing: its residents heard of the
    # fact that matters most to them only if an officer composed it by hand.
    client, csrf = as_role("officer")
    url = f"/staff/settlements/{residents.here}"
    first = client.post(url, data={"csrf_token": csrf, "category": "B1"}, follow_redirects=False)
    assert first.headers["location"] == f"{url}?announce=category&category=B1&previous=&ok=updated"
    shown = client.post(url, data={"csrf_token": csrf, "category": "B2"})
    link = f"/staff/broadcasts/new?settlement_id={residents.here}&category=B2&previous_category=B1"
    assert _category_offer(shown.text) == (
        f'Ubuhle Gardens is now in category B2 (it was B1). Tell its residents? <a href="{link}">'
        "Prepare the announcement</a> (you will see it in every language and the recipients "
        "before anything is sent)."
    )
    # Saved again in the same category (its note changed): no news, no offer.
    kept = {"csrf_token": csrf, "category": "B2", "category_note": "Water first"}
    again = client.post(url, data=kept, follow_redirects=False)
    assert again.headers["location"] == f"{url}?ok=updated"
    compose = client.get(link)
    assert compose.status_code == 200, compose.text
    fields = _submitted(compose.text, BROADCAST_PREVIEW)
    assert fields["mode"] == ["template"] and fields["template_name"] == ["category_changed"]
    assert fields["category_settlement_id"] == [str(residents.here)]
    assert (fields["category"], fields["previous_category"]) == (["B2"], ["B1"])
    assert fields["settlement_ids"] == [str(residents.here)]
    assert fields["title"] == ["Category B2: Ubuhle Gardens"]
    preview = client.post(BROADCAST_PREVIEW, data=fields)
    assert preview.status_code == 200, preview.text
    assert 'id="pv-recipients">3<' in preview.text
    english = (
        "*News for Ubuhle Gardens: category B2*\nThe municipality has placed Ubuhle Gardens "
        "in category B2: emergency services now, and a move to a new place later."
    )
    assert english in html.unescape(preview.text)
    [xhosa] = _send_and_read(client, csrf, preview.text, clean_db, language="xh")
    assert str(xhosa).startswith("*Iindaba ze-Ubuhle Gardens: udidi B2*\nUMasipala ubeke")
    with Session(clean_db) as session:
        [afrikaans] = session.exec(
            select(Outbox.body).join(Resident).where(col(Resident.language) == "af")
        ).all()
    assert str(afrikaans).startswith("Nuus vir Ubuhle Gardens: kategorie B2\n")
    # Placed in C by a colleague before the offer was followed: it is no longer offered,
    # and the old link says why.
    client.post(url, data={"csrf_token": csrf, "category": "C"})
    stale = client.get(f"{url}?announce=category&category=B2&previous=B1")
    assert stale.status_code == 200 and _category_offer(stale.text) is None
    refused = client.get(link)
    assert refused.status_code == 409
    assert (
        f"settlement {residents.here} (Ubuhle Gardens) is now in category C, not B2"
        in html.unescape(refused.text)
    )
    same = client.get(
        link.replace("B2", "C").replace("previous_category=B1", "previous_category=C")
    )
    assert same.status_code == 409 and "no change to announce" in same.text
    # Another ward's officer sees neither the settlement nor its offer.
    make_scoped_user(clean_db, WARD_14_OFFICER.replace("14", "22"), "officer", wards=["22"])
    with logged_in(app, WARD_14_OFFICER.replace("14", "22")) as (scoped, _csrf):
        hidden = scoped.get(link.replace("B2", "C"))
        assert hidden.status_code == 404 and "Ubuhle" not in hidden.text


SETTLEMENTS_CSV = "name,aliases,ward,municipality,category,category_note,current_phase\n"


def _import(client: TestClient, csrf: str, rows: str, **extra: str) -> str:
    answer = client.post(
        "/staff/import",
        data={"csrf_token": csrf, "kind": "settlements", **extra},
        files={"file": ("settlements.csv", SETTLEMENTS_CSV + rows, "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    return answer.text


def _listed(page: str, list_id: str) -> list[str] | None:
    """Return the items of one list of a page, as read, without markup (None: no such
    list)."""
    found = re.search(rf'<ul id="{list_id}">(.*?)</ul>', page, re.S)
    if found is None:
        return None
    items = re.findall(r"<li>(.*?)</li>", found.group(1), re.S)
    return [" ".join(html.unescape(re.sub("<[^>]+>", "", item)).split()) for item in items]


def test_a_category_set_by_import_is_offered_and_a_change_again_withdraws_its_announcement(
    app: object, clean_db: Engine, residents: World, as_role: Role, settings: Settings
) -> None:
    # An import that placed settlements in another category offered nothing (the README
    # sent officers to the API), and a scheduled announcement stood after the category
    # changed again, to fail only when due.
    client, csrf = as_role("officer")
    here, there = residents.here, residents.there
    rows = (
        "Ubuhle Gardens,,14,Test Municipality,B1,,\n"  # not yet assessed -> B1
        "Kwa-Thema Extension,,22,Test Municipality,,,\n"  # still not assessed
        "Sunrise Camp,,3,Test Municipality,A,,\n"  # new: no one was told another category
    )
    checked = _import(client, csrf, rows, check_only="true")
    assert _listed(checked, "import-categories") == [
        "Ubuhle Gardens: category (not yet assessed) -> B1"
    ]
    assert "announce the new category" not in checked and "/staff/broadcasts/new" not in checked
    imported = _import(client, csrf, rows)
    link = f"/staff/broadcasts/new?settlement_id={here}&amp;category=B1&amp;previous_category="
    assert (
        f'<li>Ubuhle Gardens is now in category B1: <a href="{link}">announce the new '
        "category</a></li>" in imported
    )
    assert _listed(imported, "import-categories") == [
        "Ubuhle Gardens is now in category B1: announce the new category"
    ]
    compose = client.get(html.unescape(link))
    fields = _submitted(compose.text, BROADCAST_PREVIEW)
    assert fields["template_name"] == ["category_changed"]
    assert (fields["category"], fields["previous_category"]) == (["B1"], ["none"])
    # Scheduled, then the settlement placed in B2 on its page: withdrawn at once, and the
    # save's result and the broadcast's page say why.
    with session_scope(clean_db) as session:
        ubuhle = session.get_one(Settlement, here)
        scheduled = broadcasts.announce_category(
            session=session,
            settings=settings,
            settlement=ubuhle,
            staff=None,
            previous_category="",
            send_at=utcnow() + dt.timedelta(hours=2),
        )
        assert scheduled.status == "scheduled" and scheduled.id is not None
        first = scheduled.id
    url = f"/staff/settlements/{here}"
    saved = client.post(url, data={"csrf_token": csrf, "category": "B2"}, follow_redirects=False)
    assert saved.headers["location"] == (
        f"{url}?withdrawn={first}&announce=category&category=B2&previous=B1&ok=updated"
    )
    day = utcnow().astimezone(TIMEZONE).strftime("%Y-%m-%d")
    page = client.get(saved.headers["location"]).text
    assert _listed(page, "withdrawn-category-list") == [
        "Category B1: Ubuhle Gardens was withdrawn before it went: the category changed again "
        f"to B2 on {day}."
    ]
    assert _category_offer(page) is not None  # the new category is offered as before
    shown = client.get(f"/staff/broadcasts/{first}").text
    assert re.search(
        rf'id="bc-reason">Nothing was sent\. the category changed again to B2 on {day}</p>', shown
    )
    # Another settlement's page, given this broadcast's number, lists nothing.
    assert (
        _listed(
            client.get(f"/staff/settlements/{there}?withdrawn={first}").text,
            "withdrawn-category-list",
        )
        is None
    )
    # Scheduled for B2, then a file places it in C: the import withdraws it and lists it.
    with session_scope(clean_db) as session:
        again = broadcasts.announce_category(
            session=session,
            settings=settings,
            settlement=session.get_one(Settlement, here),
            staff=None,
            send_at=utcnow() + dt.timedelta(hours=2),
        )
        second = again.id
    # (The file wins over the page's B2 only when the officer says so.)
    moved = _import(client, csrf, rows.replace("B1", "C"), overwrite_edits="true")
    assert _listed(moved, "import-withdrawn") == [
        f"Category B2: Ubuhle Gardens was withdrawn before it went: the category changed "
        f"again to C on {day}."
    ]
    assert _listed(moved, "import-categories") == [
        "Ubuhle Gardens is now in category C (it was B2): announce the new category"
    ]
    with Session(clean_db) as session:
        withdrawn = session.get_one(Broadcast, second)
        assert (withdrawn.status, withdrawn.status_reason) == (
            "cancelled",
            f"the category changed again to C on {day}",
        )
        events = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "broadcast.withdraw")
        ).all()
        assert sorted((e.target, e.detail["via"]) for e in events) == sorted(
            [(f"broadcast:{first}", "dashboard"), (f"broadcast:{second}", "import")]
        )
        assert {e.actor_email for e in events} == {EMAILS["officer"]}
