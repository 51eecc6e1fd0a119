"""How much a cumulative counter (bottles filled, kWh) rose over a time range, from its samples.

A counter only rises, except when it
- rolls over: it passed its modulus (`Tag.counter_rollover`, e.g. 2**32 for a 32-bit counter,
  1,000,000 for a six-digit one) and starts again from 0. A drop from the top tenth of the
  range is read as a rollover: the increase is what it took to reach the modulus plus the new
  value. (A counter sampled so seldom that it rises by more than a tenth of its range between
  two samples cannot be told from one that was reset.)
- is reset (a PLC restart, a shift-start reset to 0): any other drop. The increase is the new
  value, counted from 0; what it counted between the last sample and the reset is lost.

`counter_increase` is the rule in pure Python; `increase_between` and `increases` apply the
same rule in SQL over the historian's samples (one pass, a window function), taking the last
good sample before the range as the starting point, so nothing between two ranges is lost or
counted twice: the rise from one sample to the next counts in the range of the later sample.
Bad-quality samples are left out.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from plant.models import Tag
from plant.quality import USABLE_SQL
from plant.read_replica import samples_connection as default_connection

ROLLOVER_ZONE = 0.9  # a drop from at least this fraction of the modulus is a rollover


def counter_step(previous: float, value: float, rollover: float | None) -> float:
    """What the counter counted from one sample to the next."""
    if value >= previous:
        return value - previous
    # A drop from just below the rollover is a rollover; from above it (a counter that does not
    # roll where it was said to) or from lower down, a reset.
    if rollover is not None and rollover * ROLLOVER_ZONE <= previous <= rollover:
        return value + rollover - previous
    return value


def counter_increase(values: Sequence[float], rollover: float | None) -> float:
    """The increase of a counter over its samples, oldest first (rollovers and resets handled)."""
    total = 0.0
    for previous, value in itertools.pairwise(values):
        total += counter_step(previous, value, rollover)
    return total


# The steps of one tag's good samples in [first edge, last edge), each with the sample before
# it (the one before the range included), grouped by the range of the edges they fall in.
STEPS_SQL = f"""
WITH points AS (
    (SELECT time, value FROM plant_sample
     WHERE tag_id = %(tag)s AND time < %(start)s AND value IS NOT NULL AND {USABLE_SQL}
     ORDER BY time DESC LIMIT 1)
    UNION ALL
    (SELECT time, value FROM plant_sample
     WHERE tag_id = %(tag)s AND time >= %(start)s AND time < %(end)s
       AND value IS NOT NULL AND {USABLE_SQL})
), steps AS (
    SELECT time, value, lag(value) OVER (ORDER BY time) AS previous FROM points
)
SELECT width_bucket(time, %(edges)s::timestamptz[]) AS range, sum(
    CASE WHEN value >= previous THEN value - previous
         WHEN %(rollover)s::float8 IS NOT NULL
              AND previous >= %(rollover)s::float8 * {ROLLOVER_ZONE}
              AND previous <= %(rollover)s::float8
         THEN value + %(rollover)s::float8 - previous
         ELSE value END)
FROM steps WHERE previous IS NOT NULL AND time >= %(start)s
GROUP BY 1
"""


def increases(
    tag_id: int,
    edges: Sequence[datetime],
    rollover: float | None = None,
    *,
    connection: BaseDatabaseWrapper = default_connection,
) -> list[float]:
    """The counter's increase in each of the consecutive ranges [edges[i], edges[i+1]), in one
    query: one value fewer than there are edges."""
    if len(edges) < 2:
        return []
    if any(later <= earlier for earlier, later in itertools.pairwise(edges)):
        raise ValueError("edges must rise")
    found = [0.0] * (len(edges) - 1)
    params: dict[str, Any] = {"tag": tag_id, "start": edges[0], "end": edges[-1],
                              "edges": list(edges), "rollover": rollover}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(STEPS_SQL, params)
        for index, total in cursor.fetchall():
            if 1 <= index <= len(found):
                found[index - 1] = float(total)
    return found


def increase_between(
    tag_id: int,
    start: datetime,
    end: datetime,
    rollover: float | None = None,
    *,
    connection: BaseDatabaseWrapper = default_connection,
) -> float:
    """The counter's increase over [start, end)."""
    return increases(tag_id, [start, end], rollover, connection=connection)[0]


def tag_increase(
    tag: Tag, start: datetime, end: datetime, *,
    connection: BaseDatabaseWrapper = default_connection,
) -> float:  # fmt: skip
    """A counter tag's increase over [start, end), with its own rollover (Tag.counter_rollover)."""
    return increase_between(tag.pk, start, end, tag.counter_rollover, connection=connection)
