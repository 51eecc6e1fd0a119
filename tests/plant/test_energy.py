"""plant.energy: block demand on constructed load profiles, the predictor, the baseline fit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from plant.energy import (
    DemandNow,
    block_edges,
    block_start,
    demand_kw,
    demand_now,
    fit_baseline,
    interval_increases,
    kwh_per_1000,
    predict_block_demand,
)

BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def profile(
    power_kw: list[float],
    *,
    start: datetime = T0,
    step_s: int = 1,
    energy: float = 1000.0,
    rollover: float | None = None,
) -> list[tuple[datetime, float]]:
    """A meter's readings every step_s for a load that draws power_kw[i] during step i."""
    points = [(start, energy)]
    for i, kw in enumerate(power_kw):
        energy += kw * step_s / 3600
        if rollover is not None and energy >= rollover:
            energy -= rollover
        points.append((start + timedelta(seconds=(i + 1) * step_s), energy))
    return points


def test_a_constant_load_has_its_power_as_every_block_demand() -> None:
    points = profile([240.0] * 3600)  # an hour at 240 kW, a reading a second
    edges = block_edges(T0, T0 + timedelta(hours=1), 900, BERLIN)
    demands = [demand_kw(kwh, 900) for kwh in interval_increases(points, edges, None)]
    assert len(demands) == 4
    # Each block counts from the last reading before it: exactly 900 s of energy.
    assert demands == pytest.approx([240.0] * 4)


def test_a_load_that_steps_up_mid_block_averages_within_its_block() -> None:
    # 100 kW for 10 minutes, then 400 kW: the first block averages 200 kW, the rest 400.
    points = profile([100.0] * 600 + [400.0] * 2100)
    edges = block_edges(T0, T0 + timedelta(minutes=45), 900, BERLIN)
    demands = [demand_kw(kwh, 900) for kwh in interval_increases(points, edges, None)]
    assert demands == pytest.approx([200.0, 400.0, 400.0])


def test_block_demand_survives_the_meters_rollover() -> None:
    points = profile([360.0] * 1800, energy=99_990.0, rollover=100_000.0)
    assert min(v for _, v in points) < 10  # the meter did roll over
    edges = block_edges(T0, T0 + timedelta(minutes=30), 900, BERLIN)
    demands = [demand_kw(kwh, 900) for kwh in interval_increases(points, edges, 100_000.0)]
    assert demands == pytest.approx([360.0, 360.0])


def test_blocks_keep_to_the_plants_clock() -> None:
    # India is 5:30 ahead of UTC: hourly blocks start at half past the UTC hour.
    at = datetime(2026, 6, 1, 8, 10, tzinfo=UTC)
    assert block_start(at, 3600, KOLKATA) == datetime(2026, 6, 1, 7, 30, tzinfo=UTC)
    assert block_start(at, 900, BERLIN) == datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    assert block_start(at, 3600, BERLIN) == datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("day", "blocks"), [(29, 92), (30, 96)])
def test_a_day_of_daylight_saving_change_has_as_many_blocks_as_quarter_hours(
    day: int, blocks: int
) -> None:
    start = datetime(2026, 3, day, tzinfo=BERLIN)  # 29 March 2026: clocks go forward
    end = datetime(2026, 3, day + 1, tzinfo=BERLIN)
    edges = block_edges(start.astimezone(UTC), end.astimezone(UTC), 900, BERLIN)
    assert len(edges) - 1 == blocks
    assert all(e.astimezone(BERLIN).minute % 15 == 0 for e in edges)


def test_an_interval_that_does_not_divide_an_hour_is_refused() -> None:
    with pytest.raises(ValueError, match="does not divide an hour"):
        block_start(T0, 7 * 60, BERLIN)


@given(
    st.lists(st.floats(min_value=0, max_value=2000), min_size=2, max_size=300),
    st.lists(st.integers(min_value=1, max_value=299), max_size=10, unique=True),
)
def test_increases_over_any_cut_add_up_to_the_whole(power: list[float], cuts: list[int]) -> None:
    points = profile(power, step_s=10)
    end = points[-1][0] + timedelta(seconds=1)
    inner = sorted(T0 + timedelta(seconds=10 * c + 5) for c in cuts if 10 * c + 5 < 10 * len(power))
    whole = interval_increases(points, [T0, end], None)
    parts = interval_increases(points, [T0, *inner, end], None)
    assert sum(parts) == pytest.approx(whole[0], rel=1e-9, abs=1e-9)
    assert whole[0] == pytest.approx(sum(power) * 10 / 3600, rel=1e-9, abs=1e-9)
    assert all(p >= 0 for p in parts)


@given(st.floats(min_value=1, max_value=5000), st.integers(min_value=0, max_value=899))
def test_a_steady_load_is_predicted_at_its_power_at_any_moment_of_the_block(
    kw: float, second: int
) -> None:
    points = profile([kw] * 1800, start=T0 - timedelta(minutes=15))
    at = T0 + timedelta(seconds=second)
    now = demand_now(points, at, 900, BERLIN, None)
    assert now.block_start == T0
    assert now.predicted_kw == pytest.approx(kw, rel=1e-6)
    assert now.sliding_kw == pytest.approx(kw, rel=1e-6)
    assert now.used_kwh == pytest.approx(kw * second / 3600, rel=1e-6, abs=1e-9)


def test_the_prediction_follows_the_present_load_and_ends_at_the_blocks_demand() -> None:
    # 200 kW for 5 min into the block, then 500 kW: predicted from the first 6 minutes.
    start = T0 - timedelta(minutes=15)
    points = profile([200.0] * (900 + 300) + [500.0] * 600, start=start)
    six = demand_now(points, T0 + timedelta(minutes=6), 900, BERLIN, None)
    # used: 5 min at 200 + 1 min at 500; recent (last 60 s): 500 kW for the 9 minutes left.
    expected = (200 * 300 + 500 * 60 + 500 * 540) / 3600 * 4
    assert six.predicted_kw == pytest.approx(expected)
    assert six.recent_kw == pytest.approx(500.0)
    end = demand_now(points, T0 + timedelta(minutes=15), 900, BERLIN, None)
    # At the block's end (the next block's start) the block just begun has used nothing yet.
    assert end.block_start == T0 + timedelta(minutes=15)
    block = interval_increases(points, [T0, T0 + timedelta(minutes=15)], None)[0]
    assert demand_kw(block, 900) == pytest.approx((200 * 300 + 500 * 600) / 900)


def test_a_silent_meter_predicts_nothing() -> None:
    now = demand_now([], T0 + timedelta(minutes=3), 900, BERLIN, None)
    assert now == DemandNow(now.at, T0, T0 + timedelta(minutes=15), 0.0, 0.0, 0.0, 0.0)


def test_the_predictor_at_the_blocks_end_is_what_the_block_used() -> None:
    end = T0 + timedelta(minutes=15)
    assert predict_block_demand(T0, end, end, 50.0, 999.0) == pytest.approx(200.0)
    assert predict_block_demand(T0, end, T0, 0.0, 120.0) == pytest.approx(120.0)


def test_specific_energy_is_per_thousand_units_and_none_without_output() -> None:
    assert kwh_per_1000(300.0, 60_000) == pytest.approx(5.0)
    assert kwh_per_1000(300.0, 0) is None


@given(
    st.floats(min_value=0, max_value=10_000),
    st.floats(min_value=0.0001, max_value=1),
    st.lists(st.integers(min_value=0, max_value=200_000), min_size=3, max_size=40, unique=True),
)
def test_a_baseline_fitted_to_exact_days_finds_their_base_load_and_slope(
    base: float, k: float, units: list[int]
) -> None:
    days = [(float(u), base + k * u) for u in units]
    fit = fit_baseline(days)
    assert fit is not None
    assert fit.kwh_per_unit == pytest.approx(k, rel=1e-6)
    assert fit.base_kwh == pytest.approx(base, rel=1e-6, abs=1e-3)
    assert fit.days == len(units)
    assert fit.expected_kwh(50_000) == pytest.approx(base + k * 50_000, rel=1e-6)


def test_a_baseline_compares_a_day_with_what_its_output_should_have_cost() -> None:
    # Constructed days: 1,200 kWh base load and 0.01 kWh a bottle, with +-2 % scatter.
    days = [(units, (1200 + 0.01 * units) * (1 + scatter))
            for units, scatter in [(40_000, 0.02), (60_000, -0.02), (80_000, 0.01),
                                   (20_000, -0.01), (70_000, 0.0), (50_000, 0.015)]]  # fmt: skip
    fit = fit_baseline(days)
    assert fit is not None
    assert fit.base_kwh == pytest.approx(1200, rel=0.05)
    assert fit.kwh_per_unit == pytest.approx(0.01, rel=0.05)
    assert fit.r2 is not None and 0.8 < fit.r2 < 1
    # A day that made 60,000 bottles with 2,000 kWh cost about 200 kWh more than it should.
    assert 2000 - fit.expected_kwh(60_000) == pytest.approx(200, abs=40)
    # An 8-hour shift's expectation carries a third of the day's base load.
    assert fit.expected_kwh(20_000, 8 * 3600) == pytest.approx(
        fit.base_kwh / 3 + fit.kwh_per_unit * 20_000
    )


@given(st.lists(st.floats(min_value=0, max_value=1e5), min_size=0, max_size=2))
def test_too_few_days_give_no_baseline(kwh: list[float]) -> None:
    assert fit_baseline([(1000.0 * i, y) for i, y in enumerate(kwh)]) is None


@given(st.floats(min_value=0, max_value=1e6), st.lists(st.floats(0, 1e5), min_size=3, max_size=9))
def test_days_that_all_made_the_same_give_no_baseline(units: float, kwh: list[float]) -> None:
    assume(units == units)
    assert fit_baseline([(units, y) for y in kwh]) is None
