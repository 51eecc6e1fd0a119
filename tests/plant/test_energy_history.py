"""plant.energy_history on the real database: counters read as buckets, rollovers read raw,
demand blocks on the plant's clock, days against their baseline, the demo's backfill."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from plant import energy
from plant.counter_history import Counter, counter_increases
from plant.demo_energy import backfill_energy
from plant.energy_history import (
    Period,
    demand_blocks,
    demand_now,
    report,
    scopes,
    usages,
)
from plant.models import EnergyMeter, Plant, PlantEnergy, Sample, Tag
from plant.shifts import day_window

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")


def write(tag: Tag, readings: list[tuple[datetime, float]]) -> None:
    Sample.objects.bulk_create([Sample(tag=tag, time=t, value=v) for t, v in readings])


def meter_of(plant: Plant) -> EnergyMeter:
    return EnergyMeter.objects.select_related("energy_tag", "production_tag").get(plant=plant)


def steady(start: datetime, seconds: int, kw: float, kwh: float, step_s: int = 1,
           rollover: float | None = None) -> list[tuple[datetime, float]]:  # fmt: skip
    """A meter's readings every step_s from `start` for a load of `kw`, starting at `kwh`."""
    found = []
    for i in range(0, seconds + 1, step_s):
        value = kwh + kw * i / 3600
        found.append((start + timedelta(seconds=i), value % rollover if rollover else value))
    return found


def raw_increase(tag: Tag, start: datetime, end: datetime, rollover: float | None) -> float:
    """The same figure from every raw sample: the readings of [start, end), counted from the
    last one before start (the reference)."""
    before = Sample.objects.filter(tag=tag, time__lt=start).order_by("-time").first()
    rows = Sample.objects.filter(tag=tag, time__gte=start, time__lt=end).order_by("time")
    values = ([before.value] if before else []) + [s.value for s in rows]
    return energy.counter_increase(values, rollover) if len(values) > 1 else 0.0


def test_a_days_consumption_read_from_buckets_is_the_raw_samples_increase(
    demo_plant: Plant,
) -> None:
    tag = meter_of(demo_plant).energy_tag
    start, end = day_window(demo_plant, date(2026, 6, 1))
    write(tag, steady(start - timedelta(minutes=5), 86400 + 600, 180.0, 5000.0, step_s=7))
    [found] = counter_increases(Counter(tag.pk, None), [start, end])
    assert found == pytest.approx(raw_increase(tag, start, end, None), abs=1e-6)
    assert found == pytest.approx(180.0 * 24, rel=1e-3)


def test_a_rollover_inside_a_bucket_is_read_raw_and_counted_exactly(demo_plant: Plant) -> None:
    tag = meter_of(demo_plant).energy_tag
    start, end = day_window(demo_plant, date(2026, 6, 2))
    # 1,000 kWh before the rollover at 10,000: the meter passes it at 05:33 (5.55 h at 180 kW).
    write(tag, steady(start, 86400, 180.0, 9000.0, step_s=10, rollover=10_000.0))
    hours = [start + timedelta(hours=h) for h in range(25)]
    found = counter_increases(Counter(tag.pk, 10_000.0), hours)
    # Readings every 10 s from the day's start: the first 10 s have no reading before them.
    assert sum(found) == pytest.approx(180.0 * 24, rel=1e-3)
    assert sum(found) == pytest.approx(raw_increase(tag, start, end, 10_000.0), abs=1e-6)
    assert found[0] == pytest.approx(180.0 * 3590 / 3600)  # no reading before the day
    assert found[1:] == pytest.approx([180.0] * 23, rel=1e-9)
    # Without the rollover configured, the fall is a reset: what was used before it is kept.
    assert sum(counter_increases(Counter(tag.pk, None), [start, end])) < 180.0 * 24


def test_demand_blocks_follow_the_load_on_the_plants_clock(demo_plant: Plant) -> None:
    tag = meter_of(demo_plant).energy_tag
    start = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)
    readings = steady(start - timedelta(minutes=1), 960, 100.0, 1000.0)  # 100 kW for a block,
    readings += steady(start + timedelta(seconds=901), 1799, 300.0, readings[-1][1] + 300 / 3600)
    write(tag, readings)  # then 300 kW for two
    blocks = demand_blocks(demo_plant, 900, start, start + timedelta(minutes=45))
    assert [b.start.astimezone(BERLIN).strftime("%H:%M") for b in blocks] == [
        "10:00", "10:15", "10:30"]  # fmt: skip
    assert [b.kw for b in blocks] == pytest.approx([100.0, 300.0, 300.0], rel=1e-3)


def test_the_live_prediction_sums_the_plants_meters(demo_plant: Plant) -> None:
    tag = meter_of(demo_plant).energy_tag
    at = datetime(2026, 6, 3, 9, 5, tzinfo=UTC)
    write(tag, steady(at - timedelta(minutes=20), 1200, 250.0, 2000.0))
    now = demand_now(demo_plant, 900, at)
    assert now is not None
    assert now.block_start == datetime(2026, 6, 3, 9, 0, tzinfo=UTC)
    assert now.predicted_kw == pytest.approx(250.0, rel=1e-3)
    assert now.used_kwh == pytest.approx(250.0 * 300 / 3600, rel=1e-3)


def test_a_plant_without_meters_has_no_figures(db: None) -> None:
    plant = Plant.objects.create(name="Empty", slug="empty")
    assert scopes(plant) == []
    assert demand_blocks(plant, 900, datetime(2026, 6, 1, tzinfo=UTC),
                         datetime(2026, 6, 2, tzinfo=UTC)) == []  # fmt: skip
    assert demand_now(plant, 900, datetime(2026, 6, 1, tzinfo=UTC)) is None


def test_the_line_and_the_plant_report_consumption_output_and_specific_energy(
    demo_plant: Plant,
) -> None:
    meter = meter_of(demo_plant)
    start, end = day_window(demo_plant, date(2026, 6, 4))
    second = timedelta(seconds=1)  # each reading a second before its edge: its reading there
    noon = start + timedelta(hours=12)
    write(
        meter.energy_tag, [(start - second, 100.0), (noon - second, 400.0), (end - second, 700.0)]
    )
    assert meter.production_tag is not None
    write(meter.production_tag, [(start - second, 0.0), (end - second, 60_000.0)])
    line, whole = scopes(demo_plant)
    assert line.line is not None and line.line.slug == "filling" and whole.line is None
    half = Period("morning", "shift", start, start + timedelta(hours=12))
    for scope in (line, whole):
        day, morning = usages(scope, [Period("day", "day", start, end), half])
        assert day.kwh == pytest.approx(600.0)
        assert day.units == pytest.approx(60_000.0)
        assert day.kwh_per_1000 == pytest.approx(10.0)
        assert morning.kwh == pytest.approx(300.0)


def test_each_day_is_compared_with_a_baseline_fitted_over_the_days_before_it(
    demo_plant: Plant,
) -> None:
    meter = meter_of(demo_plant)
    assert meter.production_tag is not None
    first = date(2026, 5, 1)
    kwh, bottles, energy_rows, bottle_rows = 10_000.0, 0.0, [], []
    for n in range(12):  # 1,200 kWh a day of base load and 0.01 kWh a bottle, exactly
        made = 20_000 + 7_000 * (n % 5)
        # Each reading a second before the day: the reading of the day's start.
        start = day_window(demo_plant, first + timedelta(days=n))[0] - timedelta(seconds=1)
        energy_rows.append((start, kwh))
        bottle_rows.append((start, bottles))
        kwh, bottles = kwh + 1200 + 0.01 * made + (300 if n == 11 else 0), bottles + made
    end = day_window(demo_plant, first + timedelta(days=11))[1] - timedelta(seconds=1)
    energy_rows.append((end, kwh))
    bottle_rows.append((end, bottles))
    write(meter.energy_tag, energy_rows)
    write(meter.production_tag, bottle_rows)
    contract = PlantEnergy.objects.get(plant=demo_plant)
    PlantEnergy.objects.filter(pk=contract.pk).update(baseline_days=10)
    contract.refresh_from_db()
    line = scopes(demo_plant)[0]
    found = report(line, contract, first + timedelta(days=10), first + timedelta(days=11))
    assert found.baseline is not None
    assert found.baseline.base_kwh == pytest.approx(1200, rel=1e-6)
    assert found.baseline.kwh_per_unit == pytest.approx(0.01, rel=1e-6)
    ordinary, wasteful = found.days
    assert ordinary.deviation_kwh == pytest.approx(0, abs=1e-6)
    assert wasteful.deviation_kwh == pytest.approx(300, rel=1e-6)


def test_the_demo_backfill_gives_the_baseline_its_days_and_ends_under_the_live_meter(
    demo_plant: Plant,
) -> None:
    meter = meter_of(demo_plant)
    written = backfill_energy(demo_plant, days=10)
    assert written > 10 * 1440 * 3 - 10
    assert backfill_energy(demo_plant, days=10) == 0  # it has its history now
    last = Sample.objects.filter(tag=meter.energy_tag).order_by("-time").first()
    assert last is not None and last.value is not None and last.value < 125_000.0
    line = scopes(demo_plant)[0]
    today = datetime.now(BERLIN).date()
    found = report(line, PlantEnergy.objects.get(plant=demo_plant), today - timedelta(days=1),
                   today - timedelta(days=1))  # fmt: skip
    assert found.baseline is not None
    assert found.baseline.base_kwh == pytest.approx(150 * 24, rel=0.05)
    assert found.baseline.kwh_per_unit == pytest.approx(40 / 60 / 180, rel=0.1)
