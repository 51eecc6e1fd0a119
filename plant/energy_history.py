"""Energy figures of a plant read from the historian: per line and plant, per shift and day.

Counters are read as the historian's buckets (plant.counter_history: TimescaleDB's continuous
aggregates, or the rollups of plain PostgreSQL), so a month of a 1 Hz meter costs 720 hourly
buckets, not 2.6 million samples, and still counts a rollover exactly. The arithmetic is
plant.energy's.

Which meters count: a line's consumption is the sum of its meters; the plant's is the sum of
its plant meters (no line: its incomers) when it has any, else of all its line meters. A
line's output is the increase of the distinct production counters its meters name; the
plant's, that of all its lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.backends.base.base import BaseDatabaseWrapper

from plant import energy
from plant.counter_history import EPSILON, Counter, counter_increases, raw_points, reading_at
from plant.models import EnergyMeter, Line, Plant, PlantEnergy
from plant.read_replica import samples_connection as default_connection
from plant.shifts import day_window, shifts_between

DEFAULT_BASELINE_DAYS = 28  # PlantEnergy.baseline_days


@dataclass(frozen=True)
class Period:
    """A span a figure is given for: a day, or a shift of it."""

    label: str
    kind: str  # "day" or "shift"
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Usage:
    """What a line (or the plant) used and made over a period, and what it should have used."""

    period: Period
    kwh: float
    units: float | None  # None: no production counter
    expected_kwh: float | None = None  # by the baseline, where there is one

    @property
    def kwh_per_1000(self) -> float | None:
        return None if self.units is None else energy.kwh_per_1000(self.kwh, self.units)

    @property
    def deviation_kwh(self) -> float | None:
        return None if self.expected_kwh is None else self.kwh - self.expected_kwh

    @property
    def deviation_pct(self) -> float | None:
        if self.expected_kwh is None or self.expected_kwh <= 0:
            return None
        return (self.kwh - self.expected_kwh) * 100 / self.expected_kwh


@dataclass(frozen=True)
class Scope:
    """A line, or the whole plant (line None), with the counters of its energy and output."""

    plant: Plant
    line: Line | None
    meters: list[EnergyMeter]
    production: list[Counter] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.line.name if self.line is not None else self.plant.name

    @property
    def key(self) -> str:
        return f"line-{self.line.pk}" if self.line is not None else "plant"

    @property
    def energy_counters(self) -> list[Counter]:
        return [Counter(m.energy_tag_id, m.rollover) for m in self.meters]


def scopes(plant: Plant) -> list[Scope]:
    """The plant's lines that have meters, in their order, then the plant itself."""
    meters = list(
        EnergyMeter.objects.filter(plant=plant)
        .select_related("line", "energy_tag", "production_tag")
        .order_by(
            "line__position", "line__name", "name"
        )
    )  # fmt: skip
    by_line: dict[int, list[EnergyMeter]] = {}
    for meter in meters:
        if meter.line_id is not None:
            by_line.setdefault(meter.line_id, []).append(meter)
    lines = []
    for line_meters in by_line.values():
        line = line_meters[0].line
        assert line is not None
        lines.append(Scope(plant, line, line_meters, _production(line_meters)))
    incomers = [m for m in meters if m.line_id is None]
    whole = Scope(plant, None, incomers or [m for m in meters if m.line_id is not None],
                  [c for s in lines for c in s.production])  # fmt: skip
    return [*lines, whole] if meters else []


def _production(meters: list[EnergyMeter]) -> list[Counter]:
    seen: dict[int, Counter] = {}
    for meter in meters:
        if meter.production_tag_id is not None:
            assert meter.production_tag is not None
            counter = Counter(meter.production_tag_id, meter.production_tag.counter_rollover)
            seen.setdefault(meter.production_tag_id, counter)
    return list(seen.values())


def usages(
    scope: Scope,
    periods: Sequence[Period],
    *,
    connection: BaseDatabaseWrapper = default_connection,
) -> list[Usage]:
    """Each period's consumption and output for the scope (no baseline: see with_baseline)."""
    if not periods:
        return []
    edges = sorted({p.start for p in periods} | {p.end for p in periods})
    kwh = _summed(scope.energy_counters, edges, connection)
    units = _summed(scope.production, edges, connection) if scope.production else None
    index = {edge: i for i, edge in enumerate(edges)}
    found = []
    for period in periods:
        lo, hi = index[period.start], index[period.end]
        found.append(Usage(period, sum(kwh[lo:hi]), None if units is None else sum(units[lo:hi])))
    return found


def _summed(
    counters: list[Counter], edges: list[datetime], connection: BaseDatabaseWrapper
) -> list[float]:
    total = [0.0] * (len(edges) - 1)
    for counter in counters:
        for i, value in enumerate(counter_increases(counter, edges, connection=connection)):
            total[i] += value
    return total


def shift_periods(plant: Plant, start: datetime, end: datetime) -> list[Period]:
    """The shifts of the plant's calendar (plant.shifts) that begin within [start, end)."""
    return [Period(w.name, "shift", w.start, w.end) for w in shifts_between(plant, start, end)
            if start <= w.start < end]  # fmt: skip


def day_periods(plant: Plant, first: date, last: date) -> list[Period]:
    """One period per local day from `first` to `last`, both included."""
    periods = []
    day = first
    while day <= last:
        start, end = day_window(plant, day)
        periods.append(Period(day.isoformat(), "day", start, end))
        day += timedelta(days=1)
    return periods


@dataclass(frozen=True)
class Report:
    """One scope's days and shifts, each against a baseline fitted over the days before it."""

    scope: Scope
    days: list[Usage]
    shifts: list[Usage]
    baseline: energy.Baseline | None  # the fit the last day was compared with


def report(
    scope: Scope,
    plant_energy: PlantEnergy | None,
    first: date,
    last: date,
    shifts: Sequence[Period] = (),
    *,
    now: datetime | None = None,
    connection: BaseDatabaseWrapper = default_connection,
) -> Report:
    """The days first..last of the scope (and the shifts given, which lie in them), each day and
    shift with what its output should have cost by the baseline fitted over the
    `baseline_days` days before its day (days with no data left out). A period that `now`
    falls in is expected to have cost its base load only up to now."""
    fit_days = plant_energy.baseline_days if plant_energy is not None else DEFAULT_BASELINE_DAYS
    periods = day_periods(scope.plant, first - timedelta(days=fit_days), last)
    found = usages(scope, [*periods, *shifts], connection=connection)
    history, shown, shift_usages = (
        found[:fit_days],
        found[fit_days : len(periods)],
        found[len(periods) :],
    )
    days: list[Usage] = []
    fits: list[tuple[Period, energy.Baseline | None]] = []
    baseline = None
    for usage in shown:
        baseline = _fit(history[-fit_days:])
        fits.append((usage.period, baseline))
        days.append(_expected(usage, baseline, now))
        history.append(usage)
    by_shift = []
    for usage in shift_usages:
        fit = next((b for day, b in fits if day.start <= usage.period.start < day.end), None)
        by_shift.append(_expected(usage, fit, now))
    return Report(scope, days, by_shift, baseline)


def _expected(usage: Usage, baseline: energy.Baseline | None, now: datetime | None) -> Usage:
    if baseline is None or usage.units is None:
        return usage
    period = usage.period
    until = period.end if now is None else max(period.start, min(period.end, now))
    expected = baseline.expected_kwh(usage.units, (until - period.start).total_seconds())
    return Usage(usage.period, usage.kwh, usage.units, expected)


def _fit(history: Sequence[Usage]) -> energy.Baseline | None:
    """The baseline over the days with data (a day with neither energy nor output had none)."""
    points = [(u.units, u.kwh * energy.DAY_S / u.period.seconds) for u in history
              if u.units is not None and (u.kwh > 0 or u.units > 0)]  # fmt: skip
    return energy.fit_baseline(points)


@dataclass(frozen=True)
class Block:
    """One demand block: what the plant used in it, as average kW."""

    start: datetime
    end: datetime
    kwh: float

    @property
    def kw(self) -> float:
        return energy.demand_kw(self.kwh, (self.end - self.start).total_seconds())


def demand_blocks(
    plant: Plant,
    interval_s: int,
    start: datetime,
    end: datetime,
    *,
    connection: BaseDatabaseWrapper = default_connection,
) -> list[Block]:
    """The plant's demand blocks covering [start, end), on the plant's clock."""
    whole = _whole(plant)
    if whole is None:
        return []
    edges = energy.block_edges(start, end, interval_s, ZoneInfo(plant.time_zone))
    kwh = _summed(whole.energy_counters, edges, connection)
    return [Block(lo, hi, used) for lo, hi, used in zip(edges, edges[1:], kwh, strict=False)]


def _whole(plant: Plant) -> Scope | None:
    found = scopes(plant)
    return found[-1] if found else None


def demand_now(
    plant: Plant,
    interval_s: int,
    at: datetime,
    *,
    connection: BaseDatabaseWrapper = default_connection,
) -> energy.DemandNow | None:
    """The plant's current block as it stands at `at`, from its meters' raw readings."""
    whole = _whole(plant)
    if whole is None:
        return None
    zone = ZoneInfo(plant.time_zone)
    since = at - timedelta(seconds=interval_s)
    parts = []
    for counter in whole.energy_counters:
        # The readings of (since, at]: the last demand interval, which holds the current block.
        points = raw_points(counter.tag_id, since, at + EPSILON, connection)
        before = reading_at(counter.tag_id, since, connection=connection)
        parts.append(energy.demand_now(points, at, interval_s, zone, counter.rollover,
                                       before=before))  # fmt: skip
    return _sum_demands(parts)


def _sum_demands(parts: list[energy.DemandNow]) -> energy.DemandNow | None:
    if not parts:
        return None
    first = parts[0]
    return energy.DemandNow(
        at=first.at,
        block_start=first.block_start,
        block_end=first.block_end,
        used_kwh=sum(p.used_kwh for p in parts),
        recent_kw=sum(p.recent_kw for p in parts),
        predicted_kw=sum(p.predicted_kw for p in parts),
        sliding_kw=sum(p.sliding_kw for p in parts),
    )
