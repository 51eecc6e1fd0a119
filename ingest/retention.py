"""Retention of what the worker refused: rejected messages and unknown topics do not pile up.

Anyone who can publish can make rejections (random topics, garbage payloads), so both tables
are bounded by age and by a row cap. How many messages were refused is kept per day in
`RejectionTally` (written by ingest.store in the batch's own transaction), so purging costs
the details, never the counts. The worker calls `purge_rejections` every few minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection

REJECTED_KEPT = timedelta(days=7)
REJECTED_CAP = 100_000  # rows; the newest are kept
UNKNOWN_KEPT = timedelta(days=30)  # since an unknown topic was last seen
UNKNOWN_CAP = 10_000  # topics; the most recently seen are kept
# Rows deleted per statement: a flood of rejections is purged in short transactions, so no
# lock is held for long on tables the worker writes to.
CHUNK = 10_000

# Each statement deletes up to a chunk of rows past the age limit and a chunk of rows past
# the cap (the newest are kept: rejected messages by id, which grows with arrival; unknown
# topics by their latest sighting).
REJECTED_SQL = """
    DELETE FROM plant_rejectedmessage WHERE id IN (
        (SELECT id FROM plant_rejectedmessage WHERE received_at < %(before)s LIMIT %(chunk)s)
        UNION ALL
        (SELECT id FROM plant_rejectedmessage ORDER BY id DESC OFFSET %(cap)s LIMIT %(chunk)s))
"""
UNKNOWN_SQL = """
    DELETE FROM plant_unknowntopic WHERE id IN (
        (SELECT id FROM plant_unknowntopic WHERE last_seen_at < %(before)s LIMIT %(chunk)s)
        UNION ALL
        (SELECT id FROM plant_unknowntopic ORDER BY last_seen_at DESC, id DESC
         OFFSET %(cap)s LIMIT %(chunk)s))
"""


Params = dict[str, datetime | int]  # a deletion's bounds: its cut-off time, cap and chunk


def purge_rejections(
    now: datetime,
    *,
    rejected_kept: timedelta = REJECTED_KEPT,
    rejected_cap: int = REJECTED_CAP,
    unknown_kept: timedelta = UNKNOWN_KEPT,
    unknown_cap: int = UNKNOWN_CAP,
) -> int:
    """Delete rejected messages and unknown topics beyond their age or cap; return how many.

    Each chunk commits on its own (call it outside a transaction); the daily counts in
    RejectionTally are untouched.
    """
    rejected: Params = {"before": now - rejected_kept, "cap": rejected_cap, "chunk": CHUNK}
    unknown: Params = {"before": now - unknown_kept, "cap": unknown_cap, "chunk": CHUNK}
    return _delete_all(REJECTED_SQL, rejected) + _delete_all(UNKNOWN_SQL, unknown)


def _delete_all(sql: str, params: Params) -> int:
    deleted = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, params)
            deleted += int(cursor.rowcount)
            if cursor.rowcount < CHUNK:  # then neither part filled its chunk: nothing is left
                return deleted
