"""ISO 10816-3 zones, the drift chart and the remaining-life fit, as pure code (no database)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plant import vibration
from plant.vibration import (
    BASELINE_POINTS,
    BOUNDARIES,
    DRIFT_FLOOR_SHARE,
    MIN_LIFE_POINTS,
    Boundaries,
    Foundation,
    Group,
    RemainingLife,
    Zone,
    boundaries,
    drift,
    remaining_life,
    urgency,
    zone,
)

classes = st.sampled_from(sorted(BOUNDARIES))
GROUP_2_RIGID = boundaries(2, "rigid")


@pytest.mark.parametrize(
    ("group", "foundation", "expected"),
    [(1, "rigid", (2.3, 4.5, 7.1)), (1, "flexible", (3.5, 7.1, 11.0)),
     (2, "rigid", (1.4, 2.8, 4.5)), (2, "flexible", (2.3, 4.5, 7.1))],
)  # fmt: skip
def test_the_zone_boundaries_are_those_of_iso_10816_3(
    group: int, foundation: str, expected: tuple[float, float, float]
) -> None:
    assert boundaries(group, foundation) == Boundaries(*expected)


def test_an_unknown_machine_class_is_named() -> None:
    with pytest.raises(ValueError, match="group 3"):
        boundaries(3, "rigid")
    with pytest.raises(ValueError, match="'soft'"):
        boundaries(1, "soft")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, Zone.A), (1.39, Zone.A), (1.4, Zone.B), (2.79, Zone.B), (2.8, Zone.C),
     (4.49, Zone.C), (4.5, Zone.D), (40.0, Zone.D)],
)  # fmt: skip
def test_a_value_on_a_boundary_is_in_the_worse_zone(value: float, expected: Zone) -> None:
    assert zone(value, GROUP_2_RIGID) is expected


@given(classes, st.floats(0, 50), st.floats(0, 50))
def test_a_higher_value_is_never_in_a_better_zone(
    machine_class: tuple[Group, Foundation], low: float, high: float
) -> None:
    limits = BOUNDARIES[machine_class]
    low, high = sorted((low, high))
    assert zone(low, limits) <= zone(high, limits)


def test_zones_c_and_d_are_a_high_and_a_high_high_alarm_at_their_boundaries() -> None:
    high, high_high = vibration.zone_alarms(GROUP_2_RIGID)
    assert (high.kind, high.limit, high.zone, high.priority) == ("h", 2.8, Zone.C, "medium")
    assert (high_high.kind, high_high.limit, high_high.zone) == ("hh", 4.5, Zone.D)
    assert high.deadband == pytest.approx(0.14) and high_high.deadband == pytest.approx(0.225)


# --- drift ---------------------------------------------------------------------------------


def floor_of(limits: Boundaries) -> float:
    return DRIFT_FLOOR_SHARE * (limits.bc - limits.ab)


def hourly(values: list[float]) -> list[tuple[float, float]]:
    return [(float(hour), value) for hour, value in enumerate(values)]


@given(
    classes,
    st.floats(0.05, 1.0),  # the level, as a share of the B/C boundary
    st.floats(0.0, 1 / 3),  # the noise's standard deviation, as a share of the floor
    st.integers(BASELINE_POINTS + 12, 24 * 30),  # hours
    st.integers(0, 2**32),
)
def test_stationary_noise_is_never_flagged(
    machine_class: tuple[Group, Foundation], level: float, noise: float, hours: int, seed: int
) -> None:
    limits = BOUNDARIES[machine_class]
    rng = random.Random(seed)
    sigma = noise * floor_of(limits)
    values = [max(0.0, level * limits.bc + rng.gauss(0, sigma)) for _ in range(hours)]
    found = drift(hourly(values), limits)
    assert found is not None
    assert not found.flagged
    assert found.first_exceeded is None  # not even for an hour


@given(
    classes,
    st.floats(0.0, 1.0),  # where the level lies between 0 and B/C minus four floors
    st.floats(3, 20),  # days the ramp would take to reach B/C
    st.floats(0.0, 1 / 3),  # noise, as a share of the floor
    st.integers(0, 2**32),
)
def test_a_slow_rise_is_flagged_before_it_is_halfway_to_the_bc_boundary(
    machine_class: tuple[Group, Foundation], where: float, days: float, noise: float, seed: int
) -> None:
    limits = BOUNDARIES[machine_class]
    level = where * (limits.bc - 4 * floor_of(limits))
    gap = limits.bc - level
    per_hour = gap / (days * 24)
    rng = random.Random(seed)
    sigma = noise * floor_of(limits)
    halfway = BASELINE_POINTS + math.floor(gap / 2 / per_hour)  # the ramp's value is at the half
    values = [
        level + max(0, hour - BASELINE_POINTS) * per_hour + rng.gauss(0, sigma)
        for hour in range(halfway + 1)
    ]
    assert max(values) < limits.bc  # a high alarm at B/C has not fired
    found = drift(hourly(values), limits)
    assert found is not None and found.flagged
    assert found.rise > 0 and found.since is not None


def test_the_drift_is_withheld_until_the_baseline_and_half_a_day_are_in() -> None:
    assert drift(hourly([2.0] * (BASELINE_POINTS + 11)), GROUP_2_RIGID) is None
    steady = drift(hourly([2.0] * (BASELINE_POINTS + 12)), GROUP_2_RIGID)
    assert steady is not None and not steady.flagged and steady.limit == pytest.approx(2.14)


def test_a_rise_that_falls_back_is_no_longer_flagged_but_was_seen() -> None:
    values = [2.0] * BASELINE_POINTS + [2.6] * 24 + [2.0] * 48
    found = drift(hourly(values), GROUP_2_RIGID)
    assert found is not None and not found.flagged
    assert found.first_exceeded is not None and found.since is None


# --- remaining life ------------------------------------------------------------------------


def days(values: list[float]) -> list[tuple[float, float]]:
    return [(day + 0.5, value) for day, value in enumerate(values)]


@given(
    classes,
    st.integers(MIN_LIFE_POINTS, 30),  # days of history
    st.floats(0.1, 0.9),  # the first day's value, as a share of A/B
    st.floats(0.002, 0.2),  # the rise a day, as a share of B/C
)
def test_a_linear_rise_is_fitted_as_a_line_and_extrapolated_to_each_boundary(
    machine_class: tuple[Group, Foundation], n: int, start: float, rise: float
) -> None:
    limits = BOUNDARIES[machine_class]
    y0, slope = start * limits.ab, rise * limits.bc
    points = days([y0 + slope * day for day in range(n)])
    now = float(n)
    life = remaining_life(points, now, limits)
    assert life.shown and life.fit is not None
    assert life.fit.model == "linear" and life.fit.r2 == pytest.approx(1.0)
    for boundary, found in ((limits.bc, life.to_c), (limits.cd, life.to_d)):
        expected = max(0.0, (boundary - y0) / slope + 0.5 - now)
        if abs(expected - life.horizon) < 1e-6:
            continue  # on the horizon itself: rounding decides
        if expected < life.horizon:
            assert found == pytest.approx(expected, rel=1e-6, abs=1e-6)
        else:
            assert found is None  # beyond the horizon: not extrapolated that far


@given(
    classes,
    st.integers(MIN_LIFE_POINTS, 30),
    st.floats(0.1, 0.9),  # the first day's value, as a share of A/B
    st.floats(0.3, 2.0),  # growth over the whole span (k * span): a visible curve
)
def test_an_exponential_rise_is_fitted_as_an_exponential(
    machine_class: tuple[Group, Foundation], n: int, start: float, growth: float
) -> None:
    limits = BOUNDARIES[machine_class]
    y0, k = start * limits.ab, growth / (n - 1)
    points = days([y0 * math.exp(k * day) for day in range(n)])
    now = float(n)
    life = remaining_life(points, now, limits)
    assert life.shown and life.fit is not None
    assert life.fit.model == "exponential" and life.fit.r2 == pytest.approx(1.0)
    expected = max(0.0, math.log(limits.bc / y0) / k + 0.5 - now)
    if abs(expected - life.horizon) < 1e-6:
        return  # on the horizon itself: rounding decides
    if expected < life.horizon:
        assert life.to_c == pytest.approx(expected, rel=1e-6, abs=1e-6)
    else:
        assert life.to_c is None


def test_a_straight_line_on_the_exponential_would_promise_longer() -> None:
    """Why the better fit matters: on a bearing's accelerating wear the line is optimistic."""
    points = days([1.0 * math.exp(0.02 * day) for day in range(30)])
    life = remaining_life(points, 30.0, GROUP_2_RIGID)
    line = vibration.fit_linear(points)
    assert line is not None and life.to_c is not None
    assert life.to_c < 0.6 * (line.day_of(2.8) - 30.0)  # 22 days, not 39


def test_days_counted_from_1970_do_not_overflow_a_steep_exponential() -> None:
    first = 20_500.5  # days since 1970, as plant.maintenance counts them
    points = [(first + day, 0.5 * math.exp(0.4 * day)) for day in range(10)]
    life = remaining_life(points, first + 10, GROUP_2_RIGID)
    assert life.fit is not None and life.fit.model == "exponential"
    assert life.to_c == 0.0 and life.to_d == 0.0  # 0.5 * e^3.6 is long past 4.5 mm/s


def test_fewer_than_a_week_of_days_is_withheld() -> None:
    life = remaining_life(days([1.0, 1.1, 1.2, 1.3, 1.4, 1.5]), 6.0, GROUP_2_RIGID)
    assert not life.shown and life.withheld == "too few days of data (6 of 7)"


def test_noise_without_a_trend_is_withheld_as_a_poor_fit() -> None:
    rng = random.Random(7)
    points = days([2.0 + 0.01 * (day % 3) + rng.gauss(0.005, 0.05) for day in range(30)])
    life = remaining_life(points, 30.0, GROUP_2_RIGID)
    assert not life.shown
    assert life.withheld.startswith(("the trend fits poorly (R² 0.", "no rising trend"))
    assert life.to_c is None


def test_a_falling_trend_gives_no_estimate() -> None:
    life = remaining_life(days([2.5 - 0.02 * day for day in range(20)]), 20.0, GROUP_2_RIGID)
    assert life.withheld == "no rising trend"


def test_a_noisy_rise_still_fits_with_its_quality_said() -> None:
    rng = random.Random(3)
    points = days([1.6 + 0.03 * day + rng.gauss(0, 0.03) for day in range(30)])
    life = remaining_life(points, 30.0, GROUP_2_RIGID)
    assert life.shown and life.fit is not None and 0.7 <= life.fit.r2 < 1
    assert life.to_c == pytest.approx((2.8 - 1.6) / 0.03 - 29.5, rel=0.25)


def test_a_boundary_already_passed_is_due_now() -> None:
    life = remaining_life(days([2.0 + 0.1 * day for day in range(10)]), 10.0, GROUP_2_RIGID)
    assert life.to_c == 0.0 and life.to_d is not None and life.to_d > 0


def test_a_value_already_in_zone_c_is_there_now_whatever_the_trend_says() -> None:
    points = days([1.2 * math.exp(0.017 * day) for day in range(30)])  # 20 days from B/C
    trend = remaining_life(points, 30.0, GROUP_2_RIGID)
    jumped = remaining_life(points, 30.0, GROUP_2_RIGID, current=3.1)  # a sudden fault
    assert trend.to_c is not None and trend.to_c > 10
    assert jumped.to_c == 0.0 and jumped.to_d == trend.to_d


@pytest.mark.parametrize(
    ("days_ahead", "text"),
    [(None, "more than 60 days"), (0.0, "now"), (0.4, "less than a day"), (1.2, "about 1 day"),
     (11.6, "about 12 days")],
)  # fmt: skip
def test_the_days_read_as_words(days_ahead: float | None, text: str) -> None:
    assert vibration.days_text(days_ahead, 60.0) == text


# --- urgency -------------------------------------------------------------------------------


def life_of(to_c: float | None, to_d: float | None = None) -> RemainingLife:
    return RemainingLife(None, 30, to_c, to_d, 60.0)


def test_the_maintenance_list_puts_the_worst_first() -> None:
    limits = GROUP_2_RIGID
    machines = {
        "no value": urgency(None, None, False, None, limits),
        "steady": urgency(Zone.B, life_of(None), False, 2.0, limits),
        "drifting": urgency(Zone.B, None, True, 2.1, limits),
        "zone C in 30 days": urgency(Zone.B, life_of(30.0), True, 2.2, limits),
        "zone C in 5 days": urgency(Zone.B, life_of(5.0), False, 2.5, limits),
        "in zone C": urgency(Zone.C, life_of(0.0, 20.0), True, 3.0, limits),
        "in zone D": urgency(Zone.D, life_of(0.0, 0.0), True, 6.0, limits),
    }
    order = sorted(machines, key=machines.__getitem__)
    assert order == ["in zone D", "in zone C", "zone C in 5 days", "zone C in 30 days",
                     "drifting", "steady", "no value"]  # fmt: skip
