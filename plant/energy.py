"""Energy figures from cumulative meters: consumption, kWh per 1,000 units, demand, a baseline.

Pure: no database, no clock (the counter rule is plant.counters'). plant.energy_history reads
the historian into the shapes used here; the screens, the API and the worker's demand job
call both.

- **Consumption** of an interval is the increase of a cumulative kWh counter over it, through
  plant.counters (rollover and reset safe). A counter reads, at an instant, its last reading
  at or before it: an interval [a, b) used E(b) - E(a), so the energy between the last reading
  before an edge and the first after it counts in the later interval (at 1 Hz, under a second).
- **Specific energy** is kWh per 1,000 units made (bottles), None when nothing was made.
- **Block demand** is the average power over fixed blocks of the demand interval (15 min),
  aligned to the clock in the plant's zone (a block starts at :00, :15, :30, :45 local time):
  the block's consumption divided by its length, as a utility's demand meter counts it.
- **The predictor** of the current block's demand: the energy already used in the block, plus
  the average power of the last `PREDICTOR_WINDOW_S` (60 s) held until the block ends, divided
  by the block's length. At the block's end it is the block's demand exactly; early in a block
  it follows the present load.
- **The sliding window** is the average power over the last demand interval, whatever the
  blocks: what the demand would be if a block ended now.
- **The baseline** of a line is energy = base load + k x units, fitted by least squares over
  recent days (at least `MIN_BASELINE_DAYS` with differing output), so a day's consumption can
  be compared with what its output should have cost. A shift's expectation takes its share of
  the day's base load by its length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from plant.counters import counter_increase

PREDICTOR_WINDOW_S = 60
MIN_BASELINE_DAYS = 3
DEMAND_INTERVALS_MIN = (5, 10, 15, 30, 60)  # each divides an hour, so blocks keep to the clock
DAY_S = 86400

Point = tuple[datetime, float]  # a counter's reading (or a bucket's min or max) at an instant


def block_start(at: datetime, interval_s: int, zone: ZoneInfo) -> datetime:
    """The start of the demand block holding `at`, on the clock of `zone`.

    Offsets and daylight-saving shifts are whole quarter hours in every zone, and an interval
    divides an hour, so counting wall-clock seconds since local midnight finds the boundary.
    """
    if 3600 % interval_s:
        raise ValueError(f"a demand interval of {interval_s} s does not divide an hour")
    local = at.astimezone(zone)
    since_midnight = local.hour * 3600 + local.minute * 60 + local.second
    return at - timedelta(seconds=since_midnight % interval_s, microseconds=local.microsecond)


def block_edges(start: datetime, end: datetime, interval_s: int, zone: ZoneInfo) -> list[datetime]:
    """The edges of the demand blocks covering [start, end): the block of `start` to that of
    the last instant before `end`, so n blocks have n + 1 edges."""
    first = block_start(start, interval_s, zone)
    step = timedelta(seconds=interval_s)
    edges = [first]
    while edges[-1] < end:
        edges.append(edges[-1] + step)
    return edges if len(edges) > 1 else [first, first + step]


def interval_increases(
    points: Sequence[Point],
    edges: Sequence[datetime],
    rollover: float | None,
    *,
    before: float | None = None,
) -> list[float]:
    """The counter's increase within each [edges[i], edges[i + 1]), from points sorted by time.

    The counter reads, at an instant, its last reading at or before it, so an interval [a, b)
    used E(b) - E(a): its readings are those in (a, b], counted from the reading at a.
    `before` is the reading at edges[0] when no point says it. Points outside are ignored.
    """
    increases: list[float] = []
    carry = before
    i = 0
    while i < len(points) and points[i][0] <= edges[0]:
        carry = points[i][1]
        i += 1
    for upper in edges[1:]:
        values = [] if carry is None else [carry]
        while i < len(points) and points[i][0] <= upper:
            values.append(points[i][1])
            i += 1
        increases.append(counter_increase(values, rollover) if len(values) > 1 else 0.0)
        if values:
            carry = values[-1]
    return increases


def demand_kw(kwh: float, seconds: float) -> float:
    """The average power (kW) of `kwh` used over `seconds`."""
    return kwh * 3600 / seconds


def kwh_per_1000(kwh: float, units: float) -> float | None:
    """Specific energy: kWh per 1,000 units made; None when nothing was made."""
    return kwh * 1000 / units if units > 0 else None


def predict_block_demand(
    block_start: datetime,
    block_end: datetime,
    at: datetime,
    used_kwh: float,
    recent_kw: float,
) -> float:
    """The block's demand (kW) at its end: what it used so far, plus `recent_kw` until the end."""
    length_s = (block_end - block_start).total_seconds()
    left_s = min(max((block_end - at).total_seconds(), 0.0), length_s)
    return demand_kw(used_kwh + recent_kw * left_s / 3600, length_s)


@dataclass(frozen=True)
class DemandNow:
    """The demand of the current block as it stands at `at`, and where it is heading."""

    at: datetime
    block_start: datetime
    block_end: datetime
    used_kwh: float  # in the current block so far
    recent_kw: float  # average power over the predictor's window
    predicted_kw: float  # the block's demand at its end, by the predictor above
    sliding_kw: float  # average power over the last demand interval


def demand_now(
    points: Sequence[Point],
    at: datetime,
    interval_s: int,
    zone: ZoneInfo,
    rollover: float | None,
    *,
    before: float | None = None,
    window_s: int = PREDICTOR_WINDOW_S,
) -> DemandNow:
    """The current block's demand from a counter's readings over (at - interval_s, at].

    `before` is the reading at at - interval_s when no point says it. With too few readings
    the powers are zero: a meter that says nothing predicts nothing.
    """
    start = block_start(at, interval_s, zone)
    end = start + timedelta(seconds=interval_s)
    slide = at - timedelta(seconds=interval_s)
    window = at - timedelta(seconds=window_s)
    used, recent, sliding = (
        _increase(points, lower, at, rollover, before) for lower in (start, window, slide)
    )
    recent_kw = demand_kw(recent, window_s)
    return DemandNow(
        at=at,
        block_start=start,
        block_end=end,
        used_kwh=used,
        recent_kw=recent_kw,
        predicted_kw=predict_block_demand(start, end, at, used, recent_kw),
        sliding_kw=demand_kw(sliding, interval_s),
    )


def _increase(
    points: Sequence[Point],
    lower: datetime,
    upper: datetime,
    rollover: float | None,
    before: float | None,
) -> float:
    reading = _reading_at(points, lower, before)
    return interval_increases(points, [lower, upper], rollover, before=reading)[0]


def _reading_at(points: Sequence[Point], moment: datetime, before: float | None) -> float | None:
    """The counter's reading at `moment`: its last point at or before it, else `before`."""
    found = before
    for time, value in points:
        if time > moment:
            break
        found = value
    return found


@dataclass(frozen=True)
class Baseline:
    """energy = base_kwh + kwh_per_unit x units, per day, fitted over `days` days."""

    base_kwh: float
    kwh_per_unit: float
    days: int
    r2: float | None  # None when every day used the same energy (nothing to explain)

    @property
    def kwh_per_1000_units(self) -> float:
        return self.kwh_per_unit * 1000

    def expected_kwh(self, units: float, seconds: float = DAY_S) -> float:
        """What `units` made over `seconds` should cost: the base load's share, plus k a unit."""
        return self.base_kwh * seconds / DAY_S + self.kwh_per_unit * units


def fit_baseline(days: Sequence[tuple[float, float]]) -> Baseline | None:
    """The least-squares line through (units, kWh) of each day; None without enough days or
    without days of differing output (a line through one x has no slope)."""
    n = len(days)
    if n < MIN_BASELINE_DAYS:
        return None
    mean_x = math.fsum(x for x, _ in days) / n
    mean_y = math.fsum(y for _, y in days) / n
    sxx = math.fsum((x - mean_x) ** 2 for x, _ in days)
    if sxx <= 1e-9 * max(1.0, mean_x**2) * n:
        return None
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in days)
    k = sxy / sxx
    base = mean_y - k * mean_x
    syy = math.fsum((y - mean_y) ** 2 for _, y in days)
    residual = math.fsum((y - base - k * x) ** 2 for x, y in days)
    r2 = None if syy == 0 else max(0.0, 1 - residual / syy)
    return Baseline(base_kwh=base, kwh_per_unit=k, days=n, r2=r2)
