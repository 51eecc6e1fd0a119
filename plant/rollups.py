"""Per-minute and per-hour rollups of the samples on plain PostgreSQL, kept as samples commit.

Without TimescaleDB there are no continuous aggregates, and a month-long trend read every raw
sample of the month. So the product keeps its own: plant_rollup_1m and plant_rollup_1h
(plant/models/rollups.py) with the columns of sample_1m and sample_1h (tag_id, bucket, min,
max, avg, sum, count).

A statement-level AFTER INSERT trigger on plant_sample adds each statement's new rows (its
transition table), grouped by tag and minute, to plant_rollup_pending, in the inserting
transaction: whatever writes samples (the worker's COPY, its INSERT ... ON CONFLICT DO
NOTHING for a redelivered batch, the ORM, a hand-written INSERT) is counted, and commits or
rolls back with its samples. The transition table holds only the rows actually inserted, so
a redelivered sample that the primary key drops is never counted twice. Values are counted
exactly as plant.historian counts them: numeric, usable quality.

`fold` (the ingest worker calls it every FOLD_S) moves the pending partials into the minute
and hour rollups, so each rollup row is written once per fold, not once per batch: updating
a busy minute's row on every batch cost the database three times the insert's own CPU, and
far more once a long transaction kept its dead versions from being cleaned up. The views
rollup_1m and rollup_1h are the rollups and the pending partials together, as partial
buckets that the historian merges with min, max, sum and count (plant.historian's
AGGREGATE_SQL, the query that reads TimescaleDB's aggregates): a new or late sample shows in
its bucket as soon as it commits. Deleting samples (a retention) leaves the rollups as they
are.

`rebuild` recomputes the buckets from the raw samples: the migration runs it once to fill
the rollups of an existing database, and `manage.py rollups --rebuild` after a repair.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from django.db import connection as default_connection
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from plant.quality import USABLE_SQL
from plant.timescale import extension_installed

# The views the historian reads and their bucket widths in seconds, as AGGREGATES.
ROLLUPS = {"rollup_1m": 60, "rollup_1h": 3600}
TRIGGER = "plant_sample_rollup"
FOLD_S = 10.0  # how often the ingest worker folds the pending partials
# plant.historian.ORIGIN, TimescaleDB's time_bucket origin: date_bin with it is the same in
# every session time zone (date_trunc on a timestamptz is not, in zones such as +05:30).
ORIGIN_SQL = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"

# One number per insert statement tells its partials apart from other inserts' into the
# same minute (a transaction may insert into one minute many times).
SEQUENCE_SQL = "CREATE SEQUENCE IF NOT EXISTS plant_rollup_batch"
FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION plant_rollup_samples() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO plant_rollup_pending (tag_id, bucket, batch, min, max, sum, count)
    SELECT tag_id, date_bin(INTERVAL '60 seconds', time, {ORIGIN_SQL}),
           (SELECT nextval('plant_rollup_batch')), min(value), max(value), sum(value),
           count(value)
    FROM new_samples WHERE value IS NOT NULL AND {USABLE_SQL}
    GROUP BY 1, 2;
    RETURN NULL;
END
$$
"""
TRIGGER_SQL = f"""
CREATE OR REPLACE TRIGGER {TRIGGER} AFTER INSERT ON plant_sample
REFERENCING NEW TABLE AS new_samples
FOR EACH STATEMENT EXECUTE FUNCTION plant_rollup_samples()
"""
# Partial buckets: a bucket may appear several times (folded, and pending), which min, max,
# sum and count merge exactly; there is no avg column, as an average of parts would be wrong.
VIEWS_SQL = f"""
CREATE OR REPLACE VIEW rollup_1m AS
    SELECT tag_id, bucket, min, max, sum, count FROM plant_rollup_1m
    UNION ALL
    SELECT tag_id, bucket, min, max, sum, count FROM plant_rollup_pending;
CREATE OR REPLACE VIEW rollup_1h AS
    SELECT tag_id, bucket, min, max, sum, count FROM plant_rollup_1h
    UNION ALL
    SELECT tag_id, date_bin(INTERVAL '3600 seconds', bucket, {ORIGIN_SQL}), min, max, sum, count
    FROM plant_rollup_pending;
"""
DROP_SQL = f"""
DROP TRIGGER IF EXISTS {TRIGGER} ON plant_sample;
DROP FUNCTION IF EXISTS plant_rollup_samples();
DROP VIEW IF EXISTS rollup_1m;
DROP VIEW IF EXISTS rollup_1h;
"""

# Merging a partial bucket into a stored one: min, max, sum and count combine exactly (the
# sum up to the order of float additions); the average follows from sum and count.
MERGE_SQL = """
    ON CONFLICT (tag_id, bucket) DO UPDATE SET
        min = least(r.min, EXCLUDED.min), max = greatest(r.max, EXCLUDED.max),
        sum = r.sum + EXCLUDED.sum, count = r.count + EXCLUDED.count,
        avg = (r.sum + EXCLUDED.sum) / (r.count + EXCLUDED.count)
"""
# Replacing a stored bucket with one computed from all its raw samples (rebuild).
REPLACE_SQL = """
    ON CONFLICT (tag_id, bucket) DO UPDATE SET
        min = EXCLUDED.min, max = EXCLUDED.max, sum = EXCLUDED.sum, count = EXCLUDED.count,
        avg = EXCLUDED.avg
"""
# Every pending partial moves in one statement: a partial is deleted by exactly one fold (a
# second fold at the same time waits for the first's, then finds them gone), and ORDER BY
# makes concurrent folds lock shared buckets in the same order.
FOLD_SQL = f"""
WITH moved AS (
    DELETE FROM plant_rollup_pending RETURNING tag_id, bucket, min, max, sum, count
), minutes AS (
    SELECT tag_id, bucket, min(min) AS min, max(max) AS max, sum(sum) AS sum,
           sum(count)::bigint AS count
    FROM moved GROUP BY 1, 2
), merged AS (
    INSERT INTO plant_rollup_1m AS r (tag_id, bucket, min, max, avg, sum, count)
    SELECT tag_id, bucket, min, max, sum / count, sum, count FROM minutes
    ORDER BY tag_id, bucket
    {MERGE_SQL}
)
INSERT INTO plant_rollup_1h AS r (tag_id, bucket, min, max, avg, sum, count)
SELECT tag_id, date_bin(INTERVAL '3600 seconds', bucket, {ORIGIN_SQL}), min(min), max(max),
       sum(sum) / sum(count), sum(sum), sum(count)
FROM minutes GROUP BY 1, 2 ORDER BY 1, 2
{MERGE_SQL}
"""

# Rebuilding one tag over [start, end), both on whole hours: its pending partials go (the
# raw samples hold them), the minutes come from the raw samples, then the hours from the
# minutes (which keep buckets whose raw samples are gone).
REBUILD_PENDING_SQL = """
DELETE FROM plant_rollup_pending
WHERE tag_id = %(tag)s AND bucket >= %(start)s AND bucket < %(end)s
"""
REBUILD_MINUTES_SQL = f"""
INSERT INTO plant_rollup_1m AS r (tag_id, bucket, min, max, avg, sum, count)
SELECT tag_id, date_bin(INTERVAL '60 seconds', time, {ORIGIN_SQL}), min(value), max(value),
       avg(value), sum(value), count(value)
FROM plant_sample
WHERE tag_id = %(tag)s AND time >= %(start)s AND time < %(end)s
  AND value IS NOT NULL AND {USABLE_SQL}
GROUP BY 1, 2 ORDER BY 1, 2
{REPLACE_SQL}
"""
REBUILD_HOURS_SQL = f"""
INSERT INTO plant_rollup_1h AS r (tag_id, bucket, min, max, avg, sum, count)
SELECT tag_id, date_bin(INTERVAL '3600 seconds', bucket, {ORIGIN_SQL}), min(min), max(max),
       sum(sum) / sum(count), sum(sum), sum(count)
FROM plant_rollup_1m
WHERE tag_id = %(tag)s AND bucket >= %(start)s AND bucket < %(end)s
GROUP BY 1, 2 ORDER BY 1, 2
{REPLACE_SQL}
"""
# Every tag that has samples, one index probe per tag rather than a scan of the whole table
# (PostgreSQL 15 has no skip scan): the history of deleted tags is rebuilt too.
TAGS_SQL = """
WITH RECURSIVE tags AS (
    (SELECT tag_id FROM plant_sample ORDER BY tag_id LIMIT 1)
    UNION ALL
    SELECT (SELECT s.tag_id FROM plant_sample s WHERE s.tag_id > tags.tag_id
            ORDER BY s.tag_id LIMIT 1)
    FROM tags WHERE tags.tag_id IS NOT NULL
)
SELECT tag_id FROM tags WHERE tag_id IS NOT NULL
"""
SPAN_SQL = """
SELECT (SELECT time FROM plant_sample WHERE tag_id = %(tag)s ORDER BY time LIMIT 1),
       (SELECT time FROM plant_sample WHERE tag_id = %(tag)s ORDER BY time DESC LIMIT 1)
"""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
# One rebuild step: a day of one tag (86,400 rows at 1 Hz), in a transaction that holds
# inserts into the samples off for its duration, so it is exact while the worker runs.
STEP = timedelta(days=1)

_available: dict[tuple[str, str], bool] = {}


def rollups_available(connection: BaseDatabaseWrapper = default_connection) -> bool:
    """True when this database keeps its own rollups (plain PostgreSQL); asked once per database."""
    key = (connection.alias, connection.settings_dict["NAME"])
    if key not in _available:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = %s "
                "AND tgrelid = 'plant_sample'::regclass AND tgenabled <> 'D')",
                [TRIGGER],
            )
            (available,) = cursor.fetchone()
            _available[key] = bool(available)
    return _available[key]


def forget() -> None:
    """Ask each database again (after a rolled-back transaction took the trigger back)."""
    _available.clear()


def install(connection: BaseDatabaseWrapper) -> bool:
    """Keep rollups from now on (the trigger); False with TimescaleDB, which has its own.

    Safe to run again. Rows already stored are not in the rollups until `rebuild`.
    """
    if extension_installed(connection):
        return False
    with connection.cursor() as cursor:
        cursor.execute(SEQUENCE_SQL)
        cursor.execute(FUNCTION_SQL)
        cursor.execute(TRIGGER_SQL)
        cursor.execute(VIEWS_SQL)
    forget()
    return True


def uninstall(connection: BaseDatabaseWrapper) -> None:
    """Stop keeping rollups (the tables and what they hold stay; the historian reads raw)."""
    with connection.cursor() as cursor:
        cursor.execute(DROP_SQL)
    forget()


def fold(connection: BaseDatabaseWrapper = default_connection) -> int:
    """Move the pending partials into the minute and hour rollups; return the hours written.

    One statement, so it commits whole or not at all, in the caller's transaction or its own.
    """
    with connection.cursor() as cursor:
        cursor.execute(FOLD_SQL)
        return int(cursor.rowcount)


def rebuild(
    connection: BaseDatabaseWrapper,
    *,
    tags: list[int] | None = None,
    since: datetime | None = None,
    step: timedelta = STEP,
) -> int:
    """Recompute the rollups of every bucket that still has raw samples; return the steps.

    Each step (one tag, one `step` of time) is a transaction of its own that first takes a
    SHARE lock on the samples: it waits for the inserts in flight to commit and holds new
    ones off until it commits, so each bucket it writes is exactly its raw samples, and
    the trigger adds whatever commits after. Buckets whose raw samples were deleted are kept
    (the pending partials are folded first).
    Call it outside a transaction, so ingest waits for one step at a time, not for all.
    """
    if step % HOUR:
        raise ValueError(f"a rebuild step must be whole hours, not {step}")
    # Partials whose raw samples are gone must reach the rollups before a step drops the
    # pending partials of its range (the raw samples hold all the others).
    with transaction.atomic(using=connection.alias):
        fold(connection)
    steps = 0
    for tag in tags if tags is not None else tag_ids(connection):
        for start, end in windows(connection, tag, since, step):
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute("LOCK TABLE plant_sample IN SHARE MODE")
                params: dict[str, int | datetime] = {"tag": tag, "start": start, "end": end}
                cursor.execute(REBUILD_PENDING_SQL, params)
                cursor.execute(REBUILD_MINUTES_SQL, params)
                cursor.execute(REBUILD_HOURS_SQL, params)
            steps += 1
    return steps


def tag_ids(connection: BaseDatabaseWrapper) -> list[int]:
    """The ids of every tag with samples, deleted tags included."""
    with connection.cursor() as cursor:
        cursor.execute(TAGS_SQL)
        return [int(tag) for (tag,) in cursor.fetchall()]


def windows(
    connection: BaseDatabaseWrapper, tag: int, since: datetime | None, step: timedelta
) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) ranges of whole hours, `step` long, over the tag's samples since `since`."""
    with connection.cursor() as cursor:
        cursor.execute(SPAN_SQL, {"tag": tag})
        first, last = cursor.fetchone()
    if first is None:
        return
    start = _hour_of(max(first, since) if since is not None else first)
    while start <= last:
        yield start, start + step
        start += step


def _hour_of(instant: datetime) -> datetime:
    """The start of the UTC hour that holds `instant`."""
    return EPOCH + (instant - EPOCH) // HOUR * HOUR
