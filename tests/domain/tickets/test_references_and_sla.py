"""Report numbers (digits, Luhn-checked, random) and SLA clocks (working days, urgency)."""

from __future__ import annotations

import datetime as dt

from bot.config import Settings
from bot.domain.tickets import references, sla
from tests import TEST_SECRET_KEY

UTC = dt.UTC


def test_references_are_digits_with_a_check_digit_and_not_sequential() -> None:
    refs = [references.random_reference() for _ in range(200)]
    assert all(r.isdigit() and len(r) == 7 and references.is_valid(r) for r in refs)
    assert len(set(refs)) > 190
    good = refs[0]
    typo = good[:2] + str((int(good[2]) + 1) % 10) + good[3:]
    assert not references.is_valid(typo)
    assert references.luhn_digit("7992739871") == "3"  # the textbook example


def test_new_reference_skips_taken_numbers_and_grows_when_crowded() -> None:
    seen: list[str] = []

    def taken(candidate: str) -> bool:
        seen.append(candidate)
        return len(candidate) == 7  # every 7-digit number is taken

    ref = references.new_reference(taken=taken)
    assert len(ref) == 8 and references.is_valid(ref)
    assert len(seen) == references.ATTEMPTS_PER_LENGTH + 1


def test_working_days_skip_weekends_and_public_holidays() -> None:
    friday = dt.datetime(2025, 6, 13, 8, 0, tzinfo=UTC)  # 10:00 SAST
    # Monday 16 June is Youth Day: two working days after Friday are Tuesday and Wednesday.
    assert sla.add_working_days(friday, 2) == dt.datetime(2025, 6, 18, 8, 0, tzinfo=UTC)
    assert dt.date(2025, 4, 18) in sla.public_holidays(2025)  # Good Friday
    assert dt.date(2025, 4, 21) in sla.public_holidays(2025)  # Family Day
    assert dt.date(2021, 12, 27) in sla.public_holidays(2021)  # Boxing Day on a Sunday


def test_a_start_on_no_working_day_counts_from_the_next_working_days_beginning() -> None:
    friday = dt.datetime(2025, 6, 6, 14, 0, tzinfo=UTC)  # 16:00 SAST
    saturday = dt.datetime(2025, 6, 7, 8, 0, tzinfo=UTC)  # 10:00 SAST
    assert sla.add_working_days(friday, 2) == dt.datetime(2025, 6, 10, 14, 0, tzinfo=UTC)
    # Monday and Tuesday whole: due at midnight, Wednesday 00:00 SAST (was Tuesday 10:00,
    # before Friday afternoon's report).
    assert sla.add_working_days(saturday, 2) == dt.datetime(2025, 6, 10, 22, 0, tzinfo=UTC)
    # Sunday 15 June 2025, before Youth Day on Monday: Tuesday and Wednesday whole.
    sunday = dt.datetime(2025, 6, 15, 9, 0, tzinfo=UTC)
    assert sla.add_working_days(sunday, 2) == dt.datetime(2025, 6, 18, 22, 0, tzinfo=UTC)
    # A declared day counts the same way: the 27th is no working day, so from the 28th.
    declared = frozenset([dt.date(2022, 12, 27)])
    tuesday = dt.datetime(2022, 12, 27, 8, 0, tzinfo=UTC)
    assert sla.add_working_days(tuesday, 1, declared) == dt.datetime(
        2022, 12, 28, 22, 0, tzinfo=UTC
    )


def test_extra_holidays_are_no_working_days_and_leave_the_statutory_calendar_alone() -> None:
    # Christmas 2022 fell on a Sunday, its Monday was Day of Goodwill anyway, and Tuesday the
    # 27th was declared a public holiday.
    declared = frozenset([dt.date(2022, 12, 27)])
    assert sla.is_working_day(dt.date(2022, 12, 27))
    assert not sla.is_working_day(dt.date(2022, 12, 27), declared)
    friday = dt.datetime(2022, 12, 23, 8, 0, tzinfo=UTC)
    assert sla.add_working_days(friday, 1) == dt.datetime(2022, 12, 27, 8, 0, tzinfo=UTC)
    assert sla.add_working_days(friday, 1, declared) == dt.datetime(2022, 12, 28, 8, 0, tzinfo=UTC)
    assert dt.date(2022, 12, 27) not in sla.public_holidays(2022)  # cached, statutory only


def test_due_times_normal_urgent_and_overridden() -> None:
    settings = Settings(
        SIYAKHA_ENV="test",
        SIYAKHA_SECRET_KEY=TEST_SECRET_KEY,
        SIYAKHA_SLA_RESOLVE_HOURS={"water": 10},
    )
    start = dt.datetime(2025, 6, 2, 8, 0, tzinfo=UTC)  # Monday
    ack, resolve = sla.due_times(settings, start=start, category="roads", urgent=False)
    assert ack == dt.datetime(2025, 6, 4, 8, 0, tzinfo=UTC)
    assert resolve == start + dt.timedelta(hours=720)
    ack, resolve = sla.due_times(settings, start=start, category="roads", urgent=True)
    assert ack == start + dt.timedelta(hours=4) and resolve == start + dt.timedelta(hours=24)
    assert sla.due_times(settings, start=start, category="water", urgent=False)[1] == (
        start + dt.timedelta(hours=10)
    )


def test_sla_state() -> None:
    now = dt.datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    hour = dt.timedelta(hours=1)
    common = {"acknowledged_at": None, "resolved_at": None, "due_soon": 24 * hour}
    state = sla.state
    assert (
        state(
            status="new",
            now=now,
            ack_due_at=now + 48 * hour,
            resolve_due_at=now + 99 * hour,
            **common,
        )
        == "on_track"
    )
    assert (
        state(
            status="new",
            now=now,
            ack_due_at=now + 2 * hour,
            resolve_due_at=now + 99 * hour,
            **common,
        )
        == "due_soon"
    )
    assert (
        state(
            status="new", now=now, ack_due_at=now - hour, resolve_due_at=now + 99 * hour, **common
        )
        == "breached"
    )
    done = {**common, "resolved_at": now - hour}
    assert state(status="resolved", now=now, ack_due_at=now, resolve_due_at=now, **done) == "met"
    assert (
        state(status="closed", now=now, ack_due_at=now, resolve_due_at=now - 2 * hour, **done)
        == "missed"
    )
