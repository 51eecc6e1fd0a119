"""A month of history for the demo plant's vibration monitors, so the health card has a trend.

The remaining-life fit needs days of daily averages and the drift chart two weeks of hourly
ones; a fresh demo has minutes. `backfill_vibration` writes the days before each monitored
tag's first stored value (so live values, and a second run, are never overwritten): a slow
exponential rise of a wearing bearing from 60 % of today's level to the simulator's healthy
2.0 mm/s, with sensor noise, and its bearing temperature warming with it. On the demo pump
(group 2, rigid) that reads "about 20 days to zone C" with a drift flagged.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial

from django.db import connection
from django.utils import timezone

from plant.models import Plant, Sample, VibrationMonitor
from plant.quality import Quality
from plant.timescale import AGGREGATES, aggregates_available

LEVEL_NOW = 2.0  # mm/s: where the simulator's pump runs (ingest/sim/plant_model.py)
LEVEL_SHARE_AT_START = 0.6  # a month ago the pump ran at 60 % of that
NOISE = 0.1  # mm/s, the simulator's sensor noise
BEARING_NOW, BEARING_RISE = 45.0, 3.0  # °C: the simulator's bearing, 3 K cooler a month ago
Row = tuple[int, datetime, float, None, int]


def backfill_vibration(
    plant: Plant,
    days: int = 30,
    *,
    step_s: float = 60.0,
    now: datetime | None = None,
    seed: int = 15,
) -> int:
    """Write `days` of history of the plant's vibration monitors (and their bearing
    temperatures) before their first stored values, one sample every `step_s`; return how
    many samples were written. Written with COPY, as the ingest worker writes.

    On TimescaleDB, call it outside a transaction: the continuous aggregates are refreshed
    over the written range (TimescaleDB refuses that inside one), or the history would reach
    the trends and the health card only with a refresh.
    """
    now = now or timezone.now()
    start = now - timedelta(days=days)
    rng = random.Random(seed)
    written = 0
    for monitor in VibrationMonitor.objects.filter(tag__machine__line__plant=plant):
        tags = [(monitor.tag_id, _vibration)]
        if monitor.bearing_temperature_tag_id is not None:
            tags.append((monitor.bearing_temperature_tag_id, _bearing))
        for tag_id, shape in tags:
            end = min(now, _first_sample(tag_id) or now)
            rows = _series(tag_id, start, end, step_s, now, partial(shape, days=days, rng=rng))
            written += _copy(rows)
    if written:
        _refresh_aggregates(start, now)
    return written


def _first_sample(tag_id: int) -> datetime | None:
    times = Sample.objects.filter(tag_id=tag_id).order_by("time")
    return times.values_list("time", flat=True).first()


def _vibration(age_days: float, *, days: int, rng: random.Random) -> float:
    """Exponential wear: 60 % of the level `days` ago, LEVEL_NOW now, plus noise."""
    rate = -math.log(LEVEL_SHARE_AT_START) / days
    return max(0.0, LEVEL_NOW * math.exp(-rate * age_days) + rng.gauss(0, NOISE))


def _bearing(age_days: float, *, days: int, rng: random.Random) -> float:
    return BEARING_NOW - BEARING_RISE * age_days / days + rng.gauss(0, 0.2)


def _series(
    tag_id: int, start: datetime, end: datetime, step_s: float, now: datetime,
    value: Callable[[float], float],
) -> Iterator[Row]:  # fmt: skip
    """One row every `step_s` in [start, end); `value` takes the row's age in days at `now`."""
    step = timedelta(seconds=step_s)
    at = start
    while at < end:
        yield tag_id, at, round(value((now - at).total_seconds() / 86400), 3), None, Quality.GOOD
        at += step


def _copy(rows: Iterator[Row]) -> int:
    count = 0
    with connection.cursor() as cursor:
        sql = "COPY plant_sample (tag_id, time, value, text, quality) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def _refresh_aggregates(start: datetime, end: datetime) -> None:
    if not aggregates_available() or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        for view in AGGREGATES:
            cursor.execute("CALL refresh_continuous_aggregate(%s, %s, %s)", [view, start, end])
