"""The analytics read plain PostgreSQL's rollups (plant/rollups.py) and give the figures of the
raw samples: the energy of days and shifts, the maintenance list's hourly buckets, drift and
remaining life, and the OEE counters of shifts, days and weeks.

Each test computes its figures twice on the same samples in one transaction: first as the
product does (the rollups kept, some buckets folded and some still pending, as the worker
leaves them), then with the rollups uninstalled, so the historian and the counters read every
raw sample; the two must agree within float rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import TypeVar

import pytest
from django.db import connection

from plant import counters
from plant.counter_history import increases
from plant.demo_vibration import backfill_vibration
from plant.energy_history import day_periods, scopes, shift_periods, usages
from plant.historian import source_for
from plant.maintenance import hourly_buckets, plant_health
from plant.models import EnergyMeter, OeeMachine, Plant, Sample, Tag, VibrationMonitor
from plant.oee_queries import machine_oee, resolve_period
from plant.rollups import fold, forget, rollups_available, uninstall
from plant.shifts import day_window
from plant.timescale import aggregates_available
from tests.oee_data import DAY, at, worked_example

pytestmark = pytest.mark.django_db
T = TypeVar("T")
ROLLOVER = 100_000.0


@pytest.fixture(autouse=True)
def _ask_again() -> Iterator[None]:
    """Each test uninstalls the rollups inside its transaction, which the rollback undoes."""
    forget()
    yield
    forget()


def both(compute: Callable[[], T]) -> tuple[T, T]:
    """(from the rollups, from the raw samples): `compute` run before and after uninstalling."""
    if aggregates_available():
        pytest.skip("this database has TimescaleDB's aggregates, not plain PostgreSQL's rollups")
    assert rollups_available() and source_for(3600) == "rollup_1h"
    kept = compute()
    uninstall(connection)
    assert not rollups_available() and source_for(3600) == "samples"
    return kept, compute()


def meter_readings(tag: Tag, start: datetime, days: int) -> list[Sample]:
    """A meter every 7 s at a varying load, rolling over at ROLLOVER and reset to 0 once."""
    rows, value = [], ROLLOVER - 4000.0
    for i in range(0, days * 86400, 7):
        value += (150 + (i // 3600) % 7 * 10) * 7 / 3600
        if i == 1 * 86400 + 5 * 3600 + 7 * 301:  # a reset to 0 in the middle of an hour
            value = 0.0
        rows.append(Sample(tag=tag, time=start + timedelta(seconds=i), value=value % ROLLOVER))
    return rows


def test_energy_days_and_shifts_from_the_rollups_are_the_raw_samples(demo_plant: Plant) -> None:
    meter = EnergyMeter.objects.select_related("energy_tag", "production_tag").get(plant=demo_plant)
    EnergyMeter.objects.filter(pk=meter.pk).update(rollover_kwh=ROLLOVER)
    first = date(2026, 6, 1)
    start = day_window(demo_plant, first)[0] - timedelta(minutes=17)
    rows = meter_readings(meter.energy_tag, start, 3)
    Sample.objects.bulk_create(rows[: len(rows) // 2])
    fold()  # half of it folded into the rollups, the rest still pending as the worker leaves it
    Sample.objects.bulk_create(rows[len(rows) // 2 :])
    assert meter.production_tag is not None
    Sample.objects.bulk_create([Sample(tag=meter.production_tag, time=start +
                                       timedelta(seconds=s), value=float(s * 3))
                                for s in range(0, 3 * 86400, 5)])  # fmt: skip
    periods = day_periods(demo_plant, first, first + timedelta(days=2))
    periods += shift_periods(demo_plant, periods[0].start, periods[-1].end)

    def figures() -> tuple[list[float], list[float | None]]:
        found = [u for scope in scopes(demo_plant) for u in usages(scope, periods)]
        return [u.kwh for u in found], [u.units for u in found]

    (kwh, units), (raw_kwh, raw_units) = both(figures)
    assert len(kwh) == 2 * (3 + 9)  # the line and the plant; 3 days and their 9 shifts
    assert kwh == pytest.approx(raw_kwh, rel=1e-9, abs=1e-6)
    assert units == pytest.approx(raw_units, rel=1e-9, abs=1e-6)
    # And each is the increase plant.counters finds stepping through every raw sample.
    tag, rollover = meter.energy_tag_id, ROLLOVER
    by_rule = [counters.increase_between(tag, p.start, p.end, rollover) for p in periods]
    assert kwh == pytest.approx(by_rule * 2, rel=1e-9, abs=1e-6)
    assert sum(kwh[:3]) > 3 * 24 * 150  # the rollover is counted, not lost


def test_counter_increases_from_the_rollups_are_plant_counters_over_every_sample(
    demo_plant: Plant,
) -> None:
    tag = Tag.objects.get(machine__line__plant=demo_plant, key="energy")
    start = datetime.fromisoformat("2026-06-01T00:00:00+00:00")
    Sample.objects.bulk_create(meter_readings(tag, start - timedelta(minutes=3), 2))
    fold()
    hours = [start + timedelta(hours=h) for h in range(0, 48, 3)]
    running = [*hours[:-1], hours[-1] + timedelta(seconds=1234.5)]  # a period still running
    minutes = [start + timedelta(minutes=m) for m in (0, 7, 61, 300, 1441)]
    assert source_for(60) == "rollup_1m"
    for edges in (hours, running, minutes, [start, start + timedelta(seconds=30)]):
        found = increases(tag.pk, edges, ROLLOVER)
        assert found == pytest.approx(counters.increases(tag.pk, edges, ROLLOVER), abs=1e-6)
    assert sum(increases(tag.pk, hours, ROLLOVER)) > 40 * 150  # the rollover and the reset


def test_the_maintenance_list_from_the_rollups_is_the_raw_samples(demo_plant: Plant) -> None:
    now = datetime.fromisoformat("2026-06-20T10:17:31+00:00")
    backfill_vibration(demo_plant, days=20, step_s=20.0, now=now)
    fold()
    monitor = VibrationMonitor.objects.get(tag__machine__line__plant=demo_plant)
    Sample.objects.create(tag=monitor.tag, time=now - timedelta(seconds=5), value=4.2)  # pending

    def health() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        hours = [(b.time, b.min, b.max, b.avg, b.count) for b in hourly_buckets(monitor.tag_id,
                                                                                now)]  # fmt: skip
        (card,) = plant_health(Plant.objects.filter(pk=demo_plant.pk), now)
        m = card.monitors[0]
        assert m.drift is not None
        summary = [(m.drift.points, m.drift.flagged, m.drift.since, m.life.points, m.life.to_c,
                    m.life.to_d, m.drift.ewma)]  # fmt: skip
        return hours, summary

    (kept_hours, kept), (raw_hours, raw) = both(health)
    assert len(kept_hours) == 20 * 24 + 1  # a partial hour at each end
    assert [h[:3] + h[4:] for h in kept_hours] == [h[:3] + h[4:] for h in raw_hours]
    assert [h[3] for h in kept_hours] == pytest.approx([h[3] for h in raw_hours], rel=1e-12)
    assert kept[0][:4] == raw[0][:4]
    assert kept[0][4:] == pytest.approx(raw[0][4:], rel=1e-9)


@pytest.mark.parametrize("kind", ["shift", "day", "week"])
def test_oee_from_the_rollups_is_the_raw_samples(demo_plant: Plant, kind: str) -> None:
    filler = OeeMachine.objects.select_related(
        "machine__line__plant", "state_tag", "produced_tag", "rejected_tag"
    ).get(machine__line__plant=demo_plant, machine__slug="filler")
    worked_example(filler)
    fold()
    produced = filler.produced_tag
    # Later in the day a reset of the counter, then more counted: all must be seen.
    Sample.objects.bulk_create([Sample(tag=produced, time=at(500 + m), value=float(v))
                                for m, v in ((0, 90_000), (30.5, 120), (61, 9_000))])  # fmt: skip
    period = resolve_period(filler.machine.line, kind, at(24 * 60 * 8), day=DAY, shift="Early")

    def figures() -> tuple[float, float, float, float]:
        result = machine_oee(filler, period.windows, now=at(24 * 60 * 8))
        assert result is not None
        total = result.total
        return total.produced, total.good, total.ideal_s, total.run_s

    kept, raw = both(figures)
    assert kept == pytest.approx(raw, rel=1e-12)
    assert kept[0] >= 72_900
