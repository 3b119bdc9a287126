"""The dashboard in real headless Chromium at 360 px: log in; a WhatsApp complaint sent
through the signed webhook appears in the queue; staff acknowledge, reply and resolve; the
replies land in the outbox for the resident."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.main import create_app
from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.staff import service as staff
from tests.api.staff.test_tickets import PHONE, complaint
from tests.browser import chromium
from tests.factories import make_settlement
from tests.live_server import serve

EMAIL = "triage@ubuntubay.example.org"
PASSWORD = "correct horse 1"


def water_tanks(
    session: Session, settings: Settings, settlement_id: int, send_at: dt.datetime | None = None
) -> int:
    """Add an admin (EMAIL, PASSWORD) with a broadcast to one settlement; return its id."""
    from bot.domain.broadcasts import service as broadcasts
    from bot.domain.broadcasts.models import Audience, BroadcastCreate

    admin = staff.create_user(session=session, email=EMAIL, role="admin", password=PASSWORD)
    broadcast = broadcasts.create(
        session=session,
        settings=settings,
        broadcast_in=BroadcastCreate(
            title="Water tanks",
            audience=Audience(settlement_ids=[settlement_id]),
            texts={"en": "Water tanks arrive on Monday."},
            send_at=send_at,
        ),
        staff=admin,
    )
    assert broadcast.id is not None
    return broadcast.id


def _triage_app(settings: Settings, clean_db: Engine) -> tuple[Settings, FastAPI]:
    """Return settings for a served app and the app, with Ubuhle Gardens and a triage user
    (EMAIL, PASSWORD)."""
    settings = settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
    with session_scope(clean_db) as session:
        make_settlement(session, "Ubuhle Gardens", ward="14")
        staff.create_user(session=session, email=EMAIL, role="triage", password=PASSWORD)
    return settings, create_app(settings, clean_db)


@pytest.mark.browser
@pytest.mark.slow
def test_triage_works_a_whatsapp_complaint_in_chromium(
    settings: Settings, clean_db: Engine
) -> None:
    settings, app = _triage_app(settings, clean_db)
    with serve(app) as base, chromium() as browser, httpx.Client(base_url=base) as http:
        reference = complaint(http, settings)  # type: ignore[arg-type]
        page = browser.new_page(viewport={"width": 360, "height": 740})
        page.goto(base + "/staff/tickets")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()

        expect(page.get_by_role("heading", name="Triage queue")).to_be_visible()
        link = page.get_by_role("link", name=reference)
        expect(link).to_be_visible()
        # nothing is wider than the phone
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        link.click()

        expect(page.get_by_role("heading", name=re.compile(f"Ticket {reference}"))).to_be_visible()
        conversation = page.locator("#conversation")
        expect(conversation).to_contain_text("<script>window.pwned=1</script> the tap leaks")
        assert page.evaluate("window.pwned") is None
        expect(page.locator("#pin")).to_have_text("-33.98740, 18.56120")

        page.get_by_label("Status", exact=True).select_option("acknowledged")
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("status")).to_have_text("Saved.")
        expect(page.locator(".badge").first).to_have_text("acknowledged")

        page.get_by_label("Message").fill("A plumber comes on Tuesday.")
        page.get_by_role("button", name="Send reply").click()
        expect(page.get_by_role("status")).to_have_text("Reply queued for the resident.")
        expect(conversation).to_contain_text("A plumber comes on Tuesday.")

        page.get_by_label("Status", exact=True).select_option("resolved")
        page.get_by_label("Public note sent with a status change (optional)").fill("Fixed.")
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator(".badge").first).to_have_text("resolved")

        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    with Session(clean_db) as session:
        rows = session.exec(
            select(Outbox)
            .join(Resident, Resident.id == Outbox.resident_id)  # type: ignore[arg-type]
            .where(Resident.phone == PHONE, Outbox.ref == f"ticket:{reference}")
        ).all()
    bodies = " ".join(r.body or "" for r in rows)
    assert "A plumber comes on Tuesday." in bodies and "Fixed." in bodies
    assert {r.purpose for r in rows} == {"staff_reply", "ticket_update"}
    assert all(r.status == "pending" and r.channel == "whatsapp" for r in rows)


@pytest.mark.browser
@pytest.mark.slow
def test_closing_a_ticket_asks_first_and_lists_statuses_in_their_order_in_chromium(
    settings: Settings, clean_db: Engine
) -> None:
    from bot.domain.tickets.models import Ticket

    settings, app = _triage_app(settings, clean_db)

    def status(reference: str) -> str:
        with Session(clean_db) as session:
            return session.exec(select(Ticket).where(Ticket.reference == reference)).one().status

    with serve(app) as base, chromium() as browser, httpx.Client(base_url=base) as http:
        reference = complaint(http, settings)  # type: ignore[arg-type]
        page = browser.new_page(viewport={"width": 360, "height": 740})
        _log_in(page, base)
        page.goto(f"{base}/staff/tickets/{reference}")
        options = page.get_by_label("Status", exact=True).locator("option").all_inner_texts()
        # Was alphabetical ("acknowledged", "closed", "in progress", ...): closed sat mid-list.
        assert options == [
            "new",
            "acknowledged",
            "in progress",
            "waiting on resident",
            "resolved",
            "closed",
        ]
        asked: list[str] = []

        def dismiss(dialog: Dialog) -> None:
            asked.append(dialog.message)
            dialog.dismiss()

        page.once("dialog", dismiss)
        page.get_by_label("Status", exact=True).select_option("closed")
        page.get_by_role("button", name="Save changes").click()
        assert asked == ["Close this ticket? The resident will be told it is closed."]
        assert status(reference) == "new"  # nothing was sent
        page.get_by_label("Status", exact=True).select_option("acknowledged")
        page.get_by_role("button", name="Save changes").click()  # no dialog for the rest
        expect(page.get_by_role("status")).to_have_text("Saved.")
        assert (asked, status(reference)) == ([asked[0]], "acknowledged")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_label("Status", exact=True).select_option("closed")
        page.get_by_role("button", name="Save changes").click()
        # (The page already says "Saved.": the ticket's new state tells the page came again.)
        expect(page.locator(".badge").first).to_have_text("closed")
        assert status(reference) == "closed"


UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button')).filter(el => el.tagName === 'BUTTON'
    ? !el.textContent.trim() && !el.getAttribute('aria-label')
    : el.labels.length === 0 && !el.getAttribute('aria-label')
      && !el.getAttribute('aria-labelledby')).map(el => el.outerHTML.slice(0, 100))"""


@pytest.mark.browser
@pytest.mark.slow
def test_every_page_fits_360_px_and_labels_every_control(
    settings: Settings, clean_db: Engine
) -> None:
    from tests.domain.tickets.factories import make_ticket
    from tests.factories import make_meeting, make_milestone, make_resident

    settings = settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
    with session_scope(clean_db) as session:
        place = make_settlement(session, "Ubuhle Gardens", ward="14")
        make_milestone(session, place)
        # A long title: as an option of the broadcast form's meeting list it once made
        # that form wider than a phone (a fieldset is as wide as its widest child).
        meeting = make_meeting(
            session,
            dt.datetime.now(dt.UTC) + dt.timedelta(days=3),
            settlement_id=place.id,
            title="Block leaders meeting about the house designs and the re-blocking plan",
        )
        # Consented: the broadcast sent now reaches them (one to nobody is refused).
        resident = make_resident(
            session, "+27821112222", settlement_id=place.id, consented_at=dt.datetime.now(dt.UTC)
        )
        ticket = make_ticket(session, settlement_id=place.id, resident_id=resident.id)
        assert place.id is not None
        broadcast_id = water_tanks(session, settings, place.id)
        pages = [
            "/staff/broadcasts",
            "/staff/broadcasts/new",
            f"/staff/broadcasts/new?meeting_id={meeting.id}&change=announced",
            f"/staff/broadcasts/{broadcast_id}",
            "/staff/tickets",
            f"/staff/tickets/{ticket.reference}",
            "/staff/settlements",
            f"/staff/settlements/{place.id}",
            "/staff/meetings",
            f"/staff/meetings/{meeting.id}",
            "/staff/import",
            "/staff/residents",
            f"/staff/residents/{resident.id}",
            "/staff/reports",
            "/staff/admin/users",
            "/staff/admin/audit",
        ]
    with serve(create_app(settings, clean_db)) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        page.goto(base + "/staff/login")
        page.keyboard.press("Tab")  # the first stop is the skip link
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        assert page.evaluate(UNLABELLED) == []
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")  # keyboard only
        expect(page.get_by_role("heading", name="Triage queue")).to_be_visible()
        problems = []
        for path in pages:
            answer = page.goto(base + path)
            assert answer is not None and answer.status == 200, path
            if page.evaluate("document.documentElement.scrollWidth") > 360:
                wide = page.evaluate(
                    "Array.from(document.querySelectorAll('body *')).filter(e => "
                    "e.getBoundingClientRect().right > 361).map(e => e.tagName + '.' + "
                    "e.className + '#' + e.id).slice(0, 8).join(' ')"
                )
                problems.append(f"{path} is wider than 360 px: {wide}")
            problems += [f"{path}: {html}" for html in page.evaluate(UNLABELLED)]
        assert problems == []


def _log_in(page: Page, base: str) -> None:
    page.goto(base + "/staff/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Triage queue")).to_be_visible()


@pytest.mark.browser
@pytest.mark.slow
def test_confirm_dialogs_guard_erase_and_cancel_in_chromium(
    settings: Settings, clean_db: Engine
) -> None:
    """Dismissing the confirm dialog sends nothing; accepting it does the deed."""
    from bot.domain.broadcasts.models import Broadcast
    from bot.domain.settlements.models import Meeting
    from tests.factories import make_meeting, make_resident

    settings = settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    with session_scope(clean_db) as session:
        place = make_settlement(session, "Ubuhle Gardens", ward="14")
        meeting_id = make_meeting(session, soon, settlement_id=place.id).id
        resident_id = make_resident(session, "+27821112222", settlement_id=place.id).id
        assert place.id is not None
        broadcast_id = water_tanks(session, settings, place.id, send_at=soon)

    def state() -> tuple[bool, bool, str]:
        with Session(clean_db) as session:
            meeting = session.get(Meeting, meeting_id)
            broadcast = session.get(Broadcast, broadcast_id)
            assert meeting is not None and broadcast is not None
            return (
                session.get(Resident, resident_id) is not None,
                meeting.cancelled,
                broadcast.status,
            )

    # (page, what to fill first, button, the dialog's words, notice after, what changes)
    cases = [
        (
            f"/staff/meetings/{meeting_id}",
            None,
            "Cancel meeting",
            "Cancel this meeting?",
            "Meeting cancelled.",
            (True, True, "scheduled"),
        ),
        (
            f"/staff/broadcasts/{broadcast_id}",
            None,
            "Cancel broadcast",
            "Cancel this broadcast? Messages already sent stay sent.",
            "Saved.",
            (True, True, "cancelled"),
        ),
        (
            f"/staff/residents/{resident_id}",
            "0821112222",
            "Erase resident",
            "Erase everything kept about this resident? This cannot be undone.",
            "The resident's data was erased.",
            (False, True, "cancelled"),
        ),
    ]
    assert state() == (True, False, "scheduled")
    with serve(create_app(settings, clean_db)) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        _log_in(page, base)
        posts: list[str] = []
        # Form posts: the meeting form's SMS counter asks the server too, and changes nothing.
        page.on(
            "request",
            lambda request: (
                request.method == "POST"
                and not request.url.endswith("/sms")
                and posts.append(request.url)
            ),
        )
        for path, phone, button, words, notice, after in cases:
            before = state()
            page.goto(base + path)
            if phone:
                page.get_by_label("Type the phone number to confirm").fill(phone)
            asked: list[str] = []

            def dismiss(dialog: Dialog, asked: list[str] = asked) -> None:
                asked.append(dialog.message)
                dialog.dismiss()

            page.once("dialog", dismiss)
            page.get_by_role("button", name=button).click()
            assert asked == [words]
            page.reload()  # a post sent (by the page's script too) is seen by then
            assert posts == [] and state() == before, path

            page.once("dialog", lambda dialog: dialog.accept())
            if phone:
                page.get_by_label("Type the phone number to confirm").fill(phone)
            page.get_by_role("button", name=button).click()
            expect(page.get_by_role("status")).to_have_text(notice)
            assert state() == after, path
            posts.clear()


@pytest.mark.browser
@pytest.mark.slow
def test_csrf_rejection_and_session_expiry_in_chromium(
    settings: Settings, clean_db: Engine
) -> None:
    """A form whose CSRF token was tampered with is refused; an idle session sends the
    browser to the login page, and logging in again returns to where the user was."""
    from bot.domain.staff.models import StaffSession
    from bot.domain.tickets.models import TicketEvent
    from tests.domain.tickets.factories import make_ticket

    settings = settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
    with session_scope(clean_db) as session:
        place = make_settlement(session, "Ubuhle Gardens", ward="14")
        reference = make_ticket(session, settlement_id=place.id).reference
        staff.create_user(session=session, email=EMAIL, role="triage", password=PASSWORD)

    def notes() -> int:
        with Session(clean_db) as session:
            return len(session.exec(select(TicketEvent).where(TicketEvent.kind == "note")).all())

    with serve(create_app(settings, clean_db)) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        _log_in(page, base)
        ticket = f"{base}/staff/tickets/{reference}"
        page.goto(ticket)
        page.get_by_label("Note (never shown to the resident)").fill("Forged?")
        page.evaluate(
            "document.querySelector('form[action$=\"/note\"] input[name=csrf_token]').value"
            " = 'forged-token'"
        )
        page.get_by_role("button", name="Add note").click()
        expect(page.get_by_role("alert")).to_have_text(
            "the form is missing its CSRF token or it is out of date"
        )
        assert notes() == 0

        with session_scope(clean_db) as session:  # left idle past the limit
            for row in session.exec(select(StaffSession)).all():
                row.expires_at = utcnow() - dt.timedelta(seconds=1)
        page.goto(ticket)
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        assert "next=%2Fstaff%2Ftickets%2F" in page.url
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name=re.compile(f"Ticket {reference}"))).to_be_visible()
        page.get_by_label("Note (never shown to the resident)").fill("Real note.")
        page.get_by_role("button", name="Add note").click()
        expect(page.get_by_role("status")).to_have_text("Internal note added.")
        assert notes() == 1


SHORT_REPLY = "A plumber comes on Tuesday."
LONG_REPLY = "A plumber comes on Tuesday morning to fix the standpipe in your lane. " * 7  # 4 SMS


@contextmanager
def _texting_ticket_page(settings: Settings, clean_db: Engine) -> Iterator[tuple[Page, str]]:
    """Serve the dashboard with a ticket of a resident who texts (SMS); yield a 360 px page
    logged in as a triage user (EMAIL) on that ticket, and the ticket's URL."""
    from tests.domain.tickets.factories import make_ticket
    from tests.factories import make_resident

    settings = settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
    now = utcnow()
    with session_scope(clean_db) as session:
        staff.create_user(session=session, email=EMAIL, role="triage", password=PASSWORD)
        texting = make_resident(session, PHONE, consented_at=now, last_inbound_sms_at=now)
        reference = make_ticket(session, resident_id=texting.id).reference
    with serve(create_app(settings, clean_db)) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        _log_in(page, base)
        ticket = f"{base}/staff/tickets/{reference}"
        page.goto(ticket)
        yield page, ticket


@pytest.mark.browser
@pytest.mark.slow
def test_the_reply_form_counts_sms_segments_as_staff_type_and_holds_back_too_many_in_chromium(
    settings: Settings, clean_db: Engine
) -> None:
    short, long_words = SHORT_REPLY, LONG_REPLY
    with _texting_ticket_page(settings, clean_db) as (page, _ticket):
        size = page.locator("#reply-body-sms")
        expect(size).to_contain_text("at most 3 SMS segments")
        message = page.get_by_label("Message")
        message.fill(short)
        expect(size).to_have_text(re.compile(r"^By SMS: 1 SMS segment of at most 3 \(GSM-7, \d+"))
        message.fill(long_words)
        expect(size).to_contain_text("Too long for SMS: body: the SMS of this reply")
        expect(size).to_contain_text("would be 4 SMS segments (GSM-7,")
        expect(size).to_have_class("error")
        page.get_by_role("button", name="Send reply").click()  # held back by the browser
        assert "4 SMS segments" in message.evaluate("area => area.validationMessage")
        expect(page.get_by_role("status")).to_have_count(0)
        message.fill(short + " 🙏")  # an emoji: UCS-2, 67 characters a segment
        expect(size).to_contain_text("By SMS: 2 SMS segments of at most 3 (UCS-2,")
        page.get_by_role("button", name="Send reply").click()
        expect(page.get_by_role("status")).to_have_text("Reply queued for the resident.")
        note = page.get_by_label("Public note sent with a status change (optional)")
        note.fill(long_words)
        expect(page.locator("#u-note-sms")).to_contain_text("Too long for SMS: note:")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    with Session(clean_db) as session:
        [row] = session.exec(select(Outbox)).all()
    assert row.channel == "sms" and (row.body or "").endswith(short + " 🙏")


REPLY_ALERT = "form[action$='/reply'] [role=alert]"
SHOWN_AGAIN_BUSY = """() => {
    const form = document.querySelector("form[action$='/reply']");
    form.setAttribute("aria-busy", "true");
    form.querySelector("[type=submit]").disabled = true;
    window.dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true }));
}"""


@pytest.mark.browser
@pytest.mark.slow
def test_a_refused_reply_stays_on_the_ticket_page_with_its_words_and_the_reason_in_chromium(
    settings: Settings, clean_db: Engine
) -> None:
    """A reply over the SMS budget that reaches the server (the counter that holds it back
    did not answer) is refused where it was written: same page, the reason in an alert at
    the form, every word still in the box. Shortened, it is sent as before."""
    from bot.domain.staff.models import AuditEvent

    short, long_words = SHORT_REPLY, LONG_REPLY
    with _texting_ticket_page(settings, clean_db) as (page, ticket):
        reference = ticket.rsplit("/", 1)[1]
        page.route("**/sms", lambda route: route.abort())  # the counter: offline
        message = page.get_by_label("Message")
        message.fill(long_words)
        page.get_by_role("button", name="Send reply").click()
        alert = page.locator(REPLY_ALERT)
        expect(alert).to_contain_text(
            f"body: the SMS of this reply to the resident of report {reference} would be 4 SMS"
        )
        expect(alert).to_be_focused()  # read out by screen readers
        assert page.url == ticket
        expect(message).to_have_value(long_words)
        expect(page.get_by_role("button", name="Send reply")).to_be_enabled()

        message.fill(short)
        page.get_by_role("button", name="Send reply").click()
        expect(page.get_by_role("status")).to_have_text("Reply queued for the resident.")
        assert page.url == ticket + "?ok=replied"
        expect(page.locator("#conversation")).to_contain_text(short)
        expect(page.locator(REPLY_ALERT)).to_have_count(0)

        # Sent twice at once (a double click): one post.
        page.wait_for_load_state()  # staff.js has run on the page come again
        posts: list[str] = []
        page.on("request", lambda request: request.url.endswith("/reply") and posts.append("sent"))
        page.get_by_label("Message").fill("Sent once.")
        page.evaluate(
            "() => { const form = document.querySelector(\"form[action$='/reply']\");"
            " form.requestSubmit(); form.requestSubmit(); }"
        )
        expect(page.locator("#conversation")).to_contain_text("Sent once.")
        assert posts == ["sent"]
        # Shown again from the browser's back-forward cache, a page left busy is not kept so.
        page.wait_for_load_state()
        page.evaluate(SHOWN_AGAIN_BUSY)
        expect(page.get_by_role("button", name="Send reply")).to_be_enabled()
    with Session(clean_db) as session:
        bodies = [
            row.body or "" for row in session.exec(select(Outbox).order_by(col(Outbox.id))).all()
        ]
        views = session.exec(select(AuditEvent).where(AuditEvent.action == "ticket.view")).all()
    assert [body.count("Sent once.") for body in bodies] == [0, 1]
    assert bodies[0].endswith(short)
    # Each page shown once: a redirect the script's fetch followed would load it twice.
    assert len(views) == 3


@pytest.mark.browser
@pytest.mark.slow
def test_a_refused_meeting_and_an_ended_session_keep_the_form_as_typed_in_chromium(
    settings: Settings, clean_db: Engine
) -> None:
    """A meeting whose start has passed is refused at the form, which keeps what was typed;
    so is any form after the session ended, with a link to log in again in a new tab,
    after which the same form is sent with the new login's CSRF token."""
    from bot.domain.settlements.models import Meeting
    from bot.domain.staff.models import StaffSession

    settings = settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
    with session_scope(clean_db) as session:
        place = make_settlement(session, "Ubuhle Gardens", ward="14")
        staff.create_user(session=session, email=EMAIL, role="admin", password=PASSWORD)
    typed = {
        "Title": "Block leaders meeting",
        "Venue": "Ubuhle Gardens community hall, next to the creche",
    }
    with serve(create_app(settings, clean_db)) as base, chromium() as browser:
        context = browser.new_context(viewport={"width": 360, "height": 740})
        page = context.new_page()
        _log_in(page, base)
        meetings = f"{base}/staff/meetings"
        page.goto(meetings)
        for label, value in typed.items():
            page.get_by_label(label, exact=True).fill(value)
        page.get_by_label("Settlement (neighbourhood meetings)").select_option(str(place.id))
        starts = page.get_by_label("Starts (Johannesburg time)")
        starts.fill("2021-03-04T10:00")  # the year typed wrong
        add = page.get_by_role("button", name="Add meeting")
        add.click()
        alert = page.get_by_role("alert")
        expect(alert).to_have_text(
            "starts_at 2021-03-04T10:00+02:00 has passed: a meeting is added or moved only to"
            " a time still to come (is the year right?)"
        )
        expect(alert).to_be_focused()
        assert page.url == meetings
        for label, value in typed.items():
            expect(page.get_by_label(label, exact=True)).to_have_value(value)
        expect(starts).to_have_value("2021-03-04T10:00")

        with session_scope(clean_db) as session:  # left idle past the limit
            for row in session.exec(select(StaffSession)).all():
                row.expires_at = utcnow() - dt.timedelta(seconds=1)
        starts.fill("2098-03-04T10:00")
        add.click()
        expect(alert).to_contain_text("log in first: log in again in a new tab, then send")
        assert page.url == meetings
        expect(starts).to_have_value("2098-03-04T10:00")
        with context.expect_page() as opened:
            alert.get_by_role("link", name="log in again in a new tab").click()
        login = opened.value
        login.get_by_label("Email").fill(EMAIL)
        login.get_by_label("Password").fill(PASSWORD)
        login.get_by_role("button", name="Log in").click()
        expect(login.get_by_role("heading", name="Meetings")).to_be_visible()
        login.close()
        add.click()
        expect(page.get_by_role("status")).to_have_text("Created.")
        expect(page.get_by_role("heading", name="Block leaders meeting")).to_be_visible()
    with Session(clean_db) as session:
        [meeting] = session.exec(select(Meeting)).all()
    assert (meeting.title, meeting.venue) == (typed["Title"], typed["Venue"])


@pytest.mark.browser
@pytest.mark.slow
def test_the_meeting_form_counts_its_sms_reminders_and_holds_back_too_many_in_chromium(
    settings: Settings, clean_db: Engine
) -> None:
    """As the officer types, the meeting form shows its largest SMS reminder's segments (as
    saving measures them) and holds back a venue that would be refused, saying why; short
    enough, it is saved. Letters outside GSM-7 that take the reminders past 3 segments are
    said, as on the meeting's page, and do not hold the form back."""
    from bot.domain.settlements.models import Meeting

    settings = settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
    with session_scope(clean_db) as session:
        place = make_settlement(session, "Ubuhle Gardens", ward="14")
        staff.create_user(session=session, email=EMAIL, role="admin", password=PASSWORD)
    long_venue = "Ubuhle Gardens community hall, next to the creche by the taxi rank. " * 5
    short_venue = "Ubuhle Gardens community hall"
    with serve(create_app(settings, clean_db)) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        _log_in(page, base)
        page.goto(f"{base}/staff/meetings")
        counter = page.locator("#mt-sms")
        expect(counter).to_contain_text("the longest may take at most 3 SMS segments")
        page.get_by_label("Title", exact=True).fill("Block leaders meeting")
        page.get_by_label("Settlement (neighbourhood meetings)").select_option(str(place.id))
        page.get_by_label("Starts (Johannesburg time)").fill("2098-03-04T10:00")
        expect(counter).to_have_text(
            re.compile(
                r"^Longest SMS reminder \(Afrikaans, with the date\): 2 SMS segments of at most"
                r" 3 \(GSM-7, \d+ characters\)\.$"
            )
        )
        venue = page.get_by_label("Venue", exact=True)
        venue.fill(long_venue)
        expect(counter).to_contain_text(
            "Too long for SMS: venue: its isiZulu SMS reminder, with the date, would be 4 SMS"
            " segments (GSM-7,"
        )
        expect(counter).to_have_class("error")
        add = page.get_by_role("button", name="Add meeting")
        add.click()  # held back by the browser
        assert "would be 4 SMS segments" in venue.evaluate("input => input.validationMessage")
        expect(page.get_by_role("alert")).to_have_count(0)
        expect(page.get_by_role("heading", name="Meetings")).to_be_visible()

        venue.fill(short_venue)
        expect(counter).to_contain_text("2 SMS segments of at most 3 (GSM-7,")
        expect(counter).to_have_class("muted")
        add.click()
        expect(page.get_by_role("status")).to_have_text("Created.")
        expect(page.get_by_role("heading", name="Block leaders meeting")).to_be_visible()
        # The saved meeting's form counts at once, and a letter outside GSM-7 that takes its
        # reminders past 3 segments is said, without holding the form back.
        expect(counter).to_contain_text("Longest SMS reminder (isiZulu, with the date): 2 SMS")
        page.get_by_label("Title", exact=True).fill("Housing list information session")
        page.get_by_label("Venue", exact=True).fill("Mošate community hall")
        expect(counter).to_contain_text(
            "Written with š, which GSM-7 does not have: its SMS reminders go as UCS-2"
        )
        expect(counter).to_have_class("notice")
        page.get_by_role("button", name="Save meeting").click()
        expect(page.get_by_role("status")).to_have_text("Saved.")
        expect(page.locator("#reminder-sms")).to_contain_text("Written with š")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    with Session(clean_db) as session:
        [meeting] = session.exec(select(Meeting)).all()
    assert (meeting.title, meeting.venue) == (
        "Housing list information session",
        "Mošate community hall",
    )


@pytest.mark.browser
@pytest.mark.slow
def test_add_a_meeting_from_a_settlements_page_has_that_settlement_chosen_in_chromium(
    settings: Settings, clean_db: Engine
) -> None:
    """The settlement page's "Add a meeting" opens the form with the settlement chosen, and
    the meeting added is that settlement's."""
    from bot.domain.settlements.models import Meeting

    settings = settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
    with session_scope(clean_db) as session:
        make_settlement(session, "Ubuhle Gardens", ward="14")
        place = make_settlement(session, "Kwa-Thema Extension", ward="22")
        staff.create_user(session=session, email=EMAIL, role="admin", password=PASSWORD)
    with serve(create_app(settings, clean_db)) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        _log_in(page, base)
        page.goto(f"{base}/staff/settlements/{place.id}")
        page.get_by_role("link", name="Add a meeting").click()
        expect(page.get_by_role("heading", name="Add a meeting")).to_be_visible()
        chosen = page.get_by_label("Settlement (neighbourhood meetings)")
        expect(chosen).to_have_value(str(place.id))
        page.get_by_label("Title", exact=True).fill("Layout workshop")
        page.get_by_label("Starts (Johannesburg time)").fill("2098-03-04T10:00")
        page.get_by_role("button", name="Add meeting").click()
        expect(page.get_by_role("status")).to_have_text("Created.")
    with Session(clean_db) as session:
        [meeting] = session.exec(select(Meeting)).all()
    assert (meeting.title, meeting.settlement_id) == ("Layout workshop", place.id)


@pytest.mark.browser
@pytest.mark.slow
def test_without_javascript_deleting_and_cancelling_ask_on_a_page_first_in_chromium(
    settings: Settings, clean_db: Engine
) -> None:
    """With no script to show a dialog, "Delete milestone" and "Cancel meeting" open a page
    that says what will happen; Back changes nothing, Confirm does the deed, audited once."""
    from bot.domain.settlements.models import Meeting, Milestone
    from bot.domain.staff.models import AuditEvent
    from tests.factories import make_meeting, make_milestone

    settings = settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
    with session_scope(clean_db) as session:
        place = make_settlement(session, "Ubuhle Gardens", ward="14")
        milestone_id = make_milestone(session, place, title="Standpipes").id
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
        meeting_id = make_meeting(session, soon, settlement_id=place.id, title="Block meeting").id
        staff.create_user(session=session, email=EMAIL, role="admin", password=PASSWORD)

    def state() -> tuple[bool, bool, list[str]]:
        with Session(clean_db) as session:
            meeting = session.get(Meeting, meeting_id)
            assert meeting is not None
            audited = session.exec(
                select(AuditEvent.action)
                .where(col(AuditEvent.action).in_(["milestone.delete", "meeting.cancel"]))
                .order_by(col(AuditEvent.id))
            ).all()
            return session.get(Milestone, milestone_id) is not None, meeting.cancelled, audited

    cases = [  # (page, button, question, what it says, notice after, state after)
        (
            f"/staff/settlements/{place.id}",
            "Delete milestone",
            "Delete the milestone “Standpipes”?",
            "Residents of Ubuhle Gardens will no longer see it in their timeline.",
            "Deleted.",
            (False, False, ["milestone.delete"]),
        ),
        (
            f"/staff/meetings/{meeting_id}",
            "Cancel meeting",
            "Cancel the meeting “Block meeting”?",
            "will be marked cancelled: residents asking about meetings are told it is off",
            "Meeting cancelled.",
            (False, True, ["milestone.delete", "meeting.cancel"]),
        ),
    ]
    with serve(create_app(settings, clean_db)) as base, chromium() as browser:
        context = browser.new_context(
            viewport={"width": 360, "height": 740}, java_script_enabled=False
        )
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        _log_in(page, base)
        for path, button, question, what, notice, after in cases:
            before = state()
            page.goto(base + path)
            page.get_by_role("button", name=button).click()
            expect(page.get_by_role("heading", name=question)).to_be_visible()
            expect(page.locator("#confirm-what")).to_contain_text(what)
            assert state() == before, path
            page.get_by_role("link", name="Back").click()
            expect(page).to_have_url(base + path)
            assert state() == before, path
            page.get_by_role("button", name=button).click()
            page.get_by_role("button", name="Confirm").click()
            expect(page.get_by_role("status")).to_have_text(notice)
            assert state() == after, path
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert dialogs == []
