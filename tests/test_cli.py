"""The `siyakha` CLI: import (all or nothing, every bad row listed) and demo data."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from api.main import create_app
from bot import db
from bot.cli import app
from bot.config import Settings, get_settings
from bot.db import session_scope
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import Broadcast
from bot.domain.messages.models import InboundMessage
from bot.domain.residents.models import Resident
from bot.domain.settlements import demo
from bot.domain.settlements.models import Meeting, Milestone, Settlement
from bot.domain.staff.models import AuditEvent
from bot.domain.tickets import sla
from bot.i18n import TIMEZONE
from tests.domain.tickets.factories import make_staff
from tests.factories import make_settlement

runner = CliRunner()
SETTLEMENTS_HEADER = "name,aliases,ward,municipality,category,category_note,current_phase\n"


@pytest.fixture
def cli_db(
    clean_db: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """Point the CLI at the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    yield clean_db
    get_settings.cache_clear()
    db.get_engine.cache_clear()


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_import_bad_file_lists_every_bad_row_and_writes_nothing(
    cli_db: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        SETTLEMENTS_HEADER + "Good One,,1,Town,A,,\n,,1,Town,A,,\nBad Cat,,1,Town,Z,,\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["import", "settlements", str(path)])
    assert result.exit_code == 1
    assert "2 problem(s); nothing was imported" in result.output
    assert "line 3: name is missing" in result.output
    assert "line 4: category Z is not one of A, B1, B2, C" in result.output
    assert _count(cli_db, Settlement) == 0


def test_import_good_file_prints_created_then_updated(cli_db: Engine, tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    header = SETTLEMENTS_HEADER
    path.write_text(header + "Good One,,1,Town,A,,\n", encoding="utf-8")
    first = runner.invoke(app, ["import", "settlements", str(path)])
    assert first.exit_code == 0, first.output
    assert "created: Good One" in first.output
    path.write_text(header + "Good One,,1,Town,B1,,\n", encoding="utf-8")
    second = runner.invoke(app, ["import", "settlements", str(path)])
    assert "updated: Good One" in second.output
    assert "settlements: 0 created, 1 updated, 0 unchanged" in second.output
    assert _count(cli_db, Settlement) == 1


def test_import_says_what_each_update_changed_and_check_only_writes_nothing(
    cli_db: Engine, tmp_path: Path
) -> None:
    # The audit: a milestone set done and a forum's venue changed on the dashboard went back
    # when their files were imported again, and the CLI said only "updated: <name>".
    files = {
        "settlements": SETTLEMENTS_HEADER + "Ubuhle Gardens,,14,Town,A,,\n",
        "milestones": "settlement,strand,title,target_date,status,note\n"
        "Ubuhle Gardens,services,Standpipes installed,2030-03-01,delayed,\n",
        "meetings": "settlement,ward,level,title,starts_at,venue\n"
        ",14,ward,Ward 14 upgrading forum,2030-06-20T18:00:00+02:00,Ward 14 hall\n",
    }
    for kind, data in files.items():
        (tmp_path / f"{kind}.csv").write_text(data, encoding="utf-8")
        first = runner.invoke(app, ["import", kind, str(tmp_path / f"{kind}.csv")])
        assert first.exit_code == 0, first.output
    with Session(cli_db) as session:  # the dashboard's changes
        session.exec(select(Milestone)).one().status = "done"
        session.exec(select(Meeting)).one().venue = "Ward 14 NEW hall (old hall flooded)"
        session.commit()
    status = "updated: Ubuhle Gardens: Standpipes installed: status 'done' -> 'delayed'\n"
    venue = (
        "updated: Ward 14 upgrading forum: venue 'Ward 14 NEW hall (old hall flooded)' -> "
        "'Ward 14 hall'\n"
    )
    milestones, meetings = str(tmp_path / "milestones.csv"), str(tmp_path / "meetings.csv")
    # Changed since the last import: the file is refused unless the officer chooses.
    refused = runner.invoke(app, ["import", "milestones", milestones, "--check-only"])
    assert refused.exit_code == 1
    assert re.search(
        r"1 change\(s\) made since the last import would be overwritten; nothing was imported"
        r"\.\n  line 2: Ubuhle Gardens: Standpipes installed: status changed since the import "
        r"of \d{4}-\d\d-\d\d \d\d:\d\d: the file says 'delayed', now 'done'\n.*"
        r"--overwrite-edits",
        refused.output,
    )
    overwrite = ["--overwrite-edits"]
    checked = runner.invoke(app, ["import", "milestones", milestones, "--check-only", *overwrite])
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith(status)
    assert checked.output.endswith(
        "checked only: nothing was written; run it again without --check-only to import\n"
    )
    checked = runner.invoke(app, ["import", "meetings", meetings, "--dry-run", *overwrite])
    assert checked.output.startswith(venue)
    with Session(cli_db) as session:
        assert session.exec(select(Milestone.status)).all() == ["done"]
        assert session.exec(select(Meeting.venue)).all() == ["Ward 14 NEW hall (old hall flooded)"]
    real = runner.invoke(app, ["import", "milestones", milestones, *overwrite])
    assert re.fullmatch(
        re.escape(status) + r"overwritten: line 2: [^\n]* status changed since [^\n]*\n"
        r"milestones: 0 created, 1 updated, 0 unchanged\n",
        real.output,
    )
    assert runner.invoke(app, ["import", "meetings", meetings, *overwrite]).output.startswith(venue)
    with Session(cli_db) as session:
        assert session.exec(select(Milestone.status)).all() == ["delayed"]
        assert session.exec(select(Meeting.venue)).all() == ["Ward 14 hall"]


def test_a_reimport_after_api_changes_is_refused_unless_overwrite_edits(
    cli_db: Engine, settings: Settings, tmp_path: Path
) -> None:
    # Known faults: the same file imported again set back a status changed with the API
    # and brought back a milestone deleted with it, saying only "updated" and "created".
    (tmp_path / "s.csv").write_text(SETTLEMENTS_HEADER + "Ubuhle Gardens,,14,Town,A,,\n")
    assert runner.invoke(app, ["import", "settlements", str(tmp_path / "s.csv")]).exit_code == 0
    path = tmp_path / "m.csv"
    path.write_text(
        "settlement,strand,title,target_date,status,note\n"
        "Ubuhle Gardens,services,Standpipes installed,2030-03-01,delayed,\n"
        "Ubuhle Gardens,layout,Layout agreed,,planned,\n"
        "Ubuhle Gardens,tenure,Certificates,,planned,\n"
    )
    assert runner.invoke(app, ["import", "milestones", str(path)]).exit_code == 0
    with session_scope(cli_db) as session:
        _user, token = make_staff(session, "officer@ubuntubay.example.org", "officer")
        ids = {m.strand: m.id for m in session.exec(select(Milestone))}
        settlement_id = session.exec(select(Settlement.id)).one()
    url = f"/api/v1/settlements/{settlement_id}/milestones"
    officer = {"Authorization": f"Bearer {token}"}
    done = {"strand": "services", "title": "Standpipes installed", "status": "done"}
    with TestClient(create_app(settings, cli_db)) as api:
        assert api.put(f"{url}/{ids['services']}", json=done, headers=officer).status_code == 200
        assert api.delete(f"{url}/{ids['layout']}", headers=officer).status_code == 204
    path.write_text(path.read_text().replace("Certificates,,planned", "Certificates,,done"))
    by = r"with the API by officer@ubuntubay\.example\.org on \d{4}-\d\d-\d\d \d\d:\d\d"
    listed = [
        rf"  line 2: Ubuhle Gardens: Standpipes installed: target_date changed {by}: the file "
        r"says '2030-03-01', now \(blank\)",
        rf"  line 2: Ubuhle Gardens: Standpipes installed: status changed {by}: the file says "
        r"'delayed', now 'done'",
        rf"  line 3: Ubuhle Gardens: Layout agreed: deleted {by}: the file creates it again",
    ]
    for check in (["--check-only"], []):
        refused = runner.invoke(app, ["import", "milestones", str(path), *check])
        assert refused.exit_code == 1
        lines = refused.output.splitlines()
        assert lines[0].endswith(
            "3 change(s) made since the last import would be overwritten; nothing was imported."
        )
        assert all(re.fullmatch(p, line) for p, line in zip(listed, lines[1:4], strict=True))
        assert "--overwrite-edits" in lines[4]
    with Session(cli_db) as session:  # nothing was written, the certificates' status neither
        stored = session.exec(select(Milestone.strand, Milestone.status)).all()
        assert sorted(stored) == [("services", "done"), ("tenure", "planned")]
    chosen = runner.invoke(app, ["import", "milestones", str(path), "--overwrite-edits"])
    assert chosen.exit_code == 0, chosen.output
    assert "milestones: 1 created, 2 updated, 0 unchanged" in chosen.output
    overwritten = [line for line in chosen.output.splitlines() if line.startswith("overwritten:")]
    assert len(overwritten) == 3
    with Session(cli_db) as session:
        stored = session.exec(select(Milestone.strand, Milestone.status)).all()
        assert sorted(stored) == [
            ("layout", "planned"),
            ("services", "delayed"),
            ("tenure", "done"),
        ]
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "import.milestones")
        ).all()
        assert [(event.detail["via"], event.actor_email) for event in events] == [("cli", "")] * 2
        detail = events[-1].detail
        assert (detail["overwrite_edits"], detail["created"], detail["updated"]) == (True, 1, 2)
        assert detail["overwritten"] == [line.removeprefix("overwritten: ") for line in overwritten]


def test_import_missing_file_is_a_clear_error(cli_db: Engine, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "meetings", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1
    assert "cannot read" in result.output


def test_demo_covers_every_category_strand_status_and_level(cli_db: Engine) -> None:
    result = runner.invoke(app, ["demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    with Session(cli_db) as session:
        settlements = session.exec(select(Settlement)).all()
        milestones = session.exec(select(Milestone)).all()
        meetings = session.exec(select(Meeting)).all()
    assert len(settlements) >= 8
    assert {s.category for s in settlements} == {"A", "B1", "B2", "C", None}
    assert all("fictional" in s.municipality for s in settlements)
    assert {m.strand for m in milestones} == {"planning", "services", "tenure", "layout", "housing"}
    assert {m.status for m in milestones} == {"planned", "in_progress", "done", "delayed"}
    assert {m.level for m in meetings} == {"neighbourhood", "ward", "city"}
    now = dt.datetime.now(dt.UTC)
    assert all(now < m.starts_at < now + dt.timedelta(days=120) for m in meetings)
    again = runner.invoke(app, ["demo", "--if-empty"])
    assert "demo data not loaded" in again.output
    assert _count(cli_db, Settlement) == len(settlements)


def test_demo_loaded_again_puts_back_what_was_changed_and_lists_it(cli_db: Engine) -> None:
    # Loading the demo again resets it: a change made since is overwritten, and said so
    # (not refused, as a file of an officer's would be without --overwrite-edits).
    assert runner.invoke(app, ["demo"]).exit_code == 0
    with session_scope(cli_db) as session:
        milestone = session.exec(select(Milestone).order_by(col(Milestone.id))).first()
        assert milestone is not None
        was, milestone.status = (
            milestone.status,
            "delayed" if milestone.status != "delayed" else "done",
        )
        title = milestone.title
    again = runner.invoke(app, ["demo"])
    assert again.exit_code == 0, again.output
    assert [line for line in again.output.splitlines() if line.startswith("overwritten:")] == [
        line for line in again.output.splitlines() if f"{title}: status changed" in line
    ]
    assert f"{title}: status changed since the import of" in again.output
    with Session(cli_db) as session:
        assert session.exec(select(Milestone.status).where(Milestone.title == title)).one() == was


def test_demo_dates_are_relative_to_today() -> None:
    text = "{{date:+30}} {{datetime:+1 18:00}} {{date:-2}}"
    assert demo.render(text, dt.date(2026, 12, 30)) == (
        "2027-01-29 2026-12-31T18:00:00+02:00 2026-12-28"
    )


def test_demo_meetings_are_never_on_a_sunday_or_a_public_holiday() -> None:
    """A meeting's day skips Sundays and public holidays (16 and 25-26 December, then
    Sunday 27th, here); a date does not."""
    text = "{{datetime:+9 17:30}} {{datetime:+18 18:00}} {{date:+18}}"
    assert demo.render(text, dt.date(2026, 12, 7)) == (
        "2026-12-17T17:30:00+02:00 2026-12-28T18:00:00+02:00 2026-12-25"
    )
    meetings = (demo.DEMO_DIR / "meetings.csv").read_text(encoding="utf-8")
    for offset in range(366):
        today = dt.date(2026, 1, 1) + dt.timedelta(days=offset)
        days = re.findall(r"(\d{4}-\d{2}-\d{2})T", demo.render(meetings, today))
        assert len(days) == meetings.count("{{datetime:")
        holidays = sla.public_holidays(2026) | sla.public_holidays(2027)
        dates = {dt.date.fromisoformat(d) for d in days}
        assert not dates & holidays and all(d.weekday() != demo.SUNDAY for d in dates), today


def test_chat_talks_to_the_engine_and_counts_each_sms_reply(cli_db: Engine) -> None:
    with Session(cli_db) as session:
        make_settlement(session, "Ubuhle Gardens", category="B1")
        session.commit()
    script = "hi\n1\n1\nubuhle gardns\n1\n"  # first contact, English, agree, a typo, category
    result = runner.invoke(app, ["chat", "--phone", "082 555 0190"], input=script)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Chatting as +27825550190 over sms.")
    assert "1 English\n2 isiXhosa" in result.stdout
    assert "We have saved Ubuhle Gardens as your settlement." in result.stdout
    assert "Ubuhle Gardens: category B1" in result.stdout
    counts = re.findall(r"\[(\d) segment\(s\), (GSM-7|UCS-2)\]", result.stdout)
    assert len(counts) == 5 and all(1 <= int(n) <= 3 for n, _ in counts)
    # The log (INFO: "answered message ...") stays out of the conversation.
    assert "answered message" not in result.output
    with Session(cli_db) as session:
        resident = session.exec(select(Resident)).one()
    assert (resident.phone, resident.language) == ("+27825550190", "en")
    assert resident.settlement_id is not None


def test_chat_sends_nothing_for_an_empty_line(cli_db: Engine) -> None:
    result = runner.invoke(app, ["chat", "--channel", "whatsapp"], input="\n  \nhi\n\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Choose your language") == 1
    with Session(cli_db) as session:
        assert session.exec(select(func.count()).select_from(InboundMessage)).one() == 1


def test_chat_on_whatsapp_shows_no_segment_counts(cli_db: Engine) -> None:
    result = runner.invoke(app, ["chat", "--channel", "whatsapp"], input="hi\n")
    assert result.exit_code == 0, result.output
    assert "Choose your language" in result.stdout and "segment(s)" not in result.stdout


def test_chat_applies_migrations_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A new database is made ready, as `siyakha serve` does, instead of a traceback.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    try:
        result = runner.invoke(app, ["chat"], input="hi\n")
    finally:
        get_settings.cache_clear()
        db.get_engine.cache_clear()
    assert result.exit_code == 0, result.output
    assert "Choose your language" in result.stdout


def test_chat_reads_bytes_that_are_not_utf8_as_replacement_characters(tmp_path: Path) -> None:
    # A terminal in the C.UTF-8 locale hands them on as lone surrogates, which ended the
    # chat with a UnicodeEncodeError from the database insert.
    env = {
        **os.environ,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        "SIYAKHA_ENV": "dev",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat"],
        input=b"hi\ncaf\xe9\n1\n",
        env=env,
        cwd=tmp_path,  # not the checkout's ./.env
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr
    assert "Reply 1 if you agree" in result.stdout.decode()  # went on: "1" chose English
    with sqlite3.connect(tmp_path / "chat.db") as database:
        bodies = [row[0] for row in database.execute("SELECT body FROM inbound_message")]
    assert bodies == ["hi", "caf\N{REPLACEMENT CHARACTER}", "1"]


@pytest.mark.parametrize(("args", "loop"), [([], "asyncio"), (["--loop", "uvloop"], "uvloop")])
def test_serve_runs_asyncios_loop_unless_told(
    monkeypatch: pytest.MonkeyPatch, args: list[str], loop: str
) -> None:
    import uvicorn

    runs: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *_args, **options: runs.append(options))
    result = runner.invoke(app, ["serve", "--no-migrate", *args])
    assert result.exit_code == 0, result.output
    assert [run["loop"] for run in runs] == [loop]


def test_serve_refuses_an_unknown_loop() -> None:
    result = runner.invoke(app, ["serve", "--no-migrate", "--loop", "tokio"])
    assert result.exit_code == 2 and "tokio" in result.output


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_serve_refuses_to_put_the_dev_simulator_on_the_network(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    monkeypatch.setenv("SIYAKHA_ENV", "dev")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["serve", "--host", host, "--no-migrate"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "serves the simulator" in result.output and "SIYAKHA_ENV=production" in result.output


@pytest.mark.parametrize(
    ("environment", "lines"),
    [
        (
            {"SIYAKHA_OUTBOUND": "foo", "SIYAKHA_LOG_LEVEL": "foo"},
            [
                "SIYAKHA_OUTBOUND: must be console or twilio",
                "SIYAKHA_LOG_LEVEL: must be a logging level: DEBUG, INFO, WARNING, ERROR or "
                "CRITICAL",
            ],
        ),
        (
            {"SIYAKHA_ENV": "production", "SIYAKHA_SECRET_KEY": "dev-secret-change-me"},
            ["SIYAKHA_SECRET_KEY: is a placeholder; outside dev (SIYAKHA_ENV=production) set a"],
        ),
        (  # each secret refused is a line of its own; a Twilio one was not checked at all
            {
                "SIYAKHA_ENV": "production",
                "SIYAKHA_SECRET_KEY": " CHANGE-ME ",
                "TWILIO_AUTH_TOKEN": "Change_Me",
                "TWILIO_WEBHOOK_SHARED_KEY": "x",
            },
            [
                "TWILIO_AUTH_TOKEN: is a placeholder; in production set Twilio's",
                "TWILIO_WEBHOOK_SHARED_KEY: must be at least 32 characters in production",
                "SIYAKHA_SECRET_KEY: is a placeholder; outside dev (SIYAKHA_ENV=production)",
            ],
        ),
        ({"SIYAKHA_WHATSAPP_TEMPLATES": "{nope"}, ["SIYAKHA_WHATSAPP_TEMPLATES: must be JSON"]),
        (  # a JSON setting that did not parse hid every other problem
            {
                "SIYAKHA_OUTBOUND": "foo",
                "SIYAKHA_SLA_RESOLVE_HOURS": "[1",
                "SIYAKHA_MEETING_REMINDER_DAYS": "3,0",
            },
            [
                "SIYAKHA_OUTBOUND: must be console or twilio",
                "SIYAKHA_SLA_RESOLVE_HOURS: must be JSON",
                "SIYAKHA_MEETING_REMINDER_DAYS: must be JSON",
            ],
        ),
        (
            {
                "SIYAKHA_SLA_ACK_WORKING_DAYS": "0",
                "SIYAKHA_SLA_RESOLVE_HOURS": '{"watr": 10, "water": -5, "roads": 0}',
            },
            [
                "SIYAKHA_SLA_ACK_WORKING_DAYS: must be greater than or equal to 1",
                "SIYAKHA_SLA_RESOLVE_HOURS.watr: not a ticket category: use water, sanitation,",
                "SIYAKHA_SLA_RESOLVE_HOURS.water: must be greater than 0",
                "SIYAKHA_SLA_RESOLVE_HOURS.roads: must be greater than 0",
            ],
        ),
        (  # each was accepted: no reminder ever went, a day was dropped, a template unused
            {
                "SIYAKHA_MEETING_REMINDER_LEVELS": '["neighborhood", "ward"]',
                "SIYAKHA_MEETING_REMINDER_DAYS": "[3, -1]",
                "SIYAKHA_WHATSAPP_TEMPLATES": json.dumps(
                    {"broadcasts": {"en": "HX" + "0" * 32}, "reminder": {}}
                ),
            },
            [
                "SIYAKHA_WHATSAPP_TEMPLATES.broadcasts: not an outbox purpose: use ticket_update,",
                "SIYAKHA_MEETING_REMINDER_DAYS.1: must be greater than or equal to 0",
                "SIYAKHA_MEETING_REMINDER_LEVELS.0: not a meeting level: use neighbourhood, ward,",
            ],
        ),
        (  # a template for a language never asked for, or a SID Twilio refuses, went unused
            {
                "SIYAKHA_WHATSAPP_TEMPLATES": json.dumps(
                    {
                        "broadcast": {"english": "HX" + "a" * 32, "xx": "HX" + "b" * 32},
                        "reminder": {"zu": "HX1", "xh": "MG" + "c" * 32, "en": "HX" + "d" * 33},
                    }
                ),
            },
            [
                "SIYAKHA_WHATSAPP_TEMPLATES.broadcast.english: not a supported language: use en,",
                "SIYAKHA_WHATSAPP_TEMPLATES.broadcast.xx: not a supported language: use en, xh,",
                "SIYAKHA_WHATSAPP_TEMPLATES.reminder.zu: HX1 is not a Content SID: use HX and 32",
                "SIYAKHA_WHATSAPP_TEMPLATES.reminder.xh: MG" + "c" * 32 + " is not a Content SID",
                "SIYAKHA_WHATSAPP_TEMPLATES.reminder.en: HX" + "d" * 33 + " is not a Content SID",
            ],
        ),
        (  # each date named; a number would have been read as seconds since 1970
            {"SIYAKHA_SLA_EXTRA_HOLIDAYS": '["2024-05-29", "2024-02-30", "29/05/2024", 20240529]'},
            [
                "SIYAKHA_SLA_EXTRA_HOLIDAYS.1: 2024-02-30 is not a date: use YYYY-MM-DD",
                "SIYAKHA_SLA_EXTRA_HOLIDAYS.2: 29/05/2024 is not a date: use YYYY-MM-DD",
                "SIYAKHA_SLA_EXTRA_HOLIDAYS.3: 20240529 is not a date: use YYYY-MM-DD",
            ],
        ),
        (
            {"DATABASE_URL": "sqlite+pysqlcipher:///x.db"},
            ["DATABASE_URL: sqlite+pysqlcipher is not supported: use sqlite:///path for SQLite"],
        ),
        (  # 0 would end every wait on the resident at once
            {"SIYAKHA_TICKET_WAIT_DAYS": "0"},
            ["SIYAKHA_TICKET_WAIT_DAYS: must be greater than or equal to 1"],
        ),
    ],
)
def test_a_malformed_setting_is_one_line_naming_it_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], lines: list[str]
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    printed = result.stderr.splitlines()
    assert len(printed) == len(lines)
    assert all(line.startswith(want) for line, want in zip(printed, lines, strict=True))
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["--phone", "12"], "not a phone number"),
        (["--channel", "fax"], "channel must be sms or whatsapp"),
    ],
)
def test_chat_refuses_a_bad_number_or_channel(
    cli_db: Engine, options: list[str], error: str
) -> None:
    result = runner.invoke(app, ["chat", *options], input="hi\n")
    assert result.exit_code == 2 and error in result.output
    assert _count(cli_db, Resident) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["demo"],
        ["import", "settlements", "settlements.csv"],
        ["user", "create", "--email", "a@example.org", "--role", "admin", "--password", "x" * 12],
        ["token", "create", "--email", "a@example.org"],
        ["chat", "--no-migrate"],
    ],
)
def test_data_commands_on_a_database_without_migrations_say_what_to_do(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # They died with a traceback about a missing table.
    (tmp_path / "settlements.csv").write_text(SETTLEMENTS_HEADER + "Ubuhle,,14,Town,A,,\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    try:
        result = runner.invoke(app, args, input="hi\n")
    finally:
        get_settings.cache_clear()
        db.get_engine.cache_clear()
    assert result.exit_code == 1
    assert "run `siyakha db upgrade` first" in result.output
    assert "Traceback" not in result.output


def test_an_import_that_changes_a_category_prints_how_to_announce_it_and_what_it_withdrew(
    cli_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    # The CLI said only "updated: Good One: category 'A' -> 'B1'": the README sent officers
    # to find the API call or the compose page themselves.
    monkeypatch.setenv("SIYAKHA_PUBLIC_URL", "https://siyakha.example.org/")
    get_settings.cache_clear()
    path = tmp_path / "s.csv"
    path.write_text(SETTLEMENTS_HEADER + "Good One,,1,Town,A,,\nOther,,2,Town,,,\n", "utf-8")
    created = runner.invoke(app, ["import", "settlements", str(path)])
    assert created.exit_code == 0 and "category" not in created.output  # new: nothing to tell
    path.write_text(SETTLEMENTS_HEADER + "Good One,,1,Town,B1,,\nOther,,2,Town,C,,\n", "utf-8")
    with Session(cli_db) as session:
        ids = dict(session.exec(select(Settlement.name, Settlement.id)).all())
    checked = runner.invoke(app, ["import", "settlements", str(path), "--check-only"])
    assert checked.exit_code == 0, checked.output
    assert [line for line in checked.output.splitlines() if "categor" in line] == [
        "updated: Good One: category 'A' -> 'B1'",
        "updated: Other: category (blank) -> 'C'",
        "would change category: Good One: category A -> B1 (announce it once imported)",
        "would change category: Other: category (not yet assessed) -> C (announce it once "
        "imported)",
    ]
    real = runner.invoke(app, ["import", "settlements", str(path)])
    assert real.exit_code == 0, real.output
    good, other = ids["Good One"], ids["Other"]
    assert [line for line in real.output.splitlines() if line.startswith("announce")] == [
        "announce the new category: Good One: category A -> B1: https://siyakha.example.org"
        f"/staff/broadcasts/new?settlement_id={good}&category=B1&previous_category=A (or POST "
        f'/api/v1/settlements/{good}/category/announcement {{"category": "B1", '
        '"previous_category": "A"})',
        "announce the new category: Other: category (not yet assessed) -> C: "
        f"https://siyakha.example.org/staff/broadcasts/new?settlement_id={other}&category=C"
        f"&previous_category= (or POST /api/v1/settlements/{other}/category/announcement "
        '{"category": "C", "previous_category": ""})',
    ]
    # Announced for B1 and scheduled; a file that places it in B2 withdraws it and says so.
    with session_scope(cli_db) as session:
        scheduled = broadcasts.announce_category(
            session=session,
            settings=settings,
            settlement=session.get_one(Settlement, good),
            staff=None,
            previous_category="A",
            send_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2),
        )
        broadcast_id = scheduled.id
    path.write_text(SETTLEMENTS_HEADER + "Good One,,1,Town,B2,,\nOther,,2,Town,C,,\n", "utf-8")
    day = dt.datetime.now(TIMEZONE).strftime("%Y-%m-%d")
    withdrawn = (
        f"withdrawn: broadcast {broadcast_id} (Category B1: Good One): the category changed "
        f"again to B2 on {day}"
    )
    dry = runner.invoke(app, ["import", "settlements", str(path), "--dry-run"])
    assert withdrawn.replace("withdrawn:", "would withdraw:") in dry.output.splitlines()
    again = runner.invoke(app, ["import", "settlements", str(path)])
    assert withdrawn in again.output.splitlines()
    with Session(cli_db) as session:
        assert session.get_one(Broadcast, broadcast_id).status == "cancelled"
        [event] = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "broadcast.withdraw")
        ).all()
        assert (event.staff_user_id, event.detail["via"]) == (None, "import")
