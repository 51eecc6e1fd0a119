"""Samples for historian tests, written with COPY as the ingest worker writes them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper

# Tests on pytest's shared database put their samples here, far in the future: after the
# watermark of TimescaleDB's continuous aggregates, whatever other tests let a refresh policy
# materialise, so the aggregates' real-time part reads them straight from the samples table.
T0 = datetime(2031, 3, 3, tzinfo=UTC)  # a Monday, midnight UTC

Row = tuple[int, datetime, float | None, str | None, int]


def copy_rows(rows: Iterable[Row], connection: BaseDatabaseWrapper = default_connection) -> None:
    """Write (tag_id, time, value, text, quality) rows into plant_sample."""
    with connection.cursor() as cursor:
        sql = "COPY plant_sample (tag_id, time, value, text, quality) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


def add_samples(
    tag_id: int,
    values: Iterable[tuple[datetime, float | None] | tuple[datetime, float | None, int]],
    connection: BaseDatabaseWrapper = default_connection,
) -> None:
    """Samples of one tag from (time, value) or (time, value, quality) pairs."""
    copy_rows(((tag_id, v[0], v[1], None, v[2] if len(v) > 2 else 0) for v in values), connection)


def add_series(
    tag_id: int,
    start: datetime,
    count: int,
    *,
    step_s: float = 1.0,
    value: Callable[[int], float] = float,
    connection: BaseDatabaseWrapper = default_connection,
) -> None:
    """`count` good samples of one tag, `step_s` apart from `start`; sample i has value(i)."""
    step = timedelta(seconds=step_s)
    copy_rows(((tag_id, start + i * step, value(i), None, 0) for i in range(count)), connection)


def at(**offset: float) -> datetime:
    """T0 plus an offset, e.g. at(hours=1, seconds=30)."""
    return T0 + timedelta(**offset)
