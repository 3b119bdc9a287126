"""CSV import of settlements, milestones and meetings: all rows or none.

Every row is checked before anything is written. A file with any bad row writes
nothing and the caller gets every bad row with its line number and reason. A good
file is upserted by natural key, so importing it again changes nothing. A row finds a
meeting or milestone by a key it had before the dashboard or the API renamed or moved
it too, and then changes nothing; nor does a row of a meeting held already.

Every update says what it changed, field by field, old -> new (`Updated`), and an import
may be checked only (`dry_run`): run whole, reported the same, and rolled back.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from sqlalchemy import func, text
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from bot.db import plain_line_breaks, utc_year, utcnow
from bot.domain.broadcasts import service as broadcasts
from bot.domain.settlements import links
from bot.domain.settlements import service as settlements
from bot.domain.settlements.models import (
    CATEGORIES,
    MEETING_KEY_LENGTH,
    MEETING_LEVELS,
    MILESTONE_STATUSES,
    NAME_LENGTH,
    NOTE_LENGTH,
    PHASE_LENGTH,
    STRANDS,
    TITLE_LENGTH,
    VENUE_LENGTH,
    WARD_LENGTH,
    ImportedRow,
    Meeting,
    Milestone,
    Settlement,
    name_key,
)
from bot.domain.staff import audit
from bot.domain.staff.models import StaffUser
from bot.i18n import TIMEZONE, local_time
from bot.names import same_name_key

Kind = Literal["settlements", "milestones", "meetings"]


# Meetings start and milestones fall due in these years: a placeholder like 9999-12-31
# could not be shown in Johannesburg time, and would break every resident's list of
# meetings; 0001-01-01 or 9999-12-31 is no milestone's real target either.
YEARS = range(2000, 2100)


@dataclass(frozen=True)
class Column:
    """One column of an import file and what it takes, as the upload page's help says it."""

    name: str
    takes: str = ""
    required: bool = False
    longest: int | None = None  # characters


def _one_of(values: tuple[str, ...]) -> str:
    return "|".join(values)


def choice_problem(what: str, value: str, allowed: tuple[str, ...]) -> str:
    """Say that `value` of the field `what` (named as its surface names it: a CSV column,
    a form's label) is none of `allowed`, the same on every surface."""
    known = ", ".join(allowed)
    return f"{what} {value} is not one of {known}" if value else f"{what} is missing ({known})"


# Each kind's columns in the order of its header row, and their formats (README's "Import
# files"): the header check and the upload page's help read them here.
FORMATS: dict[str, tuple[Column, ...]] = {
    "settlements": (
        Column("name", required=True, longest=NAME_LENGTH),
        Column("aliases", '";"-separated'),
        Column("ward", longest=WARD_LENGTH),
        Column("municipality", required=True, longest=NAME_LENGTH),
        Column("category", f"{_one_of(CATEGORIES)} or blank: not yet assessed"),
        Column("category_note", longest=NOTE_LENGTH),
        Column("current_phase", longest=PHASE_LENGTH),
    ),
    "milestones": (
        Column("settlement", "a settlement's name, imported first", required=True),
        Column("strand", _one_of(STRANDS), required=True),
        Column("title", required=True, longest=TITLE_LENGTH),
        Column("target_date", f"YYYY-MM-DD between {YEARS.start} and {YEARS.stop - 1}, or blank"),
        Column("status", _one_of(MILESTONE_STATUSES), required=True),
        Column("note", longest=NOTE_LENGTH),
    ),
    "meetings": (
        Column("settlement", "blank for a ward/city forum"),
        Column("ward", "blank for a city forum", longest=WARD_LENGTH),
        Column("level", _one_of(MEETING_LEVELS), required=True),
        Column("title", required=True, longest=TITLE_LENGTH),
        Column("starts_at", "ISO 8601 with offset, e.g. 2031-05-04T18:00+02:00", required=True),
        Column("venue", longest=VENUE_LENGTH),
    ),
}
COLUMNS: dict[str, tuple[str, ...]] = {
    kind: tuple(column.name for column in columns) for kind, columns in FORMATS.items()
}
MAX_BYTES = 5 * 1024 * 1024
EXAMPLE_SETTLEMENT = "Example Park"


def example(kind: str, *, settlement: Settlement | None, now: dt.datetime) -> str:
    """Return a small file of `kind` that imports cleanly, to copy: its milestones and
    meetings are `settlement`'s (one imported already), or with None the settlements
    example's (import that first). Its meetings start a month or so after `now`."""
    name = settlement.name if settlement else EXAMPLE_SETTLEMENT
    ward = settlement.ward if settlement else "1"
    day = now.astimezone(TIMEZONE).date() + dt.timedelta(days=30)

    def evening(days: int) -> str:
        moment = dt.datetime.combine(day + dt.timedelta(days=days), dt.time(18), TIMEZONE)
        return moment.isoformat(timespec="minutes")

    rows: dict[str, list[tuple[str, ...]]] = {
        "settlements": [
            (
                EXAMPLE_SETTLEMENT,
                "Expark;Example Pk",
                ward,
                settlement.municipality if settlement else "Example Municipality",
                "B1",
                "Water standpipes and toilets come first.",
                "Essential services installation",
            )
        ],
        "milestones": [
            (
                name,
                "planning",
                "Community action plan (example)",
                f"{day:%Y-%m-%d}",
                "in_progress",
                "Agreed with the block committees.",
            ),
            (name, "services", "Standpipes installed (example)", "", "planned", ""),
        ],
        "meetings": [
            (name, "", "neighbourhood", "Block committee (example)", evening(0), "Community hall"),
            *(
                [("", ward, "ward", f"Ward {ward} forum (example)", evening(7), "Ward office")]
                if ward
                else []
            ),
            ("", "", "city", "City forum (example)", evening(14), "City hall"),
        ],
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS[kind])
    writer.writerows(rows[kind])
    return out.getvalue()


@dataclass(frozen=True)
class RowError:
    """One reason a row (line 0: the whole file) was refused."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


class ImportRejected(Exception):
    """The file was refused; nothing was written."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} problem(s); nothing was imported")
        self.errors = errors


class EditsInTheWay(ImportRejected):
    """The file was refused, nothing written, because it would overwrite what people
    changed since the last import (a field, or a row they deleted): each is an error. The
    officer may write the values as they are now, or import with `overwrite_edits`."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(errors)
        self.args = (
            f"{len(errors)} change(s) made since the last import would be overwritten; "
            "nothing was imported",
        )


@dataclass(frozen=True)
class Updated:
    """One updated row: its display name and what it changed, field by field, as
    "field 'old' -> 'new'" (long values shortened, times in Johannesburg time)."""

    label: str
    changes: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.label}: {'; '.join(self.changes)}" if self.changes else self.label


@dataclass
class ImportResult:
    """What a successful import created, updated and left as it was (by display name), and
    the rows it kept from changing what they name (`kept`: a meeting held already, or one
    renamed or moved on the dashboard or with the API since; each says why). `changes`
    holds, for each of `updated` in turn, what it changed. `overwritten`: each field a
    person changed since the last import, and each row a person deleted since, that the
    file overwrote or created again (only with `overwrite_edits`; else the file is refused,
    `EditsInTheWay`). `categories`: each existing settlement the file placed in another
    category, whose announcement is offered; `withdrawn`: announcements of a category not
    sent yet that the file's change withdrew. `dry_run`: checked only, nothing was
    written."""

    kind: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    linked: int = 0  # residents whose unmatched settlement name this import made a settlement's
    changes: list[Updated] = field(default_factory=list)
    overwritten: list[RowError] = field(default_factory=list)
    # Settlements whose category the file changed (to a category: one cleared is no news),
    # each announcement to offer, and the announcements of an earlier change it withdrew.
    categories: list[broadcasts.CategoryNews] = field(default_factory=list)
    withdrawn: list[broadcasts.Withdrawn] = field(default_factory=list)
    dry_run: bool = False


@dataclass
class _Row:
    line: int
    values: dict[str, str]


def _read(kind: Kind, data: bytes | str) -> tuple[list[_Row], list[RowError]]:
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise ImportRejected([RowError(0, f"the file is larger than {MAX_BYTES} bytes")])
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            # Excel's "CSV (Comma delimited)" writes Windows-1252: ’ is byte 0x92, é 0xE9.
            line = exc.object.count(b"\n", 0, exc.start) + 1
            byte = f"{exc.object[exc.start]:02X}"
            raise ImportRejected(
                [
                    RowError(
                        line,
                        f"is not UTF-8 text (byte 0x{byte} is not valid UTF-8, as in a file "
                        "Excel saved as CSV (Comma delimited) with ’ or é in it): save it as "
                        "CSV UTF-8 (Comma delimited)",
                    )
                ]
            ) from None
    data = data.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRejected([RowError(0, "the file is empty: a header row is needed")]) from None
    if len(header) == 1 and ";" in header[0]:  # Excel where the list separator is ";"
        raise ImportRejected(
            [
                RowError(
                    1,
                    "the file is separated by semicolons (;), not commas: save it as "
                    "comma-separated CSV (CSV UTF-8, comma delimited)",
                )
            ]
        )
    header = [h.strip().lower() for h in header]
    # Spreadsheets export columns past the last one as blank names: ignored while their
    # cells are blank too; a value under one is refused below, not dropped.
    named = [h for h in header if h]
    nameless = [i for i, h in enumerate(header) if not h]
    expected = COLUMNS[kind]
    missing = [c for c in expected if c not in named]
    unknown = [h for h in named if h not in expected]
    problems = []
    if missing:
        problems.append(RowError(1, f"missing column(s): {', '.join(missing)}"))
    if unknown:
        problems.append(RowError(1, f"unknown column(s): {', '.join(unknown)}"))
    if len(set(named)) != len(named):
        problems.append(RowError(1, "a column name appears twice"))
    if problems:
        raise ImportRejected(problems)
    rows: list[_Row] = []
    unreadable: list[RowError] = []
    filled: dict[int, int] = {}  # nameless column -> the first line with a value in it
    line = 1
    while True:
        start = line + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # the reader goes on at the next line
            unreadable.append(RowError(start, f"is not valid CSV ({exc})"))
            if reader.line_num <= line:
                break
            line = reader.line_num
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            unreadable.append(
                RowError(start, f"has {len(record)} fields; the header has {len(header)}")
            )
            continue
        if any("\x00" in cell for cell in record):  # PostgreSQL text cannot hold it
            unreadable.append(RowError(start, "contains a NUL character (U+0000)"))
            continue
        for i in nameless:
            if record[i].strip():
                filled.setdefault(i, start)
        # A line break in a quoted cell as LF, as the dashboard and the API store it: a
        # file written from text typed in a browser carries CR LF.
        values = {h: plain_line_breaks(v.strip()) for h, v in zip(header, record, strict=True) if h}
        unreadable += [
            RowError(start, problem)
            for column, value in values.items()
            if (problem := control_character_problem(column, value))
        ]
        rows.append(_Row(start, values))
    unreadable += [
        RowError(1, f"column {i + 1} has no name (line {first} has a value in it)")
        for i, first in filled.items()
    ]
    return rows, unreadable


# C0 control characters (U+0000 is refused on its own) but tab, line feed and carriage
# return: invisible on the dashboard and in a phone's text, and left out of messages
# (`bot.sms.sendable`), so a name or title with one is not what residents would type. A
# tab is whitespace a pasted cell carries: a name or title collapses it into a space and
# a message sends it as one, so it is kept rather than refusing a file for it.
# DEL and the C1 controls (U+007F-U+009F) too: invisible, and a sign of a file decoded
# with the wrong code page.
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_character_problem(what: str, value: str) -> str | None:
    """Return why `value` cannot be stored as `what` if it holds a control character other
    than a tab or a line break, the same for the CSV import, the dashboard and the API."""
    found = _CONTROL.search(value)
    if found is None:
        return None
    return (
        f"{what} contains a control character (U+{ord(found.group()):04X}), which no one can "
        "see: take it out (tabs and line breaks may stay)"
    )


class _Checker:
    """Collects the reasons one row is bad."""

    def __init__(self, row: _Row) -> None:
        self.row = row
        self.reasons: list[str] = []

    def required(self, column: str) -> str:
        value = self.row.values[column]
        if not value:
            self.reasons.append(f"{column} is missing")
        return value

    def choice(self, column: str, allowed: tuple[str, ...], *, blank_ok: bool = False) -> str:
        value = self.row.values[column]
        folded = {a.lower(): a for a in allowed}
        if not value and blank_ok:
            return ""
        if value.lower() not in folded:
            self.reasons.append(choice_problem(column, value, allowed))
            return ""
        return folded[value.lower()]

    def max_len(self, column: str, limit: int) -> None:
        if len(self.row.values[column]) > limit:
            self.reasons.append(f"{column} is longer than {limit} characters")

    def key_len(self, column: str, key: str, limit: int) -> None:
        # Folding for matching can lengthen a value ("ß" becomes "ss") past its key column.
        if len(key) > limit >= len(self.row.values[column]):
            self.reasons.append(
                f"{column} is longer than {limit} characters once folded for matching "
                "(e.g. ß becomes ss): shorten it"
            )


def _settlement_lookup(session: Session) -> Callable[[str], Settlement | str]:
    by_key: dict[str, list[Settlement]] = {}
    for settlement in session.exec(select(Settlement)).all():
        by_key.setdefault(settlement.name_key, []).append(settlement)

    def lookup(name: str) -> Settlement | str:
        found = by_key.get(name_key(name), [])
        if not found:
            return f"no such settlement: {name} (import settlements first)"
        if len(found) > 1:
            return f"settlement name {name} is used in more than one municipality"
        return found[0]

    return lookup


def _changes(obj: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if getattr(obj, key) != value}


def _apply(obj: Any, values: dict[str, Any]) -> tuple[str, ...] | None:
    """Set `values` on `obj`; return what changed, as `Updated` says it (None: nothing)."""
    changes = _changes(obj, values)
    said = tuple(
        f"{key} {_shown(getattr(obj, key))} -> {_shown(value)}"
        for key, value in changes.items()
        if key not in _UNSHOWN
    )
    for key, value in changes.items():
        setattr(obj, key, value)
    if not changes:
        return None
    obj.updated_at = utcnow()
    return said


# Columns derived from shown ones (a key folded for matching, an id the row names by name).
_UNSHOWN = frozenset({"name_key", "municipality_key", "title_key", "natural_key", "settlement_id"})
SHOWN_LENGTH = 60  # a longer value (a note, say) is shortened with an ellipsis


def _shown(value: Any) -> str:
    """Return a value as an update's change shows it: quoted, blank for nothing, a list
    ";"-separated as the file writes it, a time in Johannesburg time as the dashboard shows
    it (seconds only when it has some), a long text shortened."""
    if value is None or value == "" or value == []:
        return "(blank)"
    if isinstance(value, dt.datetime):
        local = value.astimezone(TIMEZONE)
        text = local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
    elif isinstance(value, dt.date):
        text = value.isoformat()
    elif isinstance(value, list):
        text = "; ".join(str(item) for item in value)
    else:
        text = str(value)
    if len(text) > SHOWN_LENGTH:
        text = text[: SHOWN_LENGTH - 1].rstrip() + "…"
    return repr(text)


def remember_key(former: list[str], *, old: str, new: str) -> list[str]:
    """Return a record's former natural keys once its key changes from `old` to `new` (on
    the dashboard or with the API): `old` added, `new` taken out (it is its own again)."""
    if old == new:
        return former
    return [key for key in former if key not in (old, new)] + [old]


def _has_former_keys(column: Any) -> Any:
    """Return the condition that a record has former keys (a JSON list, empty for most)."""
    return func.json_array_length(column) > 0


def _upsert(
    session: Session,
    result: ImportResult,
    existing: Any,
    model: type[Settlement | Milestone | Meeting],
    values: dict[str, Any],
    label: str,
    line: int,
) -> None:
    """Create or update one row, and remember what it wrote (`ImportedRow`); first list in
    `result.overwritten` what this overwrites that a person changed since the last import:
    a field, or the row itself, deleted since."""
    kind, key = model.__tablename__, imported_key(model, values)
    if existing is None:
        gone = session.exec(
            select(ImportedRow)
            .where(ImportedRow.kind == kind, ImportedRow.natural_key == key)
            .order_by(col(ImportedRow.imported_at).desc(), col(ImportedRow.id).desc())
        ).first()
        if gone is not None and _deleted_since(session, model, gone):
            said = audit.last_change(
                session=session,
                target=f"{kind}:{gone.row_id}",
                verb="delete",
                since=gone.imported_at,
            )
            reason = f"{label}: deleted {_by(said, gone)}: the file creates it again"
            result.overwritten.append(RowError(line, reason))
        existing = model(**values)
        session.add(existing)
        session.flush()  # its id, for the record
        result.created.append(label)
        record = _record_of(session, kind, existing)
    else:
        record = _record_of(session, kind, existing)
        if record is not None and _imported_as_it_was(existing, record):
            result.overwritten += [
                RowError(line, reason)
                for reason in _edited_since(session, existing, values, record, label)
            ]
        if (changes := _apply(existing, values)) is not None:
            result.updated.append(label)
            result.changes.append(Updated(label, changes))
        else:
            result.unchanged.append(label)
    assert existing.id is not None
    if record is None:
        record = ImportedRow(kind=kind, natural_key=key, row_id=existing.id)
    record.natural_key = key
    record.imported = {name: _as_json(values[name]) for name in values if name not in _UNSHOWN}
    record.imported_at = utcnow()
    session.add(record)


def _record_of(
    session: Session, kind: str, row: Settlement | Milestone | Meeting
) -> ImportedRow | None:
    """Return what the last import of `row` wrote (perhaps of a row deleted whose id SQLite
    gave to `row`: `_imported_as_it_was` tells)."""
    return session.exec(
        select(ImportedRow).where(ImportedRow.kind == kind, ImportedRow.row_id == row.id)
    ).first()


def imported_key(model: type[Settlement | Milestone | Meeting], values: Mapping[str, Any]) -> str:
    """Return the key a file names a row by, as `ImportedRow` keeps it: a settlement's
    municipality and name, a milestone's settlement, strand and title, a meeting's own."""
    if model is Settlement:
        return f"{values['municipality_key']}|{values['name_key']}"
    if model is Milestone:
        return f"{values['settlement_id']}|{milestone_key(values['strand'], values['title_key'])}"
    return str(values["natural_key"])


def _as_json(value: Any) -> Any:
    """Return a value as `ImportedRow.imported` keeps it (a date or time as ISO 8601, UTC)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _imported_as_it_was(row: Settlement | Milestone | Meeting, record: ImportedRow) -> bool:
    """Return whether `record` is of `row` itself, not of one deleted whose id SQLite gave
    to a row made since (SQLite may reuse the highest id)."""
    return row.id == record.row_id and row.created_at <= record.imported_at


def _deleted_since(
    session: Session, model: type[Settlement | Milestone | Meeting], record: ImportedRow
) -> bool:
    """Return whether the row `record` is of was deleted since it was imported."""
    row = cast(Settlement | Milestone | Meeting | None, session.get(model, record.row_id))
    return row is None or not _imported_as_it_was(row, record)


def _edited_since(
    session: Session,
    row: Settlement | Milestone | Meeting,
    values: Mapping[str, Any],
    record: ImportedRow,
    label: str,
) -> list[str]:
    """Return each field of `row` a person changed since the last import (it is not what
    that import wrote) that `values` would overwrite, saying who and when as the audit log
    has it (the row's last edit since the import)."""
    edited = [
        name
        for name, was in record.imported.items()
        if name in values
        and getattr(row, name) != values[name]
        and _as_json(getattr(row, name)) != was
    ]
    if not edited:
        return []
    said = audit.last_change(
        session=session, target=f"{record.kind}:{row.id}", verb="update", since=record.imported_at
    )
    return [
        f"{label}: {name} changed {_by(said, record)}: the file says {_shown(values[name])}, "
        f"now {_shown(getattr(row, name))}"
        for name in edited
    ]


def _by(event: audit.Change | None, record: ImportedRow) -> str:
    """Say who changed a row and when, as the audit log has it, or since when."""
    if event is None:
        return f"since the import of {local_time(record.imported_at)}"
    where = "with the API" if event.by_api else "on the dashboard"
    return f"{where} by {event.actor or 'an unknown user'} on {local_time(event.at)}"


def _settlements(
    session: Session,
    rows: list[_Row],
    errors: list[RowError],
    now: dt.datetime,
    staff: StaffUser | None = None,
) -> ImportResult:
    seen: dict[tuple[str, str], int] = {}
    clean: list[tuple[_Row, dict[str, Any]]] = []
    spellings = settlements.ward_spellings(session=session)
    for row in rows:
        check = _Checker(row)
        name = check.required("name")
        municipality = check.required("municipality")
        check.max_len("name", NAME_LENGTH)
        check.max_len("municipality", NAME_LENGTH)
        check.max_len("ward", WARD_LENGTH)
        check.max_len("category_note", NOTE_LENGTH)
        check.max_len("current_phase", PHASE_LENGTH)
        category = check.choice("category", CATEGORIES, blank_ok=True)
        key = (name_key(municipality), name_key(name))
        check.key_len("name", key[1], NAME_LENGTH)
        check.key_len("municipality", key[0], NAME_LENGTH)
        ward = " ".join(row.values["ward"].split())
        if ward:
            # One spelling per ward, the first one stored: forums, scopes and broadcast
            # audiences compare wards as stored, so "WARD 5" would be another ward.
            ward = spellings.setdefault(name_key(ward), ward)
        if name and municipality:
            if key in seen:
                check.reasons.append(f"duplicates line {seen[key]} ({name} in {municipality})")
            else:
                seen[key] = row.line
        aliases = [a.strip() for a in row.values["aliases"].split(";") if a.strip()]
        errors += [RowError(row.line, reason) for reason in check.reasons]
        clean.append(
            (
                row,
                {
                    "name": " ".join(name.split()),
                    "name_key": key[1],
                    "aliases": aliases,
                    "ward": ward,
                    "municipality": " ".join(municipality.split()),
                    "municipality_key": key[0],
                    "category": category or None,
                    "category_note": row.values["category_note"],
                    "current_phase": row.values["current_phase"],
                },
            )
        )
    imported = list(session.exec(select(Settlement)).all())
    errors += _names_alike(imported, clean)
    errors += _wards_shared(imported, clean)
    if errors:
        raise ImportRejected(sorted(errors, key=lambda error: error.line))
    result = ImportResult("settlements")
    for _row, values in clean:
        existing = session.exec(
            select(Settlement).where(
                Settlement.municipality_key == values["municipality_key"],
                Settlement.name_key == values["name_key"],
            )
        ).first()
        category_before = existing.category if existing is not None else None
        _upsert(session, result, existing, Settlement, values, values["name"], _row.line)
        if existing is not None and existing.category != category_before:
            _category_changed(session, result, existing, category_before, staff)
    session.flush()
    result.linked = links.link_unmatched(session=session)
    return result


def _category_changed(
    session: Session,
    result: ImportResult,
    settlement: Settlement,
    category_before: str | None,
    staff: StaffUser | None,
) -> None:
    """Note a settlement the file placed in another category: its announcement to offer,
    and the announcements of its category before, not sent yet, withdrawn."""
    news = broadcasts.category_news(settlement=settlement, category_before=category_before)
    if news is not None:
        result.categories.append(news)
    result.withdrawn += broadcasts.withdraw_category_news(
        session=session, settlement=settlement, staff=staff, via="import"
    )


@dataclass(frozen=True)
class _Called:
    """A name or alias a settlement is called by, and where it comes from."""

    settlement: tuple[str, str]  # its natural key: municipality_key, name_key
    value: str
    name: str  # the settlement's name
    where: str  # "line 3", or the municipality of one already imported

    def __str__(self) -> str:
        called = self.name if self.value == self.name else f"{self.name}'s alias {self.value}"
        return f"{called} ({self.where})"


def _called(key: tuple[str, str], name: str, aliases: list[str], where: str) -> list[_Called]:
    return [_Called(key, value, name, where) for value in (name, *aliases)]


def _names_alike(
    imported: list[Settlement], clean: list[tuple[_Row, dict[str, Any]]]
) -> list[RowError]:
    """Refuse a name or alias new to its settlement that residents' matching reads as
    another settlement's name or alias (`same_name_key`: no case, accents, punctuation or
    spaces; Ext is Extension), in this file or already imported, in the same municipality:
    a resident typing it would be asked to choose between two lines that read the same.
    Another municipality's settlement of the same name is another settlement (the natural
    key's scope; residents' choices show the ward).
    What the settlements will be called after this import is compared, so an alias may
    move from one to another in one file; names already alike are left alone (only new
    ones are checked) and hold up no other import."""
    stored: dict[tuple[str, str], list[_Called]] = {}
    for settlement in imported:
        key = (settlement.municipality_key, settlement.name_key)
        where = f"in {settlement.municipality}"
        stored[key] = _called(key, settlement.name, settlement.aliases, where)
    filed: dict[tuple[str, str], tuple[_Row, list[_Called]]] = {}
    for row, values in clean:
        key = (values["municipality_key"], values["name_key"])
        if values["name"] and values["municipality"] and key not in filed:
            called = _called(key, values["name"], values["aliases"], f"line {row.line}")
            filed[key] = (row, called)
    by_key: dict[str, list[_Called]] = {}
    after = {**stored, **{key: called for key, (_row, called) in filed.items()}}
    for called in after.values():
        for one in called:
            by_key.setdefault(same_name_key(one.value), []).append(one)
    errors = []
    for key, (row, called) in filed.items():
        known = {same_name_key(one.value) for one in stored.get(key, [])}
        for one in called:
            alike = same_name_key(one.value)
            others = [
                o
                for o in by_key.get(alike, [])
                if o.settlement != key and o.settlement[0] == key[0]  # same municipality
            ]
            if not alike or alike in known or not others:
                continue
            known.add(alike)  # said once a row
            what = "name" if one.value == one.name else "alias"
            errors.append(
                RowError(
                    row.line,
                    f"{what} {one.value} reads the same to residents as "
                    f"{', '.join(map(str, others))}: the bot matches names without case, "
                    'accents, punctuation, spaces or words like "informal settlement", and '
                    "reads Ext as Extension; give one a name residents can tell apart",
                )
            )
    return errors


def _wards_shared(
    imported: list[Settlement], clean: list[tuple[_Row, dict[str, Any]]]
) -> list[RowError]:
    """Refuse a ward new to its settlement that a settlement of another municipality is in
    (in the file or already imported): wards are compared by name alone (ward forums,
    residents' lists of meetings, reminders, broadcast audiences, staff scopes), so one
    municipality's "Ward 3" forum would be shown and reminded to the other's residents.
    Wards stored shared before are left alone: only a ward new to a settlement is checked."""
    stored = {(s.municipality_key, s.name_key): (s.municipality, s.ward) for s in imported}
    clean = [(row, v) for row, v in clean if v["name"] and v["municipality"]]  # others refused
    filed = {
        (v["municipality_key"], v["name_key"]): (v["municipality"], v["ward"]) for _, v in clean
    }
    owners: dict[str, dict[str, str]] = {}  # ward -> municipality key -> its name
    for (municipality_key, _name), (municipality, ward) in {**stored, **filed}.items():
        if ward:
            owners.setdefault(name_key(ward), {})[municipality_key] = municipality
    errors = []
    for row, values in clean:
        ward, key = values["ward"], (values["municipality_key"], values["name_key"])
        before = stored.get(key, ("", ""))[1]
        if not ward or name_key(before) == name_key(ward):
            continue
        others = sorted(
            name for m, name in owners[name_key(ward)].items() if m != values["municipality_key"]
        )
        if others:
            errors.append(
                RowError(
                    row.line,
                    f"ward {ward} is already a ward of {' and '.join(others)}: wards are "
                    "told apart by name alone (forums, reminders, broadcasts, staff scopes), "
                    "so name this municipality's wards differently, e.g. "
                    f"{values['municipality']} {ward}",
                )
            )
    return errors


def _parse_date(check: _Checker, column: str) -> dt.date | None:
    value = check.row.values[column]
    if not value:
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    check.reasons.append(f"{column} {value} is not a date (YYYY-MM-DD)")
    return None


def _milestones(
    session: Session, rows: list[_Row], errors: list[RowError], now: dt.datetime
) -> ImportResult:
    lookup = _settlement_lookup(session)
    seen: dict[tuple[int, str, str], int] = {}
    clean: list[dict[str, Any]] = []
    for row in rows:
        check = _Checker(row)
        settlement_name = check.required("settlement")
        strand = check.choice("strand", STRANDS)
        title = check.required("title")
        check.max_len("title", TITLE_LENGTH)
        check.max_len("note", NOTE_LENGTH)
        check.key_len("title", name_key(title), TITLE_LENGTH)
        target = _parse_date(check, "target_date")
        if target is not None and (problem := target_date_problem(target)):
            check.reasons.append(problem)
        status = check.choice("status", MILESTONE_STATUSES)
        found = lookup(settlement_name) if settlement_name else None
        if isinstance(found, str):
            check.reasons.append(found)
        if isinstance(found, Settlement) and strand and title:
            assert found.id is not None
            key = (found.id, strand, name_key(title))
            if key in seen:
                check.reasons.append(f"duplicates line {seen[key]} ({settlement_name}, {title})")
            seen[key] = row.line
            clean.append(
                {
                    "settlement_id": found.id,
                    "strand": strand,
                    "title": " ".join(title.split()),
                    "title_key": key[2],
                    "target_date": target,
                    "status": status,
                    "note": row.values["note"],
                    "_label": f"{found.name}: {title}",
                    "_line": row.line,
                }
            )
        errors += [RowError(row.line, reason) for reason in check.reasons]
    if errors:
        raise ImportRejected(sorted(errors, key=lambda error: error.line))
    result = ImportResult("milestones")
    renamed = session.exec(
        select(Milestone).where(
            col(Milestone.settlement_id).in_(sorted({v["settlement_id"] for v in clean})),
            _has_former_keys(col(Milestone.former_keys)),
        )
    )
    # Of two milestones that had the same key, the later one: the last to have had it.
    former = {
        (milestone.settlement_id, key): milestone
        for milestone in sorted(renamed, key=lambda milestone: milestone.id or 0)
        for key in milestone.former_keys
    }
    quoted = broadcasts.quoted_ids(session=session, kind="milestone")
    too_long: list[RowError] = []
    # A savepoint: a milestone a broadcast not sent yet quotes is measured as changed, and
    # the file refused (nothing written) if that broadcast's SMS would pass the budget.
    with session.begin_nested():
        for values in clean:
            label, line = values.pop("_label"), values.pop("_line")
            existing = session.exec(
                select(Milestone).where(
                    Milestone.settlement_id == values["settlement_id"],
                    Milestone.strand == values["strand"],
                    Milestone.title_key == values["title_key"],
                )
            ).first()
            was = (values["settlement_id"], milestone_key(values["strand"], values["title_key"]))
            if existing is None and was in former:  # its row from before a rename: renamed
                kept = former[was]
                strand = "" if kept.strand == values["strand"] else f" in {kept.strand}"
                result.kept.append(f"{label} (now {kept.title!r}{strand})")
                continue
            field = "note" if values["note"].strip() else "title"
            too_long += [
                RowError(line, reason)
                for reason in _upsert_quoted(
                    session,
                    result,
                    existing,
                    Milestone,
                    values,
                    label,
                    line,
                    quoted=quoted,
                    field=field,
                )
            ]
        if too_long:
            raise ImportRejected(too_long)
    return result


def _upsert_quoted(
    session: Session,
    result: ImportResult,
    existing: Milestone | Meeting | None,
    model: type[Milestone | Meeting],
    values: dict[str, Any],
    label: str,
    line: int,
    *,
    quoted: Collection[int],
    field: str,
) -> list[str]:
    """`_upsert` a milestone or a meeting (`model`); return why the file is refused if a
    broadcast not sent yet that quotes it (its id in `quoted`) would now pass the SMS
    budget, or pass it by more (`broadcasts.quoting_sms_worse`), naming `field`. Run in a
    savepoint, which the refusal rolls back."""
    measured = existing if existing is not None and existing.id in quoted else None
    with broadcasts.quoting_sms_measured(session=session, changed=measured, field=field) as worse:
        _upsert(session, result, existing, model, values, label, line)
    return [f"{field}: {problem.message()}" for problem in worse]


def milestone_key(strand: str, title_key: str) -> str:
    """Return a milestone's natural key within its settlement: strand and folded title."""
    return f"{strand}|{title_key}"


def _parse_starts_at(check: _Checker) -> dt.datetime | None:
    value = check.row.values["starts_at"]
    if not value:
        check.reasons.append("starts_at is missing")
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        check.reasons.append(f"starts_at {value} is not an ISO 8601 date and time")
        return None
    if parsed.tzinfo is None:
        check.reasons.append(f"starts_at {value} has no UTC offset (write e.g. +02:00)")
        return None
    if problem := meeting_time_problem(parsed):
        check.reasons.append(problem)
        return None
    return parsed.astimezone(dt.UTC)


def _years_problem(what: str, value: dt.date, year: int) -> str | None:
    if year in YEARS:
        return None
    return f"{what} {value.isoformat()} is not between {YEARS.start} and {YEARS.stop - 1}"


def meeting_time_problem(starts_at: dt.datetime) -> str | None:
    """Return why a meeting cannot start at `starts_at` (aware), or None."""
    return _years_problem("starts_at", starts_at, utc_year(starts_at))


def passed_start_problem(starts_at: dt.datetime, *, now: dt.datetime) -> str | None:
    """Return why a meeting cannot be added at, or moved to, `starts_at` (aware), or None:
    the time has passed. Residents never see such a meeting and are never reminded of it;
    it is most often a year typed wrong."""
    if starts_at >= now:
        return None
    local = starts_at.astimezone(TIMEZONE).isoformat(timespec="minutes")
    return (
        f"starts_at {local} has passed: a meeting is added or moved only to a time still to "
        "come (is the year right?)"
    )


def target_date_problem(target_date: dt.date) -> str | None:
    """Return why a milestone cannot fall due on `target_date`, or None."""
    return _years_problem("target date", target_date, target_date.year)


# How a refusal of a meeting's place names its settlement and ward: the CSV's columns and
# the dashboard's form say "a settlement" and "blank"; the API names its fields
# (`edit.API_NAMES`).
PLACE_WORDS: Mapping[str, str] = {
    "settlement": "a settlement",
    "no settlement": "leave it blank",
    "no ward": "leave the ward blank",
}


def meeting_place_problems(
    *,
    level: str,
    ward: str,
    settlement: Settlement | None,
    named: bool,
    names: Mapping[str, str] = PLACE_WORDS,
) -> list[str]:
    """Return what is wrong with where a meeting is for (nothing: an empty list), the same
    for the CSV import, the dashboard and the API (each naming the fields as it does,
    `names`): a neighbourhood meeting needs a settlement, a ward meeting a ward (its
    settlement's, when none is given, and no other), and a city forum, which concerns
    everyone, neither settlement nor ward. `named` says a settlement was given,
    `settlement` is it if it was found."""
    problems = []
    theirs = settlement.ward if settlement is not None else ""
    if settlement is not None and ward and name_key(ward) != name_key(theirs):
        # A settlement with no ward is no licence to name one: a scoped officer of that
        # settlement would reach (and keep changing) another ward's forum.
        problems.append(
            f"ward {ward} differs from {settlement.name}'s ward ({theirs})"
            if theirs
            else f"{settlement.name} has no ward: {names['no ward']}"
        )
    if level == "neighbourhood" and not named:
        problems.append(f"a neighbourhood meeting needs {names['settlement']}")
    if level == "ward" and not (ward or theirs):
        problems.append("a ward meeting needs a ward")
    if level == "city" and named:
        problems.append(f"a city forum belongs to no single settlement: {names['no settlement']}")
    if level == "city" and ward:  # else a second copy of the same forum, told to everyone
        problems.append(f"a city forum belongs to no single ward: {names['no ward']}")
    return problems


def meeting_ward(
    *,
    session: Session,
    ward: str,
    settlement: Settlement | None,
    spellings: Mapping[str, str] | None = None,
) -> str:
    """Return the ward a meeting is stored with, the same for the CSV import and the
    dashboard: its settlement's, else the given ward as the settlements spell it; raise
    `settlements.UnknownWard` for a ward no settlement is in (its forum would reach no one).
    Residents' lists and reminders compare wards as stored: one spelling is what matches."""
    if settlement is not None:
        return settlement.ward
    spelt = settlements.spell_wards(session=session, wards=[ward], spellings=spellings)
    return spelt[0] if spelt else ""


def meeting_key_problem(key: str) -> str | None:
    """Return why a meeting's natural key cannot be stored, if it cannot: folding for
    matching lengthens some titles past the key's column."""
    if len(key) <= MEETING_KEY_LENGTH:
        return None
    return (
        f"title is too long once folded for matching (e.g. ß becomes ss): the meeting's key "
        f"would pass {MEETING_KEY_LENGTH} characters; shorten it"
    )


# What a meeting's reminders and announcements say of it, the words to name first.
_SAID = ("venue", "title", "starts_at")


def meeting_words_changed(meeting: Meeting | None, values: Mapping[str, Any]) -> bool:
    """Return whether a meeting saved with `values` says something new in its reminders (a
    new meeting, a new title, venue or start): only then are they measured, so a meeting
    stored before the SMS budget was checked holds up no other change, nor a re-import."""
    if meeting is None:
        return True
    return any(getattr(meeting, name) != values[name] for name in _SAID)


def meeting_quoted_field(meeting: Meeting, values: Mapping[str, Any]) -> str:
    """Return the field to name when `meeting`, taking `values`, makes an announcement
    not sent yet that quotes it too long: its venue, title or start, the first that
    changes (`broadcasts.quoting_sms_worse`)."""
    changed = (name for name in _SAID if getattr(meeting, name) != values[name])
    return next(changed, "venue")


def _place(settlement_id: int | None, ward: str) -> str:
    return f"s{settlement_id}" if settlement_id is not None else f"w{name_key(ward)}"


def meeting_key(title: str, starts_at: dt.datetime, settlement_id: int | None, ward: str) -> str:
    """Return a meeting's natural key: title + start + settlement (or ward when none)."""
    where = _place(settlement_id, ward)
    return f"{name_key(title)}|{starts_at.astimezone(dt.UTC).isoformat()}|{where}"


def _meetings(
    session: Session, rows: list[_Row], errors: list[RowError], now: dt.datetime
) -> ImportResult:
    lookup = _settlement_lookup(session)
    spellings = settlements.ward_spellings(session=session)
    seen: dict[str, int] = {}
    clean: list[tuple[int, dict[str, Any]]] = []
    for row in rows:
        check = _Checker(row)
        level = check.choice("level", MEETING_LEVELS)
        title = check.required("title")
        check.max_len("title", TITLE_LENGTH)
        check.max_len("ward", WARD_LENGTH)
        check.max_len("venue", VENUE_LENGTH)
        starts_at = _parse_starts_at(check)
        ward = row.values["ward"]
        settlement: Settlement | None = None
        if row.values["settlement"]:
            found = lookup(row.values["settlement"])
            if isinstance(found, str):
                check.reasons.append(found)
            else:
                settlement = found
        problems = meeting_place_problems(
            level=level, ward=ward, settlement=settlement, named=bool(row.values["settlement"])
        )
        check.reasons += problems
        if not problems and len(ward) <= WARD_LENGTH:
            try:
                ward = meeting_ward(
                    session=session, ward=ward, settlement=settlement, spellings=spellings
                )
            except settlements.UnknownWard as exc:
                check.reasons.append(str(exc))
        if not check.reasons and starts_at is not None:
            settlement_id = settlement.id if settlement else None
            key = meeting_key(title, starts_at, settlement_id, ward)
            if problem := meeting_key_problem(key):
                check.reasons.append(problem)
            elif key in seen:
                check.reasons.append(f"duplicates line {seen[key]} ({title})")
            seen[key] = row.line
            clean.append(
                (
                    row.line,
                    {
                        "settlement_id": settlement_id,
                        "ward": ward,
                        "level": level,
                        "title": " ".join(title.split()),
                        "starts_at": starts_at,
                        "venue": row.values["venue"],
                        "natural_key": key,
                    },
                )
            )
        errors += [RowError(row.line, reason) for reason in check.reasons]
    former = _meetings_by_former_key(session, clean)
    errors += _passed_meetings(session, clean, now, former)
    errors += _changed_meetings(session, clean, now, former)
    errors += _long_reminders(session, clean, former)
    if errors:
        raise ImportRejected(sorted(errors, key=lambda error: error.line))
    result = ImportResult("meetings")
    quoted = broadcasts.quoted_ids(session=session, kind="meeting")
    too_long: list[RowError] = []
    # A savepoint, as for milestones: a meeting an announcement not sent yet quotes is
    # measured as changed, and the file refused (nothing written) if that announcement's
    # SMS would pass the budget.
    with session.begin_nested():
        for line, values in clean:
            if line in former:  # its row from before the dashboard or the API changed it
                result.kept.append(_now_called(values, former[line]))
                continue
            existing = session.exec(
                select(Meeting).where(Meeting.natural_key == values["natural_key"])
            ).first()
            # Held, or cancelled (as the dashboard and the API refuse to change it): stays
            # as it was, so a file imported again takes back nothing residents were told.
            if existing is not None and (existing.cancelled or values["starts_at"] < now):
                left = "held already" if values["starts_at"] < now else "cancelled"
                if _changes(existing, values):
                    result.kept.append(f"{values['title']} ({left}: left as it was)")
                else:
                    result.unchanged.append(values["title"])
                continue
            field = "venue"
            if existing is not None:
                field = meeting_quoted_field(existing, values)
                broadcasts.meeting_changing(session=session, meeting=existing, values=values)
            too_long += [
                RowError(line, reason)
                for reason in _upsert_quoted(
                    session,
                    result,
                    existing,
                    Meeting,
                    values,
                    values["title"],
                    line,
                    quoted=quoted,
                    field=field,
                )
            ]
        if too_long:
            raise ImportRejected(too_long)
    return result


def _meetings_by_former_key(
    session: Session, clean: list[tuple[int, dict[str, Any]]]
) -> dict[int, Meeting]:
    """Return, by line, the meeting a row names by a natural key it had before the dashboard
    or the API renamed or moved it (or changed its place), where no meeting has that key
    now: the row is from a file imported before the change, and stands for that meeting."""
    renamed = session.exec(select(Meeting).where(_has_former_keys(col(Meeting.former_keys))))
    # Of two meetings that had the same key, the later one: the last to have had it.
    by_key = {
        key: meeting
        for meeting in sorted(renamed, key=lambda meeting: meeting.id or 0)
        for key in meeting.former_keys
    }
    rows = [(line, values["natural_key"]) for line, values in clean]
    rows = [(line, key) for line, key in rows if key in by_key]
    if not rows:
        return {}
    current = select(Meeting.natural_key).where(col(Meeting.natural_key).in_([k for _, k in rows]))
    taken = set(session.exec(current))
    return {line: by_key[key] for line, key in rows if key not in taken}


def _now_called(values: dict[str, Any], meeting: Meeting) -> str:
    """Return how the import names a row kept for the meeting it stood for: by its title
    in the file and the meeting's title (and its start, if it moved) now."""
    now = repr(meeting.title)
    if meeting.starts_at != values["starts_at"]:
        now += f" on {meeting.starts_at.astimezone(TIMEZONE).isoformat(timespec='minutes')}"
    return f"{values['title']} (now {now})"


def _long_reminders(
    session: Session, clean: list[tuple[int, dict[str, Any]]], former: Mapping[int, Meeting]
) -> list[RowError]:
    """Refuse a row whose meeting's SMS reminders would pass the SMS budget, where it says
    something new (`meeting_words_changed`), as the dashboard and the API refuse it. A row
    kept for a meeting renamed or moved since (`former`) changes nothing, so says nothing."""
    errors = []
    for line, values in clean:
        if line in former:
            continue
        existing = session.exec(
            select(Meeting).where(Meeting.natural_key == values["natural_key"])
        ).first()
        if (existing is not None and existing.cancelled) or not meeting_words_changed(
            existing, values
        ):
            continue  # a cancelled meeting's row changes nothing
        problem = broadcasts.reminder_sms_problem(
            title=values["title"], venue=values["venue"], starts_at=values["starts_at"]
        )
        if problem is not None:
            errors.append(RowError(line, f"title and venue: {problem.message()}"))
    return errors


def _same_meeting(
    title: str, level: str, settlement_id: int | None, ward: str
) -> tuple[str, str, str]:
    """Return what a meeting moved to another time keeps: its title, level and place."""
    return name_key(title), level, _place(settlement_id, ward)


def _passed_meetings(
    session: Session,
    clean: list[tuple[int, dict[str, Any]]],
    now: dt.datetime,
    former: Mapping[int, Meeting],
) -> list[RowError]:
    """Refuse a row that would add a meeting whose time has passed (`passed_start_problem`).
    A row of a meeting imported before passes, so last year's whole file imports again,
    and so does one that stands for a meeting renamed or moved since (`former`); a file
    cannot move a meeting (its time is in its key), so no other row matches one."""
    passed = [
        (line, values) for line, values in clean if values["starts_at"] < now and line not in former
    ]
    if not passed:
        return []
    # By time, not by key: last year's file may name thousands (a query's bound limit).
    since = min(values["starts_at"] for _, values in passed)
    stored = select(Meeting.natural_key).where(
        col(Meeting.starts_at) >= since, col(Meeting.starts_at) < now
    )
    known = set(session.exec(stored))
    return [
        RowError(line, problem)
        for line, values in passed
        if values["natural_key"] not in known
        and (problem := passed_start_problem(values["starts_at"], now=now))
    ]


def _changed_meetings(
    session: Session,
    clean: list[tuple[int, dict[str, Any]]],
    now: dt.datetime,
    former: Mapping[int, Meeting],
) -> list[RowError]:
    """Refuse a row that matches no meeting but looks like one changed: a future meeting
    that no row of the file matches, with the row's title and place (moved) or its time and
    place (renamed, a typo corrected in the file). Imported, it would be a second meeting,
    and residents would see both and be reminded of the old one. The dashboard and the API
    move or rename a meeting (its reminders follow; an announcement tells residents of a
    move); a file that keeps the other row too adds one (a meeting that recurs, or two at
    the same time and place). A row that stands for a meeting changed that way since it was
    imported (`former`) is that meeting, neither moved nor renamed by the file."""
    keys = {values["natural_key"] for _line, values in clean}
    keys |= {meeting.natural_key for meeting in former.values()}
    moved: dict[tuple[str, str, str], list[dt.datetime]] = {}
    renamed: dict[tuple[dt.datetime, str, str], list[str]] = {}
    m = settlements.MEETING.c
    future = session.execute(
        select_columns(m.title, m.level, m.settlement_id, m.ward, m.starts_at, m.natural_key).where(
            m.starts_at >= now, m.cancelled.is_(False)
        )
    ).all()
    for title, level, settlement_id, ward, starts_at, natural_key in future:
        if natural_key not in keys:
            moved.setdefault(_same_meeting(title, level, settlement_id, ward), []).append(starts_at)
            renamed.setdefault((starts_at, level, _place(settlement_id, ward)), []).append(title)
    suspects = []
    for line, values in clean:
        if line in former:
            continue
        place = _same_meeting(
            values["title"], values["level"], values["settlement_id"], values["ward"]
        )
        slot = (
            values["starts_at"],
            values["level"],
            _place(values["settlement_id"], values["ward"]),
        )
        if place in moved or slot in renamed:
            suspects.append((line, values, place, slot))
    if not suspects:
        return []
    # A suspect whose own meeting exists (past or cancelled) updates it: asked for at once.
    existing = col(Meeting.natural_key).in_([values["natural_key"] for _, values, _, _ in suspects])
    known = set(session.exec(select(Meeting.natural_key).where(existing)))
    errors = []
    for line, values, place, slot in suspects:
        if values["natural_key"] in known:
            continue
        if place in moved:
            when = ", ".join(
                moment.astimezone(TIMEZONE).isoformat(timespec="minutes")
                for moment in sorted(moved[place])
            )
            reason = (
                f"“{values['title']}” is already on {when} at this place, and no row of "
                "this file has that date: to move it, change it on the dashboard or with the "
                "API (its reminders move; announce it to tell residents); to add another "
                "meeting, keep its row in this file too"
            )
        else:
            titles = " and ".join(f"“{title}”" for title in sorted(renamed[slot]))
            reason = (
                f"{titles} is already at this time and place, and no row of this file has "
                f"that title: to rename it “{values['title']}”, change it on the dashboard or "
                "with the API (its reminders follow); to add another meeting at the same "
                "time and place, keep its row in this file too"
            )
        errors.append(RowError(line, reason))
    return errors


_IMPORTERS: dict[
    str, Callable[[Session, list[_Row], list[RowError], dt.datetime], ImportResult]
] = {
    "settlements": _settlements,
    "milestones": _milestones,
    "meetings": _meetings,
}


# Imports take turns on PostgreSQL (SQLite's write gate already makes them): two at once,
# a double-clicked Import say, each found no row for a name and both inserted it, the
# second a 500 on the unique constraint. The second now waits and finds the rows.
IMPORT_LOCK_KEY = 0x5349_59414B_494D  # "SIYAKIM"


def import_csv(
    *,
    session: Session,
    kind: Kind,
    data: bytes | str,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    overwrite_edits: bool = False,
    staff: StaffUser | None = None,
) -> ImportResult:
    """Check every row, then create or update them all; raise ImportRejected if any is bad.
    `now` (default now) says which meetings have passed. A file that would overwrite a
    field a person changed since the last import, or create again a row a person deleted
    since, is refused (EditsInTheWay, each listed) unless `overwrite_edits`; the result
    lists them then (`overwritten`). `dry_run` (check only): the whole import runs in a
    savepoint that is rolled back, so the result (or the refusal) is the real run's and
    nothing is written: no row, audit, outbox notice (`settlement.linked`) nor withdrawn
    reminder or announcement. `staff`: who imports (None: the CLI), whom the audit log
    names for an announcement the import withdraws."""
    if kind not in _IMPORTERS:
        raise ValueError(f"unknown import kind {kind!r}")
    rows, unreadable = _read(kind, data)
    if session.get_bind().dialect.name == "postgresql":  # released when the import commits
        lock = text("SELECT pg_advisory_xact_lock(:key)")
        session.execute(lock, {"key": IMPORT_LOCK_KEY})
    # A savepoint: a file refused for what people changed is found so only once written.
    run = session.begin_nested()
    try:
        result = _run(session, kind, rows, unreadable, now, staff)
        if result.overwritten and not overwrite_edits:
            raise EditsInTheWay(sorted(result.overwritten, key=lambda error: error.line))
    except BaseException:
        run.rollback()
        raise
    if dry_run:
        run.rollback()
        result.dry_run = True
    else:
        run.commit()
    return result


def _run(
    session: Session,
    kind: Kind,
    rows: list[_Row],
    unreadable: list[RowError],
    now: dt.datetime | None,
    staff: StaffUser | None,
) -> ImportResult:
    # The rows that could be read are checked too, so every bad row is listed at once.
    if kind == "settlements":  # the one kind that may withdraw what a user composed
        result = _settlements(session, rows, unreadable, now or utcnow(), staff)
    else:
        result = _IMPORTERS[kind](session, rows, unreadable, now or utcnow())
    session.flush()
    return result


def iter_lines(result: ImportResult, *, public_url: str = "") -> Iterator[str]:
    """Yield a human summary of an import, one line each; a category changed, with the
    dashboard's page at `public_url` and the API's call that announce it."""
    for label in result.created:
        yield f"created: {label}"
    for updated in result.changes:
        yield f"updated: {updated}"
    for label in result.kept:
        yield f"kept: {label}"
    for overwritten in result.overwritten:
        yield f"overwritten: {overwritten}"
    kept = f", {len(result.kept)} kept as they are" if result.kept else ""
    yield (
        f"{result.kind}: {len(result.created)} created, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged{kept}"
    )
    if result.linked:
        told = "would be told" if result.dry_run else "is told"
        yield (
            f"linked: {result.linked} resident(s) who had typed a name that matched no "
            f"settlement (each {told}, unless opted out)"
        )
    for news in result.categories:
        if result.dry_run:
            yield f"would change category: {news} (announce it once imported)"
        else:
            yield (
                f"announce the new category: {news}: {public_url.rstrip('/')}"
                f"{news.compose_path} (or POST {news.api_path} {json.dumps(news.api_body)})"
            )
    for withdrawn in result.withdrawn:
        yield f"{'would withdraw' if result.dry_run else 'withdrawn'}: {withdrawn}"
    if result.dry_run:
        yield DRY_RUN_NOTE


# The CLI's last line after a check (the upload page says it in its own words).
DRY_RUN_NOTE = "checked only: nothing was written; run it again without --check-only to import"
# The CLI's last line after EditsInTheWay (the upload page says it in its own words).
EDITS_NOTE = (
    "people changed these since the file was last imported: write the values as they are "
    "now (take out the rows of those deleted), or run it again with --overwrite-edits to "
    "let the file win (the audit log records that choice)"
)


def audit_detail(
    result: ImportResult | None, errors: list[RowError] | None, *, overwrite_edits: bool
) -> dict[str, Any]:
    """Return what an import's audit event says of it (the dashboard's and the CLI's): its
    counts, the officer's choice to overwrite people's changes, and what it overwrote."""
    detail: dict[str, Any] = {
        "ok": errors is None,
        "problems": len(errors or []),
        "created": len(result.created) if result else 0,
        "updated": len(result.updated) if result else 0,
        "kept": len(result.kept) if result else 0,
        "linked": result.linked if result else 0,
    }
    if result and result.categories:
        detail["categories"] = [str(news) for news in result.categories]
    if result and result.withdrawn:
        detail["withdrawn"] = [withdrawn.broadcast_id for withdrawn in result.withdrawn]
    if overwrite_edits:
        detail["overwrite_edits"] = True
        overwritten = result.overwritten if result else []
        detail["overwritten"] = [str(error) for error in overwritten[:AUDITED_OVERWRITES]]
        if len(overwritten) > AUDITED_OVERWRITES:
            detail["overwritten_more"] = len(overwritten) - AUDITED_OVERWRITES
    return detail


AUDITED_OVERWRITES = 100  # an audit event lists at most these, and counts the rest
