"""Officer pages: settlements, milestones, meetings (create, edit, cancel), CSV import by
upload with the CLI's row errors, and residents (find, consent, export, erase)."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import Audience, Broadcast, BroadcastCreate, MeetingAttendance
from bot.domain.messages.models import InboundMessage
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.settlements.importer import ImportRejected, import_csv
from bot.domain.settlements.models import (
    Meeting,
    Milestone,
    Settlement,
    UnmatchedSettlementName,
)
from bot.domain.staff import service as staff
from bot.domain.staff.models import AuditEvent, StaffUser
from bot.domain.tickets.models import Ticket
from bot.i18n import TIMEZONE
from tests.api.staff.conftest import World, logged_in, make_scoped_user
from tests.browser import chromium
from tests.domain.broadcasts.factories import HALL, make_moved_announcement
from tests.domain.settlements.test_importer import _errors as import_errors
from tests.factories import make_meeting, make_milestone, make_resident, make_settlement

Login = Callable[[str], tuple[TestClient, str]]


def test_settlement_and_milestones(as_role: Login, world: World, clean_db: Engine) -> None:
    client, csrf = as_role("officer")
    assert "Ubuhle Gardens" in client.get("/staff/settlements").text
    url = f"/staff/settlements/{world.here}"
    saved = client.post(
        url,
        data={
            "csrf_token": csrf,
            "category": "B1",
            "category_note": "Services first",
            "current_phase": "Planning",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert client.post(url, data={"csrf_token": csrf, "category": "Z"}).status_code == 422
    milestone = {
        "csrf_token": csrf,
        "strand": "services",
        "title": "Standpipes installed",
        "status": "planned",
        "target_date": "2027-03-01",
    }
    assert client.post(url + "/milestones", data=milestone).status_code == 200
    assert client.post(url + "/milestones", data=milestone).status_code == 422  # duplicate
    with Session(clean_db) as session:
        settlement = session.get(Settlement, world.here)
        assert settlement is not None
        assert (settlement.category, settlement.current_phase) == ("B1", "Planning")
        row = session.exec(select(Milestone)).one()
    changed = {**milestone, "status": "done", "milestone_id": str(row.id)}
    assert client.post(url + "/milestones", data=changed).status_code == 200
    with session_scope(clean_db) as session:  # the meetings that concern it are listed
        when = dt.datetime(2030, 5, 1, 8, tzinfo=dt.UTC)
        make_meeting(session, when, settlement_id=world.here, title="Layout workshop")
        make_meeting(
            session, when, settlement_id=world.here, level="ward", ward="14", title="Ward forum"
        )
        make_meeting(session, when, level="city", title="City forum")
    page = client.get(url).text
    assert "Standpipes installed" in page and 'value="2027-03-01"' in page
    assert "Layout workshop" in page and "Ward forum" in page and "City forum" not in page
    with Session(clean_db) as session:
        assert session.exec(select(Milestone.status)).one() == "done"


def test_an_officer_deletes_a_milestone_after_confirming(
    app: object, as_role: Login, world: World, clean_db: Engine
) -> None:
    # No milestone could be deleted: a title a re-import corrected stayed beside the new one.
    with session_scope(clean_db) as session:
        settlement = session.get(Settlement, world.here)
        assert settlement is not None
        typo = make_milestone(session, settlement, title="Standpipes instaled").id
        quoting = Broadcast(
            title="Standpipes",
            audience={"settlement_ids": [world.here]},
            template={"name": "milestone_reached", "milestone_id": typo},
            send_at=utcnow() + dt.timedelta(days=1),
        )
        session.add(quoting)
        session.flush()
        broadcast_id = quoting.id
    make_scoped_user(clean_db, "ward22@example.org", "officer", wards=["22"])
    url = f"/staff/settlements/{world.here}/milestones/{typo}/delete"
    client, csrf = as_role("officer")
    page = client.get(f"/staff/settlements/{world.here}").text
    form = re.search(f'<form method="post" action="{url}"[^>]*>', page)
    assert form is not None and 'data-confirm="Delete the milestone' in form.group()
    triage, triage_csrf = as_role("triage")
    assert triage.post(url, data={"csrf_token": triage_csrf}).status_code == 403
    assert client.post(url, data={}).status_code == 403  # no CSRF token
    with logged_in(app, "ward22@example.org") as (outsider, outsider_csrf):
        assert outsider.post(url, data={"csrf_token": outsider_csrf}).status_code == 404
    confirmed = {"csrf_token": csrf, "confirm": "yes"}
    quoted = client.post(url, data=confirmed)
    assert quoted.status_code == 409 and "cancel it, or wait until it is sent" in quoted.text
    with session_scope(clean_db) as session:
        cancelled = session.get(Broadcast, broadcast_id)
        assert cancelled is not None
        cancelled.status = "cancelled"
    # Without `confirm` (the page's script sends it after its dialog), a page asks first.
    asked = client.post(url, data={"csrf_token": csrf}, follow_redirects=False)
    assert asked.status_code == 200
    assert "<h1>Delete the milestone “Standpipes instaled”?</h1>" in asked.text
    assert "Residents of Ubuhle Gardens will no longer see it in their timeline" in asked.text
    question = re.search(f'<form method="post" action="{url}".*?</form>', asked.text, re.S)
    assert question is not None and 'name="confirm" value="yes"' in question.group()
    assert f'href="/staff/settlements/{world.here}">Back</a>' in question.group()
    with Session(clean_db) as session:
        assert session.get(Milestone, typo) is not None
    deleted = client.post(url, data=confirmed, follow_redirects=False)
    assert deleted.status_code == 303
    assert "Standpipes instaled" not in client.get(f"/staff/settlements/{world.here}").text
    with Session(clean_db) as session:
        assert session.get(Milestone, typo) is None
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "milestone.delete"))
        assert [(e.target, e.detail) for e in event] == [
            (f"milestone:{typo}", {"settlement": world.here, "title": "Standpipes instaled"})
        ]


def test_a_milestone_renamed_on_the_dashboard_is_found_by_its_row_in_the_old_file(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # Its old row matched nothing: the same file imported again made a second milestone,
    # and residents saw both in the timeline.
    client, csrf = as_role("officer")
    milestones = (
        b"settlement,strand,title,target_date,status,note\n"
        b"Ubuhle Gardens,services,Standpipes installed,2030-03-01,in_progress,\n"
        b"Ubuhle Gardens,layout,Layout agreed,,planned,\n"
    )

    def upload(kind: str, data: bytes) -> str:
        answer = client.post(
            "/staff/import",
            data={"csrf_token": csrf, "kind": kind},
            files={"file": (f"{kind}.csv", data, "text/csv")},
        )
        assert answer.status_code == 200, answer.text
        return answer.text

    upload("milestones", milestones)
    with Session(clean_db) as session:
        standpipes = session.exec(select(Milestone).where(Milestone.strand == "services")).one()
    renamed = {
        "csrf_token": csrf,
        "milestone_id": str(standpipes.id),
        "strand": "services",
        "title": "Standpipes in every lane",
        "status": "done",
        "target_date": "2030-03-01",
    }
    url = f"/staff/settlements/{world.here}/milestones"
    assert client.post(url, data=renamed, follow_redirects=False).status_code == 303
    page = upload("milestones", milestones)
    assert "0 created, 0 updated, 1 unchanged, 1 kept as they are." in page
    assert (
        '<ul id="import-kept"><li>Ubuhle Gardens: Standpipes installed (now &#39;Standpipes in '
        "every lane&#39;)</li></ul>" in page
    )
    with Session(clean_db) as session:
        stored = session.exec(select(Milestone.title, Milestone.status)).all()
        assert sorted(stored) == [
            ("Layout agreed", "planned"),
            ("Standpipes in every lane", "done"),
        ]
        imports = select(AuditEvent).where(AuditEvent.action == "import.milestones")
        audit = session.exec(imports.order_by(col(AuditEvent.id)))  # in the order written
        assert [e.detail["kept"] for e in audit] == [0, 1]


def test_a_milestone_target_falls_between_2000_and_2099(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # The form took 0001-01-01 (a browser's date picker allows it) as a target.
    client, csrf = as_role("officer")
    url = f"/staff/settlements/{world.here}/milestones"
    milestone = {"csrf_token": csrf, "strand": "services", "title": "Pipes", "status": "planned"}
    for target in ("0001-01-01", "9999-12-31"):
        answer = client.post(url, data={**milestone, "target_date": target})
        assert answer.status_code == 422
        assert f"target date {target} is not between 2000 and 2099" in answer.text
    with Session(clean_db) as session:
        assert session.exec(select(Milestone)).all() == []


def test_a_bad_date_is_named_as_the_form_labels_it_and_the_csv_as_its_column(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # The form said "'01/02/2027' is not a date (YYYY-MM-DD)", Python's quotes and no field;
    # the CSV "target_date '01/02/2027' ...". Each names the field as it does, quoting none.
    client, csrf = as_role("officer")
    url = f"/staff/settlements/{world.here}/milestones"
    milestone = {"csrf_token": csrf, "strand": "services", "title": "Pipes", "status": "planned"}
    answer = client.post(url, data={**milestone, "target_date": "01/02/2027"})
    assert answer.status_code == 422
    assert "target date 01/02/2027 is not a date (YYYY-MM-DD)" in html.unescape(answer.text)
    meeting = {"csrf_token": csrf, "level": "city", "title": "Forum", "starts_at": "next Monday"}
    answer = client.post("/staff/meetings", data=meeting)
    assert answer.status_code == 422
    assert "start time next Monday is not a date and time" in html.unescape(answer.text)
    assert "&#39;" not in answer.text
    csv = (
        "settlement,strand,title,target_date,status,note\n"
        "Ubuhle Gardens,services,Pipes,01/02/2027,planned,\n"
    )
    with session_scope(clean_db) as session:
        refused = import_errors(session, "milestones", csv)
    assert refused == ["line 2: target_date 01/02/2027 is not a date (YYYY-MM-DD)"]


def test_a_choice_not_offered_is_refused_in_the_same_words_as_the_csv_s(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # The form said "category must be one of A, B1, B2, C", the CSV "category 'Z' is not
    # one of A, B1, B2, C": one cause, two sentences, one with Python's quotes.
    client, csrf = as_role("officer")
    url = f"/staff/settlements/{world.here}"
    answer = client.post(url, data={"csrf_token": csrf, "category": "Z"})
    assert answer.status_code == 422
    assert "category Z is not one of A, B1, B2, C" in answer.text
    meeting = {"csrf_token": csrf, "level": "block", "title": "Forum"}
    answer = client.post("/staff/meetings", data={**meeting, "starts_at": "2031-03-01T12:00"})
    assert answer.status_code == 422
    assert "level block is not one of neighbourhood, ward, city" in answer.text
    # The offer of an announcement said "change must be one of ['announced', ...]".
    with session_scope(clean_db) as session:
        when = utcnow() + dt.timedelta(days=5)
        forum = make_meeting(session, when, level="city", title="City forum").id
    offer = client.get(f"/staff/broadcasts/new?meeting_id={forum}&change=postponed")
    assert offer.status_code == 422
    assert "change postponed is not one of announced, moved, cancelled" in offer.text
    csv = (
        "name,aliases,ward,municipality,category,category_note,current_phase\n"
        "Ubuhle Gardens,,14,Test Municipality,Z,,\n"
    )
    with session_scope(clean_db) as session:
        refused = import_errors(session, "settlements", csv)
    assert refused == ["line 2: category Z is not one of A, B1, B2, C"]


def test_milestones_are_listed_as_residents_timeline_lists_them_with_their_status_in_words(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # They came by strand name in the alphabet (housing first, planning in the middle) with
    # their statuses as stored codes: "in_progress". Residents' timeline lists the strands
    # in the order of content/upgrading.yaml (planning, services, tenure, layout, housing),
    # each by target date, undated last.
    with session_scope(clean_db) as session:
        here = session.get(Settlement, world.here)
        assert here is not None
        for strand, title, target, status in [
            ("housing", "Show houses", dt.date(2029, 1, 1), "planned"),
            ("services", "Toilets", None, "planned"),
            ("planning", "Community action plan", dt.date(2030, 6, 1), "in_progress"),
            ("services", "Standpipes", dt.date(2031, 3, 1), "delayed"),
            ("services", "Drains", dt.date(2030, 9, 1), "done"),
            ("layout", "Re-blocking plan", dt.date(2028, 2, 1), "planned"),
        ]:
            make_milestone(
                session, here, strand=strand, title=title, target_date=target, status=status
            )
    client, _ = as_role("officer")
    page = client.get(f"/staff/settlements/{world.here}").text
    listed = page[page.index("<h2>Milestones</h2>") : page.index('id="new-m"')]
    shown = re.findall(r'<h3>([^<]+)</h3>|aria-label="Milestone ([^"]+)"', listed)
    assert [heading or f"- {title}" for heading, title in shown] == [
        "Planning",
        "- Community action plan",
        "Essential services",
        "- Drains",
        "- Standpipes",
        "- Toilets",
        "Settlement layout",
        "- Re-blocking plan",
        "Housing",
        "- Show houses",
    ]
    plan = form_values(page, 'aria-label="Milestone Community action plan"')
    assert (plan["strand"], plan["status"]) == ("planning", "in_progress")
    chosen = re.findall(r'<option value="([a-z_]+)" selected>([^<]+)</option>', listed)
    assert ("in_progress", "In progress") in chosen and ("services", "Essential services") in chosen
    assert ">in_progress<" not in page and ">services<" not in page


def test_a_milestone_done_or_delayed_offers_to_tell_the_residents(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # Meetings offered their announcement; a milestone set done or delayed offered nothing,
    # though its templates exist: residents heard of it only if the officer knew to compose
    # one by hand, typing the milestone's number.
    client, csrf = as_role("officer")
    url = f"/staff/settlements/{world.here}/milestones"
    form = {"csrf_token": csrf, "strand": "services", "title": "Standpipes", "status": "planned"}

    def offer_after(changes: dict[str, str]) -> str | None:
        """Save the form with `changes`; return the offer the page then makes, if any."""
        form.update(changes)
        saved = client.post(url, data=form)
        assert saved.status_code == 200, saved.text
        if "milestone_id" not in form:
            with Session(clean_db) as session:
                form["milestone_id"] = str(session.exec(select(Milestone.id)).one())
        found = re.search(r'<p class="notice" id="announce">(.*?)</p>', saved.text, re.S)
        return " ".join(html.unescape(found.group(1)).split()) if found else None

    assert offer_after({}) is None  # added as planned
    assert offer_after({"status": "in_progress"}) is None
    link = '<a href="/staff/broadcasts/new?milestone_id={}">Prepare the announcement</a>'
    done = offer_after({"status": "done"})
    assert done == (
        "The milestone “Standpipes” is done. Tell the residents of Ubuhle Gardens? "
        + link.format(form["milestone_id"])
        + " (you will see it in every language and the recipients before anything is sent)."
    )
    assert offer_after({"note": "Handed over at the ward meeting"}) is None  # old news
    assert "“Standpipes” is delayed." in (offer_after({"status": "delayed"}) or "")
    # The "delayed" message quotes the note: a delay's new note (why, until when) is news.
    assert offer_after({"note": "The contractor returns in May"}) is not None
    assert offer_after({"target_date": "2031-05-01"}) is None  # the message has no date
    assert offer_after({"status": "planned"}) is None
    # Added already done is news too.
    standpipes = form.pop("milestone_id")
    form.update(title="Roads graded", status="done", note="")
    added = client.post(url, data=form, follow_redirects=False)
    with Session(clean_db) as session:
        roads = session.exec(select(Milestone).where(Milestone.title == "Roads graded")).one()
    assert added.headers["location"] == (
        f"/staff/settlements/{world.here}?announce={roads.id}&ok=updated"
    )
    # A hand-made address offers only what is true: not a planned milestone, nor another
    # settlement's.
    with session_scope(clean_db) as session:
        there = session.get(Settlement, world.there)
        assert there is not None
        elsewhere = make_milestone(session, there, status="done").id
    page = f"/staff/settlements/{world.here}?announce="
    for milestone_id in (standpipes, elsewhere, "x"):
        assert "Prepare the announcement" not in client.get(f"{page}{milestone_id}").text
    assert "Prepare the announcement" in client.get(f"{page}{roads.id}").text


def block_committee(csrf: str, world: World) -> dict[str, str]:
    """Return the meeting form filled in for a block committee in Ubuhle Gardens."""
    return {
        "csrf_token": csrf,
        "level": "neighbourhood",
        "title": "Block committee",
        "starts_at": "2031-05-04T18:00",
        "settlement_id": str(world.here),
        "venue": "Creche hall",
    }


def test_meetings_create_edit_cancel(as_role: Login, world: World, clean_db: Engine) -> None:
    client, csrf = as_role("officer")
    form = block_committee(csrf, world)
    assert client.post("/staff/meetings", data=form, follow_redirects=False).status_code == 303
    no_place = {**form, "settlement_id": ""}
    assert client.post("/staff/meetings", data=no_place).status_code == 422
    with Session(clean_db) as session:
        meeting = session.exec(select(Meeting)).one()
    assert meeting.starts_at == dt.datetime(2031, 5, 4, 16, 0, tzinfo=dt.UTC)  # SAST -> UTC
    assert meeting.ward == "14"
    url = f"/staff/meetings/{meeting.id}"
    edited = client.post(url, data={**form, "venue": "Church"}, follow_redirects=False)
    assert edited.status_code == 303
    assert 'value="2031-05-04T18:00"' in client.get(url).text
    asked = client.post(url + "/cancel", data={"csrf_token": csrf})
    assert (
        asked.status_code == 200 and "<h1>Cancel the meeting “Block committee”?</h1>" in asked.text
    )
    assert "The meeting on 2031-05-04 18:00 will be marked cancelled" in asked.text
    with Session(clean_db) as session:
        assert not session.exec(select(Meeting.cancelled)).one()
        assert (
            session.exec(select(AuditEvent).where(AuditEvent.action == "meeting.cancel")).all()
            == []
        )
    cancel = {"csrf_token": csrf, "confirm": "yes"}
    assert client.post(url + "/cancel", data=cancel).status_code == 200
    with Session(clean_db) as session:
        meeting = session.exec(select(Meeting)).one()
        assert (meeting.venue, meeting.cancelled) == ("Church", True)
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "meeting.cancel"))
        assert len(events.all()) == 1
    assert "cancelled" in client.get("/staff/meetings").text


def test_a_meetings_page_and_the_list_say_who_will_come_and_who_was_reminded(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    start = dt.datetime(2031, 5, 4, 18, 0, tzinfo=TIMEZONE)
    with session_scope(clean_db) as session:
        busy = make_meeting(session, start, title="Busy meeting", settlement_id=world.here)
        quiet = make_meeting(session, start, title="Quiet meeting", settlement_id=world.here)
        people = [make_resident(session, f"+2782555000{i}").id for i in range(4)]
        for resident_id in people[:3]:
            session.add(
                MeetingAttendance(meeting_id=busy.id, resident_id=resident_id, starts_at=start)
            )
        # A yes to the time the meeting moved from: not counted, said apart.
        earlier = start - dt.timedelta(days=1)
        session.add(MeetingAttendance(meeting_id=busy.id, resident_id=people[3], starts_at=earlier))
        # Two sent reminders (one resident twice) and one still queued: two reminded.
        for n, (resident_id, status) in enumerate(
            [
                (people[0], "sent"),
                (people[0], "delivered"),
                (people[1], "read"),
                (people[2], "pending"),
            ]
        ):
            session.add(
                Outbox(
                    resident_id=resident_id,
                    channel="sms",
                    purpose="reminder",
                    ref=f"meeting:{busy.id}",
                    dedupe_key=f"test-reminder-{n}",
                    body="Reminder: Busy meeting",
                    status=status,
                )
            )
        busy_id, quiet_id = busy.id, quiet.id
    client, _ = as_role("officer")
    busy_page = html.unescape(client.get(f"/staff/meetings/{busy_id}").text)
    busy_text = re.sub(r"\s+", " ", busy_page)
    assert "3 residents said they will come; 2 residents were reminded." in busy_text
    assert (
        "1 more resident said they would come at a time the meeting has moved from: not "
        "counted above, and their next reminder asks them again." in busy_text
    )
    quiet_page = re.sub(r"\s+", " ", client.get(f"/staff/meetings/{quiet_id}").text)
    assert (
        "No resident has said they will come yet; no reminder has reached a resident yet."
        in quiet_page
    )
    assert "meeting-earlier-yeses" not in quiet_page
    listing = client.get("/staff/meetings").text
    assert "Coming / reminded" in listing
    assert re.search(rf'href="/staff/meetings/{busy_id}">Busy meeting<.*?<td>3 / 2</td>', listing)
    assert re.search(rf'href="/staff/meetings/{quiet_id}">Quiet meeting<.*?<td>0 / 0</td>', listing)


def test_a_scoped_user_counts_who_will_come_to_a_forum_among_their_own_residents_only(
    app: object, as_role: Login, world: World, app_settings: Settings, clean_db: Engine
) -> None:
    # A city forum invites everyone: two residents of Ubuhle (ward 14) and one of
    # Kwa-Thema (ward 22) will come, and all three were reminded. Kwa-Thema's officer
    # reads the forum, but Ubuhle's residents are not theirs to count.
    start = dt.datetime(2031, 5, 4, 18, 0, tzinfo=TIMEZONE)
    with session_scope(clean_db) as session:
        forum = make_meeting(session, start, title="City forum", level="city")
        homes = (world.here, world.here, world.there)
        for n, settlement_id in enumerate(homes):
            resident = make_resident(session, f"+2782555100{n}", settlement_id=settlement_id)
            said = {"meeting_id": forum.id, "resident_id": resident.id, "starts_at": start}
            session.add(MeetingAttendance(**said))
            reminder = Outbox(
                resident_id=resident.id,
                channel="sms",
                purpose="reminder",
                ref=f"meeting:{forum.id}",
                dedupe_key=f"test-forum-reminder-{n}",
                body="Reminder: City forum",
                status="delivered",
            )
            session.add(reminder)
        texts = {"en": "The city forum is on Sunday."}
        told = BroadcastCreate(
            title="Forum",
            audience=Audience(wards=["22"]),
            texts=texts,
            send_at=utcnow() + dt.timedelta(days=2),
        )
        broadcast = broadcasts.create(
            session=session, settings=app_settings, broadcast_in=told, staff=None
        )
        broadcast.meeting_id = forum.id  # an announcement of it, to ward 22
        forum_id, broadcast_id = forum.id, broadcast.id
    row = rf'href="/staff/meetings/{forum_id}">City forum<.*?<td>(\d+ / \d+)</td>'

    def seen(client: TestClient) -> tuple[str, str, str]:
        page = re.sub(r"\s+", " ", html.unescape(client.get(f"/staff/meetings/{forum_id}").text))
        listing = client.get("/staff/meetings").text
        told = re.sub(r"\s+", " ", client.get(f"/staff/broadcasts/{broadcast_id}").text)
        counted = re.search(row, listing)
        assert counted is not None
        return page, listing + counted.group(1), told

    make_scoped_user(clean_db, "ward22@ubuntubay.example.org", "officer", wards=["22"])
    with logged_in(app, "ward22@ubuntubay.example.org") as (scoped, _csrf):
        page, listing, told = seen(scoped)
    assert "1 resident said they will come; 1 resident was reminded." in page
    assert "Only residents of your settlements and wards are counted." in page
    assert "Coming / reminded (your residents)" in listing and listing.endswith("1 / 1")
    assert "1 resident has said they will come (1 reminded), counting only residents" in told
    officer, _ = as_role("officer")  # unscoped: everyone, and no such words
    page, listing, told = seen(officer)
    assert "3 residents said they will come; 3 residents were reminded." in page
    assert "Only residents of" not in page and listing.endswith("3 / 3")
    assert "(your residents)" not in listing
    assert "3 residents have said they will come (3 reminded)</dd>" in told


def test_a_settlement_page_lists_no_forum_of_a_ward_outside_the_users_scope(
    app: object, as_role: Login, world: World, clean_db: Engine
) -> None:
    # A ward 22 forum that names Ubuhle (ward 14), as the dashboard once let one be saved:
    # it reaches ward 22, so ward 14's officer may not read it, and its settlement page
    # listed it all the same.
    start = dt.datetime(2031, 5, 4, 18, 0, tzinfo=TIMEZONE)
    with session_scope(clean_db) as session:
        forum = make_meeting(
            session, start, title="Ward 22 forum", level="ward", ward="22", settlement_id=world.here
        )
        own = make_meeting(session, start, title="Ubuhle meeting", settlement_id=world.here)
        forum_id, own_id = forum.id, own.id
    url = f"/staff/settlements/{world.here}"
    make_scoped_user(clean_db, "ward14@ubuntubay.example.org", "officer", wards=["14"])
    with logged_in(app, "ward14@ubuntubay.example.org") as (scoped, _csrf):
        assert scoped.get(f"/staff/meetings/{forum_id}").status_code == 404
        page = scoped.get(url).text
    assert f'href="/staff/meetings/{own_id}"' in page
    assert "Ward 22 forum" not in page and f"/staff/meetings/{forum_id}" not in page
    officer, _ = as_role("officer")  # unscoped: both
    assert f'href="/staff/meetings/{forum_id}">Ward 22 forum<' in officer.get(url).text


def test_a_cancelled_meeting_is_not_changed_and_its_page_says_why(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    client, csrf = as_role("officer")
    form = block_committee(csrf, world)
    client.post("/staff/meetings", data=form)
    with Session(clean_db) as session:
        meeting_id = session.exec(select(Meeting.id)).one()
    url = f"/staff/meetings/{meeting_id}"
    assert "Save meeting" in client.get(url).text
    client.post(url + "/cancel", data={"csrf_token": csrf, "confirm": "yes"})
    page = client.get(url).text
    assert "Save meeting" not in page and f'action="{url}"' not in page
    assert "This meeting was cancelled, so it can no longer be changed" in page
    assert "Cancel meeting" not in page
    moved = client.post(url, data={**form, "starts_at": "2031-05-11T18:00"})
    assert moved.status_code == 409 and "this meeting was cancelled" in moved.text
    with Session(clean_db) as session:
        meeting = session.exec(select(Meeting)).one()
    assert meeting.starts_at == dt.datetime(2031, 5, 4, 16, 0, tzinfo=dt.UTC)


def test_a_meeting_is_refused_where_the_csv_import_would_refuse_it(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    client, csrf = as_role("officer")
    form = {
        "csrf_token": csrf,
        "level": "city",
        "title": "City forum",
        "starts_at": "2031-05-04T18:00",
        "settlement_id": str(world.here),
        "venue": "Civic centre",
    }
    refusals = {
        "a city forum belongs to no single settlement: leave it blank": form,
        "ward 15 differs from Ubuhle Gardens&#39;s ward (14)": {
            **form,
            "level": "ward",
            "ward": "15",
        },
        "a ward meeting needs a ward": {**form, "level": "ward", "settlement_id": ""},
        # Its reminders go by SMS, by themselves: measured when the officer writes it.
        "venue: its Afrikaans SMS reminder, with the date, would be 4 SMS segments": {
            **form,
            "settlement_id": "",
            "venue": "The civic centre in the main street, the hall on the first floor. " * 5,
        },
    }
    for reason, refused in refusals.items():
        answer = client.post("/staff/meetings", data=refused)
        assert answer.status_code == 422 and reason in answer.text, html.unescape(answer.text)
    with Session(clean_db) as session:
        assert session.exec(select(Meeting)).all() == []
    city = {**form, "settlement_id": ""}
    assert client.post("/staff/meetings", data=city, follow_redirects=False).status_code == 303
    ward = {**form, "level": "ward", "ward": "14", "title": "Ward forum"}
    assert client.post("/staff/meetings", data=ward, follow_redirects=False).status_code == 303
    with Session(clean_db) as session:
        saved = session.exec(select(Meeting.level, Meeting.settlement_id, Meeting.ward)).all()
    assert sorted(saved) == [("city", None, ""), ("ward", world.here, "14")]


def _reminder_notice(page: str) -> str:
    """Return the meeting page's notice of what its SMS reminders cost (there is one)."""
    [notice] = re.findall(r'<p class="notice" id="reminder-sms">(.*?)</p>', page, re.S)
    return html.unescape(notice)


def test_a_meeting_stored_too_long_before_it_was_measured_is_said_so_without_naming_letters(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # Its page said "Written with , which GSM-7 does not have": no letter is the cause.
    with session_scope(clean_db) as session:
        starts = dt.datetime(2031, 5, 4, 18, tzinfo=TIMEZONE)
        meeting = make_meeting(session, starts, settlement_id=world.here, venue=HALL.strip())
        meeting_id = meeting.id
    client, _csrf = as_role("officer")
    page = client.get(f"/staff/meetings/{meeting_id}").text
    notice = " ".join(_reminder_notice(page).split())
    assert "Written with" not in notice
    assert notice.startswith(
        "Its SMS reminders are long (the meeting was saved before they were measured): the "
        "longest, its "
    )
    assert "SMS segments (GSM-7" in notice and "more than the 3 the bot keeps to" in notice


def test_a_meeting_written_in_sepedi_or_tshivenda_is_saved_with_a_notice_of_its_sms(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    client, csrf = as_role("officer")
    form = {
        "csrf_token": csrf,
        "level": "neighbourhood",
        "starts_at": "2031-05-04T18:00",
        "settlement_id": str(world.here),
    }
    for title, venue, letters in (
        ("Housing list information session", "Mošate community hall", "š"),
        ("Muṱangano wa u ḓivhadza vhadzulapo", "Holo ya tshitshavha", "ṱ ḓ"),
    ):
        saved = client.post("/staff/meetings", data={**form, "title": title, "venue": venue})
        assert saved.status_code == 200 and "ok=created" in str(saved.url), saved.text
        notice = " ".join(_reminder_notice(saved.text).split())
        assert f"Written with {letters}, which GSM-7 does not have" in notice
        assert (
            "its Afrikaans SMS reminder, with the date, will take 4 SMS segments (UCS-2" in notice
        )
    # A short venue in Sepedi: the reminders, UCS-2, still fit, so nothing to say.
    short = {**form, "title": "Block committee", "venue": "Mošate community hall"}
    page = client.post("/staff/meetings", data=short)
    assert page.status_code == 200 and 'id="reminder-sms"' not in page.text
    # Long, it is still refused, counted as GSM-7 would count it.
    long_venue = "Mošate community hall behind the clinic, next to the taxi rank. " * 5
    refused = client.post("/staff/meetings", data={**short, "title": "Water", "venue": long_venue})
    assert refused.status_code == 422
    assert "would be 4 SMS segments (GSM-7, " in html.unescape(refused.text)
    with Session(clean_db) as session:
        assert len(session.exec(select(Meeting)).all()) == 3


def test_the_meeting_form_counts_its_sms_reminders_as_the_saving_would(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    """POST /staff/meetings/sms (the meeting form's counter) says the largest SMS reminder's
    size as saving the meeting measures it: it fits; it would be refused, in the refusal's
    words; or letters outside GSM-7 take the reminders as sent past 3 segments, said in the
    words the meeting's page says after saving. A change that says nothing new in the
    reminders of a meeting stored before they were measured is not refused, as on saving."""
    client, csrf = as_role("officer")
    page = client.get("/staff/meetings").text
    assert 'data-sms-reminders="/staff/meetings/sms"' in page
    assert "the longest may take at most 3 SMS segments" in page
    form = block_committee(csrf, world)
    size = client.post("/staff/meetings/sms", data=form).json()
    assert size == {
        "language": "af",
        "language_name": "Afrikaans",
        "segments": 2,
        "encoding": "GSM-7",
        "characters": 180,
        "max_segments": 3,
        "fits": True,
        "field": None,
        "detail": None,
        "beyond_budget": None,
    }

    long_venue = {**form, "venue": "The civic centre in the main street, the hall. " * 7}
    size = client.post("/staff/meetings/sms", data=long_venue).json()
    assert (size["fits"], size["field"], size["segments"]) == (False, "venue", 4)
    assert size["detail"] == (
        "venue: its Afrikaans SMS reminder, with the date, would be 4 SMS segments (GSM-7, "
        f"{size['characters']} characters): at most 3 segments go to a resident by SMS, so "
        "shorten the title or venue"
    )
    refused = client.post("/staff/meetings", data=long_venue)
    assert refused.status_code == 422 and size["detail"] in html.unescape(refused.text)

    sepedi = {**form, "title": "Housing list information session", "venue": "Mošate community hall"}
    size = client.post("/staff/meetings/sms", data=sepedi).json()
    assert (size["fits"], size["encoding"], size["detail"]) == (True, "GSM-7", None)
    assert size["beyond_budget"].startswith(
        "Written with š, which GSM-7 does not have: its SMS reminders go as UCS-2 (67 "
        "characters a segment), and the longest, its Afrikaans SMS reminder, with the date, "
        "will take 4 SMS segments (UCS-2, "
    )
    saved = client.post("/staff/meetings", data=sepedi)
    assert saved.status_code == 200 and "ok=created" in str(saved.url)
    assert _reminder_notice(saved.text) == size["beyond_budget"]

    # Stored before reminders were measured: kept as it is, and changed elsewhere, not
    # refused; a new venue is measured.
    with session_scope(clean_db) as session:
        stored = make_meeting(
            session,
            dt.datetime(2031, 5, 4, 16, tzinfo=dt.UTC),
            settlement_id=world.here,
            ward="14",
            title=form["title"],
            venue=long_venue["venue"].strip(),
        )
    kept = {**long_venue, "meeting_id": str(stored.id)}
    size = client.post("/staff/meetings/sms", data=kept).json()
    assert (size["fits"], size["segments"], size["detail"]) == (True, 4, None)
    size = client.post("/staff/meetings/sms", data={**kept, "venue": "Civic centre hall. " * 20})
    assert size.json()["field"] == "venue" and not size.json()["fits"]
    assert client.post("/staff/meetings/sms", data={**kept, "meeting_id": "999"}).status_code == 404

    no_token = {key: value for key, value in form.items() if key != "csrf_token"}
    assert client.post("/staff/meetings/sms", data=no_token).status_code == 403
    triage, triage_csrf = as_role("triage")
    assert (
        triage.post("/staff/meetings/sms", data={**form, "csrf_token": triage_csrf}).status_code
        == 403
    )
    with Session(clean_db) as session:
        assert [m.title for m in session.exec(select(Meeting)).all()] == [
            "Housing list information session",
            "Block committee",
        ]


def test_a_meeting_is_not_added_or_moved_to_a_time_that_has_passed(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # It was taken: a year typo made a meeting no resident saw or was reminded of.
    client, csrf = as_role("officer")
    soon = (utcnow() + dt.timedelta(days=30)).astimezone(TIMEZONE)
    last_year = soon - dt.timedelta(days=365)
    form = {
        "csrf_token": csrf,
        "level": "neighbourhood",
        "title": "Block committee",
        "starts_at": last_year.strftime("%Y-%m-%dT%H:%M"),
        "settlement_id": str(world.here),
        "venue": "Creche hall",
    }
    refused = client.post("/staff/meetings", data=form)
    assert refused.status_code == 422 and "has passed" in refused.text
    later = {**form, "starts_at": soon.strftime("%Y-%m-%dT%H:%M")}
    assert client.post("/staff/meetings", data=later, follow_redirects=False).status_code == 303
    with Session(clean_db) as session:
        meeting_id = session.exec(select(Meeting.id)).one()
    moved = client.post(f"/staff/meetings/{meeting_id}", data=form)
    assert moved.status_code == 422 and "has passed" in moved.text


def test_creating_moving_and_cancelling_a_meeting_offers_an_announcement(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    client, csrf = as_role("officer")
    form = {
        "csrf_token": csrf,
        "level": "neighbourhood",
        "title": "Water point meeting",
        "starts_at": "2031-06-01T17:00",
        "settlement_id": str(world.here),
        "venue": "Creche hall",
    }
    created = client.post("/staff/meetings", data=form)
    with Session(clean_db) as session:
        meeting_id = session.exec(select(Meeting.id)).one()
    offer = f"/staff/broadcasts/new?meeting_id={meeting_id}&amp;change="
    assert offer + "announced" in created.text
    renamed = client.post(f"/staff/meetings/{meeting_id}", data={**form, "title": "Water"})
    assert "Prepare the announcement" not in renamed.text  # same time and venue: nothing new
    elsewhere = client.post(f"/staff/meetings/{meeting_id}", data={**form, "venue": "Church"})
    assert offer + "moved&amp;previous_venue=Creche%20hall" in elsewhere.text  # same time
    moved = client.post(
        f"/staff/meetings/{meeting_id}",
        data={**form, "starts_at": "2031-06-02T17:00", "venue": "Church"},
    )
    assert offer + "moved&amp;previous=2031-06-01T17%3A00%2B02%3A00" in moved.text
    assert "previous_venue" not in moved.text  # the same venue
    link = re.search(r'href="(/staff/broadcasts/new[^"]+)"', moved.text)
    assert link is not None
    draft = client.get(html.unescape(link.group(1)))
    assert draft.status_code == 200 and "Water point meeting" in draft.text
    cancelled = client.post(
        f"/staff/meetings/{meeting_id}/cancel", data={"csrf_token": csrf, "confirm": "yes"}
    )
    assert offer + "cancelled" in cancelled.text
    triage, _ = as_role("triage")
    page = triage.get(f"/staff/meetings/{meeting_id}?announce=cancelled")
    assert "Prepare the announcement" not in page.text


def test_a_meeting_change_that_makes_its_unsent_announcement_too_long_for_sms_is_refused(
    as_role: Login, world: World, clean_db: Engine, settings: Settings
) -> None:
    client, csrf = as_role("officer")
    starts = dt.datetime(2031, 5, 4, 18, 0, tzinfo=TIMEZONE)
    with session_scope(clean_db) as session:
        meeting = make_meeting(session, starts, settlement_id=world.here, venue="Creche hall")
        moved_id = make_moved_announcement(session, settings=settings, meeting=meeting)
        meeting_id = meeting.id
    form = {
        "csrf_token": csrf,
        "level": "neighbourhood",
        "title": "Block meeting",
        "starts_at": "2031-05-04T18:00",
        "settlement_id": str(world.here),
        # 285 characters: its reminders fit, its "moved" announcement, with two dates, not.
        "venue": HALL[:285],
    }
    refused = client.post(f"/staff/meetings/{meeting_id}", data=form)
    assert refused.status_code == 422
    said = " ".join(html.unescape(refused.text).split())
    assert (
        f"venue: broadcast {moved_id} quotes this meeting and is not sent yet: the Afrikaans "
        "SMS, with its STOP hint, would be 4 SMS segments (GSM-7, "
    ) in said
    assert "so shorten the meeting's title or venue (or cancel the broadcast first)" in said
    with Session(clean_db) as session:
        assert session.get(Meeting, meeting_id).venue == "Creche hall"  # type: ignore[union-attr]
    fits = {**form, "venue": form["venue"][:270]}
    saved = client.post(f"/staff/meetings/{meeting_id}", data=fits, follow_redirects=False)
    assert saved.status_code == 303


def test_a_meeting_whose_start_has_seconds_keeps_it_when_only_the_venue_changes(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # It was taken: the form's datetime-local field has no seconds, so an API or CSV start
    # of 17:07:35 came back as 17:07 (a "move" to offer an announcement of, from 19:07 to
    # 19:07), and a meeting held already could not have its venue corrected at all.
    client, csrf = as_role("officer")
    soon = (utcnow() + dt.timedelta(days=30)).replace(hour=17, minute=7, second=35, microsecond=0)
    held = soon - dt.timedelta(days=60)
    with session_scope(clean_db) as session:
        ids = [
            make_meeting(session, when, title=f"Block committee {n}", settlement_id=world.here).id
            for n, when in enumerate((soon, held))
        ]

    def form(n: int, starts_at: str) -> dict[str, str]:
        return {
            "csrf_token": csrf,
            "level": "neighbourhood",
            "title": f"Block committee {n}",
            "starts_at": starts_at,
            "settlement_id": str(world.here),
            "venue": "Church",
        }

    for n, (meeting_id, when) in enumerate(zip(ids, (soon, held), strict=True)):
        url = f"/staff/meetings/{meeting_id}"
        shown = re.search(r'name="starts_at"[^>]* value="([^"]+)"', client.get(url).text)
        assert shown is not None
        assert shown.group(1) == when.astimezone(TIMEZONE).strftime("%Y-%m-%dT%H:%M:%S")
        saved = client.post(url, data=form(n, shown.group(1)))
        assert saved.status_code == 200, saved.text
        # Not moved in time: a new venue to tell of, only while the meeting is to come.
        offer = re.search(r'href="([^"]+)">Prepare the announcement', saved.text)
        if n == 0:
            assert offer and offer.group(1).endswith("change=moved&amp;previous_venue=")  # none
            compose = client.get(html.unescape(offer.group(1))).text
            assert 'name="venue_changed" value="1" checked' in compose
        else:
            assert offer is None
        with Session(clean_db) as session:
            meeting = session.get(Meeting, meeting_id)
            assert meeting is not None
            assert (meeting.starts_at, meeting.venue) == (when, "Church")
    a_minute_later = soon.replace(second=0) + dt.timedelta(minutes=1)
    moved = client.post(
        f"/staff/meetings/{ids[0]}",
        data=form(0, a_minute_later.astimezone(TIMEZONE).strftime("%Y-%m-%dT%H:%M")),
    )
    assert moved.status_code == 200 and "Prepare the announcement" in moved.text
    with Session(clean_db) as session:
        meeting = session.get(Meeting, ids[0])
        assert meeting is not None and meeting.starts_at == a_minute_later


def test_an_officer_can_set_a_start_with_seconds_to_a_whole_minute(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # It was swallowed: the form showed an imported 10:00:30 as 10:00, so the officer who
    # meant 10:00 sent what the form sent unchanged, and 10:00:30 was kept.
    client, csrf = as_role("officer")
    day = (utcnow() + dt.timedelta(days=30)).astimezone(TIMEZONE).date()
    imported = dt.datetime.combine(day, dt.time(10, 0, 30), TIMEZONE).astimezone(dt.UTC)
    with session_scope(clean_db) as session:
        meeting_id = make_meeting(session, imported, settlement_id=world.here, venue="Church").id
    url = f"/staff/meetings/{meeting_id}"

    def save(starts_at: str) -> tuple[str, dt.datetime]:
        form = {
            "csrf_token": csrf,
            "level": "neighbourhood",
            "title": "Block committee",
            "starts_at": starts_at,
            "settlement_id": str(world.here),
            "venue": "Church",
        }
        saved = client.post(url, data=form)
        assert saved.status_code == 200, saved.text
        with Session(clean_db) as session:
            meeting = session.get(Meeting, meeting_id)
            assert meeting is not None
            return saved.text, meeting.starts_at

    field = re.search(r'<input id="mt-starts"[^>]*>', client.get(url).text)
    assert field is not None and 'step="1"' in field.group(0)  # the seconds can be seen
    shown = re.search(r'value="([^"]+)"', field.group(0))
    assert shown is not None and shown.group(1) == f"{day}T10:00:30"
    page, starts = save(shown.group(1))  # (a) the form as shown: kept, not moved
    assert starts == imported and "Prepare the announcement" not in page
    page, starts = save(f"{day}T10:00")  # (b) the officer's whole minute, as typed
    assert starts == dt.datetime.combine(day, dt.time(10, 0), TIMEZONE)
    assert "Prepare the announcement" not in page  # residents are told 10:00 either way
    field = re.search(r'<input id="mt-starts"[^>]*>', client.get(url).text)
    assert field is not None and f'value="{day}T10:00"' in field.group(0)
    assert 'step="1"' not in field.group(0)
    with session_scope(clean_db) as session:  # imported again, with its seconds
        session.get_one(Meeting, meeting_id).starts_at = imported
    page, starts = save(f"{day}T10:05:30")  # the minute changed, the seconds shown left
    assert starts == dt.datetime.combine(day, dt.time(10, 5), TIMEZONE)
    assert "Prepare the announcement" in page and "previous=" in page


GOOD = b"""name,aliases,ward,municipality,category,category_note,current_phase
Sunrise Camp,,15,Test Municipality,C,Relocation planned.,Assessment
"""
BAD = b"""name,aliases,ward,municipality,category,category_note,current_phase
Sunrise Camp,,15,Test Municipality,Q,,
,,15,Test Municipality,A,,
"""


def test_csv_upload_lists_the_same_row_errors_as_the_cli(
    as_role: Login, world: World, clean_db: Engine, tmp_path: object
) -> None:
    from bot.domain.settlements.importer import import_csv

    client, csrf = as_role("officer")
    with session_scope(clean_db) as session:
        try:
            import_csv(session=session, kind="settlements", data=BAD)
        except ImportRejected as exc:
            expected = [str(e) for e in exc.errors]
    assert len(expected) == 2
    answer = client.post(
        "/staff/import",
        data={"csrf_token": csrf, "kind": "settlements"},
        files={"file": ("bad.csv", BAD, "text/csv")},
    )
    assert answer.status_code == 422
    for line in expected:
        assert line in html.unescape(answer.text)
    assert "nothing was imported" in answer.text
    good = client.post(
        "/staff/import",
        data={"csrf_token": csrf, "kind": "settlements"},
        files={"file": ("good.csv", GOOD, "text/csv")},
    )
    assert good.status_code == 200 and "1 created" in good.text
    # Which rows, as the CLI says: the page gave only the counts.
    assert '<ul id="import-created"><li>Sunrise Camp</li></ul>' in good.text
    again = client.post(
        "/staff/import",
        data={"csrf_token": csrf, "kind": "settlements"},
        files={"file": ("good.csv", GOOD.replace(b"Assessment", b"Services"), "text/csv")},
    )
    assert (
        '<ul id="import-updated"><li>Sunrise Camp: current_phase &#39;Assessment&#39; -&gt; '
        "&#39;Services&#39;</li></ul>" in again.text
    )
    assert 'id="import-created"' not in again.text
    with Session(clean_db) as session:
        assert session.exec(select(Settlement).where(Settlement.name == "Sunrise Camp")).one()
        imports = select(AuditEvent).where(AuditEvent.action == "import.settlements")
        # In the order written: PostgreSQL returns rows in no set order without ORDER BY.
        audit = session.exec(imports.order_by(col(AuditEvent.id)))
        assert [e.detail["ok"] for e in audit] == [False, True, True]


def test_the_import_page_says_each_kinds_columns_and_its_example_files_import_cleanly(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # The page listed column names alone: no formats, nothing to start a file from.
    from bot.domain.settlements.importer import FORMATS

    client, csrf = as_role("officer")
    page = client.get("/staff/import").text
    for kind, columns in FORMATS.items():
        start = page.index(f'<section id="columns-{kind}"')
        section = html.unescape(page[start : page.index("</section>", start)])
        assert [f"<code>{c.name}</code>" for c in columns] == re.findall(
            r"<code>[a-z_]+</code>", section
        )
        for column in columns:
            assert column.takes in section
        assert f'href="/staff/import/examples/{kind}.csv"' in section
    assert "A|B1|B2|C or blank: not yet assessed" in page
    assert "YYYY-MM-DD between 2000 and 2099, or blank" in page
    assert "ISO 8601 with offset" in page and "neighbourhood|ward|city" in page
    for kind, made in (("settlements", 1), ("milestones", 2), ("meetings", 3)):
        download = client.get(f"/staff/import/examples/{kind}.csv")
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert download.headers["content-disposition"] == (
            f'attachment; filename="{kind}-example.csv"'
        )
        checked = client.post(
            "/staff/import",
            data={"csrf_token": csrf, "kind": kind, "check_only": "true"},
            files={"file": (f"{kind}-example.csv", download.content, "text/csv")},
        )
        assert checked.status_code == 200, checked.text
        assert f"{kind}: {made} created, 0 updated" in checked.text
        assert "Checked only: nothing was written." in checked.text
        # Refused, the page is the import page again, its kind chosen and its help there.
        refused = client.post(
            "/staff/import",
            data={"csrf_token": csrf, "kind": kind},
            files={"file": ("bad.csv", download.content + b"one,two\n", "text/csv")},
        )
        assert refused.status_code == 422 and 'id="import-errors"' in refused.text
        assert f'<option value="{kind}" selected>' in refused.text
        assert f'<section id="columns-{kind}"' in refused.text
    with Session(clean_db) as session:
        assert session.exec(select(Settlement.name)).all() == [
            "Ubuhle Gardens",
            "Kwa-Thema Extension",
        ]


def test_a_residents_page_says_which_channel_their_stop_came_on(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # By SMS, YES by SMS opts them back in (Twilio unblocks the number); by WhatsApp, not.
    stopped = dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC)
    with session_scope(clean_db) as session:
        ids = [
            make_resident(
                session, phone, settlement_id=world.here, opted_out_at=stopped, **channel
            ).id
            for phone, channel in [
                ("+27821116661", {"opted_out_channel": "sms"}),
                ("+27821116662", {"opted_out_channel": "whatsapp"}),
                ("+27821116663", {}),  # kept before migration 0012
            ]
        ]
    client, _ = as_role("officer")
    shown = [client.get(f"/staff/residents/{i}").text for i in ids]
    assert "Opted out</dt><dd>yes, 2026-11-02 10:00 (STOP by SMS)" in shown[0]
    assert "Opted out</dt><dd>yes, 2026-11-02 10:00 (STOP by WhatsApp)" in shown[1]
    assert "Opted out</dt><dd>yes, 2026-11-02 10:00</dd>" in shown[2]


def test_a_residents_page_lists_the_latest_broadcasts_and_meetings_within_the_users_scope(
    app: object, as_role: Login, world: World, clean_db: Engine
) -> None:
    # The page said neither what the municipality had sent a resident nor which meetings
    # they said they would come to: staff answering "I was never told" had to guess.
    from bot.domain.outbox.models import Outbox

    start = dt.datetime(2031, 3, 2, 8, tzinfo=dt.UTC)
    with session_scope(clean_db) as session:
        resident_id = make_resident(session, "+27821117777", settlement_id=world.here).id
        audiences = [{"settlement_ids": [world.here]}] * 11 + [{"everyone": True}]
        for number, audience in enumerate(audiences, 1):
            sent = Broadcast(title=f"Notice {number}", audience=audience, status="enqueued")
            session.add(sent)
            session.flush()
            session.add(
                Outbox(
                    resident_id=resident_id,
                    channel="sms",
                    purpose="broadcast",
                    ref=f"broadcast:{sent.id}",
                    dedupe_key=f"broadcast:{sent.id}:{resident_id}",
                    body=f"Secret words {number}",
                    status="delivered",
                    sent_at=start + dt.timedelta(hours=number),
                )
            )
        ids = {}
        for title, place, days in (("Here", world.here, 1), ("There", world.there, 2)):
            meeting = make_meeting(
                session, start + dt.timedelta(days=days), settlement_id=place, title=title
            )
            ids[title] = meeting.id
            said = {"meeting_id": meeting.id, "resident_id": resident_id}
            session.add(MeetingAttendance(**said, starts_at=meeting.starts_at))
        with_ids = {b.title: b.id for b in session.exec(select(Broadcast)).all()}
    make_scoped_user(clean_db, "ward14@example.org", "officer", wards=["14"])
    url = f"/staff/residents/{resident_id}"

    def listed(page: str, what: str) -> list[str]:
        start = page.index(f'<ul id="resident-{what}"')
        items = page[start : page.index("</ul>", start)]
        return [
            f"{href} {text}"
            for href, text in re.findall(r'<li><a href="([^"]+)">([^<]+)</a>', items)
        ]

    client, _ = as_role("officer")
    page = client.get(url).text
    assert listed(page, "broadcasts") == [
        f"/staff/broadcasts/{with_ids[f'Notice {n}']} Notice {n}" for n in range(12, 2, -1)
    ]
    assert "The latest 10 of 12." in page and "2031-03-02 22:00 · sms · delivered" in page
    assert listed(page, "meetings") == [
        f"/staff/meetings/{ids['There']} There",
        f"/staff/meetings/{ids['Here']} Here",
    ]
    assert "Secret words" not in page  # what was said is on the broadcast's own page
    with logged_in(app, "ward14@example.org") as (scoped, _csrf):
        page = scoped.get(url).text
        # each link opens (the city-wide broadcast's would not)
        for link in listed(page, "broadcasts") + listed(page, "meetings"):
            assert scoped.get(link.split()[0]).status_code == 200, link
        assert scoped.get(f"/staff/broadcasts/{with_ids['Notice 12']}").status_code == 404
    assert listed(page, "broadcasts") == [
        f"/staff/broadcasts/{with_ids[f'Notice {n}']} Notice {n}" for n in range(11, 1, -1)
    ]  # not the city-wide one (12), which a scoped officer's broadcast pages do not show
    assert "The latest 10 of 12; those outside your scope are not listed." in page
    assert listed(page, "meetings") == [f"/staff/meetings/{ids['Here']} Here"]
    assert "The latest 1 of 2; those outside your scope are not listed." in page


def test_residents_find_export_erase(as_role: Login, world: World, clean_db: Engine) -> None:
    with session_scope(clean_db) as session:
        resident = make_resident(
            session,
            "+27821115555",
            settlement_id=world.here,
            language="xh",
            profile_name="Nomsa <b>",
            consented_at=dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC),
            consent_channel="whatsapp",
            consent_notice_version="1",
        )
        session.add(
            InboundMessage(
                message_sid="SM" + "1" * 32,
                resident_id=resident.id,
                channel="whatsapp",
                body="My tap",
            )
        )
        ticket = session.exec(select(Ticket).where(Ticket.reference == world.ticket_here)).one()
        ticket.resident_id = resident.id
        resident_id = resident.id
        session.add(UnmatchedSettlementName(text="Nowhere Heights", resident_id=resident_id))
        starts = dt.datetime(2026, 12, 5, 15, tzinfo=dt.UTC)
        meeting = make_meeting(session, starts, title="Plan")
        session.add(
            MeetingAttendance(meeting_id=meeting.id, resident_id=resident_id, starts_at=starts)
        )
    client, csrf = as_role("officer")
    found = client.get("/staff/residents?phone=082 111 5555", follow_redirects=False)
    assert found.headers["location"] == f"/staff/residents/{resident_id}"
    page = client.get(f"/staff/residents/{resident_id}").text
    assert "Nomsa &lt;b&gt;" in page and "given 2026-11-01 10:00 on whatsapp" in page
    assert "Opted out</dt><dd>no" in page
    exported = client.get(f"/staff/residents/{resident_id}/export.json")
    assert exported.headers["content-disposition"].startswith("attachment")
    data = exported.json()
    assert data["phone"] == "+27821115555" and data["messages_received"][0]["body"] == "My tap"
    assert [r["reference"] for r in data["reports"]] == [world.ticket_here]
    assert [m["meeting"] for m in data["meetings_attending"]] == ["Plan"]
    assert [t["text"] for t in data["settlement_names_typed"]] == ["Nowhere Heights"]
    erase = f"/staff/residents/{resident_id}/erase"
    wrong = client.post(erase, data={"csrf_token": csrf, "confirm_phone": "0820000000"})
    assert wrong.status_code == 422
    done = client.post(
        erase, data={"csrf_token": csrf, "confirm_phone": "0821115555"}, follow_redirects=False
    )
    assert done.status_code == 303
    with Session(clean_db) as session:
        assert session.get(Resident, resident_id) is None
        ticket = session.exec(select(Ticket).where(Ticket.reference == world.ticket_here)).one()
        assert ticket.resident_id is None and ticket.description == ""
        actions = set(session.exec(select(AuditEvent.action)).all())
    assert {"resident.view", "resident.export", "resident.erase"} <= actions


def test_names_residents_typed_that_matched_nothing_are_listed_for_officers(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    from bot.domain.settlements import service as settlement_service

    with session_scope(clean_db) as session:
        for text in ["Kwa Nonqaba", "kwa nonqaba ", "Phola Prk", "<b>Blikkies</b>"]:
            settlement_service.record_unmatched_name(session=session, text=text, resident_id=None)
    client, _ = as_role("officer")
    page = client.get("/staff/settlements").text
    assert "Names residents typed that matched no settlement" in page
    rows = re.findall(r"<tr><td>([^<]*)</td><td>(\d+)</td>", page)
    assert ("Kwa Nonqaba", "2") in rows  # case and spaces folded, commonest first
    assert rows[0] == ("Kwa Nonqaba", "2")
    assert ("Phola Prk", "1") in rows
    assert "&lt;b&gt;Blikkies&lt;/b&gt;" in page  # a resident's words shown as text
    # Once a settlement is called by it (an alias imported), the list says which.
    with session_scope(clean_db) as session:
        make_settlement(session, "Nonqaba Heights", aliases=["Kwa-Nonqaba"])
    page = client.get("/staff/settlements").text
    rows = re.findall(r"<tr><td>([^<]*)</td><td>\d+</td><td>[^<]*</td><td>([^<]*)</td>", page)
    assert ("Kwa Nonqaba", "matches Nonqaba Heights") in rows and ("Phola Prk", "") in rows
    # Two settlements called by it (two municipalities): no one was linked, and it says so.
    with session_scope(clean_db) as session:
        for municipality in ("Ekurhuleni", "Msunduzi"):
            make_settlement(session, "Phola Park", aliases=["Phola Prk"], municipality=municipality)
    page = html.unescape(client.get("/staff/settlements").text)
    assert "matches Phola Park and Phola Park: no resident was linked" in page
    scoped, _ = as_role("scoped")
    assert "matched no settlement" not in scoped.get("/staff/settlements").text


def test_the_last_time_a_name_was_typed_is_a_johannesburg_date(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # 01:58 on 8 December in Johannesburg is still 7 December in UTC.
    typed = dt.datetime(2026, 12, 8, 1, 58, tzinfo=TIMEZONE)
    with session_scope(clean_db) as session:
        session.add(UnmatchedSettlementName(text="Kwa Nonqaba", created_at=typed))
    client, _ = as_role("officer")
    page = client.get("/staff/settlements").text
    assert "<tr><td>Kwa Nonqaba</td><td>1</td><td>2026-12-08</td>" in page


def test_an_alias_added_on_the_dashboard_links_and_tells_the_residents_who_typed_it(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    from bot.domain.outbox.models import Outbox
    from bot.domain.settlements import service as settlement_service

    with session_scope(clean_db) as session:
        typed = make_resident(session, "+27821119901", language="zu", consented_at=utcnow())
        other = make_resident(session, "+27821119902", language="xh", consented_at=utcnow())
        for resident, text in [(typed, "Ubuhle Gdns"), (other, "Ubuhle  GDNS"), (other, "Kwa")]:
            settlement_service.record_unmatched_name(
                session=session, text=text, resident_id=resident.id
            )
        ids = (typed.id, other.id)
    client, csrf = as_role("officer")
    answer = client.post(
        "/staff/import",
        data={"csrf_token": csrf, "kind": "settlements"},
        files={
            "file": (
                "aliases.csv",
                b"name,aliases,ward,municipality,category,category_note,current_phase\n"
                b"Ubuhle Gardens,Ubuhle Gdns,14,Test Municipality,,,\n",
                "text/csv",
            )
        },
    )
    assert answer.status_code == 200
    assert '<p id="import-linked">2 resident(s)' in answer.text
    with Session(clean_db) as session:
        linked = [session.get(Resident, resident_id) for resident_id in ids]
        assert [r.settlement_id for r in linked if r] == [world.here, world.here]
        rows = session.exec(select(Outbox).order_by(Outbox.resident_id)).all()
        assert [(r.resident_id, r.language, r.purpose) for r in rows] == [
            (ids[0], "zu", "notice"),
            (ids[1], "xh", "notice"),
        ]
        assert rows[0].body is not None and "Ubuhle Gardens" in rows[0].body
        assert rows[0].body.startswith("Izindaba ezinhle")  # isiZulu, the resident's language
        assert session.exec(select(UnmatchedSettlementName)).all() == []
        audit = session.exec(
            select(AuditEvent).where(AuditEvent.action == "import.settlements")
        ).one()
        assert audit.detail["linked"] == 2
    page = client.get("/staff/settlements").text
    assert "matched no settlement" not in page  # no one is left unmatched


AUDITED_MILESTONES = b"""settlement,strand,title,target_date,status,note
Ubuhle Gardens,services,Standpipes installed,2030-03-01,delayed,
"""
AUDITED_FORUM = b"""settlement,ward,level,title,starts_at,venue
,14,ward,Ward 14 upgrading forum,2030-06-20T18:00:00+02:00,Ward 14 hall
"""


def test_a_reimport_shows_what_it_changes_and_check_only_writes_nothing(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # The audit: a milestone set done on the dashboard went back to delayed when its file
    # was uploaded again, a forum's venue changed there went back, and the page said only
    # "Updated: <name>".
    client, csrf = as_role("officer")

    def upload(kind: str, data: bytes, **form: str) -> str:
        answer = client.post(
            "/staff/import",
            data={"csrf_token": csrf, "kind": kind, **form},
            files={"file": (f"{kind}.csv", data, "text/csv")},
        )
        assert answer.status_code == 200, answer.text
        return html.unescape(answer.text)

    upload("milestones", AUDITED_MILESTONES)
    upload("meetings", AUDITED_FORUM)
    with session_scope(clean_db) as session:  # the dashboard's changes
        session.exec(select(Milestone)).one().status = "done"
        session.exec(select(Meeting)).one().venue = "Ward 14 NEW hall (old hall flooded)"
    status = "Ubuhle Gardens: Standpipes installed: status 'done' -> 'delayed'"
    venue = "Ward 14 upgrading forum: venue 'Ward 14 NEW hall (old hall flooded)' -> 'Ward 14 hall'"
    # Changes made since the last import: overwritten only as the officer chooses.
    checked = upload("milestones", AUDITED_MILESTONES, check_only="true", overwrite_edits="true")
    assert "Checked only: nothing was written." in checked
    assert "milestones: 0 created, 1 updated, 0 unchanged." in checked
    assert f'<ul id="import-updated"><li>{status}</li></ul>' in checked
    assert "Checked only" in upload(
        "meetings", AUDITED_FORUM, check_only="true", overwrite_edits="true"
    )
    with Session(clean_db) as session:
        assert session.exec(select(Milestone.status)).all() == ["done"]
        assert session.exec(select(Meeting.venue)).all() == ["Ward 14 NEW hall (old hall flooded)"]
        audit = session.exec(select(AuditEvent).where(col(AuditEvent.action).startswith("import")))
        assert len(audit.all()) == 2  # the two real uploads: a check wrote nothing
    refused = client.post(  # the same file again, without the choice: nothing changes
        "/staff/import",
        data={"csrf_token": csrf, "kind": "milestones"},
        files={"file": ("milestones.csv", AUDITED_MILESTONES, "text/csv")},
    )
    assert refused.status_code == 422
    assert "1 change(s) made since the last import would be overwritten" in refused.text
    page = upload("milestones", AUDITED_MILESTONES, overwrite_edits="true")
    assert "Checked only" not in page
    assert f'<ul id="import-updated"><li>{status}</li></ul>' in page
    assert re.search(r'<ul id="import-overwritten"><li>line 2: [^<]* status changed since', page)
    forum = upload("meetings", AUDITED_FORUM, overwrite_edits="true")
    assert f'<ul id="import-updated"><li>{venue}</li></ul>' in forum
    with Session(clean_db) as session:
        assert session.exec(select(Milestone.status)).all() == ["delayed"]
        assert session.exec(select(Meeting.venue)).all() == ["Ward 14 hall"]


REIMPORTED = b"""settlement,strand,title,target_date,status,note
Ubuhle Gardens,services,Standpipes installed,2030-03-01,delayed,
Ubuhle Gardens,layout,Layout agreed,,planned,
"""
WHEN = r"on \d{4}-\d\d-\d\d \d\d:\d\d"  # Johannesburg time, to the minute


def _uploader(client: TestClient, csrf: str) -> Callable[..., tuple[int, str]]:
    def upload(data: bytes, **form: str) -> tuple[int, str]:
        answer = client.post(
            "/staff/import",
            data={"csrf_token": csrf, "kind": "milestones", **form},
            files={"file": ("milestones.csv", data, "text/csv")},
        )
        return answer.status_code, html.unescape(answer.text)

    return upload


def _stored_milestones(clean_db: Engine) -> list[tuple[str, dt.date | None, str, str]]:
    with Session(clean_db) as session:
        rows = session.exec(
            select(Milestone.title, Milestone.target_date, Milestone.status, Milestone.note)
        )
        return sorted(rows.all())


def _import_events(clean_db: Engine) -> list[dict[str, object]]:
    with Session(clean_db) as session:
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "import.milestones")
            .order_by(col(AuditEvent.id))
        )
        return [event.detail for event in events]


def test_a_reimport_does_not_undo_a_dashboard_edit_unless_the_officer_chooses_to(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # Known fault: the same file uploaded again set the target date an officer had changed
    # on the dashboard back to the file's, and the page listed it as any other update.
    client, csrf = as_role("officer")
    upload = _uploader(client, csrf)
    assert upload(REIMPORTED)[0] == 200
    with Session(clean_db) as session:
        standpipes = session.exec(select(Milestone).where(Milestone.strand == "services")).one()
    moved = {
        "csrf_token": csrf,
        "milestone_id": str(standpipes.id),
        "strand": "services",
        "title": "Standpipes installed",
        "status": "delayed",
        "target_date": "2030-04-01",
    }
    url = f"/staff/settlements/{world.here}/milestones"
    assert client.post(url, data=moved, follow_redirects=False).status_code == 303
    changed = REIMPORTED.replace(b"Layout agreed,,planned", b"Layout agreed,,in_progress")
    edited = (
        r"line 2: Ubuhle Gardens: Standpipes installed: target_date changed on the dashboard "
        rf"by officer@ubuntubay\.example\.org {WHEN}: the file says '2030-03-01', now "
        r"'2030-04-01'"
    )
    before = _stored_milestones(clean_db)
    for form in ({"check_only": "true"}, {}):
        status, page = upload(changed, **form)
        assert status == 422
        assert "1 change(s) made since the last import would be overwritten" in page
        errors = re.search(r'<ul id="import-errors">(.*?)</ul>', page, re.S)
        assert errors is not None and re.fullmatch(f"<li>{edited}</li>", errors.group(1))
        assert 'id="import-edits"' in page
        assert _stored_milestones(clean_db) == before  # the layout's status neither
    assert _import_events(clean_db) == [
        {"ok": True, "problems": 0, "created": 2, "updated": 0, "kept": 0, "linked": 0},
        {"ok": False, "problems": 1, "created": 0, "updated": 0, "kept": 0, "linked": 0},
    ]
    status, page = upload(changed, overwrite_edits="true")
    assert status == 200
    overwritten = re.search(r'<ul id="import-overwritten"><li>(.*?)</li></ul>', page)
    assert overwritten is not None and re.fullmatch(edited, overwritten.group(1))
    assert _stored_milestones(clean_db) == [
        ("Layout agreed", None, "in_progress", ""),
        ("Standpipes installed", dt.date(2030, 3, 1), "delayed", ""),
    ]
    chosen = _import_events(clean_db)[-1]
    assert (chosen["ok"], chosen["updated"], chosen["overwrite_edits"]) == (True, 2, True)
    assert isinstance(chosen["overwritten"], list) and len(chosen["overwritten"]) == 1
    assert re.fullmatch(edited, chosen["overwritten"][0])
    # Imported again, what this import wrote is no one's change: nothing to overwrite.
    status, page = upload(changed)
    assert status == 200 and "milestones: 0 created, 0 updated, 2 unchanged." in page


def test_a_reimport_after_an_api_edit_updates_the_rest_and_names_the_api(
    app: object, as_role: Login, world: World, clean_db: Engine
) -> None:
    client, csrf = as_role("officer")
    upload = _uploader(client, csrf)
    assert upload(REIMPORTED)[0] == 200
    with session_scope(clean_db) as session:
        officer = session.exec(
            select(StaffUser).where(StaffUser.email == "officer@ubuntubay.example.org")
        ).one()
        _row, token = staff.create_token(session=session, user=officer, name="tests")
        standpipes = session.exec(select(Milestone).where(Milestone.strand == "services")).one()
    noted = {
        "strand": "services",
        "title": "Standpipes installed",
        "status": "delayed",
        "target_date": "2030-03-01",
        "note": "Pipes on site",
    }
    with TestClient(app) as api:  # type: ignore[arg-type]
        put = api.put(
            f"/api/v1/settlements/{world.here}/milestones/{standpipes.id}",
            json=noted,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert put.status_code == 200, put.text
    # The file moves the date, which no one changed since: the note is in the way.
    later = REIMPORTED.replace(b"2030-03-01", b"2030-05-01")
    status, page = upload(later)
    assert status == 422
    assert re.search(
        r"<li>line 2: Ubuhle Gardens: Standpipes installed: note changed with the API by "
        rf"officer@ubuntubay\.example\.org {WHEN}: the file says \(blank\), now "
        r"'Pipes on site'</li>",
        page,
    )
    assert "target_date" not in page.split('id="import-errors"')[1].split("</ul>")[0]
    # The file written with the note as it is now: the date, changed only in the file,
    # is updated as before, and nothing is overwritten.
    status, page = upload(later.replace(b"delayed,\n", b"delayed,Pipes on site\n", 1))
    assert status == 200
    assert "Standpipes installed: target_date '2030-03-01' -> '2030-05-01'" in page
    assert 'id="import-overwritten"' not in page
    assert _stored_milestones(clean_db)[1] == (
        "Standpipes installed",
        dt.date(2030, 5, 1),
        "delayed",
        "Pipes on site",
    )


def test_a_reimport_does_not_bring_back_a_milestone_deleted_on_the_dashboard_unasked(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # Known fault: a milestone deleted on the dashboard came back with the next upload.
    client, csrf = as_role("officer")
    upload = _uploader(client, csrf)
    assert upload(REIMPORTED)[0] == 200
    with Session(clean_db) as session:
        layout = session.exec(select(Milestone).where(Milestone.strand == "layout")).one()
    deleted = client.post(
        f"/staff/settlements/{world.here}/milestones/{layout.id}/delete",
        data={"csrf_token": csrf, "confirm": "yes"},
        follow_redirects=False,
    )
    assert deleted.status_code == 303
    gone = (
        r"line 3: Ubuhle Gardens: Layout agreed: deleted on the dashboard by "
        rf"officer@ubuntubay\.example\.org {WHEN}: the file creates it again"
    )
    for form in ({"check_only": "true"}, {}):
        status, page = upload(REIMPORTED, **form)
        assert status == 422 and re.search(f"<li>{gone}</li>", page)
        assert [title for title, *_ in _stored_milestones(clean_db)] == ["Standpipes installed"]
    status, page = upload(REIMPORTED, overwrite_edits="true")
    assert status == 200
    assert re.search(f'<ul id="import-overwritten"><li>{gone}</li></ul>', page)
    assert "Created:" in page and "<li>Ubuhle Gardens: Layout agreed</li>" in page
    assert [title for title, *_ in _stored_milestones(clean_db)] == [
        "Layout agreed",
        "Standpipes installed",
    ]
    chosen = _import_events(clean_db)[-1]
    assert chosen["overwrite_edits"] is True and chosen["created"] == 1


# What a browser would post for a form on the page, every field as the page holds it.
FORM_DATA = "(selector) => Object.fromEntries(new FormData(document.querySelector(selector)))"


@pytest.mark.browser
@pytest.mark.slow
def test_saving_the_category_keeps_the_phase_and_note_as_imported(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    # The phase and a milestone's note were single-line inputs, which drop line breaks:
    # changing only the category rewrote "Phase 2: roads.\nPhase 3: toilets." as one line,
    # and residents read the delayed step's reason as "Pipes stolen.Contractor back in May."
    with session_scope(clean_db) as session:
        import_csv(
            session=session,
            kind="settlements",
            data="name,aliases,ward,municipality,category,category_note,current_phase\n"
            'Ubuhle Gardens,,14,Test Municipality,B1,,"Phase 2: roads.\nPhase 3: toilets."\n',
        )
        import_csv(
            session=session,
            kind="milestones",
            data="settlement,strand,title,target_date,status,note\n"
            "Ubuhle Gardens,services,Taps,2030-01-01,delayed,"
            '"Pipes stolen.\nContractor back in May."\n',
        )
    client, _ = as_role("officer")
    html_page = client.get(f"/staff/settlements/{world.here}").text
    with chromium() as browser:
        page = browser.new_page()
        page.set_content(html_page)
        settlement = page.evaluate(FORM_DATA, f'form[action="/staff/settlements/{world.here}"]')
        milestone = page.evaluate(FORM_DATA, 'form[aria-label="Milestone Taps"]')
    # The officer changes only the category, and only the milestone's status.
    client.post(f"/staff/settlements/{world.here}", data={**settlement, "category": "B2"})
    milestones = f"/staff/settlements/{world.here}/milestones"
    client.post(milestones, data={**milestone, "status": "in_progress"})
    with Session(clean_db) as session:
        saved = session.get(Settlement, world.here)
        taps = session.exec(select(Milestone)).one()
        assert saved is not None and (saved.category, taps.status) == ("B2", "in_progress")
        assert (saved.current_phase, taps.note) == (
            "Phase 2: roads.\nPhase 3: toilets.",
            "Pipes stolen.\nContractor back in May.",
        )


def form_values(page: str, start: str) -> dict[str, str]:
    """Return what a browser posts from the form whose opening tag has `start`, as shown."""
    form = page[page.index(start) :]
    form = form[: form.index("</form>")]
    values = {
        name: html.unescape(value)
        for name, value in re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', form)
    }
    for name, options in re.findall(
        r'<select[^>]*name="([a-z_]+)"[^>]*>(.*?)</select>', form, re.S
    ):
        found = re.findall(r'<option( value="[^"]*")?( selected)?>([^<]*)</option>', options)
        value, _, text = next((o for o in found if o[1]), found[0])
        values[name] = html.unescape(value[len(' value="') : -1] if value else text)
    for name, text in re.findall(
        r'<textarea[^>]*name="([a-z_]+)"[^>]*>(.*?)</textarea>', form, re.S
    ):
        values[name] = html.unescape(text)
    return values


def test_two_officers_changing_one_milestone_keep_both_changes_and_never_undo_each_other(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        place = session.get(Settlement, world.here)
        assert place is not None
        make_milestone(session, place, title="Taps", target_date=dt.date(2030, 1, 1))
    url = f"/staff/settlements/{world.here}"
    first, _ = as_role("admin")
    second, _ = as_role("officer")
    stale = form_values(first.get(url).text, 'aria-label="Milestone Taps"')
    fresh = form_values(second.get(url).text, 'aria-label="Milestone Taps"')
    delayed = {**fresh, "status": "delayed", "note": "Pipes stolen."}
    assert second.post(url + "/milestones", data=delayed, follow_redirects=False).status_code == 303
    # The first officer, on the page opened before that, changes only the target date.
    moved = first.post(
        url + "/milestones", data={**stale, "target_date": "2030-03-01"}, follow_redirects=False
    )
    assert moved.status_code == 303
    # What they change that the other changed too is refused, naming it, not overwritten.
    refused = first.post(url + "/milestones", data={**stale, "status": "done"})
    assert refused.status_code == 409
    assert "milestone “Taps” changed since you opened it (status is now delayed)" in (
        html.unescape(refused.text)
    )
    assert "open it in a new tab to see it as it is now" in refused.text
    with Session(clean_db) as session:
        taps = session.exec(select(Milestone)).one()
    assert (taps.status, taps.note, taps.target_date) == (
        "delayed",
        "Pipes stolen.",
        dt.date(2030, 3, 1),
    )
    # The same change made by both is no clash.
    again = {**stale, "status": "delayed", "note": "Pipes stolen."}
    assert first.post(url + "/milestones", data=again, follow_redirects=False).status_code == 303


def test_two_officers_changing_one_meeting_keep_both_changes_and_never_undo_each_other(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    first, csrf = as_role("admin")
    second, _ = as_role("officer")
    made = first.post("/staff/meetings", data=block_committee(csrf, world), follow_redirects=False)
    url = made.headers["location"].split("?")[0]
    start = f'<form method="post" action="{url}"'
    stale = form_values(first.get(url).text, start)
    fresh = form_values(second.get(url).text, start)
    assert second.post(url, data={**fresh, "venue": "Church"}, follow_redirects=False).status_code
    # The first officer, on the page opened before that, renames it: the venue stays.
    renamed = first.post(
        url, data={**stale, "title": "Block committee AGM"}, follow_redirects=False
    )
    assert renamed.status_code == 303
    refused = first.post(url, data={**stale, "venue": "School"})
    assert refused.status_code == 409
    assert "changed since you opened it (venue is now “Church”)" in html.unescape(refused.text)
    moved = first.post(url, data={**stale, "venue": "School", "starts_at": "2031-05-05T18:00"})
    assert moved.status_code == 409  # nothing of a refused change is saved
    with Session(clean_db) as session:
        meeting = session.exec(select(Meeting)).one()
    assert (meeting.title, meeting.venue) == ("Block committee AGM", "Church")
    assert meeting.starts_at == dt.datetime(2031, 5, 4, 16, 0, tzinfo=dt.UTC)


def test_two_officers_changing_one_settlement_keep_both_changes_and_never_undo_each_other(
    as_role: Login, world: World, clean_db: Engine
) -> None:
    url = f"/staff/settlements/{world.here}"
    start = f'<form method="post" action="{url}"'
    first, _ = as_role("admin")
    second, _ = as_role("officer")
    stale = form_values(first.get(url).text, start)
    fresh = form_values(second.get(url).text, start)
    assert second.post(url, data={**fresh, "category": "B2"}, follow_redirects=False).status_code
    phase = {**stale, "current_phase": "Roads first."}
    assert first.post(url, data=phase, follow_redirects=False).status_code == 303
    refused = first.post(url, data={**stale, "category": "C", "category_note": "Relocation."})
    assert refused.status_code == 409
    assert "settlement Ubuhle Gardens changed since you opened it (category is now B2)" in (
        refused.text
    )
    with Session(clean_db) as session:
        saved = session.get(Settlement, world.here)
        assert saved is not None
        assert (saved.category, saved.category_note, saved.current_phase) == (
            "B2",
            "",
            "Roads first.",
        )
