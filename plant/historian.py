"""Reading the history of tags: raw samples when there are few, min/max/avg buckets otherwise.

A trend never needs more points than the screen has pixels, so a long range is cut into
buckets, and each bucket keeps its minimum and maximum as well as its average: a one-second
spike stays visible in a month-long trend. A bucket without any (good) value is simply not
returned, so a gap in the data stays a gap in the chart.

Buckets start at whole multiples of their width counted from ORIGIN, in UTC, and a range is
widened to whole buckets, so the same bucket always holds the same samples. With TimescaleDB,
widths of whole minutes or hours are read from the continuous aggregates sample_1m and
sample_1h (plant/timescale.py); on plain PostgreSQL, from the product's own rollups
plant_rollup_1m and plant_rollup_1h (plant/rollups.py), which have the same columns and are
read with the same query; other widths `date_bin` the raw samples. All give the same buckets.
Bad-quality values and text are never aggregated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.backends.base.base import BaseDatabaseWrapper

from plant.models import Tag
from plant.quality import USABLE_SQL
from plant.read_replica import samples_connection as default_connection
from plant.rollups import ROLLUPS, rollups_available
from plant.timescale import AGGREGATES, aggregates_available

# TimescaleDB's time_bucket counts from this Monday too, so both paths cut at the same instants.
ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NICE_BUCKETS_S: tuple[int, ...] = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
NICE_BUCKETS_S += (10800, 21600, 43200, 86400)
DAY_S = 86400
DEFAULT_POINTS = 1000
MAX_POINTS = 10_000

# Times come back as microseconds since 1970: Django's timestamptz loader parses text in
# Python, which made reading a raw hour take three times as long.
RAW_SQL = """
SELECT (extract(epoch FROM time) * 1000000)::bigint, value, text, quality FROM plant_sample
WHERE tag_id = %s AND time >= %s AND time < %s ORDER BY time LIMIT %s
"""
# No ORDER BY: without it PostgreSQL can hash the few groups instead of sorting every row.
# Grouped by date_bin, converted once per bucket: per row, the conversion doubled the time.
SAMPLES_SQL = f"""
SELECT (extract(epoch FROM bucket) * 1000000)::bigint, low, high, mean, n FROM (
    SELECT date_bin(%s * INTERVAL '1 second', time, %s) AS bucket,
           min(value) AS low, max(value) AS high, avg(value) AS mean, count(value) AS n
    FROM plant_sample
    WHERE tag_id = %s AND time >= %s AND time < %s AND value IS NOT NULL AND {USABLE_SQL}
    GROUP BY 1
) AS buckets
"""
AGGREGATE_SQL = """
SELECT (extract(epoch FROM wide) * 1000000)::bigint, low, high, mean, n FROM (
    SELECT date_bin(%s * INTERVAL '1 second', bucket, %s) AS wide, min(min) AS low,
           max(max) AS high, sum(sum) / sum(count)::float8 AS mean, sum(count)::bigint AS n
    FROM {view} WHERE tag_id = %s AND bucket >= %s AND bucket < %s
    GROUP BY 1
) AS buckets
"""


class HistoryError(ValueError):
    """A history request that cannot be answered as asked; the message says why."""


@dataclass(frozen=True)
class RawSample:
    """One stored value, as it was recorded."""

    time: datetime
    value: float | None
    text: str | None
    quality: int


@dataclass(frozen=True)
class Bucket:
    """The good numeric values of one tag within [time, time + width)."""

    time: datetime
    min: float
    max: float
    avg: float
    count: int


@dataclass(frozen=True)
class History:
    """One tag's history over [start, end): raw samples, or buckets when bucket_s is set."""

    tag_id: int
    start: datetime
    end: datetime
    bucket_s: int | None
    # "raw", or where buckets came from: "samples", or a table of aggregate_sources()
    source: str
    samples: list[RawSample] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)


def bucket_for(start: datetime, end: datetime, points: int) -> int:
    """The narrowest round bucket width (seconds) that cuts [start, end) into <= points buckets."""
    for width in NICE_BUCKETS_S:
        if bucket_count(start, end, width) <= points:
            return width
    days = 2
    while bucket_count(start, end, days * DAY_S) > points:
        days += 1
    return days * DAY_S


def align(start: datetime, end: datetime, bucket_s: int) -> tuple[datetime, datetime]:
    """The range widened to whole buckets: the start of start's bucket, the end of end's."""
    width = timedelta(seconds=bucket_s)
    first = ORIGIN + (start - ORIGIN) // width * width
    last = ORIGIN + -((ORIGIN - end) // width) * width
    return first, last


def bucket_count(start: datetime, end: datetime, bucket_s: int) -> int:
    first, last = align(start, end, bucket_s)
    return (last - first) // timedelta(seconds=bucket_s)


def aggregate_sources(connection: BaseDatabaseWrapper = default_connection) -> dict[str, int]:
    """The pre-aggregated buckets this database keeps, each with its width in seconds:
    TimescaleDB's continuous aggregates, else the product's own rollups, else none."""
    if aggregates_available(connection):
        return AGGREGATES
    if rollups_available(connection):
        return ROLLUPS
    return {}


def source_for(bucket_s: int, connection: BaseDatabaseWrapper = default_connection) -> str:
    """The widest aggregate (or rollup) whose buckets nest in bucket_s, else the raw samples."""
    for table, width in sorted(aggregate_sources(connection).items(), key=lambda item: -item[1]):
        if bucket_s % width == 0:
            return table
    return "samples"


def history(
    tag: Tag,
    start: datetime,
    end: datetime,
    *,
    points: int | None = None,
    bucket_s: int | None = None,
    connection: BaseDatabaseWrapper = default_connection,
) -> History:
    """A tag's history: raw when the range holds at most `points` samples, else buckets.

    An explicit `bucket_s` always gives buckets of that width.
    """
    if bucket_s is None:
        points = points or DEFAULT_POINTS
        # Reading one sample more than allowed tells whether the raw values fit.
        samples = raw_samples(tag.pk, start, end, limit=points + 1, connection=connection)
        if len(samples) <= points and not _dropped(tag, samples, connection):
            return History(tag.pk, start, end, None, "raw", samples=samples)
        bucket_s = bucket_for(start, end, points)
        if not samples:
            bucket_s = max(bucket_s, min(AGGREGATES.values()))
    if tag.data_type == Tag.DataType.STRING:
        raise HistoryError(
            f"tag {tag.pk} holds text, which cannot be bucketed: "
            "ask for a shorter range, or export the raw values as CSV"
        )
    first, last = align(start, end, bucket_s)
    source = source_for(bucket_s, connection)
    rows = buckets(tag.pk, first, last, bucket_s, source=source, connection=connection)
    return History(tag.pk, first, last, bucket_s, source, buckets=rows)


def _dropped(tag: Tag, samples: list[RawSample], connection: BaseDatabaseWrapper) -> bool:
    """True when no raw values came back but the aggregates may still hold the range: a
    retention drops old samples, never the aggregates' (or the rollups') buckets."""
    return (
        not samples and tag.data_type != Tag.DataType.STRING and bool(aggregate_sources(connection))
    )


def raw_samples(
    tag_id: int,
    start: datetime,
    end: datetime,
    *,
    limit: int,
    connection: BaseDatabaseWrapper = default_connection,
) -> list[RawSample]:
    """The first `limit` samples of a tag in [start, end), oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(RAW_SQL, [tag_id, start, end, limit])
        return [RawSample(_instant(us), *rest) for us, *rest in cursor.fetchall()]


def buckets(
    tag_id: int,
    start: datetime,
    end: datetime,
    bucket_s: int,
    *,
    source: str = "samples",
    connection: BaseDatabaseWrapper = default_connection,
) -> list[Bucket]:
    """The non-empty buckets of a tag in [start, end), which must be aligned to bucket_s."""
    if source == "samples":
        sql = SAMPLES_SQL
    elif source in AGGREGATES or source in ROLLUPS:
        sql = AGGREGATE_SQL.format(view=source)
    else:
        raise ValueError(f"unknown history source {source!r}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [bucket_s, ORIGIN, tag_id, start, end])
        return [Bucket(_instant(us), *rest) for us, *rest in sorted(cursor.fetchall())]


def iter_raw(
    tag_id: int,
    start: datetime,
    end: datetime,
    *,
    chunk: int = 5000,
    connection: BaseDatabaseWrapper = default_connection,
) -> Iterator[list[RawSample]]:
    """All samples of a tag in [start, end), `chunk` at a time, each chunk a query of its own.

    Paging by time on the (tag_id, time) key holds no cursor or transaction open between
    chunks, so an export of any length keeps memory flat in Python and in PostgreSQL.
    """
    while True:
        rows = raw_samples(tag_id, start, end, limit=chunk, connection=connection)
        if rows:
            yield rows
        if len(rows) < chunk:
            return
        start = rows[-1].time + timedelta(microseconds=1)  # timestamptz's resolution


def iter_buckets(
    tag_id: int,
    start: datetime,
    end: datetime,
    bucket_s: int,
    *,
    chunk: int = 5000,
    connection: BaseDatabaseWrapper = default_connection,
) -> Iterator[list[Bucket]]:
    """All buckets of a tag over [start, end) widened to whole buckets, `chunk` buckets a query."""
    first, last = align(start, end, bucket_s)
    source = source_for(bucket_s, connection)
    step = timedelta(seconds=bucket_s * chunk)
    while first < last:
        until = min(first + step, last)
        rows = buckets(tag_id, first, until, bucket_s, source=source, connection=connection)
        if rows:
            yield rows
        first = until


def _instant(microseconds: int) -> datetime:
    return EPOCH + timedelta(microseconds=microseconds)


def hold_seconds(tag: Tag) -> int:
    """How long one stored value stands for the process before its absence is a gap.

    With a deadband, nothing is stored while the value holds still, up to the heartbeat;
    without one, a value is due every expected interval.
    """
    return tag.heartbeat_s if tag.deadband > 0 else tag.expected_interval_s
