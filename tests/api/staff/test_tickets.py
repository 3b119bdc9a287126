"""Ticket work in the dashboard: a WhatsApp complaint through the signed webhook reaches the
queue; the ticket page shows the conversation, media (through the authenticated proxy), the
pin and history; replies, notes, status changes and bulk changes; all audited. A change
made on a stale page saves only what it changed, and never what a colleague changed since."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.main import create_app
from bot import sms
from bot.channels.sender import TwilioSender
from bot.config import Settings
from bot.content import load
from bot.db import session_scope, utcnow
from bot.domain.outbox import service as outbox
from bot.domain.outbox.delivery import DeliveryConfig, Dispatcher
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.staff import service as staff
from bot.domain.staff.models import AuditEvent, StaffUser
from bot.domain.tickets import jobs
from bot.domain.tickets.models import Ticket
from bot.flows import report_notices
from bot.i18n import get_translator
from tests.api.staff.conftest import EMAILS, World, csrf_of, login
from tests.domain.tickets.factories import Phone, make_ticket
from tests.factories import make_resident
from tests.live_server import serve
from tests.twilio_standin import TwilioStandIn, standin_settings

PHONE = "+27821110001"
SCRIPT = "<script>window.pwned=1</script> the tap leaks"
JPEG = b"\xff\xd8\xff\xe0fake jpeg"


def complaint(client: TestClient, settings: Settings, text: str = SCRIPT) -> str:
    """A resident reports a broken tap on WhatsApp with a photo, a voice note and a pin."""
    phone = Phone(client, settings, PHONE, "whatsapp")
    phone.onboard("Ubuhle Gardens")
    phone.send("5")
    phone.send("1")
    phone.send("1")  # water
    phone.send(text, fixture="whatsapp_media")
    phone.send("", fixture="whatsapp_location")
    match = re.search(r"report number is (\d+)", phone.send("1"))
    assert match
    return match.group(1)


@pytest.fixture
def media_server(settings: Settings) -> Iterator[tuple[str, list[str]]]:
    """A local stand-in for Twilio's media URLs that insists on the account's credentials."""
    seen: list[str] = []
    media = FastAPI()

    @media.get("/2010-04-01/Accounts/{account}/Messages/{sid}/Media/{media_sid}")
    def fetch(request: Request, media_sid: str) -> Response:
        seen.append(request.headers.get("authorization", ""))
        import base64

        expected = base64.b64encode(
            f"{settings.twilio_account_sid}:{settings.twilio_auth_token}".encode()
        ).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return Response(status_code=401)
        if media_sid.endswith("1"):
            return Response(JPEG, media_type="image/jpeg")
        return Response(b"<html><script>alert(1)</script>", media_type="text/html")

    with serve(media) as base:
        yield base, seen


@pytest.fixture
def client(
    app_settings: Settings, clean_db: Engine, media_server: tuple[str, list[str]]
) -> Iterator[tuple[TestClient, Settings]]:
    settings = app_settings.model_copy(update={"twilio_api_url": media_server[0]})
    with TestClient(create_app(settings, clean_db), base_url=settings.public_url) as client:
        yield client, settings


def test_whatsapp_complaint_worked_from_the_dashboard(
    client: tuple[TestClient, Settings],
    world: World,
    clean_db: Engine,
    media_server: tuple[str, list[str]],
) -> None:
    http, settings = client
    reference = complaint(http, settings)
    csrf = login(http, EMAILS["triage"])

    queue = http.get("/staff/tickets").text
    assert f'href="/staff/tickets/{reference}"' in queue
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in queue and SCRIPT not in queue

    page = http.get(f"/staff/tickets/{reference}").text
    assert SCRIPT not in page  # shown as text, never as markup
    assert page.count("&lt;script&gt;window.pwned=1&lt;/script&gt; the tap leaks") >= 2
    assert f'src="/staff/tickets/{reference}/media/0"' in page  # the photo
    assert f'<audio controls preload="none" src="/staff/tickets/{reference}/media/1"' in page
    assert "-33.98740, 18.56120" in page and "openstreetmap.org/?mlat=-33.9874" in page
    # The pin in the chat is named as Twilio named it: its Label, then its Address.
    assert "pin -33.98740, 18.56120 (Standpipe 4, Ubuhle Gardens)" in page
    assert "Main menu" in page  # the bot's side of the chat is there too

    photo = http.get(f"/staff/tickets/{reference}/media/0")
    assert photo.status_code == 200 and photo.content == JPEG
    assert photo.headers["content-type"] == "image/jpeg"
    hostile = http.get(f"/staff/tickets/{reference}/media/1")
    assert hostile.headers["content-type"] == "application/octet-stream"
    assert hostile.headers["content-disposition"].startswith("attachment")
    assert http.get(f"/staff/tickets/{reference}/media/2").status_code == 404
    assert media_server[1] and all(h.startswith("Basic ") for h in media_server[1])

    def post(action: str, **data: str) -> None:
        answer = http.post(
            f"/staff/tickets/{reference}/{action}",
            data={"csrf_token": csrf, **data},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text

    def update(**data: str) -> None:
        answer = http.post(
            f"/staff/tickets/{reference}/update",
            data={**update_form(http.get(f"/staff/tickets/{reference}").text), **data},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text

    update(status="acknowledged", priority="high", assignee_email=EMAILS["triage"])
    post("reply", body="A plumber comes on Tuesday.")
    post("reply", canned=_first_canned(http, reference))
    post("note", body="Plumber is Sipho <b>not</b> Thabo")
    update(status="resolved", note="Fixed the standpipe.")

    page = http.get(f"/staff/tickets/{reference}?ok=updated").text
    assert "Saved." in page
    assert "Plumber is Sipho &lt;b&gt;not&lt;/b&gt; Thabo" in page
    assert "internal" in page
    with Session(clean_db) as session:
        ticket = session.exec(select(Ticket).where(Ticket.reference == reference)).one()
        assert (ticket.status, ticket.priority) == ("resolved", "high")
        assert ticket.acknowledged_at is not None and ticket.resolved_at is not None
        rows = session.exec(
            select(Outbox).where(Outbox.ref == f"ticket:{reference}").order_by(Outbox.id)
        ).all()
        bodies = [r.body or "" for r in rows]
        assert [r.purpose for r in rows].count("staff_reply") == 3  # two replies and the note
        assert any("A plumber comes on Tuesday." in b for b in bodies)
        assert any("Fixed the standpipe." in b for b in bodies)
        assert not any("Sipho" in b for b in bodies)  # internal notes never leave
        assert {r.channel for r in rows} == {"whatsapp"}
        actions = session.exec(select(AuditEvent.action)).all()
        updates = session.exec(
            select(AuditEvent.detail).where(AuditEvent.action == "ticket.update")
        ).all()
    assert {"login", "ticket.update", "ticket.reply", "ticket.note"} <= set(actions)
    # The audit log keeps that a public note was sent, not its words (erasure cannot reach it).
    assert {"status": "resolved", "note": True} in updates
    assert "Fixed the standpipe" not in str(updates)
    # the conversation shows what was queued, with its delivery status
    assert "A plumber comes on Tuesday." in page and "pending" in page


def update_form(html: str) -> dict[str, str]:
    """Return what a browser posts from a ticket page's Change form as the page shows it."""
    form = html[html.index('/update"') :]
    form = form[: form.index("</form>")]
    values = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', form))
    for name, options in re.findall(r'<select[^>]*name="([a-z_]+)"[^>]*>(.*?)</select>', form):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', options)
        values[name] = chosen.group(1) if chosen else ""
    return values


def _first_canned(http: TestClient, reference: str) -> str:
    page = http.get(f"/staff/tickets/{reference}").text
    match = re.search(r'<option value="([a-z_]+)" data-text=', page)
    assert match
    return match.group(1)


def post_bulk(http: TestClient, csrf: str, **data: object) -> httpx.Response:
    """Post the queue's bulk form as the browser does."""
    return http.post(
        "/staff/tickets/bulk",
        data={"csrf_token": csrf, **data},  # type: ignore[dict-item]
        follow_redirects=False,
    )


def test_bulk_assign_categorise_and_link(
    client: tuple[TestClient, Settings], world: World, clean_db: Engine
) -> None:
    http, _settings = client
    csrf = login(http, EMAILS["admin"])
    refs = [world.ticket_here, world.ticket_there]

    def bulk(**data: object) -> int:
        return post_bulk(http, csrf, refs=refs, **data).status_code

    assert bulk(operation="assign", assignee_email=EMAILS["triage"]) == 303
    assert bulk(operation="categorise", category="sanitation") == 303
    assert bulk(operation="categorise", category="nonsense") == 422
    assert bulk(operation="link", parent=world.ticket_here) == 303
    with Session(clean_db) as session:
        tickets = {
            t.reference: t
            for t in session.exec(select(Ticket).where(Ticket.reference.in_(refs)))  # type: ignore[attr-defined]
        }
    here, there = tickets[world.ticket_here], tickets[world.ticket_there]
    assert here.category == there.category == "sanitation"
    assert here.assignee_id is not None and here.assignee_id == there.assignee_id
    assert there.parent_id == here.id and here.parent_id is None
    queue = http.get(f"/staff/tickets?assignee={EMAILS['triage']}&category=sanitation").text
    assert "2 tickets" in queue
    audit = http.get("/staff/admin/audit?action=ticket.bulk").text
    assert "ticket.bulk_assign" in audit and "ticket.bulk_link" in audit


def test_bulk_apply_with_nothing_chosen_changes_nothing_and_says_what_is_missing(
    client: tuple[TestClient, Settings], world: World, clean_db: Engine
) -> None:
    http, _settings = client
    csrf = login(http, EMAILS["admin"])
    refs = [world.ticket_here, world.ticket_there]

    def bulk(**data: object) -> httpx.Response:
        return post_bulk(http, csrf, **data)

    assert bulk(refs=refs, operation="assign", assignee_email=EMAILS["triage"]).status_code == 303

    def assignees() -> set[int | None]:
        with Session(clean_db) as session:
            rows = session.exec(select(Ticket).where(Ticket.reference.in_(refs)))  # type: ignore[attr-defined]
            return {t.assignee_id for t in rows}

    assigned = assignees()
    assert None not in assigned
    # The form as it first shows: the assignee and category are still to be chosen. Before,
    # the assignee started at "(unassigned)", so Apply took the tickets from their assignee.
    page = http.get("/staff/tickets").text
    assert '<option value="">(choose)</option>\n          <option value="none">nobody' in page
    for data, words in [
        ({"operation": "assign", "assignee_email": ""}, "choose who to assign them to"),
        ({"operation": "categorise", "category": ""}, "choose the category to set"),
    ]:
        refused = bulk(refs=refs, **data)
        assert refused.status_code == 422
        assert words in refused.text
    assert assignees() == assigned
    none_ticked = bulk(operation="assign", assignee_email=EMAILS["triage"])
    assert none_ticked.status_code == 422
    assert "choose at least one ticket" in none_ticked.text  # not "refs: Field required"
    assert bulk(refs=refs, operation="assign", assignee_email="none").status_code == 303
    assert assignees() == {None}


def test_linking_to_a_number_that_is_no_ticket_names_the_number_typed(
    client: tuple[TestClient, Settings], world: World
) -> None:
    http, _settings = client
    csrf = login(http, EMAILS["admin"])
    for path, data in [
        (f"/staff/tickets/{world.ticket_here}/link", {"parent": "9013161"}),
        (
            "/staff/tickets/bulk",
            {"refs": [world.ticket_here], "operation": "link", "parent": "9013161"},
        ),
    ]:
        answer = http.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)
        # Was 404 "Not found: no ticket 9013161", which read as if the ticket worked on were gone.
        assert answer.status_code == 422, path
        assert "there is no ticket 9013161 to link to: check the number" in answer.text
    assert world.ticket_here in http.get(f"/staff/tickets/{world.ticket_here}").text


def test_a_bulk_link_tells_a_resident_with_two_of_the_reports_once(
    client: tuple[TestClient, Settings], world: World, clean_db: Engine
) -> None:
    # It was taken: each ticket linked told its reporter of the parent's status, so a
    # resident who reported the problem twice had "work started" twice.
    http, _settings = client
    csrf = login(http, EMAILS["admin"])
    with session_scope(clean_db) as session:
        twice = make_resident(session, phone="+27820000021")
        once = make_resident(session, phone="+27820000022")
        parent = make_ticket(session, status="in_progress", resident_id=make_resident(session).id)
        refs = [
            make_ticket(session, resident_id=resident.id, settlement_id=world.here).reference
            for resident in (twice, twice, once)
        ]
        parent_ref, residents = parent.reference, (twice.id, once.id)
    linked = http.post(
        "/staff/tickets/bulk",
        data={"csrf_token": csrf, "refs": refs, "operation": "link", "parent": parent_ref},
        follow_redirects=False,
    )
    assert linked.status_code == 303
    with Session(clean_db) as session:
        statuses = session.exec(select(Ticket.status).where(Ticket.reference.in_(refs))).all()  # type: ignore[attr-defined]
        told = [
            session.exec(select(Outbox.body).where(Outbox.resident_id == resident_id)).all()
            for resident_id in residents
        ]
    assert statuses == ["in_progress"] * 3
    assert [len(bodies) for bodies in told] == [1, 1]
    assert refs[0] in told[0][0] and refs[2] in told[1][0]


def test_queue_csv_neutralises_formulas_residents_typed(
    client: tuple[TestClient, Settings], world: World, clean_db: Engine
) -> None:
    http, settings = client
    reference = complaint(http, settings, text='=HYPERLINK("http://evil.example","fix")')
    login(http, EMAILS["officer"])
    answer = http.get("/staff/tickets.csv?channel=whatsapp")
    assert answer.headers["content-disposition"] == 'attachment; filename="siyakha-tickets.csv"'
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0][:3] == ["reference", "opened_at", "status"]
    assert [r[0] for r in rows[1:]] == [reference]
    description = rows[1][rows[0].index("description")]
    assert description == '\'=HYPERLINK("http://evil.example","fix")'
    assert rows[1][rows[0].index("settlement")] == "Ubuhle Gardens"


def test_triage_cannot_make_an_invalid_transition(
    client: tuple[TestClient, Settings], world: World
) -> None:
    http, _settings = client
    login(http, EMAILS["triage"])
    form = update_form(http.get(f"/staff/tickets/{world.ticket_here}").text)
    answer = http.post(
        f"/staff/tickets/{world.ticket_here}/update", data={**form, "status": "reopened"}
    )
    assert answer.status_code == 409


def test_a_stale_page_saves_only_its_changes_and_never_undoes_a_colleagues(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    url = f"/staff/tickets/{world.ticket_here}/update"
    admin, _ = as_role("admin")
    triage, _ = as_role("triage")
    stale = update_form(admin.get(f"/staff/tickets/{world.ticket_here}").text)
    fresh = update_form(triage.get(f"/staff/tickets/{world.ticket_here}").text)
    taken = {**fresh, "priority": "high", "assignee_email": EMAILS["triage"]}
    assert triage.post(url, data=taken, follow_redirects=False).status_code == 303
    # The admin, on the page they opened before that, changes only the status.
    answer = admin.post(url, data={**stale, "status": "acknowledged"}, follow_redirects=False)
    assert answer.status_code == 303
    # What they change that triage changed too is refused, not overwritten.
    refused = admin.post(url, data={**stale, "priority": "low"}, follow_redirects=False)
    assert refused.status_code == 409
    assert "changed since you opened it (priority is now high)" in refused.text
    # Not "reload the page": that empties the form (a public note typed in it, too).
    assert "open it in a new tab to see it as it is now, and make your change there" in (
        refused.text
    )
    assert "reload" not in refused.text
    with Session(clean_db) as session:
        ticket = session.exec(select(Ticket).where(Ticket.reference == world.ticket_here)).one()
        assignee = session.exec(select(StaffUser).where(StaffUser.id == ticket.assignee_id)).one()
    assert (ticket.status, ticket.priority) == ("acknowledged", "high")
    assert assignee.email == EMAILS["triage"]


def test_choosing_unassigned_unassigns(
    as_role: Callable[[str], tuple[TestClient, str]], world: World
) -> None:
    triage, _ = as_role("triage")
    page = f"/staff/tickets/{world.ticket_here}"

    def save(assignee: str) -> dict[str, str]:
        form = {**update_form(triage.get(page).text), "assignee_email": assignee}
        answer = triage.post(f"{page}/update", data=form, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        return update_form(triage.get(page).text)

    assert save(EMAILS["triage"])["assignee_email"] == EMAILS["triage"]
    assert save("none")["assignee_email"] == "none"  # "(unassigned)" chosen
    assert "<dt>Assignee</dt><dd>(unassigned)</dd>" in triage.get(page).text


def test_the_page_shows_a_resolve_clock_paused_while_waiting_on_the_resident(
    as_role: Callable[[str], tuple[TestClient, str]], world: World
) -> None:
    triage, _ = as_role("triage")
    page = f"/staff/tickets/{world.ticket_here}"
    form = {**update_form(triage.get(page).text), "status": "waiting_on_resident"}
    assert triage.post(f"{page}/update", data=form, follow_redirects=False).status_code == 303
    assert "paused while waiting on the resident since" in triage.get(page).text


def test_a_wait_nobody_answered_ends_with_its_reason_in_the_history_and_the_api(
    as_role: Callable[[str], tuple[TestClient, str]],
    world: World,
    clean_db: Engine,
    app_settings: Settings,
) -> None:
    triage, _ = as_role("triage")
    page = f"/staff/tickets/{world.ticket_here}"
    form = {**update_form(triage.get(page).text), "status": "waiting_on_resident"}
    assert triage.post(f"{page}/update", data=form, follow_redirects=False).status_code == 303
    later = utcnow() + dt.timedelta(days=app_settings.ticket_wait_days, hours=1)
    assert jobs.end_unanswered_waits(engine=clean_db, settings=app_settings, now=later) == 1
    reason = "reason: no answer from the resident after 14 days"
    history = re.sub(r"<[^>]+>", " ", triage.get(page).text)
    assert reason in " ".join(history.split())
    with session_scope(clean_db) as session:
        user = session.execute(select(StaffUser).where(StaffUser.email == EMAILS["triage"]))
        _row, token = staff.create_token(session=session, user=user.scalar_one())
    detail = triage.get(
        f"/api/v1/tickets/{world.ticket_here}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert detail["status"] == "in_progress"
    assert detail["events"][-1]["actor"] == "system"
    assert detail["events"][-1]["data"]["reason"] == reason.removeprefix("reason: ")


def test_text_no_database_can_store_is_a_422_on_every_dashboard_form_and_filter(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    # PostgreSQL refuses NUL in text: each of these was a 500 there (SQLite stored it).
    admin, csrf = as_role("admin")
    ticket = f"/staff/tickets/{world.ticket_here}"
    for path in (
        "/staff/tickets?status=%00",
        "/staff/tickets?category=a%00b",
        "/staff/tickets.csv?channel=%00",
        "/staff/admin/audit?email=%00",
    ):
        answer = admin.get(path)
        assert answer.status_code == 422, path
        assert "NUL" in answer.text, path
    for path, data in (
        (f"{ticket}/reply", {"body": "a\x00b"}),
        (f"{ticket}/note", {"body": "a\x00b"}),
        (f"/staff/settlements/{world.here}/milestones", {"title": "a\x00b"}),
    ):
        answer = admin.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)
        assert answer.status_code == 422, path
    form = admin.get("/staff/login")
    login_page = admin.post(
        "/staff/login",
        data={"email": "x\x00@y.org", "password": "p", "csrf_token": csrf_of(form.text)},
    )
    assert login_page.status_code == 422
    with Session(clean_db) as session:
        assert session.exec(select(Outbox)).all() == []


def test_page_zero_is_the_first_page(as_role: Callable[[str], tuple[TestClient, str]]) -> None:
    admin, _ = as_role("admin")
    for path in ("/staff/tickets?page=0", "/staff/tickets?page=00000", "/staff/admin/audit?page=0"):
        assert admin.get(path).status_code == 200, path


def test_a_canned_reply_with_typed_words_is_refused_not_half_sent(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    triage, csrf = as_role("triage")
    answer = triage.post(
        f"/staff/tickets/{world.ticket_here}/reply",
        data={"csrf_token": csrf, "canned": "seen", "body": "The plumber comes on Tuesday"},
        follow_redirects=False,
    )
    assert answer.status_code == 422 and "not both" in answer.text
    with Session(clean_db) as session:
        assert session.exec(select(Outbox)).all() == []


def test_the_page_shows_the_language_the_resident_is_told_in(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    # Reported in isiXhosa; the resident has since switched to Afrikaans.
    with session_scope(clean_db) as session:
        ticket = session.exec(select(Ticket).where(Ticket.reference == world.ticket_here)).one()
        ticket.resident_id = make_resident(session, phone=PHONE, language="af").id
        ticket.language = "xh"
    afrikaans = report_notices.canned_text(load(), get_translator("af"), "visit_soon")
    triage, csrf = as_role("triage")
    page = html.unescape(triage.get(f"/staff/tickets/{world.ticket_here}").text)
    assert "<dt>Language</dt><dd>af</dd>" in page
    assert f'<option value="visit_soon" data-text="{afrikaans}">' in page
    triage.post(
        f"/staff/tickets/{world.ticket_here}/reply",
        data={"csrf_token": csrf, "canned": "visit_soon"},
        follow_redirects=False,
    )
    with Session(clean_db) as session:
        [sent] = session.exec(select(Outbox.body)).all()
    assert sent is not None and afrikaans in sent


def test_the_queue_shows_the_deadline_that_decides_and_a_paused_clock_as_paused(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    hour, now = dt.timedelta(hours=1), utcnow()
    with session_scope(clean_db) as session:
        # Electricity (48 h) reported on a Friday: on Monday its resolve time has passed
        # though its acknowledge time (2 working days) is a day away.
        lights = make_ticket(
            session, now=now - 50 * hour, category="electricity", settlement_id=world.here
        )
        lights.ack_due_at = now + 24 * hour
        # Water (72 h), waiting on the resident for 9 days: its clock stands still.
        waiting = make_ticket(
            session,
            now=now - 240 * hour,
            category="water",
            settlement_id=world.here,
            status="waiting_on_resident",
            acknowledged_at=now - 216 * hour,
            waiting_since=now - 216 * hour,
        )
        rows = {lights.reference: "", waiting.reference: ""}
    triage, _ = as_role("triage")
    page = triage.get("/staff/tickets").text
    for reference in rows:
        row = page[page.index(f">{reference}</a>") :]
        rows[reference] = " ".join(re.sub(r"<[^>]+>", " ", row[: row.index("</tr>")]).split())
    assert "breached due 2 h ago" in rows[lights.reference]
    assert "on track paused while waiting on the resident" in rows[waiting.reference]
    assert "due" not in rows[waiting.reference]


def test_a_reopened_ticket_shows_a_fresh_acknowledge_time_and_counts_from_its_reopening(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        reference = make_ticket(
            session, now=utcnow() - dt.timedelta(hours=100), settlement_id=world.here
        ).reference
    triage, _ = as_role("triage")
    page = f"/staff/tickets/{reference}"

    def move(status: str) -> str:
        form = {**update_form(triage.get(page).text), "status": status}
        assert triage.post(f"{page}/update", data=form, follow_redirects=False).status_code == 303
        shown = re.search(r"<dt>Acknowledge by</dt><dd>(.*?)</dd>", triage.get(page).text)
        assert shown
        return shown.group(1)

    assert "(done " in move("in_progress")
    move("resolved")
    fresh = move("reopened")  # to be acknowledged again, within 2 working days from now
    assert "(done" not in fresh and "(in " in fresh
    move("in_progress")
    rows = list(csv.DictReader(io.StringIO(triage.get("/staff/tickets.csv?status=all").text)))
    [row] = [r for r in rows if r["reference"] == reference]
    assert row["hours_to_acknowledge"] == "0.0"  # from the reopening, not the opening
    move("resolved")
    rows = list(csv.DictReader(io.StringIO(triage.get("/staff/tickets.csv?status=all").text)))
    [row] = [r for r in rows if r["reference"] == reference]
    assert row["hours_to_resolve"] == "0.0"  # likewise, not the 100 h since the opening


def test_a_ticket_closed_unresolved_shows_its_resolve_clock_stopped_after_a_new_category(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        reference = make_ticket(
            session,
            now=utcnow() - dt.timedelta(hours=10),
            settlement_id=world.here,
            category="water",
        ).reference
    triage, _ = as_role("triage")
    page = f"/staff/tickets/{reference}"
    for change in ({"status": "closed"}, {"category": "electricity"}):
        form = {**update_form(triage.get(page).text), **change}
        assert triage.post(f"{page}/update", data=form, follow_redirects=False).status_code == 303
    shown = re.search(r"<dt>Resolve by</dt><dd>(.*?)</dd>", triage.get(page).text)
    assert shown
    assert "without being resolved" in shown.group(1)
    assert "(in " not in shown.group(1)  # was "(in 38 h)": a clock set again


def test_categories_read_as_residents_pick_them_not_as_codes(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        reference = make_ticket(
            session, now=utcnow(), settlement_id=world.here, category="housing_list"
        ).reference
    triage, _ = as_role("triage")
    queue = triage.get("/staff/tickets").text
    assert "<td>Housing list</td>" in queue and "<td>housing_list</td>" not in queue
    assert '<option value="stormwater">Stormwater and flooding</option>' in queue  # bulk form
    ticket = triage.get(f"/staff/tickets/{reference}").text
    assert "<dt>Category</dt><dd>Housing list</dd>" in ticket
    assert '<option value="housing_list" selected>Housing list</option>' in ticket


def test_a_reply_too_long_for_sms_is_measured_as_written_and_refused_on_sending(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        ticket = session.exec(select(Ticket).where(Ticket.reference == world.ticket_here)).one()
        now = utcnow()
        ticket.resident_id = make_resident(
            session, phone=PHONE, language="zu", consented_at=now, last_inbound_sms_at=now
        ).id
    triage, csrf = as_role("triage")
    page = triage.get(f"/staff/tickets/{world.ticket_here}").text
    assert 'data-sms="/staff/tickets/' in page and "at most 3 SMS segments" in page
    words = "Ithimba lizofika ngoLwesibili ekuseni, sicela ulinde eduze kompompi. " * 5  # 345
    measured = triage.post(
        f"/staff/tickets/{world.ticket_here}/sms",
        data={"csrf_token": csrf, "body": words + "🙏", "field": "note"},
    )
    assert measured.status_code == 200
    size = measured.json()
    assert (size["by_sms"], size["fits"], size["encoding"]) == (True, False, "UCS-2")
    assert size["detail"].startswith(
        f"note: the SMS of this reply to the resident of report {world.ticket_here} would be "
        f"{size['segments']} SMS segments (UCS-2, {size['characters']} characters) (UCS-2 "
        "because of 🙏"
    )
    assert (
        triage.post(f"/staff/tickets/{world.ticket_here}/sms", data={"body": words}).status_code
        == 403
    )  # no CSRF token: refused like any form

    answer = triage.post(
        f"/staff/tickets/{world.ticket_here}/reply",
        data={"csrf_token": csrf, "body": words + "🙏"},
        follow_redirects=False,
    )
    assert answer.status_code == 422
    assert f"body: the SMS of this reply to the resident of report {world.ticket_here}" in (
        html.unescape(answer.text)
    )
    with Session(clean_db) as session:
        assert session.exec(select(Outbox)).all() == []
    sent = triage.post(
        f"/staff/tickets/{world.ticket_here}/reply",
        data={"csrf_token": csrf, "body": words},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    with Session(clean_db) as session:
        [row] = session.exec(select(Outbox)).all()
    assert row.channel == "sms" and sms.segments(row.body or "") == 3


def test_a_reply_that_went_as_several_sms_shows_each_part_and_how_it_fared(
    as_role: Callable[[str], tuple[TestClient, str]],
    world: World,
    clean_db: Engine,
    database_url: str,
) -> None:
    # Written inside the resident's WhatsApp window; by the time the worker sends it the
    # window has closed and no template is set up: 3 SMS, which the page lists.
    with session_scope(clean_db) as session:
        ticket = session.exec(select(Ticket).where(Ticket.reference == world.ticket_here)).one()
        now = utcnow()
        resident = make_resident(
            session, phone=PHONE, consented_at=now, last_inbound_whatsapp_at=now
        )
        ticket.resident_id = resident.id
    triage, csrf = as_role("triage")
    sent = triage.post(
        f"/staff/tickets/{world.ticket_here}/reply",
        data={"csrf_token": csrf, "body": "The contractor comes on Monday morning. " * 24},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    with session_scope(clean_db) as session:
        closed = session.exec(select(Resident).where(Resident.phone == PHONE)).one()
        closed.last_inbound_whatsapp_at = now - dt.timedelta(days=2)
    with TwilioStandIn() as standin:
        sender = TwilioSender(standin_settings(standin, database_url))
        config = DeliveryConfig(rates={"sms": 0, "whatsapp": 0}, backoff_base=0.01)
        Dispatcher(engine=clean_db, sender=sender, config=config, worker_id="t").run(
            until_idle=True
        )
        first, _, third = (m["sid"] for m in standin.messages)
        with session_scope(clean_db) as session:
            for form in (
                standin.callback_form(first, "delivered"),
                standin.callback_form(third, "undelivered", error_code=30007),
            ):
                outbox.record_status(session=session, form=form)
    page = html.unescape(triage.get(f"/staff/tickets/{world.ticket_here}").text)
    assert "The contractor comes on Monday morning." in page
    assert "went as 3 SMS" in page
    assert 'SMS 1 of 3 · <span class="status">delivered</span></li>' in page
    assert 'SMS 2 of 3 · <span class="status">sent</span></li>' in page
    assert 'SMS 3 of 3 · <span class="status">undelivered</span> · 30007' in page
    assert '<span class="status">undelivered</span> · 30007 part 3 of 3: ' in page
    assert page.count("(1/3)") == 0  # the message once, in its words, not each part again


def test_a_resident_s_plain_reply_answers_staff_waiting_on_them(
    client: tuple[TestClient, Settings], world: World, clean_db: Engine
) -> None:
    http, settings = client
    phone = Phone(http, settings, "+27821110009", "sms")
    phone.onboard("Ubuhle Gardens")
    for text in ["5", "1", "2", "The toilet block is full", "Section A"]:
        phone.send(text)
    match = re.search(r"report number is (\d+)", phone.send("1"))
    assert match
    reference = match.group(1)
    login(http, EMAILS["triage"])
    page = f"/staff/tickets/{reference}"
    form = {
        **update_form(http.get(page).text),
        "status": "waiting_on_resident",
        "note": "Which block: by the road or behind the creche?",
    }
    assert http.post(f"{page}/update", data=form, follow_redirects=False).status_code == 303
    reply = phone.send("The one behind the creche")
    assert "we have added that to report" in reply and "did not understand" not in reply
    with Session(clean_db) as session:
        ticket = session.exec(select(Ticket).where(Ticket.reference == reference)).one()
        assert (ticket.status, ticket.waiting_since) == ("in_progress", None)
    history = " ".join(re.sub(r"<[^>]+>", " ", http.get(page).text).split())
    assert "resident message The one behind the creche" in history


def _queue_cells(html_text: str, reference: str) -> list[str]:
    """Return the text of each cell of the queue's row for `reference`."""
    row = re.search(
        rf'<tr>\s*(?:(?!</tr>).)*?href="/staff/tickets/{reference}"(?:(?!</tr>).)*</tr>',
        html_text,
        re.S,
    )
    assert row, reference
    cells = re.findall(r"<td>(.*?)</td>", row.group(0), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells]


def _question_and_problem(clean_db: Engine, world: World) -> tuple[str, str]:
    """Add a question beside the world's problem here; return (question, problem)."""
    with session_scope(clean_db) as session:
        question = make_ticket(
            session,
            settlement_id=world.here,
            category="housing_list",
            kind="question",
            description="When is my name on the housing list?",
        )
        return question.reference, world.ticket_here


def test_the_queue_shows_each_tickets_kind_and_filters_by_it(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    question, problem = _question_and_problem(clean_db, world)
    triage, _ = as_role("triage")
    everything = triage.get("/staff/tickets").text
    headers = re.findall(r'<th scope="col">([^<]*)</th>', everything)
    assert headers[headers.index("Status") + 1] == "Kind"
    kind_at = headers.index("Kind") + 1  # the first cell is the row's checkbox
    assert _queue_cells(everything, question)[kind_at] == "question"
    assert _queue_cells(everything, problem)[kind_at] == "problem"
    assert '<option value="question">question (1)</option>' in everything
    assert '<option value="problem">problem (2)</option>' in everything

    asked = triage.get("/staff/tickets?kind=question").text
    assert "1 ticket," in asked
    assert f'href="/staff/tickets/{question}"' in asked
    assert f'href="/staff/tickets/{problem}"' not in asked
    assert '<option value="question" selected>question (1)</option>' in asked
    # Kept with the other filters: the CSV link, the pages and the bulk form's way back.
    assert 'href="/staff/tickets.csv?kind=question&amp;status=open"' in asked
    assert 'name="return_to" value="/staff/tickets?kind=question&amp;status=open"' in asked
    reported = triage.get("/staff/tickets?kind=problem&category=water").text
    assert f'href="/staff/tickets/{problem}"' in reported
    assert f'href="/staff/tickets/{question}"' not in reported

    exported = triage.get("/staff/tickets.csv?kind=question")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["reference"], r["kind"]) for r in rows] == [(question, "question")]
    with Session(clean_db) as session:
        audited = session.exec(select(AuditEvent.action, AuditEvent.detail)).all()
    asked_for = [(a, d) for a, d in audited if d.get("kind") == "question"]
    assert [(a, d.get("total")) for a, d in asked_for] == [
        ("queue.view", 1),
        ("ticket.export", 1),
    ]


def test_the_tickets_csv_ends_with_each_tickets_kind(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    question, problem = _question_and_problem(clean_db, world)
    officer, _ = as_role("officer")
    rows = list(csv.reader(io.StringIO(officer.get("/staff/tickets.csv").text)))
    # Last, after the columns a sheet may read by place.
    assert rows[0][-3:] == ["description", "where", "kind"]
    kinds = {r[0]: r[-1] for r in rows[1:]}
    assert (kinds[question], kinds[problem]) == ("question", "problem")


def test_staff_make_a_problem_a_question_on_its_page_and_the_resident_is_asked_so(
    as_role: Callable[[str], tuple[TestClient, str]], world: World, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        resident = make_resident(
            session, phone=PHONE, language="en", consented_at=utcnow(), consent_channel="sms"
        )
        reference = make_ticket(
            session,
            settlement_id=world.here,
            category="housing_list",
            resident_id=resident.id,
            description="Is my name still on the housing list?",
        ).reference
    triage, _ = as_role("triage")
    admin, _ = as_role("admin")
    page = f"/staff/tickets/{reference}"
    shown = triage.get(page).text
    assert "<dt>Kind</dt><dd>problem</dd>" in shown
    assert '<option value="problem" selected>problem</option>' in shown
    stale = update_form(admin.get(page).text)  # an admin's page, loaded before the change

    form = {**update_form(shown), "kind": "question"}
    assert triage.post(f"{page}/update", data=form, follow_redirects=False).status_code == 303
    shown = triage.get(page).text
    assert "<dt>Kind</dt><dd>question</dd>" in shown
    history = " ".join(re.sub(r"<[^>]+>", " ", shown).split())
    assert f"{EMAILS['triage']} kind internal from: problem to: question" in history
    # The admin's older page saves its priority and leaves the kind as the triage user set it.
    answer = admin.post(
        f"{page}/update", data={**stale, "priority": "high"}, follow_redirects=False
    )
    assert answer.status_code == 303

    form = {**update_form(triage.get(page).text), "status": "resolved"}
    assert triage.post(f"{page}/update", data=form, follow_redirects=False).status_code == 303
    with Session(clean_db) as session:
        ticket = session.exec(select(Ticket).where(Ticket.reference == reference)).one()
        assert (ticket.kind, ticket.priority) == ("question", "high")
        [told] = session.exec(select(Outbox.body).where(Outbox.purpose == "ticket_update")).all()
        audited = session.exec(
            select(AuditEvent.detail).where(AuditEvent.action == "ticket.update")
        ).all()
    assert told == (
        f"Siyakha: the municipality says it has answered your question {reference} (Housing "
        "list). Is your question answered? Reply 1 for yes or 2 for no."
    )
    assert {"kind": "question"} in audited

    # Put right on the finished ticket too: its clocks stay stopped.
    form = {**update_form(triage.get(page).text), "kind": "problem"}
    assert triage.post(f"{page}/update", data=form, follow_redirects=False).status_code == 303
    with Session(clean_db) as session:
        after = session.exec(select(Ticket).where(Ticket.reference == reference)).one()
    assert (after.kind, after.status) == ("problem", "resolved")
    assert (after.ack_due_at, after.resolve_due_at) == (ticket.ack_due_at, ticket.resolve_due_at)
