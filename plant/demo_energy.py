"""Past days of the demo's energy meter and bottle counter, so its baseline has days to fit.

The simulator starts with today: without history the energy screen's baseline (fitted over
the days before a day) would stay empty for weeks. `backfill_energy` writes a reading a minute
of the meter (`energy`, `power`) and the filler's `bottles_filled` for the last `days` days,
each day running a different share of its hours (weekends less), so the output varies and the
fit has something to find: about 150 kW of base load and 40 kW more while the filler runs
(3 bottles a second). It writes only before the meter's first stored reading and ends the
energy counter just under it, so the live counter carries on without a fall; a plant that
already has that history is left alone.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from plant.models import Plant, Sample, Tag
from plant.shifts import day_window
from plant.timescale import aggregates_available

BASE_KW, RUNNING_KW, BOTTLES_PER_MIN = 150.0, 40.0, 180.0
SIMULATOR_START_KWH = 125_000.0  # ingest/sim/plant_model.py's meter reading at its start
INSERT_SQL = """
INSERT INTO plant_sample (tag_id, time, value, quality)
SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::float8[], %s::smallint[])
ON CONFLICT DO NOTHING
"""


def backfill_energy(plant: Plant, days: int = 30, *, seed: int = 15) -> int:
    """Write `days` past days of the demo meter and bottle counter; the number of samples."""
    keys = ["energy", "power", "bottles_filled"]
    tags = {t.key: t for t in Tag.objects.filter(machine__line__plant=plant, key__in=keys)}
    today = timezone.now().astimezone(_zone(plant)).date()
    start = day_window(plant, today - timedelta(days=days))[0]
    first = Sample.objects.filter(tag=tags["energy"]).order_by("time").first()
    if first is not None and first.time <= start:
        return 0  # it has its history already
    end = first.time if first is not None else timezone.now()
    end_kwh = first.value if first is not None and first.value is not None else SIMULATOR_START_KWH
    minutes = _minutes(plant, start, end, random.Random(seed))
    rows = _rows(tags, minutes, end_kwh)
    with transaction.atomic(), connection.cursor() as cursor:
        for i in range(0, len(rows[0]), 50_000):
            cursor.execute(INSERT_SQL, [column[i : i + 50_000] for column in rows])
    _refresh_aggregates(start, end)
    return len(rows[0])


def _zone(plant: Plant) -> ZoneInfo:
    return ZoneInfo(plant.time_zone)


def _minutes(
    plant: Plant, start: datetime, end: datetime, rng: random.Random
) -> list[tuple[datetime, bool]]:
    """Each whole minute of [start, end) and whether the filler ran in it: a day runs from 6:00
    for a share of its hours (weekdays 10 to 20 hours, weekends 0 to 6), in its local time."""
    zone = _zone(plant)
    minute = start.replace(second=0, microsecond=0)
    found: list[tuple[datetime, bool]] = []
    hours_of: dict[date, float] = {}
    while minute < end:
        local = minute.astimezone(zone)
        day = local.date()
        if day not in hours_of:
            weekend = local.weekday() >= 5
            hours_of[day] = rng.uniform(0, 6) if weekend else rng.uniform(10, 20)
        into = local.hour + local.minute / 60 - 6
        found.append((minute, 0 <= into < hours_of[day]))
        minute += timedelta(minutes=1)
    return found


def _rows(
    tags: dict[str, Tag], minutes: list[tuple[datetime, bool]], end_kwh: float
) -> tuple[list[int], list[datetime], list[float], list[int]]:
    """Columns of the samples: a reading a minute of each tag, the energy counter ending just
    under `end_kwh` and the bottle counter counting from zero."""
    rng = random.Random(len(minutes))
    powers = [BASE_KW + (RUNNING_KW if on else 0.0) + rng.gauss(0, 3) for _, on in minutes]
    energy = end_kwh - sum(powers) / 60 - 0.001
    bottles = 0.0
    ids: list[int] = []
    times: list[datetime] = []
    values: list[float] = []
    for (minute, running), power in zip(minutes, powers, strict=True):
        energy += power / 60
        bottles += BOTTLES_PER_MIN if running else 0.0
        for tag, value in ((tags["power"], power), (tags["energy"], energy),
                           (tags["bottles_filled"], bottles)):  # fmt: skip
            ids.append(tag.pk)
            times.append(minute.astimezone(UTC))
            values.append(round(value, 3))
    return ids, times, values, [0] * len(ids)


def _refresh_aggregates(start: datetime, end: datetime) -> None:
    """TimescaleDB's aggregates refresh only the last 3 days by policy: refresh the backfilled
    range now (possible only outside a transaction, as the procedure commits)."""
    if connection.in_atomic_block or not aggregates_available(connection):
        return
    with connection.cursor() as cursor:
        for view in ("sample_1m", "sample_1h"):
            cursor.execute(f"CALL refresh_continuous_aggregate('{view}', %s, %s)", [start, end])
