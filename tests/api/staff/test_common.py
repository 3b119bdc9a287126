"""What every dashboard form shares: its line breaks reach the routes as LF."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import anyio
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select, update
from starlette.types import Message, Receive, Scope, Send

from api.limits import MAX_BODY_BYTES
from api.routes.staff.common import PlainLineBreaks
from bot import sms
from bot.db import session_scope, utcnow
from bot.domain.broadcasts.models import Broadcast
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.settlements.models import Milestone, Settlement
from bot.domain.tickets.models import Ticket, TicketEvent
from tests.api.staff.conftest import World
from tests.api.staff.test_permissions import dashboard_api_routes
from tests.api.staff.test_tickets import update_form
from tests.domain.broadcasts.factories import make_member

Role = Callable[[str], tuple[TestClient, str]]

# 160 characters once a broadcast adds its opt-out line: one SMS. With each line break as
# CR LF, as a browser posts a textarea, 162: two.
TYPED = "\n".join(
    [
        "Water is off on Monday from 08:00 to 16:00 while the new pipes go in.",
        "Fill containers on Sunday night.",
        "Ask at the local hall.",
    ]
)


def _sent(text: str) -> str:
    """Return `text` as a browser posts a textarea holding it (HTML: CR LF line breaks)."""
    return text.replace("\n", "\r\n")


def test_line_breaks_typed_in_a_textarea_are_stored_and_sent_as_lf(
    as_role: Role, world: World, clean_db: Engine
) -> None:
    # Browsers post a textarea's line breaks as CR LF: each field below stored "\r\n", and
    # an SMS counted every CR (GSM-7 has one), a segment more for this broadcast.
    with session_scope(clean_db) as session:
        resident = make_member(session, settlement_id=world.here, channel="sms")
        ticket = session.exec(select(Ticket).where(Ticket.reference == world.ticket_here)).one()
        ticket.resident_id = resident_id = resident.id
    officer, csrf = as_role("officer")
    triage, triage_csrf = as_role("triage")
    here = f"/staff/settlements/{world.here}"
    ticket_url = f"/staff/tickets/{world.ticket_here}"

    def post(client: TestClient, url: str, **data: str) -> None:
        token = csrf if client is officer else triage_csrf
        answer = client.post(url, data={"csrf_token": token, **data}, follow_redirects=False)
        assert answer.status_code == 303, (url, answer.text)

    post(officer, here, category_note=_sent(TYPED), current_phase=_sent(TYPED))
    post(officer, f"{here}/milestones", strand="services", title="Pipes", status="planned")
    with Session(clean_db) as session:
        milestone_id = session.exec(select(Milestone.id).where(Milestone.title == "Pipes")).one()
    post(
        officer,
        f"{here}/milestones",
        milestone_id=str(milestone_id),
        strand="services",
        title="Pipes",
        status="planned",
        note=_sent(TYPED),
    )
    post(triage, f"{ticket_url}/reply", body=_sent(TYPED))
    post(triage, f"{ticket_url}/note", body=_sent(TYPED))
    form = update_form(triage.get(ticket_url).text)
    answer = triage.post(
        f"{ticket_url}/update",
        data={**form, "status": "acknowledged", "note": _sent(TYPED)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    # A textarea filled to its maxlength (line breaks count one) is taken, not a 422 for its
    # length: by SMS it would pass 3 segments (refused for that), so to a resident who
    # has just written on WhatsApp.
    full = "\n".join(["x" * 99] * 10)
    assert len(full) == 999
    answer = triage.post(
        f"{ticket_url}/reply",
        data={"csrf_token": triage_csrf, "body": _sent(full + "y")},
        follow_redirects=False,
    )
    assert answer.status_code == 422 and "would be 7 SMS segments (GSM-7, " in answer.text
    with session_scope(clean_db) as session:
        session.exec(
            update(Resident)
            .where(col(Resident.id) == resident_id)
            .values(last_inbound_whatsapp_at=utcnow())
        )
    post(triage, f"{ticket_url}/reply", body=_sent(full + "y"))
    preview = officer.post(
        "/staff/broadcasts/preview",
        data={
            "csrf_token": csrf,
            "title": "Water",
            "settlement_ids": str(world.here),
            "mode": "texts",
            "text_en": _sent(TYPED),
        },
    )
    assert preview.status_code == 200, preview.text
    assert "GSM-7, 160 characters, 1 segment<" in preview.text
    payload = re.search(r'name="payload" value="([^"]+)"', preview.text)
    assert payload is not None
    post(officer, "/staff/broadcasts", payload=payload.group(1).replace("&#34;", '"'))

    with Session(clean_db) as session:
        settlement = session.get(Settlement, world.here)
        milestone = session.get(Milestone, milestone_id)
        broadcast = session.exec(select(Broadcast)).one()
        events = session.exec(
            select(TicketEvent).where(TicketEvent.actor == "staff", TicketEvent.body != "")
        ).all()
        outbox = session.exec(select(Outbox).order_by(col(Outbox.id))).all()
    assert settlement is not None and milestone is not None
    stored = {
        "category note": settlement.category_note,
        "current phase": settlement.current_phase,
        "milestone note": milestone.note,
        "broadcast": (broadcast.texts or {}).get("en"),
    }
    assert stored == dict.fromkeys(stored, TYPED)
    # The reply, the internal note, the status change's public note, the full reply.
    assert [(e.kind, e.body) for e in events] == [
        ("reply", TYPED),
        ("note", TYPED),
        ("reply", TYPED),
        ("reply", full + "y"),
    ]
    sent = [row.sms_body or row.body or "" for row in outbox]
    assert [text for text in sent if "\r" in text] == []
    footer = "\nReply STOP to stop these messages."
    assert (TYPED + footer) in sent and sms.segments(TYPED + footer) == 1
    assert sms.segments(_sent(TYPED) + footer) == 2
    news = f"Siyakha: news about your report {world.ticket_here}: "
    assert sent.count(news + TYPED) == 2  # the reply and the status change's note


def _through_middleware(path: str, content_type: str, chunks: list[bytes]) -> bytes:
    """Return the body an app behind `PlainLineBreaks` reads of a request sent in `chunks`."""
    read: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        more = True
        while more:
            message = await receive()
            read.append(message.get("body", b""))
            more = message.get("more_body", False)

    messages = iter(
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    )

    async def receive() -> Message:
        return next(messages)

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent")

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"content-type", content_type.encode())],
    }
    anyio.run(PlainLineBreaks(app), scope, receive, send)
    return b"".join(read)


def test_a_line_break_cut_between_two_chunks_is_read_whole() -> None:
    form = "application/x-www-form-urlencoded"
    chunks = [b"note=a%0", b"D%0", b"Ab%0d", b"c%0D", b"%0ad+%250D"]
    # CR LF, a lone CR (lower case), CR LF again; "%250D" is the text "%0D", not a CR.
    assert _through_middleware("/staff/tickets/1/note", form, chunks) == (
        b"note=a%0Ab%0Ac%0Ad+%250D"
    )
    # Not a dashboard form: left as it came (a webhook's signature covers what was sent).
    for path, content_type in (
        ("/webhooks/twilio/messages", form),
        ("/staff/import", "multipart/form-data; boundary=x"),
    ):
        assert _through_middleware(path, content_type, chunks) == b"".join(chunks)


def test_an_oversized_dashboard_form_gets_413_and_changes_nothing(
    as_role: Role, app: object, clean_db: Engine
) -> None:
    officer, csrf = as_role("officer")
    big = "x" * (MAX_BODY_BYTES + 1)
    with TestClient(app, base_url="https://siyakha.example.org") as anonymous:  # type: ignore[arg-type]
        for client in (officer, anonymous):  # refused before anything reads it, signed in or not
            response = client.post(
                "/staff/broadcasts/preview", data={"csrf_token": csrf, "body": big}
            )
            assert response.status_code == 413, response.text[:300]
            assert "Too large" in response.text and "1024 KiB" in response.text
    fits = officer.post(
        "/staff/broadcasts/preview", data={"csrf_token": csrf, "body": "y" * 100_000}
    )
    assert fits.status_code != 413
    with session_scope(clean_db) as session:
        assert session.exec(select(Broadcast)).all() == []


def test_a_refused_form_without_script_offers_the_way_back_to_it(
    as_role: Role, world: World
) -> None:
    officer, csrf = as_role("officer")
    meeting = {
        "csrf_token": csrf,
        "title": "Block meeting",
        "level": "neighbourhood",
        "settlement_id": str(world.here),
        "starts_at": "2021-03-04T10:00",  # passed: refused
    }

    def refused(referer: str | None) -> str:
        headers = {"referer": referer} if referer else {}
        answer = officer.post("/staff/meetings", data=meeting, headers=headers)
        assert answer.status_code == 422 and "has passed" in answer.text
        return answer.text

    page = refused("https://siyakha.example.org/staff/meetings?page=2")
    assert (
        '<p id="back-to-form">Your browser\'s Back button returns to the form with what you'
        ' typed still in it. <a href="/staff/meetings?page=2">Back to the form</a> opens it'
        " afresh.</p>"
    ) in page
    # No way out of the dashboard, nor to a page that held no form.
    for elsewhere in (
        None,
        "https://evil.example/staff/meetings",
        "https://siyakha.example.org//evil.example/staff/meetings",
        "https://siyakha.example.org/staff//evil.example",
        "https://siyakha.example.org/api/v1/meetings",
        "javascript:alert(1)//siyakha.example.org/staff/meetings",
    ):
        assert "back-to-form" not in refused(elsewhere), elsewhere
    missing = officer.get(
        "/staff/meetings/999999", headers={"referer": "https://siyakha.example.org/staff/"}
    )
    assert missing.status_code == 404 and "back-to-form" not in missing.text


def test_a_form_the_script_posts_gets_its_redirect_as_a_204_to_go_to_itself(
    as_role: Role, world: World, clean_db: Engine
) -> None:
    triage, csrf = as_role("triage")
    ticket = f"/staff/tickets/{world.ticket_here}"
    scripted = triage.post(
        f"{ticket}/note",
        data={"csrf_token": csrf, "body": "Scripted."},
        headers={"X-Staff-Form": "1"},
        follow_redirects=False,
    )
    # fetch would follow a 303 and load the page the browser then loads again.
    assert scripted.status_code == 204 and scripted.content == b""
    assert scripted.headers["location"] == f"{ticket}?ok=noted"
    assert "content-length" not in scripted.headers
    plain = triage.post(
        f"{ticket}/note", data={"csrf_token": csrf, "body": "Plain."}, follow_redirects=False
    )
    assert (plain.status_code, plain.headers["location"]) == (303, f"{ticket}?ok=noted")
    forged = triage.post(
        f"{ticket}/note",
        data={"csrf_token": "forged", "body": "Forged."},
        headers={"X-Staff-Form": "1"},
    )
    assert forged.status_code == 403 and "CSRF token" in forged.text  # errors as they were
    with session_scope(clean_db) as session:
        notes = session.exec(select(TicketEvent).where(TicketEvent.kind == "note")).all()
    assert sorted(note.body for note in notes) == ["Plain.", "Scripted."]


TEMPLATES = Path(__file__).resolve().parents[3] / "api" / "templates" / "staff"


def test_every_form_whose_answer_is_a_page_of_its_own_is_posted_by_the_browser() -> None:
    """staff.js posts a dashboard form and expects a redirect or a refusal: a form whose
    answer is a page shown in its place (the preview, the import) is data-plain."""
    in_place = {
        re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"): route
        for path, route in dashboard_api_routes()
        if "POST" in route.methods
        and route.endpoint.__annotations__["return"] != "RedirectResponse"
    }
    # Logging in and out, the preview, the import, and the SMS counters (no form of theirs).
    # A delete or a cancel answers a page that asks first only when not `confirm`ed: its
    # form's dialog (data-confirm) sends `confirm`, so the script gets the redirect.
    asking = {
        path
        for path, route in in_place.items()
        if "confirm" in {field.alias for field in route.dependant.body_params}
    }
    assert (len(in_place), len(asking)) == (10, 3)
    forms = [
        (template.name, tag)
        for template in sorted(TEMPLATES.glob("*.html"))
        for tag in re.findall(r"<form\b[^>]*>", template.read_text())
        if 'method="post"' in tag
    ]
    assert len(forms) > 20
    unplain = []
    for name, tag in forms:
        action = re.search(r'action="([^"]*)"', tag)
        assert action, tag
        posted_to = re.sub(r"\{\{[^}]*\}\}", "1", action.group(1))
        matched = [path for path in in_place if path.match(posted_to)]
        if all(path in asking for path in matched) and "data-confirm" in tag:
            continue
        if matched and "data-plain" not in tag:
            unplain.append(f"{name}: {tag}")
    assert unplain == []


def _luminance(colour: str) -> float:
    """WCAG relative luminance of a #rrggbb or #rgb colour."""
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(one: str, other: str) -> float:
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_focus_ring_stands_out_three_to_one_on_every_background() -> None:
    css = (Path(__file__).parents[3] / "api/static/staff.css").read_text()
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{3,6})\b", css))
    ring = re.search(r":focus-visible \{([^}]*)\}", css)
    assert ring and "var(--focus)" in ring.group(1) and "var(--focus-halo)" in ring.group(1)
    focus, halo = colours["focus"], colours["focus-halo"]
    # The outline against the page and the cards, the halo against the green bar and buttons,
    # and the two against each other (WCAG 1.4.11: 3:1 for focus indicators).
    for background in (colours["bg"], colours["card"], "#fff"):
        assert _contrast(focus, background) >= 3, (focus, background)
    assert _contrast(halo, colours["accent"]) >= 3
    assert _contrast(halo, colours["bad"]) >= 3
    assert _contrast(focus, halo) >= 3
