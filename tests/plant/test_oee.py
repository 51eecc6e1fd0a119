"""OEE as pure code (ISO 22400-2): the issue's worked check, the microstop rule, and properties."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plant.oee import (
    KINDS,
    Category,
    Figures,
    Kind,
    StateChange,
    durations,
    figures,
    pareto,
    stops,
    timeline,
    within,
)

T0 = datetime(2026, 12, 3, 5, tzinfo=UTC)  # 06:00 in Berlin
MAPPING = {
    "running": Category.RUNNING, "slow": Category.SLOW_RUNNING, "fault": Category.BREAKDOWN,
    "starved": Category.STARVED, "blocked": Category.BLOCKED, "break": Category.BREAK,
    "maintenance": Category.PLANNED_MAINTENANCE,
}  # fmt: skip


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def changes(*pairs: tuple[float, str | None]) -> list[StateChange]:
    return [StateChange(at(m), state) for m, state in pairs]


def test_the_issues_worked_check() -> None:
    """480 min shift, 30 min break, 45 min unplanned stops, 0.3 s ideal cycle, 72,900 made,
    71,442 good: A 0.900, P 0.900, Q 0.980, OEE 0.794."""
    states = changes((0, "running"), (60, "fault"), (90, "running"), (240, "break"),
                     (270, "running"), (400, "starved"), (415, "running"))  # fmt: skip
    shift_end = at(480)
    busy = [(T0, at(240)), (at(270), shift_end)]  # the calendar's break 240-270
    intervals = timeline(states, T0, shift_end, MAPPING)
    result = figures(
        intervals, busy, ideal_s=0.3 * 72_900, produced=72_900, rejected=72_900 - 71_442
    )
    assert result.planned_busy_s == 450 * 60
    assert result.run_s == 405 * 60
    assert round(result.availability, 3) == 0.900  # type: ignore[arg-type]
    assert round(result.performance, 3) == 0.900  # type: ignore[arg-type]
    assert round(result.quality, 3) == 0.980  # type: ignore[arg-type]
    assert round(result.oee, 3) == 0.794  # type: ignore[arg-type]
    assert result.losses[Category.BREAKDOWN] == 30 * 60
    assert result.losses[Category.STARVED] == 15 * 60
    assert result.losses[Category.BREAK] == 0  # the calendar's break is not planned busy time
    assert not result.over_speed


def test_stops_shorter_than_the_microstop_limit_cost_performance_not_availability() -> None:
    states = changes((0, "running"), (10, "starved"), (11, "blocked"), (11.5, "running"),
                     (20, "fault"), (23, "running"))  # fmt: skip
    intervals = timeline(states, T0, at(60), MAPPING, microstop_s=120)
    found = durations(intervals)
    # starved 60 s then blocked 30 s: one stop of 90 s, a microstop; the fault's 180 s is not.
    assert found[Category.MICROSTOP] == 90
    assert found[Category.STARVED] == found[Category.BLOCKED] == 0
    assert found[Category.BREAKDOWN] == 180
    result = figures(intervals, [(T0, at(60))], ideal_s=0, produced=0, rejected=0)
    assert result.run_s == 3600 - 180
    # With no microstop limit every stop is an availability loss.
    strict = durations(timeline(states, T0, at(60), MAPPING, microstop_s=0))
    assert (strict[Category.STARVED], strict[Category.MICROSTOP]) == (60, 0)


def test_unmapped_states_and_missing_data_are_unplanned_stops() -> None:
    states = changes((10, "running"), (20, "jammed"), (40, None), (50, "running"))
    found = durations(timeline(states, T0, at(60), MAPPING, microstop_s=0))
    assert found[Category.NO_DATA] == 20 * 60  # before the first sample, and the bad one
    assert found[Category.UNKNOWN_STOP] == 20 * 60
    assert found[Category.RUNNING] == 20 * 60


def test_the_state_before_the_range_holds_into_it_and_repeats_join() -> None:
    states = changes((-30, "fault"), (-10, "running"), (5, "running"), (10, "fault"))
    intervals = timeline(states, T0, at(20), MAPPING, microstop_s=0)
    assert [(i.start, i.end, i.category) for i in intervals] == [
        (T0, at(10), Category.RUNNING), (at(10), at(20), Category.BREAKDOWN),
    ]  # fmt: skip


def test_an_operators_reason_recategorises_the_whole_stop() -> None:
    states = changes((0, "running"), (10, "starved"), (12, "fault"), (30, "running"))
    overrides = {at(10): Category.CHANGEOVER}
    found = durations(timeline(states, T0, at(60), MAPPING, overrides=overrides))
    assert found[Category.CHANGEOVER] == 20 * 60
    assert found[Category.STARVED] == found[Category.BREAKDOWN] == 0


def test_a_machine_that_reports_planned_maintenance_has_less_planned_busy_time() -> None:
    states = changes((0, "running"), (30, "maintenance"), (50, "running"))
    result = figures(timeline(states, T0, at(60), MAPPING), [(T0, at(60))], 0, 0, 0)
    assert result.planned_busy_s == 40 * 60
    assert result.availability == 1.0


def test_more_made_than_the_ideal_allows_is_reported_as_over_speed() -> None:
    result = figures(timeline(changes((0, "running")), T0, at(10), MAPPING), [(T0, at(10))],
                     ideal_s=660, produced=2200, rejected=0)  # fmt: skip
    assert result.performance == pytest.approx(1.1)
    assert result.over_speed


def test_nothing_planned_has_no_oee_and_nothing_made_an_oee_of_zero() -> None:
    idle = timeline(changes((0, "fault")), T0, at(10), MAPPING)
    assert figures(idle, [], 0, 0, 0).oee is None
    assert figures(idle, [(T0, at(10))], 0, 0, 0).oee == 0.0


def test_the_pareto_ranks_the_losses_and_accumulates_to_one() -> None:
    losses = {Category.BREAKDOWN: 600.0, Category.STARVED: 300.0, Category.MICROSTOP: 100.0,
              Category.RUNNING: 5000.0, Category.BREAK: 900.0}  # fmt: skip
    assert pareto(losses) == [(Category.BREAKDOWN, 600.0, 0.6), (Category.STARVED, 300.0, 0.9),
                              (Category.MICROSTOP, 100.0, 1.0)]  # fmt: skip


def test_periods_add_up_by_their_times_and_counts() -> None:
    first = Figures(100, 90, 81, 270, 265, {Category.RUNNING: 90, Category.BREAKDOWN: 10})
    second = Figures(100, 50, 50, 160, 160, {Category.RUNNING: 50, Category.STARVED: 50})
    both = first + second
    assert (both.planned_busy_s, both.run_s, both.produced) == (200, 140, 430)
    assert both.availability == 0.7
    assert both.losses[Category.BREAKDOWN] == 10 and both.losses[Category.STARVED] == 50


states = st.sampled_from([*MAPPING, "jammed", None])


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[StateChange], list[tuple[datetime, datetime]]]:
    offsets = sorted(draw(st.lists(st.integers(-600, 28_800), max_size=40, unique=True)))
    history = [StateChange(T0 + timedelta(seconds=s), draw(states)) for s in offsets]
    cuts = sorted(draw(st.lists(st.integers(0, 28_800), max_size=6, unique=True)))
    cuts = [0, *cuts, 28_800] if len(cuts) % 2 else [0, *cuts]
    busy = [(T0 + timedelta(seconds=a), T0 + timedelta(seconds=b))
            for a, b in zip(cuts[::2], cuts[1::2], strict=False) if b > a]  # fmt: skip
    return history, busy


@given(histories(), st.floats(0, 600), st.integers(0, 100_000), st.integers(0, 100_000),
       st.floats(0.01, 2))  # fmt: skip
def test_losses_sum_to_the_planned_busy_time_and_oee_is_a_times_p_times_q(
    history: tuple[list[StateChange], list[tuple[datetime, datetime]]],
    microstop_s: float, produced: int, rejected: int, cycle_s: float,
) -> None:  # fmt: skip
    changes_, busy = history
    end = T0 + timedelta(hours=8)
    intervals = timeline(changes_, T0, end, MAPPING, microstop_s)
    # The timeline covers the range exactly, in order, without overlap.
    assert intervals[0].start == T0 and intervals[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(intervals))
    result = figures(intervals, busy, cycle_s * produced, produced, rejected)
    calendar_busy = sum((b - a).total_seconds() for a, b in busy)
    planned = sum(s for c, s in result.losses.items() if KINDS[c] == Kind.PLANNED)
    assert sum(result.losses.values()) == pytest.approx(calendar_busy)
    assert result.planned_busy_s == pytest.approx(calendar_busy - planned)
    for part in (result.availability, result.quality):
        assert part is None or 0 <= part <= 1 + 1e-12
    assert result.performance is None or result.performance <= 1 or result.over_speed
    if None not in (result.availability, result.performance, result.quality):
        expected = result.availability * result.performance * result.quality  # type: ignore[operator]
        assert result.oee == pytest.approx(expected)
    # Every stop left is at least the microstop limit long; the shorter ones are microstops.
    for run in stops(intervals):
        assert (intervals[run[-1]].end - intervals[run[0]].start).total_seconds() >= microstop_s
    assert all(i.seconds < microstop_s for i in intervals if i.category == Category.MICROSTOP)
    assert sum(i.seconds for i in within(intervals, busy)) == pytest.approx(calendar_busy)
