"""Write one decoded batch to PostgreSQL in one transaction.

Samples go in with binary COPY straight into the samples table. A redelivered message (after a
crash, the broker re-sends what we had not acknowledged) makes COPY fail on the (tag, time)
key; only then does the batch take the slower path through a staging table and
`INSERT ... ON CONFLICT DO NOTHING`, which stores each sample once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from ingest.batch import Decoded, Row

SAMPLE_COLUMNS = "(tag_id, time, value, text, quality)"
SAMPLE_TYPES = ["int8", "timestamptz", "float8", "text", "int2"]
STAGE_SQL = (
    "CREATE TEMP TABLE IF NOT EXISTS sample_stage "
    "(LIKE plant_sample INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
MERGE_SQL = (
    "INSERT INTO plant_sample (tag_id, time, value, text, quality) "
    "SELECT DISTINCT ON (tag_id, time) tag_id, time, value, text, quality FROM sample_stage "
    "ORDER BY tag_id, time ON CONFLICT DO NOTHING"
)
LATEST_SQL = """
    INSERT INTO plant_latestvalue AS l (tag_id, time, value, text, quality, good_at)
    SELECT * FROM unnest(%s::int8[], %s::timestamptz[], %s::float8[], %s::text[], %s::int2[],
                         %s::timestamptz[])
    ON CONFLICT (tag_id) DO UPDATE SET time = EXCLUDED.time, value = EXCLUDED.value,
        text = EXCLUDED.text, quality = EXCLUDED.quality,
        good_at = coalesce(EXCLUDED.good_at, l.good_at)
    WHERE l.time <= EXCLUDED.time
"""
REJECT_COPY = (
    "COPY plant_rejectedmessage (received_at, topic, reason, payload, payload_size) "
    "FROM STDIN (FORMAT BINARY)"
)
UNKNOWN_SQL = """
    INSERT INTO plant_unknowntopic AS u (topic, first_seen_at, last_seen_at, message_count,
                                         last_payload)
    VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (topic) DO UPDATE SET
        last_seen_at = greatest(u.last_seen_at, EXCLUDED.last_seen_at),
        message_count = u.message_count + EXCLUDED.message_count,
        last_payload = EXCLUDED.last_payload
"""


@dataclass(frozen=True, slots=True)
class Stored:
    """What a committed batch did."""

    inserted: int
    duplicates: int
    rejected: int


def store(decoded: Decoded, latest: list[Row] | None = None) -> Stored:
    """Store samples, latest values and rejections of one batch in one transaction.

    `latest` are the newest values to keep current for the screens (by default the batch's
    own); the worker passes several batches' worth at once, a few times a second.
    """
    with transaction.atomic():
        inserted = _insert_samples(decoded.rows)
        _upsert_latest(list(decoded.latest.values()) if latest is None else latest)
        _store_rejections(decoded)
    return Stored(inserted, len(decoded.rows) - inserted, len(decoded.rejected))


def _insert_samples(rows: list[Row]) -> int:
    if not rows:
        return 0
    try:
        with transaction.atomic():  # a savepoint: a key clash undoes only this COPY
            _copy_rows("plant_sample", rows)
        return len(rows)
    except IntegrityError:
        pass
    with connection.cursor() as cursor:
        cursor.execute(STAGE_SQL)
        _copy_rows("sample_stage", rows)
        cursor.execute(MERGE_SQL)
        inserted = cursor.rowcount
        cursor.execute("TRUNCATE sample_stage")
        return inserted


def _copy_rows(table: str, rows: list[Row]) -> None:
    # COPY goes to psycopg directly; wrap_database_errors turns its errors into Django's
    # (IntegrityError, OperationalError), which the callers handle.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} {SAMPLE_COLUMNS} FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(SAMPLE_TYPES)
        for row in rows:
            copy.write_row(row)


def _upsert_latest(rows: list[Row]) -> None:
    if not rows:
        return
    ids, times, values, texts, qualities = zip(*rows, strict=True)
    good_at = [t if q == 0 else None for t, q in zip(times, qualities, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(
            LATEST_SQL,
            [list(ids), list(times), list(values), list(texts), list(qualities), good_at],
        )


def _store_rejections(decoded: Decoded) -> None:
    if not decoded.rejected:
        return
    with connection.wrap_database_errors, connection.cursor() as cursor:
        with cursor.copy(REJECT_COPY) as copy:
            copy.set_types(["timestamptz", "text", "text", "bytea", "int4"])
            for r in decoded.rejected:
                copy.write_row((r.received, r.topic, r.reason, r.payload, r.size))
        unknown = [r for r in decoded.rejected if r.unknown_topic]
        counts = Counter(r.topic for r in unknown)
        last = {r.topic: r for r in unknown}
        for topic, count in counts.items():
            r = last[topic]
            cursor.execute(UNKNOWN_SQL, [topic, r.received, r.received, count, r.payload])
