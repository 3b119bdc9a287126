"""The CSV importer: all rows or none, every bad row reported, re-import updates in place."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import Broadcast
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.settlements import edit
from bot.domain.settlements import service as settlements
from bot.domain.settlements.importer import (
    COLUMNS,
    EditsInTheWay,
    ImportRejected,
    ImportResult,
    Updated,
    example,
    import_csv,
    iter_lines,
    meeting_key,
)
from bot.domain.settlements.models import (
    NOTE_LENGTH,
    PHASE_LENGTH,
    VENUE_LENGTH,
    Meeting,
    Milestone,
    Settlement,
)
from bot.i18n import TIMEZONE
from tests.domain.broadcasts.factories import HALL, make_member, make_moved_announcement
from tests.factories import make_resident, make_settlement

SETTLEMENTS = """name,aliases,ward,municipality,category,category_note,current_phase
Ubuhle Gardens,Ubuhle;eBuhle,14,Test Bay,B1,Toilets first.,Services
Masakhane Heights,,14,Test Bay,a,Budget approved.,Township establishment
Sunrise Camp,,15,Test Bay,,Not yet assessed.,Assessment
"""


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def _errors(session: Session, kind: str, data: str | bytes) -> list[str]:
    with pytest.raises(ImportRejected) as caught:
        import_csv(session=session, kind=kind, data=data)  # type: ignore[arg-type]
    return [str(e) for e in caught.value.errors]


def test_good_settlements_file_creates_every_row(session: Session) -> None:
    result = import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    assert result.created == ["Ubuhle Gardens", "Masakhane Heights", "Sunrise Camp"]
    ubuhle = session.exec(select(Settlement).where(Settlement.name == "Ubuhle Gardens")).one()
    assert ubuhle.aliases == ["Ubuhle", "eBuhle"]
    assert ubuhle.category == "B1"
    masakhane = session.exec(select(Settlement).where(Settlement.name_key == "masakhane heights"))
    assert masakhane.one().category == "A"  # lower case accepted, stored canonical
    sunrise = session.exec(select(Settlement).where(Settlement.name == "Sunrise Camp")).one()
    assert sunrise.category is None


def test_the_examples_import_as_they_are_with_no_settlement_yet_and_with_one(
    session: Session,
) -> None:
    # With none imported yet, the milestones and meetings examples are the settlements
    # example's; once there is one, theirs (its ward's forum too).
    now = utcnow()
    files = {kind: example(kind, settlement=None, now=now) for kind in COLUMNS}
    assert list(files) == ["settlements", "milestones", "meetings"]
    created = {
        kind: import_csv(session=session, kind=kind, data=data, now=now).created  # type: ignore[arg-type]
        for kind, data in files.items()
    }
    assert created["settlements"] == ["Example Park"]
    assert len(created["milestones"]) == 2 and len(created["meetings"]) == 3
    for kind, data in files.items():
        assert data.splitlines()[0] == ",".join(COLUMNS[kind])
    place = make_settlement(session, "Ubuhle Gardens", ward="14", municipality="Test Bay")
    for kind in COLUMNS:
        data = example(kind, settlement=place, now=now)
        result = import_csv(session=session, kind=kind, data=data, now=now, dry_run=True)  # type: ignore[arg-type]
        rows = result.created + result.updated + result.unchanged  # the city forum: unchanged
        assert len(rows) == {"settlements": 1, "milestones": 2, "meetings": 3}[kind]
        if kind == "milestones":
            assert all(name.startswith("Ubuhle Gardens: ") for name in result.created)
    meetings = example("meetings", settlement=place, now=now).splitlines()
    assert meetings[1].startswith("Ubuhle Gardens,,neighbourhood,Block committee (example),")
    assert meetings[2].startswith(",14,ward,Ward 14 forum (example),")


def test_reimport_updates_by_natural_key_and_never_duplicates(session: Session) -> None:
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    changed = SETTLEMENTS.replace(
        "Ubuhle Gardens,Ubuhle;eBuhle,14,Test Bay,B1", "  ubuhle   GARDENS ,Ubuhle,14,test bay,A"
    )
    result = import_csv(session=session, kind="settlements", data=changed)
    assert result.created == []
    assert result.updated == ["ubuhle GARDENS"]
    assert sorted(result.unchanged) == ["Masakhane Heights", "Sunrise Camp"]
    assert _count(session, Settlement) == 3
    ubuhle = session.exec(select(Settlement).where(Settlement.name_key == "ubuhle gardens")).one()
    assert (ubuhle.category, ubuhle.aliases) == ("A", ["Ubuhle"])


HEADER = SETTLEMENTS.splitlines()[0] + "\n"
# What residents' matching cannot tell apart, after case, accents, punctuation and spaces.
WHY = (
    ": the bot matches names without case, accents, punctuation, spaces or words like "
    '"informal settlement", and reads Ext as Extension; give one a name residents can tell apart'
)


def test_same_name_in_another_municipality_is_another_settlement(session: Session) -> None:
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    other = SETTLEMENTS.replace("Test Bay", "Other Town").replace(",1", ",OT 1")
    assert len(import_csv(session=session, kind="settlements", data=other).created) == 3
    alike = HEADER + "Masakhane-Heights,,FT 14,Far Town,,,\n"  # alike, in a third one
    assert import_csv(session=session, kind="settlements", data=alike).created
    assert _count(session, Settlement) == 7


def test_names_residents_cannot_tell_apart_are_not_two_settlements(session: Session) -> None:
    # The file's key folds case and spaces only: "Mandela Park" and "Mandéla Park" were two
    # settlements, and a resident typing either was asked to choose between two lines that
    # read the same. Every such row is listed, naming what it reads as.
    data = HEADER + (
        "Mandela Park,,14,Test Bay,,,\n"
        "Mandéla Park,,14,Test Bay,,,\n"
        "Zola Ext 2,,14,Test Bay,,,\n"
        "Zola Extension-2,,14,Test Bay,,,\n"
        "Iota,Kappa,14,Test Bay,,,\n"
        "KAPPA,,14,Test Bay,,,\n"
        "Lambda,,14,Test Bay,,,\n"
    )
    assert _errors(session, "settlements", data) == [
        f"line 2: name Mandela Park reads the same to residents as Mandéla Park (line 3){WHY}",
        f"line 3: name Mandéla Park reads the same to residents as Mandela Park (line 2){WHY}",
        f"line 4: name Zola Ext 2 reads the same to residents as Zola Extension-2 (line 5){WHY}",
        f"line 5: name Zola Extension-2 reads the same to residents as Zola Ext 2 (line 4){WHY}",
        f"line 6: alias Kappa reads the same to residents as KAPPA (line 7){WHY}",
        f"line 7: name KAPPA reads the same to residents as Iota's alias Kappa (line 6){WHY}",
    ]
    assert _count(session, Settlement) == 0
    # Against those already imported in the same municipality.
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    data = HEADER + ("Masakhane-Heights,,14,Test Bay,,,\nEbuhle,,14,Test Bay,,,\n")
    assert _errors(session, "settlements", data) == [
        "line 2: name Masakhane-Heights reads the same to residents as Masakhane Heights "
        f"(in Test Bay){WHY}",
        "line 3: name Ebuhle reads the same to residents as Ubuhle Gardens's alias eBuhle "
        f"(in Test Bay){WHY}",
    ]
    # An alias may move from one settlement to another in one file.
    moved = SETTLEMENTS.replace("Ubuhle;eBuhle", "Ubuhle").replace(
        "Masakhane Heights,", "Masakhane Heights,eBuhle"
    )
    assert import_csv(session=session, kind="settlements", data=moved).updated == [
        "Ubuhle Gardens",
        "Masakhane Heights",
    ]


def test_names_already_alike_hold_up_no_import(session: Session) -> None:
    # Stored before names were compared as residents' matching reads them.
    for name in ("Mandela Park", "Mandéla Park"):
        make_settlement(session, name, municipality="Test Bay")
    alike = HEADER + "Mandela Park,,14,Test Bay,,,\nMandéla Park,,14,Test Bay,,,\n"
    assert import_csv(session=session, kind="settlements", data=alike).unchanged == [
        "Mandela Park",
        "Mandéla Park",
    ]
    assert len(import_csv(session=session, kind="settlements", data=SETTLEMENTS).created) == 3
    again = import_csv(session=session, kind="settlements", data=SETTLEMENTS + alike[len(HEADER) :])
    assert (again.created, again.updated, len(again.unchanged)) == ([], [], 5)


def test_bad_settlement_rows_are_all_listed_and_nothing_is_written(session: Session) -> None:
    data = """name,aliases,ward,municipality,category,category_note,current_phase
Ubuhle Gardens,,14,Test Bay,B1,,
,,14,Test Bay,A,,
Kwanele,,14,Test Bay,D,,
Ubuhle  gardens,,14,Test Bay,B2,,
Nowhere,,14,,C,,
"""
    errors = _errors(session, "settlements", data)
    assert errors == [
        "line 3: name is missing",
        "line 4: category D is not one of A, B1, B2, C",
        "line 5: duplicates line 2 (Ubuhle  gardens in Test Bay)",
        "line 6: municipality is missing",
    ]
    assert _count(session, Settlement) == 0


def test_header_problems_refuse_the_whole_file(session: Session) -> None:
    errors = _errors(session, "settlements", "name,ward,municipality,categry\nA,1,B,A\n")
    assert errors[0] == "line 1: missing column(s): aliases, category, category_note, current_phase"
    assert errors[1] == "line 1: unknown column(s): categry"


def test_blank_columns_a_spreadsheet_adds_are_ignored_unless_they_hold_values(
    session: Session,
) -> None:
    # Excel and LibreOffice export "...,current_phase,," with blank cells: it was refused
    # as "unknown column(s): , ".
    lines = SETTLEMENTS.splitlines()
    padded = "\n".join(line + ",," for line in lines) + "\n"
    assert len(import_csv(session=session, kind="settlements", data=padded).created) == 3
    lines[2] += ",,stray"
    stray = "\n".join([lines[0] + ",,", lines[1] + ",,", lines[2], lines[3] + ",,"]) + "\n"
    assert _errors(session, "settlements", stray) == [
        "line 1: column 9 has no name (line 3 has a value in it)"
    ]


def test_a_semicolon_separated_file_is_named_as_such(session: Session) -> None:
    # Excel in a South African locale saves "CSV" with semicolons.
    assert _errors(session, "settlements", SETTLEMENTS.replace(",", ";")) == [
        "line 1: the file is separated by semicolons (;), not commas: save it as "
        "comma-separated CSV (CSV UTF-8, comma delimited)"
    ]


def test_a_windows_1252_file_gives_its_line_and_how_to_save_it(session: Session) -> None:
    # Excel's "CSV (Comma delimited)" writes ’ as byte 0x92: it was refused as "byte 101
    # is not valid UTF-8", with no line and no way out.
    data = SETTLEMENTS.replace("Toilets first.", "Residents’ committee agreed.").encode("cp1252")
    assert _errors(session, "settlements", data) == [
        "line 2: is not UTF-8 text (byte 0x92 is not valid UTF-8, as in a file Excel saved "
        "as CSV (Comma delimited) with ’ or é in it): save it as CSV UTF-8 (Comma delimited)"
    ]


def test_empty_non_utf8_and_ragged_files_are_refused(session: Session) -> None:
    assert _errors(session, "settlements", "") == ["the file is empty: a header row is needed"]
    with pytest.raises(ImportRejected) as caught:
        import_csv(session=session, kind="settlements", data="name\n\xe9".encode("latin-1"))
    assert "not UTF-8" in str(caught.value.errors[0])
    ragged = SETTLEMENTS + "Extra,,1,Test Bay,A,,,surplus\n"
    assert _errors(session, "settlements", ragged) == ["line 5: has 8 fields; the header has 7"]


def test_unreadable_rows_and_bad_values_are_listed_together_in_line_order(
    session: Session,
) -> None:
    # A ragged or unparseable row once stopped the check: the bad values further down
    # were only reported on the next try.
    huge = "x" * 140_000  # over the csv module's field size limit
    data = f"""name,aliases,ward,municipality,category,category_note,current_phase
Kwanele,,14,Test Bay,D,,
Extra,,1,Test Bay,A,,,surplus
Big,,1,Test Bay,A,{huge},
,,14,Test Bay,A,,
Nul\x00Place,,14,Test Bay,A,,
Fine Place,,14,Test Bay,C,,
"""
    errors = _errors(session, "settlements", data)
    assert errors == [
        "line 2: category D is not one of A, B1, B2, C",
        "line 3: has 8 fields; the header has 7",
        "line 4: is not valid CSV (field larger than field limit (131072))",
        "line 5: name is missing",
        "line 6: contains a NUL character (U+0000)",  # PostgreSQL refused it: a 500
    ]
    assert _count(session, Settlement) == 0


def test_control_characters_are_refused_but_tabs_and_line_breaks_are_kept(
    session: Session,
) -> None:
    # "Ctl\x07x" was stored: a name no one can see whole, nor type.
    kept = 'Tabbed\tPlace,,14,Test Bay,,"First line.\r\nSecond\tline.",\n'
    data = HEADER + "Ctl\x07x,,14,Test Bay,,,\nEscape,,14,Test Bay,,Note\x1b[0m,\n" + kept
    assert _errors(session, "settlements", data) == [
        "line 2: name contains a control character (U+0007), which no one can see: take it "
        "out (tabs and line breaks may stay)",
        "line 3: category_note contains a control character (U+001B), which no one can see: "
        "take it out (tabs and line breaks may stay)",
    ]
    import_csv(session=session, kind="settlements", data=HEADER + kept)
    tabbed = session.exec(select(Settlement)).one()
    # The line break as LF, as the dashboard and the API store it: a CR went to residents.
    assert (tabbed.name, tabbed.category_note) == ("Tabbed Place", "First line.\nSecond\tline.")
    milestone = (
        "settlement,strand,title,target_date,status,note\nTabbed Place,services,T\x0bx,,planned,\n"
    )
    assert _errors(session, "milestones", milestone) == [
        "line 2: title contains a control character (U+000B), which no one can see: take it "
        "out (tabs and line breaks may stay)"
    ]
    # DEL and the C1 controls (NEL, CSI...) as well.
    for control in ("\x7f", "\x85", "\x9b"):
        bad = HEADER + f"Odd{control}Name,,14,Test Bay,,,\n"
        assert _errors(session, "settlements", bad) == [
            f"line 2: name contains a control character (U+{ord(control):04X}), which no one "
            "can see: take it out (tabs and line breaks may stay)"
        ]


def test_bom_and_emoji_survive(session: Session) -> None:
    data = "\ufeff" + SETTLEMENTS.replace("Toilets first.", "Toilets first 🚽.")
    import_csv(session=session, kind="settlements", data=data.encode("utf-8"))
    ubuhle = session.exec(select(Settlement).where(Settlement.name == "Ubuhle Gardens")).one()
    assert ubuhle.category_note == "Toilets first 🚽."


MILESTONES = """settlement,strand,title,target_date,status,note
Ubuhle Gardens,services,Standpipes installed,2027-03-01,in_progress,
ubuhle gardens,layout,Layout agreed,,planned,Date to be set.
Masakhane Heights,housing,First houses,2027-09-30,delayed,Contractor stopped.
"""


def test_a_milestone_note_an_unsent_broadcast_quotes_is_refused_when_its_sms_would_pass_3(
    session: Session,
) -> None:
    # The dashboard and the API refuse such a change (1e33cc1); a re-imported file wrote it,
    # and the broadcast went out as a 4-segment SMS, or longer.
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    import_csv(session=session, kind="milestones", data=MILESTONES)
    first = session.exec(select(Milestone).where(Milestone.strand == "housing")).one()
    scheduled = Broadcast(
        title="First houses delayed",
        audience={"settlement_ids": [first.settlement_id]},
        template={"name": "milestone_delayed", "milestone_id": first.id},
        send_at=utcnow() + dt.timedelta(days=2),
    )
    session.add(scheduled)
    session.flush()
    long_note = "The contractor stopped work and a new one is being appointed now. " * 5
    with pytest.raises(ImportRejected) as refused:
        import_csv(
            session=session,
            kind="milestones",
            data=MILESTONES.replace("Contractor stopped.", long_note.strip()).replace(
                "2027-03-01,in_progress", "2027-04-01,done"
            ),
        )
    [error] = refused.value.errors
    assert error.line == 4 and error.reason.startswith(
        f"note: broadcast {scheduled.id} quotes this milestone and is not sent yet: the "
    )
    assert "(or cancel the broadcast first)" in error.reason
    session.expire_all()  # nothing was written, the other rows' changes neither
    assert session.get(Milestone, first.id).note == "Contractor stopped."  # type: ignore[union-attr]
    standpipes = session.exec(select(Milestone).where(Milestone.strand == "services")).one()
    assert standpipes.status == "in_progress"
    fits = MILESTONES.replace("Contractor stopped.", long_note[:120].strip())
    assert import_csv(session=session, kind="milestones", data=fits).updated == [
        "Masakhane Heights: First houses"
    ]


def test_milestones_import_and_reimport(session: Session) -> None:
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    result = import_csv(session=session, kind="milestones", data=MILESTONES)
    assert len(result.created) == 3
    layout = session.exec(select(Milestone).where(Milestone.strand == "layout")).one()
    assert layout.target_date is None
    again = import_csv(
        session=session,
        kind="milestones",
        data=MILESTONES.replace("2027-03-01,in_progress", "2027-04-01,done"),
    )
    assert again.updated == ["Ubuhle Gardens: Standpipes installed"]
    assert _count(session, Milestone) == 3
    standpipes = session.exec(select(Milestone).where(Milestone.strand == "services")).one()
    assert (standpipes.status, standpipes.target_date) == ("done", dt.date(2027, 4, 1))


def test_bad_milestone_rows(session: Session) -> None:
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    data = """settlement,strand,title,target_date,status,note
Atlantis,services,Pipes,2027-01-01,planned,
Ubuhle Gardens,roads,Pipes,2027-01-01,planned,
Ubuhle Gardens,services,Drains,01/02/2027,planned,
Ubuhle Gardens,services,Lights,2027-02-30,finished,
Ubuhle Gardens,services,Toilets,,planned,
Ubuhle Gardens,services,TOILETS,,done,
"""
    assert _errors(session, "milestones", data) == [
        "line 2: no such settlement: Atlantis (import settlements first)",
        "line 3: strand roads is not one of planning, services, tenure, layout, housing",
        "line 4: target_date 01/02/2027 is not a date (YYYY-MM-DD)",
        "line 5: target_date 2027-02-30 is not a date (YYYY-MM-DD)",
        "line 5: status finished is not one of planned, in_progress, done, delayed",
        "line 7: duplicates line 6 (Ubuhle Gardens, TOILETS)",
    ]
    assert _count(session, Milestone) == 0


def test_a_milestone_falls_due_between_2000_and_2099(session: Session) -> None:
    # A placeholder (0001-01-01, 9999-12-31) was imported as a target.
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    data = """settlement,strand,title,target_date,status,note
Ubuhle Gardens,services,Pipes,0001-01-01,planned,
Ubuhle Gardens,services,Drains,2099-12-31,planned,
Ubuhle Gardens,services,Lights,9999-12-31,planned,
Ubuhle Gardens,services,Toilets,1999-12-31,done,
"""
    assert _errors(session, "milestones", data) == [
        "line 2: target date 0001-01-01 is not between 2000 and 2099",
        "line 4: target date 9999-12-31 is not between 2000 and 2099",
        "line 5: target date 1999-12-31 is not between 2000 and 2099",
    ]
    assert _count(session, Milestone) == 0
    bounds = data.replace("0001-01-01", "2000-01-01").split("\n")
    result = import_csv(session=session, kind="milestones", data="\n".join(bounds[:3]))
    assert result.created == ["Ubuhle Gardens: Pipes", "Ubuhle Gardens: Drains"]


MEETINGS = """settlement,ward,level,title,starts_at,venue
Ubuhle Gardens,,neighbourhood,Toilet placement,2031-01-12T18:00:00+02:00,Creche
,14,ward,Ward 14 forum,2031-01-20T18:00:00+02:00,Hall
,,city,City forum,2031-02-01T08:00:00Z,Civic centre
"""


def test_meetings_import_stores_utc_and_inherits_ward(session: Session) -> None:
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    result = import_csv(session=session, kind="meetings", data=MEETINGS)
    assert result.created == ["Toilet placement", "Ward 14 forum", "City forum"]
    placement = session.exec(select(Meeting).where(Meeting.title == "Toilet placement")).one()
    assert placement.starts_at == dt.datetime(2031, 1, 12, 16, 0, tzinfo=dt.UTC)
    assert placement.ward == "14"
    again = import_csv(
        session=session, kind="meetings", data=MEETINGS.replace("Creche", "Church hall")
    )
    assert again.updated == ["Toilet placement"]
    assert _count(session, Meeting) == 3


def test_an_import_changing_a_meeting_withdraws_its_queued_reminders(
    session: Session, settings: Settings
) -> None:
    # The import updated the meeting and left "Where: Creche" in the reminders still queued,
    # where the dashboard and the API withdraw them and queue the round again.
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    ubuhle = session.exec(select(Settlement).where(Settlement.name == "Ubuhle Gardens")).one()
    resident = make_member(
        session, settlement_id=ubuhle.id, now=dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    )
    import_csv(session=session, kind="meetings", data=MEETINGS)
    three_days_before = dt.datetime(2031, 1, 9, 5, 0, tzinfo=dt.UTC)  # 07:00 local
    assert broadcasts.send_reminders(session=session, settings=settings, now=three_days_before) == 1
    import_csv(session=session, kind="meetings", data=MEETINGS.replace("Creche", "Church hall"))
    withdrawn = session.exec(select(Outbox)).one()
    assert (withdrawn.status, withdrawn.error_message) == ("cancelled", "the meeting changed place")
    later = three_days_before + dt.timedelta(minutes=10)
    assert broadcasts.send_reminders(session=session, settings=settings, now=later) == 1
    again = session.exec(select(Outbox).where(Outbox.status == "pending")).one()
    assert again.resident_id == resident.id and "Church hall" in (again.body or "")


AUDITED_MILESTONES = """settlement,strand,title,target_date,status,note
Ubuhle Gardens,services,Standpipes installed,2030-03-01,delayed,Waiting for the contractor
Ubuhle Gardens,layout,Layout agreed,,planned,
"""
FORUM = """settlement,ward,level,title,starts_at,venue
,14,ward,Ward 14 upgrading forum,2031-01-20T18:00:00+02:00,Ward 14 hall
"""
NOW = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)


def _dashboard_changes(session: Session) -> None:
    """Import the audit's files, then change on the dashboard what no key holds: the
    milestone's status, target and note, the forum's venue."""
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    import_csv(session=session, kind="milestones", data=AUDITED_MILESTONES)
    import_csv(session=session, kind="meetings", data=FORUM, now=NOW)
    standpipes = session.exec(select(Milestone).where(Milestone.strand == "services")).one()
    standpipes.status, standpipes.target_date = "done", dt.date(2030, 2, 14)
    standpipes.note = "Every lane has a standpipe now, two more than the plan asked for, " * 2
    forum = session.exec(select(Meeting)).one()
    forum.venue = "Ward 14 NEW hall (old hall flooded)"
    session.flush()


def test_a_reimport_says_what_it_changed_field_by_field(session: Session) -> None:
    # The audit: a milestone set done on the dashboard went back to delayed, a forum's
    # venue changed there went back, and the import said only "updated: <name>". Changes
    # made since the last import are overwritten only by choice (`overwrite_edits`).
    _dashboard_changes(session)
    milestones = import_csv(
        session=session, kind="milestones", data=AUDITED_MILESTONES, overwrite_edits=True
    )
    assert [(e.line, e.reason.split(" changed ")[0]) for e in milestones.overwritten] == [
        (2, "Ubuhle Gardens: Standpipes installed: target_date"),
        (2, "Ubuhle Gardens: Standpipes installed: status"),
        (2, "Ubuhle Gardens: Standpipes installed: note"),
    ]
    assert milestones.updated == ["Ubuhle Gardens: Standpipes installed"]  # kept as it was
    assert milestones.changes == [
        Updated(
            "Ubuhle Gardens: Standpipes installed",
            (
                "target_date '2030-02-14' -> '2030-03-01'",
                "status 'done' -> 'delayed'",
                "note 'Every lane has a standpipe now, two more than the plan aske…' "
                "-> 'Waiting for the contractor'",
            ),
        )
    ]
    assert next(iter_lines(milestones)) == (
        "updated: Ubuhle Gardens: Standpipes installed: target_date '2030-02-14' -> "
        "'2030-03-01'; status 'done' -> 'delayed'; note 'Every lane has a standpipe now, two "
        "more than the plan aske…' -> 'Waiting for the contractor'"
    )
    forum = import_csv(session=session, kind="meetings", data=FORUM, now=NOW, overwrite_edits=True)
    assert [str(updated) for updated in forum.changes] == [
        "Ward 14 upgrading forum: venue 'Ward 14 NEW hall (old hall flooded)' -> 'Ward 14 hall'"
    ]
    spelt = import_csv(
        session=session,
        kind="settlements",
        data=SETTLEMENTS.replace(",,15,Test Bay,,Not yet assessed.", ",Sunrise,15,Test Bay,C,"),
    )
    assert [str(updated) for updated in spelt.changes] == [
        "Sunrise Camp: aliases (blank) -> 'Sunrise'; category (blank) -> 'C'; "
        "category_note 'Not yet assessed.' -> (blank)"
    ]


SINCE = r"since the import of \d{4}-\d\d-\d\d \d\d:\d\d"  # no audit event says by whom


def test_a_reimport_overwrites_a_settlement_or_meeting_changed_since_only_by_choice(
    session: Session,
) -> None:
    # Settlements and meetings as milestones: the category set on the dashboard and a
    # forum's venue changed there went back to the file's with the next import.
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    import_csv(session=session, kind="meetings", data=FORUM, now=NOW)
    ubuhle = session.exec(select(Settlement).where(Settlement.name == "Ubuhle Gardens")).one()
    edit.update_settlement(
        session=session,
        settlement=ubuhle,
        category="B2",
        category_note=ubuhle.category_note,
        current_phase=ubuhle.current_phase,
    )
    forum = session.exec(select(Meeting)).one()
    _change(session, forum.title, venue="Ward 14 NEW hall")
    with pytest.raises(EditsInTheWay) as settlements_refused:
        import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    with pytest.raises(EditsInTheWay) as meetings_refused:
        import_csv(session=session, kind="meetings", data=FORUM, now=NOW)
    refused = settlements_refused.value.errors + meetings_refused.value.errors
    expected = [
        rf"line 2: Ubuhle Gardens: category changed {SINCE}: the file says 'B1', now 'B2'",
        rf"line 2: Ward 14 upgrading forum: venue changed {SINCE}: the file says "
        r"'Ward 14 hall', now 'Ward 14 NEW hall'",
    ]
    assert all(re.fullmatch(p, str(e)) for p, e in zip(expected, refused, strict=True))
    session.refresh(ubuhle)
    assert (ubuhle.category, forum.venue) == ("B2", "Ward 14 NEW hall")  # nothing written
    # A file that says what is stored now imports, and its other changes are made.
    now_file = SETTLEMENTS.replace(",B1,Toilets first.", ",B2,Toilets and taps first.")
    result = import_csv(session=session, kind="settlements", data=now_file)
    assert [str(c) for c in result.changes] == [
        "Ubuhle Gardens: category_note 'Toilets first.' -> 'Toilets and taps first.'"
    ]
    assert result.overwritten == []


def test_a_milestone_deleted_since_is_told_from_one_made_later_with_its_id(
    session: Session,
) -> None:
    # SQLite may give a deleted row's id (the highest) to the next one: the record of the
    # deleted milestone must not read the new one as the milestone it was.
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    import_csv(session=session, kind="milestones", data=AUDITED_MILESTONES)
    layout = session.exec(select(Milestone).where(Milestone.strand == "layout")).one()
    ubuhle = session.get(Settlement, layout.settlement_id)
    assert ubuhle is not None
    edit.delete_milestone(session=session, milestone=layout)
    edit.save_milestone(
        session=session,
        settlement=ubuhle,
        milestone=None,
        strand="housing",
        title="Houses built",
        target_date=None,
        status="planned",
        note="",
    )
    with pytest.raises(EditsInTheWay) as caught:
        import_csv(session=session, kind="milestones", data=AUDITED_MILESTONES)
    [deleted] = caught.value.errors
    assert re.fullmatch(
        rf"line 3: Ubuhle Gardens: Layout agreed: deleted {SINCE}: the file creates it again",
        str(deleted),
    )
    again = import_csv(
        session=session, kind="milestones", data=AUDITED_MILESTONES, overwrite_edits=True
    )
    assert (again.created, again.unchanged) == (
        ["Ubuhle Gardens: Layout agreed"],
        ["Ubuhle Gardens: Standpipes installed"],
    )
    assert again.overwritten == caught.value.errors


def test_a_meeting_time_is_shown_in_johannesburg_time_as_the_dashboard_shows_it() -> None:
    from bot.domain.settlements.importer import _shown

    assert _shown(dt.datetime(2031, 1, 20, 16, 0, tzinfo=dt.UTC)) == "'2031-01-20 18:00'"
    assert _shown(dt.datetime(2031, 1, 20, 16, 0, 30, tzinfo=dt.UTC)) == "'2031-01-20 18:00:30'"


def test_a_check_only_import_reports_the_real_one_and_writes_nothing(
    session: Session, settings: Settings
) -> None:
    _dashboard_changes(session)
    ubuhle = session.exec(select(Settlement).where(Settlement.name == "Ubuhle Gardens")).one()
    make_member(session, settlement_id=ubuhle.id, now=NOW)
    three_days_before = dt.datetime(2031, 1, 17, 5, 0, tzinfo=dt.UTC)
    assert broadcasts.send_reminders(session=session, settings=settings, now=three_days_before) == 1
    typed = make_resident(session, "+27821110199", consented_at=utcnow(), conversation={})
    assert typed.id is not None
    settlements.record_unmatched_name(session=session, text="Sinethemba", resident_id=typed.id)
    session.commit()

    def stored() -> list[object]:
        session.expire_all()
        return [
            session.exec(select(Milestone.title, Milestone.status, Milestone.note)).all(),
            session.exec(select(Meeting.venue, Meeting.updated_at)).all(),
            session.exec(select(Settlement.name, Settlement.aliases)).all(),
            session.exec(select(Outbox.status, Outbox.error_message, Outbox.body)).all(),
            session.exec(select(Resident.settlement_id)).all(),
        ]

    before = stored()
    files = [
        ("milestones", AUDITED_MILESTONES),
        ("meetings", FORUM),  # withdraws the queued reminder, for real
        ("settlements", SETTLEMENTS + "Sinethemba,,15,Test Bay,,,\n"),  # links, tells
    ]
    for kind, data in files:
        checked = import_csv(
            session=session,
            kind=kind,  # type: ignore[arg-type]
            data=data,
            now=NOW,
            dry_run=True,
            overwrite_edits=True,
        )
        assert checked.dry_run
        session.commit()
        assert stored() == before, kind
        assert list(iter_lines(checked))[-1] == (
            "checked only: nothing was written; run it again without --check-only to import"
        )
        real = import_csv(session=session, kind=kind, data=data, now=NOW, overwrite_edits=True)  # type: ignore[arg-type]
        assert not real.dry_run
        assert (
            checked.created,
            checked.changes,
            checked.unchanged,
            checked.kept,
            checked.overwritten,
        ) == (real.created, real.changes, real.unchanged, real.kept, real.overwritten)
        assert checked.linked == real.linked
        assert real.changes or real.created
        session.rollback()
    assert checked.linked == 1
    refused = MEETINGS.replace("2031-01-12", "2030-01-12")
    with pytest.raises(ImportRejected) as check:
        import_csv(session=session, kind="meetings", data=refused, now=NOW, dry_run=True)
    with pytest.raises(ImportRejected) as real_refusal:
        import_csv(session=session, kind="meetings", data=refused, now=NOW)
    assert check.value.errors == real_refusal.value.errors
    session.rollback()
    assert stored() == before


def test_bad_meeting_rows(session: Session) -> None:
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    data = """settlement,ward,level,title,starts_at,venue
,,neighbourhood,No place,2031-01-12T18:00:00+02:00,
,,ward,No ward,2031-01-12T18:00:00+02:00,
Ubuhle Gardens,,city,Wrong level,2031-01-12T18:00:00+02:00,
,14,block,Bad level,2031-01-12T18:00:00+02:00,
,14,ward,Naive time,2031-01-12T18:00:00,
,14,ward,Not a time,next tuesday,
Ubuhle Gardens,15,neighbourhood,Wrong ward,2031-01-12T18:00:00+02:00,
,14,ward,Twice,2031-01-12T18:00:00+02:00,
,14,ward,twice,2031-01-12T16:00:00+00:00,
,14,ward,Someday,9999-12-31T23:30:00+00:00,
,14,city,City forum in a ward,2031-01-12T18:00:00+02:00,
"""
    assert _errors(session, "meetings", data) == [
        "line 2: a neighbourhood meeting needs a settlement",
        "line 3: a ward meeting needs a ward",
        "line 4: a city forum belongs to no single settlement: leave it blank",
        "line 5: level block is not one of neighbourhood, ward, city",
        "line 6: starts_at 2031-01-12T18:00:00 has no UTC offset (write e.g. +02:00)",
        "line 7: starts_at next tuesday is not an ISO 8601 date and time",
        "line 8: ward 15 differs from Ubuhle Gardens's ward (14)",
        "line 10: duplicates line 9 (twice)",
        # A placeholder date could not be shown in Johannesburg time: residents' lists broke.
        "line 11: starts_at 9999-12-31T23:30:00+00:00 is not between 2000 and 2099",
        # Kept, it was a second copy of the forum without a ward, shown to everyone.
        "line 12: a city forum belongs to no single ward: leave the ward blank",
    ]
    assert _count(session, Meeting) == 0


def test_a_meeting_that_has_passed_is_refused_unless_it_was_imported_before(
    session: Session,
) -> None:
    # A year typo (last year for this one) made a meeting nobody was reminded of and no
    # resident ever saw, without a word.
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)

    def at(moment: dt.datetime) -> str:
        return moment.astimezone(TIMEZONE).isoformat(timespec="minutes")

    soon = (utcnow() + dt.timedelta(days=30)).replace(second=0, microsecond=0)
    typo, earlier = soon - dt.timedelta(days=365), soon - dt.timedelta(days=400)
    header = "settlement,ward,level,title,starts_at,venue\n"
    data = (
        header
        + f"Ubuhle Gardens,,neighbourhood,Toilet placement,{at(soon)},Creche\n"
        + f",14,ward,Ward 14 forum,{at(typo)},Hall\n"
        + f",,city,City forum,{at(earlier)},Civic centre\n"
    )
    passed = "has passed: a meeting is added or moved only to a time still to come"
    assert _errors(session, "meetings", data) == [
        f"line 3: starts_at {at(typo)} {passed} (is the year right?)",
        f"line 4: starts_at {at(earlier)} {passed} (is the year right?)",
    ]
    assert _count(session, Meeting) == 0
    # Last year's file, imported then, is imported again: its meetings are left as they are.
    forum: dict[str, Any] = {
        "level": "ward",
        "title": "Ward 14 forum",
        "ward": "14",
        "venue": "Hall",
    }
    key = meeting_key("Ward 14 forum", typo, None, "14")
    session.add(Meeting(starts_at=typo, natural_key=key, **forum))
    again = import_csv(
        session=session, kind="meetings", data=data.replace(f"{at(earlier)}", at(soon))
    )
    assert again.created == ["Toilet placement", "City forum"]
    assert again.unchanged == ["Ward 14 forum"]


def test_a_settlement_without_a_ward_does_not_take_one_from_a_meeting(session: Session) -> None:
    # Its scoped officer would otherwise run (and keep changing) another ward's forum.
    import_csv(session=session, kind="settlements", data=SETTLEMENTS.replace(",15,Test", ",,Test"))
    data = """settlement,ward,level,title,starts_at,venue
Sunrise Camp,14,ward,Borrowed forum,2031-01-12T18:00:00+02:00,
Sunrise Camp,,neighbourhood,Own meeting,2031-01-12T18:00:00+02:00,
"""
    assert _errors(session, "meetings", data) == [
        "line 2: Sunrise Camp has no ward: leave the ward blank"
    ]


WARD_5 = """name,aliases,ward,municipality,category,category_note,current_phase
Ubuhle,,Ward 5,Test Bay,,,
Themba,,Ward 5,Test Bay,,,
"""


def test_a_ward_has_one_spelling_whatever_the_case_and_spaces_typed(session: Session) -> None:
    # Both rows were imported as typed, and Themba's residents (ward "Ward 5") saw neither
    # forum and got no reminders: wards are compared as stored.
    import_csv(session=session, kind="settlements", data=WARD_5)
    data = """settlement,ward,level,title,starts_at,venue
,ward 5,ward,Ward forum,2030-03-01T10:00:00+02:00,Hall
Ubuhle, WARD  5 ,ward,Ward forum B,2030-03-02T10:00:00+02:00,Hall
"""
    assert len(import_csv(session=session, kind="meetings", data=data).created) == 2
    assert {m.ward for m in session.exec(select(Meeting)).all()} == {"Ward 5"}
    themba = session.exec(select(Settlement).where(Settlement.name == "Themba")).one()
    upcoming = settlements.upcoming_meetings(
        session=session,
        settlement_id=themba.id,
        ward=themba.ward,
        now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )
    assert [row.title for row in upcoming] == ["Ward forum", "Ward forum B"]
    nowhere = "settlement,ward,level,title,starts_at,venue\n,Ward 55,ward,Lost,2030-03-01T10:00Z,\n"
    assert _errors(session, "meetings", nowhere) == ["line 2: no settlement is in ward Ward 55"]
    # A settlement imported with another spelling of a ward takes the one stored.
    more = WARD_5.splitlines()[0] + "\nSizwe,,WARD   5,Test Bay,,,\nLindo,,ward 6,Test Bay,,,\n"
    import_csv(session=session, kind="settlements", data=more + "Zola,,Ward 6,Test Bay,,,\n")
    wards = dict(session.exec(select(Settlement.name, Settlement.ward)).all())
    assert (wards["Sizwe"], wards["Lindo"], wards["Zola"]) == ("Ward 5", "ward 6", "ward 6")


def test_a_meeting_moved_in_the_file_is_refused_not_doubled(session: Session) -> None:
    # Re-imported with another date it became a second meeting (the natural key holds the
    # start), and the first one kept its reminders: residents saw both.
    import_csv(session=session, kind="settlements", data=WARD_5)
    header = "settlement,ward,level,title,starts_at,venue\n"
    first = ",Ward 5,ward,Ward forum,2030-03-01T10:00:00+02:00,Hall\n"
    second = ",Ward 5,ward,Ward forum,2030-04-05T10:00:00+02:00,Hall\n"
    import_csv(session=session, kind="meetings", data=header + first)
    assert _errors(session, "meetings", header + second) == [
        "line 2: “Ward forum” is already on 2030-03-01T10:00+02:00 at this place, and no row "
        "of this file has that date: to move it, change it on the dashboard or with the API "
        "(its reminders move; announce it to tell residents); to add another meeting, keep its row "
        "in this file too"
    ]
    assert _count(session, Meeting) == 1
    # A meeting that recurs: every date's row in the file, the new one added.
    result = import_csv(session=session, kind="meetings", data=header + first + second)
    assert (result.created, result.unchanged) == (["Ward forum"], ["Ward forum"])
    third = ",Ward 5,ward,Ward forum,2030-05-03T10:00:00+02:00,Hall\n"
    assert (
        len(
            import_csv(
                session=session, kind="meetings", data=header + first + second + third
            ).created
        )
        == 1
    )
    # Another place, or a past or cancelled meeting, is no meeting moved.
    elsewhere = "Ubuhle,,neighbourhood,Ward forum,2030-06-01T10:00:00+02:00,Creche\n"
    assert import_csv(session=session, kind="meetings", data=header + elsewhere).created
    for meeting in session.exec(select(Meeting).where(Meeting.level == "ward")).all():
        meeting.cancelled = True
    fourth = ",Ward 5,ward,Ward forum,2030-07-05T10:00:00+02:00,Hall\n"
    assert import_csv(session=session, kind="meetings", data=header + fourth).created


def test_lengths_are_the_apis_and_folded_keys_fit_their_columns(session: Session) -> None:
    # A 60-character ward was a DataError on PostgreSQL; venue, note and phase had no limit
    # here while the API refused them; folding ("ß" to "ss") passed the key columns' lengths.
    settlements_data = f"""name,aliases,ward,municipality,category,category_note,current_phase
{"ß" * 200},,5,Test Bay,,,
Long Notes,,5,Test Bay,,{"n" * (NOTE_LENGTH + 1)},{"p" * (PHASE_LENGTH + 1)}
"""
    assert _errors(session, "settlements", settlements_data) == [
        "line 2: name is longer than 200 characters once folded for matching (e.g. ß becomes "
        "ss): shorten it",
        "line 3: category_note is longer than 2000 characters",
        "line 3: current_phase is longer than 500 characters",
    ]
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    milestones_data = f"""settlement,strand,title,target_date,status,note
Ubuhle Gardens,services,{"ß" * 300},,planned,
Ubuhle Gardens,services,Pipes,,planned,{"n" * (NOTE_LENGTH + 1)}
"""
    assert _errors(session, "milestones", milestones_data) == [
        "line 2: title is longer than 300 characters once folded for matching (e.g. ß becomes "
        "ss): shorten it",
        "line 3: note is longer than 2000 characters",
    ]
    meetings_data = f"""settlement,ward,level,title,starts_at,venue
,{"w" * 60},ward,Forum,2030-03-01T10:00:00+02:00,
,14,ward,Forum,2030-03-01T10:00:00+02:00,{"v" * (VENUE_LENGTH + 1)}
,14,ward,{"ß" * 300},2030-03-01T10:00:00+02:00,
,14,ward,{"ﬃ" * 300},2030-03-01T10:00:00+02:00,
"""
    errors = _errors(session, "meetings", meetings_data)
    assert errors[:2] + errors[3:4] == [
        "line 2: ward is longer than 50 characters",
        "line 3: venue is longer than 500 characters",
        # "ß" * 300 fits (600 + time + place); "ﬃ" folds to "ffi"
        "line 5: title is too long once folded for matching (e.g. ß becomes ss): the meeting's "
        "key would pass 700 characters; shorten it",
    ]
    # Both titles fit their column, but not a reminder by SMS (one "ﬃ" makes it UCS-2).
    assert errors[2].startswith("line 4: title and venue: its Afrikaans SMS reminder, with the ")
    assert errors[4].startswith("line 5: title and venue: its Afrikaans SMS reminder, with the ")
    assert len(errors) == 5
    assert _count(session, Meeting) == 0


def test_a_meeting_renamed_in_the_file_is_refused_not_doubled(session: Session) -> None:
    # "Blok meeting" corrected to "Block meeting" in the file was a second meeting at the
    # same time and place (the natural key holds the title): two in menu 4, two reminders.
    import_csv(session=session, kind="settlements", data=WARD_5)
    header = "settlement,ward,level,title,starts_at,venue\n"
    typo = ",Ward 5,ward,Blok meeting,2030-03-01T10:00:00+02:00,Hall\n"
    fixed = typo.replace("Blok", "Block")
    import_csv(session=session, kind="meetings", data=header + typo)
    assert _errors(session, "meetings", header + fixed) == [
        "line 2: “Blok meeting” is already at this time and place, and no row of this file "
        "has that title: to rename it “Block meeting”, change it on the dashboard or with the "
        "API (its reminders follow); to add another meeting at the same time and place, keep "
        "its row in this file too"
    ]
    assert _count(session, Meeting) == 1
    # Two meetings at the same time and place: both rows in the file.
    result = import_csv(session=session, kind="meetings", data=header + typo + fixed)
    assert (result.created, result.unchanged) == (["Block meeting"], ["Blok meeting"])
    # Another time, or the old one cancelled, is no meeting renamed.
    later = fixed.replace("10:00", "14:00").replace("Block", "Budget")
    assert import_csv(session=session, kind="meetings", data=header + later).created
    for meeting in session.exec(select(Meeting)).all():
        meeting.cancelled = True
    again = fixed.replace("Block", "Street committee")
    assert import_csv(session=session, kind="meetings", data=header + again).created


OLD_FILE = """settlement,ward,level,title,starts_at,venue
Ubuhle,,neighbourhood,Blok meeting,2031-03-01T10:00:00+02:00,Creche
,Ward 5,ward,Ward forum,2031-03-08T10:00:00+02:00,Hall
"""
JANUARY = dt.datetime(2031, 1, 5, 8, 0, tzinfo=dt.UTC)


def _change(
    session: Session,
    current: str,
    *,
    title: str | None = None,
    starts_at: dt.datetime | None = None,
    venue: str | None = None,
) -> Meeting:
    """Change a meeting as the dashboard and the API do (`edit.save_meeting`), in January."""
    meeting = session.exec(select(Meeting).where(Meeting.title == current)).one()
    settlement = session.get(Settlement, meeting.settlement_id) if meeting.settlement_id else None
    return edit.save_meeting(
        session=session,
        meeting=meeting,
        settlement=settlement,
        ward="" if settlement else meeting.ward,
        level=meeting.level,
        title=title or meeting.title,
        starts_at=starts_at or meeting.starts_at,
        venue=venue or meeting.venue,
        now=JANUARY,
    )


def test_a_meeting_renamed_or_moved_on_the_dashboard_is_found_by_its_old_row(
    session: Session,
) -> None:
    # The import asks for a rename or a move on the dashboard; done, the same file was
    # refused: its row "is already at this time and place" (or "on ... at this place").
    import_csv(session=session, kind="settlements", data=WARD_5)
    import_csv(session=session, kind="meetings", data=OLD_FILE, now=JANUARY)
    _change(session, "Blok meeting", title="Block meeting")
    moved = dt.datetime(2031, 3, 15, 8, 0, tzinfo=dt.UTC)
    _change(session, "Ward forum", starts_at=moved, venue="Church")
    again = import_csv(session=session, kind="meetings", data=OLD_FILE, now=JANUARY)
    assert (again.created, again.updated, again.unchanged) == ([], [], [])
    assert again.kept == [
        "Blok meeting (now 'Block meeting')",
        "Ward forum (now 'Ward forum' on 2031-03-15T10:00+02:00)",
    ]
    stored = session.exec(select(Meeting.title, Meeting.starts_at, Meeting.venue)).all()
    assert sorted(stored) == [  # the dashboard's changes stand; nothing was added
        ("Block meeting", dt.datetime(2031, 3, 1, 8, 0, tzinfo=dt.UTC), "Creche"),
        ("Ward forum", moved, "Church"),
    ]
    # Renamed again, the row of each name it had finds it; a row of its name now updates it.
    _change(session, "Block meeting", title="Block committee")
    now_called = "Ubuhle,,neighbourhood,Block committee,2031-03-01T10:00:00+02:00,Hall\n"
    result = import_csv(session=session, kind="meetings", data=OLD_FILE + now_called, now=JANUARY)
    assert result.kept[0] == "Blok meeting (now 'Block committee')"
    assert result.updated == ["Block committee"]  # the venue, Hall
    # Renamed back, the meeting has its first name's key again: the row matches it.
    _change(session, "Block committee", title="Blok meeting")
    back = import_csv(session=session, kind="meetings", data=OLD_FILE, now=JANUARY)
    assert back.updated == ["Blok meeting"]  # the venue, Creche again
    assert _count(session, Meeting) == 2


def test_an_import_changes_no_cancelled_meeting(session: Session) -> None:
    # As the dashboard and the API refuse to: the file imported again (or one with a new
    # venue) left a cancelled meeting's venue changed under its "CANCELLED" line.
    import_csv(session=session, kind="settlements", data=WARD_5)
    import_csv(session=session, kind="meetings", data=OLD_FILE, now=JANUARY)
    forum = session.exec(select(Meeting).where(Meeting.title == "Ward forum")).one()
    edit.cancel_meeting(session=session, meeting=forum)
    moved_hall = OLD_FILE.replace("Hall", "Church")
    result = import_csv(session=session, kind="meetings", data=moved_hall, now=JANUARY)
    assert result.kept == ["Ward forum (cancelled: left as it was)"]
    assert result.unchanged == ["Blok meeting"] and result.updated == []
    session.refresh(forum)
    assert (forum.venue, forum.cancelled) == ("Hall", True)
    # A row as it is stored changes nothing, and says so.
    as_stored = import_csv(session=session, kind="meetings", data=OLD_FILE, now=JANUARY)
    assert as_stored.unchanged == ["Blok meeting", "Ward forum"] and as_stored.kept == []


def test_an_import_changes_no_meeting_held_already(session: Session) -> None:
    # Held, a meeting took the file's venue (or, renamed since, the file was refused).
    import_csv(session=session, kind="settlements", data=WARD_5)
    import_csv(session=session, kind="meetings", data=OLD_FILE, now=JANUARY)
    _change(session, "Ward forum", venue="Church")
    _change(session, "Blok meeting", title="Block meeting")
    next_year = dt.datetime(2032, 1, 10, 8, 0, tzinfo=dt.UTC)
    result = import_csv(session=session, kind="meetings", data=OLD_FILE, now=next_year)
    assert (result.created, result.updated, result.unchanged) == ([], [], [])
    assert result.kept == [
        "Blok meeting (now 'Block meeting')",
        "Ward forum (held already: left as it was)",
    ]
    assert sorted(session.exec(select(Meeting.title, Meeting.venue)).all()) == [
        ("Block meeting", "Creche"),
        ("Ward forum", "Church"),
    ]
    # A row of one held as the file says is unchanged; a new one that has passed is refused.
    typo = ",Ward 5,ward,Budget forum,2031-06-01T10:00:00+02:00,Hall\n"
    as_held = import_csv(
        session=session, kind="meetings", data=OLD_FILE.replace("Hall", "Church"), now=next_year
    )
    assert as_held.unchanged == ["Ward forum"]
    with pytest.raises(ImportRejected) as refused:
        import_csv(session=session, kind="meetings", data=OLD_FILE + typo, now=next_year)
    assert [str(e) for e in refused.value.errors] == [
        "line 4: starts_at 2031-06-01T10:00+02:00 has passed: a meeting is added or moved only "
        "to a time still to come (is the year right?)"
    ]


def test_a_ward_of_one_municipality_is_not_taken_by_another(session: Session) -> None:
    # Wards are told apart by name alone: Metro A's "Ward 3" forum was shown and reminded
    # to the residents of Municipality B's Ward 3.
    import_csv(session=session, kind="settlements", data=HEADER + "Sakhile,,Ward 3,Metro A,,,\n")
    rows = "Thembeka,,ward 3,Municipality B,,,\nLindelani,,Ward 4,Municipality B,,,\n"
    assert _errors(session, "settlements", HEADER + rows) == [
        "line 2: ward Ward 3 is already a ward of Metro A: wards are told apart by name "
        "alone (forums, reminders, broadcasts, staff scopes), so name this municipality's "
        "wards differently, e.g. Municipality B Ward 3"
    ]
    both = HEADER + "Kwanele,,7,Metro A,,,\nZola,,7,Municipality B,,,\n"  # in one file
    assert [error[:28] for error in _errors(session, "settlements", both)] == [
        "line 2: ward 7 is already a ",
        "line 3: ward 7 is already a ",
    ]
    fixed = rows.replace("ward 3", "Municipality B Ward 3")
    assert len(import_csv(session=session, kind="settlements", data=HEADER + fixed).created) == 2
    # Wards stored shared before this check hold up no import of what is unchanged.
    make_settlement(session, "Old Camp", municipality="Municipality B", ward="Ward 3")
    again = HEADER + "Old Camp,,Ward 3,Municipality B,,,\nSakhile,,Ward 3,Metro A,B1,,\n"
    assert import_csv(session=session, kind="settlements", data=again).updated == ["Sakhile"]


def test_the_same_import_twice_at_once_waits_and_finds_the_rows(clean_db: Engine) -> None:
    # A double-clicked Import, or two officers: on PostgreSQL each found no row and both
    # inserted it, the second a 500 on uq_settlement_name (SQLite's write gate made them
    # take turns already).
    first = Session(clean_db)
    created = import_csv(session=first, kind="settlements", data=SETTLEMENTS).created
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            with session_scope(clean_db) as session:
                outcome["result"] = import_csv(
                    session=session, kind="settlements", data=SETTLEMENTS
                )
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(1)  # the second import is waiting for the first
    assert thread.is_alive()
    first.commit()
    first.close()
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert isinstance(result, ImportResult) and result.unchanged == created
    with Session(clean_db) as session:
        assert _count(session, Settlement) == len(created) == 3


def test_a_meeting_whose_sms_reminder_would_be_too_long_is_refused_unless_unchanged(
    session: Session,
) -> None:
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    venue = "Creche behind the clinic, past the taxi rank and the spaza, at the blue gate. " * 4
    long_file = MEETINGS.replace("Creche", f'"{venue.strip()}"')
    assert _errors(session, "meetings", long_file) == [
        "line 2: title and venue: its Afrikaans SMS reminder, with the date, would be 4 SMS "
        "segments (GSM-7, 486 characters): at most 3 segments go to a resident by SMS, so "
        "shorten the title or venue"
    ]
    assert _count(session, Meeting) == 0
    # A meeting stored before the check (the dashboard of an earlier version) is imported
    # again as it is; only new words are measured.
    import_csv(session=session, kind="meetings", data=MEETINGS)
    session.execute(
        update(Meeting).where(col(Meeting.title) == "Toilet placement").values(venue=venue.strip())
    )
    again = import_csv(session=session, kind="meetings", data=long_file)
    assert again.unchanged == ["Toilet placement", "Ward 14 forum", "City forum"]


BLOCK_MEETING = """settlement,ward,level,title,starts_at,venue
Ubuhle Gardens,,neighbourhood,Block meeting,2031-05-04T18:00:00+02:00,Creche hall
,14,ward,Ward 14 forum,2031-05-20T18:00:00+02:00,Hall
"""


def test_a_meeting_venue_an_unsent_announcement_quotes_is_refused_when_its_sms_would_pass_3(
    session: Session, settings: Settings
) -> None:
    # The dashboard and the API refuse such a change; the import wrote it, and the "moved"
    # announcement went as 4 SMS segments.
    import_csv(session=session, kind="settlements", data=SETTLEMENTS)
    import_csv(session=session, kind="meetings", data=BLOCK_MEETING)
    block = session.exec(select(Meeting).where(Meeting.title == "Block meeting")).one()
    moved = make_moved_announcement(session, settings=settings, meeting=block)
    # 285 characters: the reminders fit, the announcement with its two dates does not.
    hall = HALL[:285]
    refused = BLOCK_MEETING.replace("Creche hall", f'"{hall.strip()}"').replace(
        ",Hall\n", ",Hall at gate 2\n"
    )
    [error] = _errors(session, "meetings", refused)
    assert error.startswith(
        f"line 2: venue: broadcast {moved} quotes this meeting and is not sent yet: the "
        "Afrikaans SMS, with its STOP hint, would be 4 SMS segments (GSM-7, "
    )
    assert error.endswith("so shorten the meeting's title or venue (or cancel the broadcast first)")
    session.expire_all()  # nothing was written, the other row's change neither
    assert sorted(session.exec(select(Meeting.venue))) == ["Creche hall", "Hall"]
    fits = refused.replace(hall.strip(), hall[:270].strip())
    assert import_csv(session=session, kind="meetings", data=fits).updated == [
        "Block meeting",
        "Ward 14 forum",
    ]
    assert session.get(Meeting, block.id).venue == hall[:270].strip()  # type: ignore[union-attr]
