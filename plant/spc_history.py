"""SPC read from the historian: per-hour capability and ℮ batches in SQL, and chart points.

Each hour is a batch (the ℮ rule's) and a capability study (Cp, Cpk against the tag's
specification limits), computed in one SQL statement over the raw samples: counts below T1
and T2 and the ranges of subgroups need every value, which the historian's aggregates do not
keep, so both storage paths (TimescaleDB, plain PostgreSQL) read the same rows the same way.
Hours start at whole hours from plant.historian's ORIGIN (UTC), as the trends' buckets do.
Subgroups are n consecutive values within an hour; the hour's remainder is left out of R̄.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from plant import spc
from plant.historian import EPOCH, ORIGIN
from plant.models import SpcSettings
from plant.quality import USABLE_SQL
from plant.read_replica import samples_connection as connection

HOUR = timedelta(hours=1)
MAX_CHART_POINTS = 10_000
HOURLY_SQL = f"""
WITH s AS (
    SELECT date_bin(INTERVAL '1 hour', time, %(origin)s) AS hour, time, value
    FROM plant_sample
    WHERE tag_id = %(tag)s AND time >= %(start)s AND time < %(end)s
      AND value IS NOT NULL AND {USABLE_SQL}
), grouped AS (
    SELECT hour, value,
           (row_number() OVER (PARTITION BY hour ORDER BY time) - 1) / %(n)s AS subgroup
    FROM s
), ranges AS (
    SELECT hour, max(value) - min(value) AS r
    FROM grouped GROUP BY hour, subgroup HAVING count(*) = %(n)s
)
SELECT (extract(epoch FROM h.hour) * 1000000)::bigint, h.n, h.mean, h.sd, h.below_t1,
       h.below_t2, r.r_bar, coalesce(r.subgroups, 0)
FROM (
    SELECT hour, count(*) AS n, avg(value) AS mean, coalesce(stddev_samp(value), 0) AS sd,
           count(*) FILTER (WHERE value < %(t1)s) AS below_t1,
           count(*) FILTER (WHERE value < %(t2)s) AS below_t2
    FROM s GROUP BY hour
) AS h
LEFT JOIN (
    SELECT hour, avg(r) AS r_bar, count(*) AS subgroups FROM ranges GROUP BY hour
) AS r USING (hour)
ORDER BY 1
"""
POINTS_SQL = f"""
SELECT time, value FROM plant_sample
WHERE tag_id = %s AND time >= %s AND time < %s AND value IS NOT NULL AND {USABLE_SQL}
ORDER BY time LIMIT %s
"""
LAST_SQL = f"""
SELECT time, value FROM plant_sample
WHERE tag_id = %s AND time <= %s AND value IS NOT NULL AND {USABLE_SQL}
ORDER BY time DESC LIMIT %s
"""


@dataclass(frozen=True)
class HourStats:
    """One hour of a tag: its capability and, for ℮-marked packages, its ℮ batch."""

    hour: datetime
    n: int
    mean: float
    sigma_overall: float
    sigma_within: float | None  # R̄ / d2, None without a whole subgroup
    subgroups: int
    cp: float | None
    cpk: float | None
    pp: float | None
    ppk: float | None
    batch: spc.EBatch
    recommended: float  # the target mean the hour's spread asks for


def tne_of(settings: SpcSettings) -> float:
    """The admin's TNE, or the Directive's for the nominal quantity."""
    return settings.tne if settings.tne is not None else spc.tne_for(settings.nominal)


def hourly(settings: SpcSettings, start: datetime, end: datetime) -> list[HourStats]:
    """The hours of [start, end) that hold values, each judged; start and end are widened to
    whole hours."""
    start = ORIGIN + (start - ORIGIN) // HOUR * HOUR
    end = ORIGIN - (ORIGIN - end) // HOUR * HOUR
    tne, n = tne_of(settings), settings.subgroup_size
    params: dict[str, Any] = {
        "origin": ORIGIN, "tag": settings.tag_id, "start": start, "end": end, "n": n,
        "t1": settings.nominal - tne, "t2": settings.nominal - 2 * tne,
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(HOURLY_SQL, params)
        rows = cursor.fetchall()
    d2 = spc.constants(n)[3]
    return [_hour(settings, tne, d2, *row) for row in rows]


def _hour(
    settings: SpcSettings, tne: float, d2: float, epoch_us: int, n: int, mean: float,
    sd: float, below_t1: int, below_t2: int, r_bar: float | None, subgroups: int,
) -> HourStats:  # fmt: skip
    within = r_bar / d2 if r_bar is not None else None
    short = spc.indices(settings.lsl, settings.usl, mean, within) if within is not None else None
    whole = spc.indices(settings.lsl, settings.usl, mean, sd)
    return HourStats(
        hour=EPOCH + timedelta(microseconds=epoch_us),
        n=n, mean=mean, sigma_overall=sd, sigma_within=within, subgroups=subgroups,
        cp=short[0] if short else None, cpk=short[1] if short else None,
        pp=whole[0] if whole else None, ppk=whole[1] if whole else None,
        batch=spc.e_rule_counts(n, mean, below_t1, below_t2, settings.nominal, tne),
        recommended=spc.recommended_target(settings.nominal, sd, tne),
    )  # fmt: skip


def values(tag_id: int, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """The good values of [start, end) in time order, at most MAX_CHART_POINTS."""
    with connection.cursor() as cursor:
        cursor.execute(POINTS_SQL, [tag_id, start, end, MAX_CHART_POINTS])
        return list(cursor.fetchall())


def latest_values(tag_id: int, until: datetime, count: int) -> list[tuple[datetime, float]]:
    """The last `count` good values up to `until`, in time order."""
    with connection.cursor() as cursor:
        cursor.execute(LAST_SQL, [tag_id, until, min(count, MAX_CHART_POINTS)])
        return list(reversed(cursor.fetchall()))
