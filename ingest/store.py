"""Write one decoded batch to PostgreSQL in one transaction.

Samples go in with binary COPY straight into the samples table. A redelivered message (after a
crash, the broker re-sends what we had not acknowledged) makes COPY fail on the (tag, time)
key; only then does the batch take the slower path through a staging table and
`INSERT ... ON CONFLICT DO NOTHING`, which stores each sample once.

`store()` raises only `DatabaseError`s: whatever the batch holds, the worker either commits
it, or learns the database refused it (and stores it message by message), or that the
database is down. Storing a rejection itself never fails the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import partial

from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)

from ingest import metrics
from ingest.batch import (
    REASON_CHARS,
    Deadband,
    Decoded,
    Message,
    Rejection,
    Row,
    decode_messages,
    refusal,
)
from ingest.tagcache import TagCache
from plant.quality import Quality

log = logging.getLogger(__name__)

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
# The newer value wins; so does any value over a held one timed in the future (%s is the
# worker's clock, the one that stamped the values' receipt), which heals rows written before
# latest values were timed no later than their receipt. The join skips values of tags deleted
# since the worker read them: their foreign key would fail the whole batch.
LATEST_SQL = """
    INSERT INTO plant_latestvalue AS l (tag_id, time, value, text, quality, good_at)
    SELECT v.* FROM unnest(%s::int8[], %s::timestamptz[], %s::float8[], %s::text[],
                           %s::int2[], %s::timestamptz[])
        AS v (tag_id, time, value, text, quality, good_at)
    JOIN plant_tag t ON t.id = v.tag_id
    ON CONFLICT (tag_id) DO UPDATE SET time = EXCLUDED.time, value = EXCLUDED.value,
        text = EXCLUDED.text, quality = EXCLUDED.quality,
        good_at = coalesce(EXCLUDED.good_at, l.good_at)
    WHERE l.time <= EXCLUDED.time OR l.time > %s
"""
REJECT_COPY = (
    "COPY plant_rejectedmessage (received_at, topic, reason, payload, payload_size) "
    "FROM STDIN (FORMAT BINARY)"
)
REJECT_TYPES = ["timestamptz", "text", "text", "bytea", "int4"]
UNKNOWN_SQL = """
    INSERT INTO plant_unknowntopic AS u (topic, first_seen_at, last_seen_at, message_count,
                                         last_payload)
    SELECT topic, seen, seen, n, payload
    FROM unnest(%s::text[], %s::timestamptz[], %s::int8[], %s::bytea[])
        AS v (topic, seen, n, payload)
    ON CONFLICT (topic) DO UPDATE SET
        last_seen_at = greatest(u.last_seen_at, EXCLUDED.last_seen_at),
        message_count = u.message_count + EXCLUDED.message_count,
        last_payload = EXCLUDED.last_payload
"""
# Per day, how many messages were refused and how many of them on unknown topics: the rows
# themselves are purged (ingest.retention), these counts are kept.
TALLY_SQL = """
    INSERT INTO plant_rejectiontally AS t (day, rejected, unknown_topic)
    SELECT * FROM unnest(%s::date[], %s::int8[], %s::int8[])
    ON CONFLICT (day) DO UPDATE SET rejected = t.rejected + EXCLUDED.rejected,
        unknown_topic = t.unknown_topic + EXCLUDED.unknown_topic
"""
TOPIC_CHARS = 1024  # RejectedMessage.topic, UnknownTopic.topic


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
    try:
        with transaction.atomic():
            inserted = _insert_samples(decoded.rows)
            _upsert_latest(list(decoded.latest.values()) if latest is None else latest)
            _store_rejections(decoded.rejected)
    except DatabaseError:
        raise
    except Exception as exc:
        # A value psycopg cannot even send (text it cannot encode, a number it cannot
        # convert) is the batch's content refused, as if by the database.
        raise DataError(f"cannot send the batch: {type(exc).__name__}: {exc}") from exc
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
        inserted = int(cursor.rowcount)
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
    good_at = [t if q == Quality.GOOD else None for t, q in zip(times, qualities, strict=True)]
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            LATEST_SQL,
            [list(ids), list(times), list(values), list(texts), list(qualities), good_at, now],
        )


def _store_rejections(rejected: list[Rejection]) -> None:
    """Store the refused messages, cut and cleaned to fit; count and log what still fails."""
    if not rejected:
        return
    clean = [_clean(r) for r in rejected]
    _count(clean)
    if _guarded(lambda: _write_rejections(clean)):
        return
    # The batch of rejections failed, which cleaning should have made impossible: store
    # each on its own, so one that cannot be stored does not take the others along.
    for r in clean:
        if not _guarded(partial(_write_rejections, [r])):
            metrics.UNSTORABLE.inc()
            log.error("cannot store a rejection on %.200r (%s): dropped", r.topic, r.reason)


def _guarded(write: Callable[[], None]) -> bool:
    """Run `write` in a savepoint; False (the savepoint undone) if the database refused it."""
    try:
        with transaction.atomic():
            write()
    except (OperationalError, InterfaceError):
        raise  # the database is gone, not refusing: the worker retries the whole batch
    except Exception as exc:
        log.warning("rejections refused by the database: %s", str(exc).strip()[:300])
        return False
    return True


def _write_rejections(rejected: list[Rejection]) -> None:
    with connection.wrap_database_errors, connection.cursor() as cursor:
        with cursor.copy(REJECT_COPY) as copy:
            copy.set_types(REJECT_TYPES)
            for r in rejected:
                copy.write_row((r.received, r.topic, r.reason, r.payload, r.size))
        unknown: dict[str, tuple[datetime, int, bytes]] = {}
        for r in rejected:
            if r.unknown_topic:
                _, count, _ = unknown.get(r.topic, (r.received, 0, b""))
                unknown[r.topic] = (r.received, count + 1, r.payload)  # the last one's payload
        if unknown:
            seen, counts, payloads = zip(*unknown.values(), strict=True)
            cursor.execute(UNKNOWN_SQL, [list(unknown), list(seen), list(counts), list(payloads)])


def _count(rejected: list[Rejection]) -> None:
    days: dict[date, list[int]] = {}
    for r in rejected:
        tally = days.setdefault(r.received.date(), [0, 0])
        tally[0] += 1
        tally[1] += r.unknown_topic
    rows = [(day, n, unknown) for day, (n, unknown) in days.items()]
    if not _guarded(lambda: _write_tally(rows)):
        log.error("cannot count %d rejections in the daily tally", len(rejected))


def _write_tally(rows: list[tuple[date, int, int]]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(TALLY_SQL, [list(column) for column in zip(*rows, strict=True)])


def _clean(r: Rejection) -> Rejection:
    """The rejection cut to its columns' sizes, with what PostgreSQL refuses in text replaced."""
    return replace(r, topic=_text(r.topic, TOPIC_CHARS), reason=_text(r.reason, REASON_CHARS))


def _text(text: str, limit: int) -> str:
    """`text` as PostgreSQL stores it, at most `limit` characters: NUL and lone surrogates
    (which JSON can spell) are written as escapes."""
    text = text[:limit]
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text[:limit]


def store_apart(messages: list[Message], tags: TagCache, deadband: Deadband) -> Stored:
    """Store messages whose batch the database refused: each half in a transaction of its
    own, halving again where refused, down to single messages that become rejections.

    A batch with one bad message costs about 2·log2(n) transactions instead of one per
    message, and every other message of it is stored.
    """
    half = (len(messages) + 1) // 2
    parts = [messages] if len(messages) <= 1 else [messages[:half], messages[half:]]
    results = [_store_part(part, tags, deadband) for part in parts if part]
    return Stored(
        sum(r.inserted for r in results),
        sum(r.duplicates for r in results),
        sum(r.rejected for r in results),
    )


def _store_part(messages: list[Message], tags: TagCache, deadband: Deadband) -> Stored:
    decoded = decode_messages(messages, tags, deadband)
    try:
        result = store(decoded)
    except (OperationalError, InterfaceError):
        raise
    except DatabaseError as exc:
        deadband.rollback()
        if len(messages) > 1:
            return store_apart(messages, tags, deadband)
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        return store(refusal(messages[0], f"database refused it: {lines[0]}"))
    deadband.commit()
    return result
