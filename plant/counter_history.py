"""A cumulative counter's increases (kWh, bottles) read from the historian's buckets.

Each bucket stands as two readings, its minimum just after its start and its maximum just
before its end: for a counter that only rises, that is exactly its increase. Only a bucket in
which the counter fell below its reading before it (a rollover or a reset) is read raw. So a
month of a 1 Hz counter costs 720 hourly buckets, not 2.6 million samples: TimescaleDB's
continuous aggregates, or plain PostgreSQL's rollups (plant.rollups), through plant.historian.
The figures are plant.counters' (the same rule over every raw sample): a step counts in the
range of its later reading, from the last usable reading before the range.

A drop that stays above the bucket's reading before it (a reset to a value above it, inside
one bucket) cannot be seen in a bucket's minimum and maximum; meters and production counters
fall only to (near) zero, which is always seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.backends.base.base import BaseDatabaseWrapper

from plant import counters, energy
from plant.historian import ORIGIN, aggregate_sources, iter_buckets, raw_samples
from plant.quality import USABLE_SQL, Quality
from plant.read_replica import samples_connection as default_connection

LOOKBACK = timedelta(days=7)  # how far back a counter's reading at a period's start is sought
RESOLUTIONS_S = (3600, 900, 60, 1)
EPSILON = timedelta(microseconds=1)
BEFORE_SQL = f"""
SELECT value FROM plant_sample
WHERE tag_id = %s AND time < %s AND time > %s AND value IS NOT NULL AND {USABLE_SQL}
ORDER BY time DESC LIMIT 1
"""


@dataclass(frozen=True)
class Counter:
    """A cumulative counter tag and its rollover."""

    tag_id: int
    rollover: float | None


def resolution_for(edges: Sequence[datetime]) -> int:
    """The widest bucket width (s) whose boundaries include every edge."""
    for width in RESOLUTIONS_S:
        if all((edge - ORIGIN).total_seconds() % width == 0 for edge in edges):
            return width
    return 1


def reading_at(
    tag_id: int, moment: datetime, *, connection: BaseDatabaseWrapper = default_connection
) -> float | None:
    """A counter's last usable reading before `moment` (within LOOKBACK): its reading at an
    edge, as a bucket that ends there gives it (a sample exactly at the edge opens the next)."""
    with connection.cursor() as cursor:
        cursor.execute(BEFORE_SQL, [tag_id, moment, moment - LOOKBACK])
        row = cursor.fetchone()
    return None if row is None else float(row[0])


def counter_points(
    counter: Counter,
    start: datetime,
    end: datetime,
    width: int,
    *,
    connection: BaseDatabaseWrapper = default_connection,
) -> list[energy.Point]:
    """The counter's readings within [start, end) as points: two per bucket where it rose
    (its minimum just after the bucket's start, its maximum just before its end), every sample
    of a bucket in which it fell. `start` and `end` lie on bucket boundaries, so a reading at
    an edge is the maximum of the bucket that ends there."""
    points: list[energy.Point] = []
    last = reading_at(counter.tag_id, start, connection=connection)
    step = timedelta(seconds=width)
    for chunk in iter_buckets(counter.tag_id, start, end, width, connection=connection):
        for bucket in chunk:
            if last is not None and bucket.min < last and width > 1:
                points += raw_points(counter.tag_id, bucket.time, bucket.time + step, connection)
            else:
                points += [(bucket.time + EPSILON, bucket.min),
                           (bucket.time + step - EPSILON, bucket.max)]  # fmt: skip
            last = points[-1][1] if points else last
    return points


def raw_points(
    tag_id: int, start: datetime, end: datetime, connection: BaseDatabaseWrapper
) -> list[energy.Point]:
    """The usable samples of [start, end), each kept inside the bucket's open interval, as a
    bucket's own points are: a sample at the bucket's start is not the reading at the edge."""
    rows = raw_samples(tag_id, start, end, limit=10_000_000, connection=connection)
    return [(max(s.time, start + EPSILON), s.value) for s in rows
            if s.value is not None and s.quality < Quality.BAD]  # fmt: skip


def counter_increases(
    counter: Counter,
    edges: Sequence[datetime],
    *,
    connection: BaseDatabaseWrapper = default_connection,
) -> list[float]:
    """The counter's increase within each [edges[i], edges[i + 1])."""
    width = resolution_for(edges)
    before = reading_at(counter.tag_id, edges[0], connection=connection)
    points = counter_points(counter, edges[0], edges[-1], width, connection=connection)
    return energy.interval_increases(points, edges, counter.rollover, before=before)


MINUTE = timedelta(minutes=1)


def increases(
    tag_id: int,
    edges: Sequence[datetime],
    rollover: float | None = None,
    *,
    connection: BaseDatabaseWrapper = default_connection,
) -> list[float]:
    """The counter's increase within each [edges[i], edges[i + 1]), as plant.counters gives it.

    From the buckets when the database keeps aggregates (or rollups) and every edge but the
    last lies on a whole minute; a last edge within a minute (now, for a period still
    running) has its part-minute read raw. Otherwise from every raw sample (plant.counters).
    """
    if len(edges) < 2:
        return []
    last = edges[-1]
    whole = ORIGIN + (last - ORIGIN) // MINUTE * MINUTE
    if not aggregate_sources(connection) or resolution_for(edges[:-1]) < 60:
        return counters.increases(tag_id, edges, rollover, connection=connection)
    counter = Counter(tag_id, rollover)
    if whole == last:
        return counter_increases(counter, edges, connection=connection)
    head = [*edges[:-1], whole] if whole > edges[-2] else list(edges[:-1])
    found = counter_increases(counter, head, connection=connection) if len(head) > 1 else []
    # The rest of the last range, from its last whole minute (or its start) to its end, is
    # counted from the last reading before it, as the buckets before it end on that reading.
    tail = counters.increases(tag_id, [head[-1], last], rollover, connection=connection)[0]
    if whole > edges[-2]:
        found[-1] += tail
    else:
        found.append(tail)
    return found
