"""The pure shift calendar: shifts tile without overlap, breaks lie inside, DST days (no DB)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plant.shift_calendar import (
    ShiftSpec,
    ShiftWindow,
    break_problems,
    day_bounds,
    merge,
    overlap_problems,
    subtract,
    to_utc,
    windows_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
EVERY_DAY = frozenset(range(1, 8))
THREE_SHIFTS = [
    ShiftSpec("Early", time(6), time(14), EVERY_DAY, ((time(10), time(10, 30)),)),
    ShiftSpec("Late", time(14), time(22), EVERY_DAY, ((time(18), time(18, 30)),)),
    ShiftSpec("Night", time(22), time(6), EVERY_DAY, ((time(2), time(2, 30)),)),
]
ZONES = st.sampled_from(
    ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]
).map(ZoneInfo)
# Days around the clock changes of 2026 (Europe, the US and Lord Howe's half hour) and others.
DAYS = st.dates(date(2026, 1, 1), date(2026, 12, 31)) | st.sampled_from(
    [date(2026, 3, 28), date(2026, 3, 29), date(2026, 10, 24), date(2026, 10, 25),
     date(2026, 3, 8), date(2026, 11, 1), date(2026, 4, 5), date(2026, 10, 4)]
)  # fmt: skip


def wall(*parts: int) -> datetime:
    """A wall-clock time (naive, as to_utc takes it)."""
    return datetime(*parts)  # noqa: DTZ001


def local(moment: datetime, zone: ZoneInfo = BERLIN) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def hours(window: ShiftWindow) -> float:
    return (window.end - window.start).total_seconds() / 3600


def test_a_day_of_three_shifts_starts_at_six_on_the_plants_clocks() -> None:
    start, end = day_bounds(date(2026, 12, 3), BERLIN)
    found = windows_between(7, THREE_SHIFTS, BERLIN, start, end)
    assert [(w.name, local(w.start), local(w.end)) for w in found] == [
        ("Night", "2026-12-02 22:00", "2026-12-03 06:00"),  # the night shift from the day before
        ("Early", "2026-12-03 06:00", "2026-12-03 14:00"),
        ("Late", "2026-12-03 14:00", "2026-12-03 22:00"),
        ("Night", "2026-12-03 22:00", "2026-12-04 06:00"),
    ]
    assert all(w.plant_id == 7 and w.start.tzinfo == UTC for w in found)
    early = found[1]
    assert [(local(a), local(b)) for a, b in early.breaks] == [("2026-12-03 10:00",
                                                                "2026-12-03 10:30")]  # fmt: skip
    assert early.planned_busy_s == 7.5 * 3600


def test_the_night_shift_over_the_clock_change_lasts_seven_hours_in_spring_and_nine_in_autumn() -> (
    None
):
    spring = windows_between(1, THREE_SHIFTS[2:], BERLIN, *day_bounds(date(2026, 3, 28), BERLIN))
    autumn = windows_between(1, THREE_SHIFTS[2:], BERLIN, *day_bounds(date(2026, 10, 24), BERLIN))
    assert (local(spring[-1].start), local(spring[-1].end)) == ("2026-03-28 22:00",
                                                               "2026-03-29 06:00")  # fmt: skip
    assert hours(spring[-1]) == 7
    assert hours(autumn[-1]) == 9
    # The spring night's break at 02:00-02:30 falls in the hour the clocks skip: it has no length.
    assert spring[-1].breaks == ()
    assert spring[-1].planned_busy_s == 7 * 3600
    # In autumn 02:00-02:30 happens twice; the break is the first of them.
    assert autumn[-1].planned_busy_s == 8.5 * 3600


def test_a_plant_day_is_23_or_25_hours_on_the_days_the_clocks_change() -> None:
    def length(day: date) -> float:
        start, end = day_bounds(day, BERLIN)
        return (end - start).total_seconds() / 3600

    assert (length(date(2026, 3, 29)), length(date(2026, 10, 25)), length(date(2026, 12, 3))) == (
        23,
        25,
        24,
    )


def test_a_time_the_clocks_skip_is_the_instant_they_jumped() -> None:
    jump = datetime(2026, 3, 29, 1, tzinfo=UTC)  # 02:00 CET became 03:00 CEST
    for skipped in (time(2), time(2, 30), time(2, 59, 59)):
        assert to_utc(datetime.combine(date(2026, 3, 29), skipped), BERLIN) == jump
    assert to_utc(wall(2026, 3, 29, 3), BERLIN) == jump
    assert to_utc(wall(2026, 3, 29, 1, 59), BERLIN) == jump - timedelta(minutes=1)
    # Lord Howe Island moves its clocks by half an hour.
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    assert to_utc(wall(2026, 10, 4, 2, 15), lord_howe) == to_utc(wall(2026, 10, 4, 2, 30),
                                                                   lord_howe)  # fmt: skip


def test_a_window_is_found_by_any_overlap_with_the_range() -> None:
    start = datetime(2026, 12, 3, 12, 59, tzinfo=UTC)  # 13:59 in Berlin: the end of Early
    found = windows_between(1, THREE_SHIFTS, BERLIN, start, start + timedelta(minutes=2))
    assert [w.name for w in found] == ["Early", "Late"]


def test_shifts_run_only_on_their_weekdays_and_valid_dates() -> None:
    weekdays = ShiftSpec("Early", time(6), time(14), frozenset({1, 2, 3, 4, 5}),
                         valid_from=date(2026, 12, 2), valid_until=date(2026, 12, 10))  # fmt: skip
    start, _ = day_bounds(date(2026, 11, 30), BERLIN)
    found = windows_between(1, [weekdays], BERLIN, start, start + timedelta(days=14))
    assert [local(w.start)[:10] for w in found] == [
        "2026-12-02", "2026-12-03", "2026-12-04", "2026-12-07", "2026-12-08", "2026-12-09",
        "2026-12-10",
    ]  # fmt: skip


def test_planned_downtime_is_cut_to_the_shift_and_is_not_planned_busy_time() -> None:
    start, end = day_bounds(date(2026, 12, 3), BERLIN)
    maintenance = (datetime(2026, 12, 3, 12, tzinfo=UTC), datetime(2026, 12, 3, 14, tzinfo=UTC))
    found = windows_between(1, THREE_SHIFTS, BERLIN, start, end, [maintenance])
    early, late = found[1], found[2]
    assert early.planned_downtime == ((maintenance[0], early.end),)  # 13:00-14:00 local
    assert early.planned_busy_s == 6.5 * 3600
    assert late.planned_downtime == ((late.start, maintenance[1]),)  # 14:00-15:00 local
    assert late.planned_busy_s == 6.5 * 3600
    # Downtime over a break counts once.
    over_break = (early.breaks[0][0] - timedelta(minutes=10), early.breaks[0][1])
    again = windows_between(1, THREE_SHIFTS[:1], BERLIN, start, end, [over_break])
    assert again[0].planned_busy_s == 7.5 * 3600 - 600


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        windows_between(1, THREE_SHIFTS, BERLIN, datetime(2026, 1, 1), datetime(2026, 1, 2))  # noqa: DTZ001


@given(ZONES, DAYS)
def test_three_shifts_tile_every_day_without_gap_or_overlap(zone: ZoneInfo, day: date) -> None:
    start, end = day_bounds(day, zone)
    found = windows_between(1, THREE_SHIFTS, zone, start, end)
    for earlier, later in itertools.pairwise(found):
        assert earlier.end == later.start
    assert found[0].start <= start and found[-1].end >= end
    # Each lasts its 8 hours on the clock, give or take the clock's change that day.
    assert all(7 <= hours(window) <= 9 for window in found)


def clock(minute: int) -> time:
    return time((minute % 1440) // 60, minute % 60)


@st.composite
def calendars(draw: st.DrawFn) -> list[ShiftSpec]:
    """Shifts cut from one day at random minutes, on the same weekdays: they never overlap."""
    cuts = sorted(draw(st.lists(st.integers(0, 1439), min_size=1, max_size=5, unique=True)))
    days = frozenset(draw(st.sets(st.integers(1, 7), min_size=1)))
    specs = []
    for i, cut in enumerate(cuts):
        end = cuts[(i + 1) % len(cuts)]
        spec_start, spec_end = time(cut // 60, cut % 60), time(end // 60, end % 60)
        length = (end - cut) % 1440 or 1440
        breaks = ()
        if draw(st.booleans()) and length > 2:
            begin = draw(st.integers(1, length - 2))
            finish = draw(st.integers(begin + 1, length - 1))
            breaks = ((clock(cut + begin), clock(cut + finish)),)
        specs.append(ShiftSpec(f"S{i}", spec_start, spec_end, days, breaks))
    return specs


@given(calendars(), ZONES, DAYS)
def test_shifts_that_do_not_overlap_on_the_clock_never_overlap_in_real_time(
    specs: list[ShiftSpec], zone: ZoneInfo, day: date
) -> None:
    assert overlap_problems(specs) == []
    assert all(break_problems(spec) == [] for spec in specs)
    start, end = day_bounds(day, zone)
    found = windows_between(1, specs, zone, start - timedelta(days=1), end + timedelta(days=1))
    for earlier, later in itertools.pairwise(found):
        assert earlier.end <= later.start
    for window in found:
        assert window.start <= window.end
        for begin, finish in window.breaks:
            assert window.start <= begin < finish <= window.end
        busy = sum((b - a).total_seconds() for a, b in window.busy_spans())
        stops = sum((b - a).total_seconds() for a, b in window.planned_stops())
        assert busy == window.planned_busy_s
        assert busy + stops == (window.end - window.start).total_seconds()


def week_minutes(days: frozenset[int], start: int, length: int) -> list[tuple[int, int]]:
    """A weekly shift as minute spans over three weeks (minute 0: a Monday's midnight)."""
    return [(day * 1440 + start, day * 1440 + start + length)
            for day in range(21) if day % 7 + 1 in days]  # fmt: skip


@given(calendars(), st.integers(0, 1439), st.integers(1, 600),
       st.sets(st.integers(1, 7), min_size=1))  # fmt: skip
def test_a_shift_laid_over_a_calendar_is_named_as_an_overlap(
    specs: list[ShiftSpec], start_minute: int, length: int, days: set[int]
) -> None:
    end = (start_minute + length) % 1440
    extra = ShiftSpec("Extra", time(start_minute // 60, start_minute % 60),
                      time(end // 60, end % 60), frozenset(days))  # fmt: skip
    # The calendar's shifts cover whole days from its first cut on its weekdays.
    first = specs[0].start.hour * 60 + specs[0].start.minute
    calendar = week_minutes(specs[0].weekdays, first, 1440)
    mine = week_minutes(frozenset(days), start_minute, length)
    expected = any(a < d and c < b for a, b in calendar for c, d in mine)
    problems = overlap_problems([*specs, extra], involving=extra)
    assert bool(problems) == expected
    assert all("Extra" in p for p in problems)


def test_breaks_outside_their_shift_or_over_each_other_are_named() -> None:
    night = ShiftSpec("Night", time(22), time(6), EVERY_DAY,
                      ((time(5, 50), time(6, 10)), (time(1), time(2)), (time(1, 30), time(1, 45)),
                       (time(3), time(3))))  # fmt: skip
    assert break_problems(night) == [
        "The break 05:50-06:10 is not inside the shift 22:00-06:00.",
        "The break 03:00-03:00 has no length.",
        "Two breaks of the shift overlap.",
    ]
    assert break_problems(THREE_SHIFTS[2]) == []


spans = st.tuples(st.integers(0, 100), st.integers(0, 100)).map(
    lambda p: (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=min(p)),
               datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=max(p)))
)  # fmt: skip


@given(st.lists(spans, max_size=8), spans)
def test_what_is_subtracted_and_what_is_left_make_the_whole(holes: list, whole: tuple) -> None:
    left = subtract(whole, holes)
    cut = [(max(a, whole[0]), min(b, whole[1])) for a, b in holes]
    taken = merge(cut)
    total = sum((b - a).total_seconds() for a, b in [*left, *taken])
    assert total == (whole[1] - whole[0]).total_seconds()
    for a, b in left:
        assert all(b <= h0 or a >= h1 for h0, h1 in holes if h1 > h0)
