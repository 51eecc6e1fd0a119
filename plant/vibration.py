"""Machine vibration by ISO 10816-3 / ISO 20816-3, as pure functions: no Django, no I/O.

A vibration velocity RMS (mm/s, 10-1000 Hz) measured on a bearing housing is judged against
four zones whose boundaries depend on the machine's class: its group (1: large machines,
300 kW to 50 MW; 2: medium ones, 15 to 300 kW) and its foundation (rigid or flexible):

    zone A  newly commissioned machines
    zone B  acceptable for unrestricted long-term operation
    zone C  not acceptable for long-term operation: plan the repair
    zone D  severe enough to cause damage: act now

Zones C and D become the two alarms of a monitored tag (`zone_alarms`): high at the B/C
boundary, high-high at C/D. Two estimates look further ahead than an alarm can:

- `drift`: an EWMA chart of the hourly averages against a baseline (the first two days of the
  window), which flags a slow rise long before the value reaches the B/C boundary.
- `remaining_life`: a straight line and an exponential (a straight line through the
  logarithms) fitted to the daily averages, the better one by R², extrapolated to the B/C and
  C/D boundaries; withheld when there are too few days or the fit is poor.

`urgency` orders machines for the maintenance list. Times are plain numbers (the caller
chooses the unit: hours for drift, days for remaining life); values are mm/s.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum

Point = tuple[float, float]  # (time, value)


class Group(IntEnum):
    """ISO 10816-3's machine groups."""

    LARGE = 1  # 300 kW to 50 MW, or shaft height of 315 mm and more
    MEDIUM = 2  # 15 kW to 300 kW, or shaft height from 160 to 315 mm


class Foundation(StrEnum):
    """A rigid foundation: the lowest natural frequency of machine and support lies above
    the main excitation (usually the running speed) by at least 25 %; else flexible."""

    RIGID = "rigid"
    FLEXIBLE = "flexible"


class Zone(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"


ZONE_MEANING = {
    Zone.A: "newly commissioned",
    Zone.B: "unrestricted long-term operation",
    Zone.C: "not for long-term operation: plan the repair",
    Zone.D: "damage likely: act now",
}


@dataclass(frozen=True, slots=True)
class Boundaries:
    """The zone boundaries of one machine class, velocity RMS in mm/s."""

    ab: float
    bc: float
    cd: float


# ISO 10816-3:2009 tables A.1 and A.2 (the same values in ISO 20816-3:2022, zone boundaries
# of broadband velocity RMS on bearing housings).
BOUNDARIES: dict[tuple[Group, Foundation], Boundaries] = {
    (Group.LARGE, Foundation.RIGID): Boundaries(2.3, 4.5, 7.1),
    (Group.LARGE, Foundation.FLEXIBLE): Boundaries(3.5, 7.1, 11.0),
    (Group.MEDIUM, Foundation.RIGID): Boundaries(1.4, 2.8, 4.5),
    (Group.MEDIUM, Foundation.FLEXIBLE): Boundaries(2.3, 4.5, 7.1),
}


def boundaries(group: int, foundation: str) -> Boundaries:
    """The zone boundaries of a machine class; ValueError names an unknown one."""
    try:
        return BOUNDARIES[Group(group), Foundation(foundation)]
    except ValueError:
        raise ValueError(f"no ISO 10816-3 class group {group!r}, {foundation!r}") from None


def zone(value: float, limits: Boundaries) -> Zone:
    """The zone of a value; a value on a boundary belongs to the worse zone, as the alarm at
    that boundary (a high alarm activates at value >= limit) says."""
    if value >= limits.cd:
        return Zone.D
    if value >= limits.bc:
        return Zone.C
    if value >= limits.ab:
        return Zone.B
    return Zone.A


# --- the alarms of the zones -------------------------------------------------------------

# An alarm clears this share below its boundary, so a value hovering there does not chatter.
ALARM_DEADBAND_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class ZoneAlarm:
    """One alarm definition a machine class implies: its kind, limit and priority."""

    kind: str  # "h" or "hh", as plant.alarming.Kind
    zone: Zone
    limit: float
    deadband: float
    priority: str  # as AlarmDefinition.Priority


def zone_alarms(limits: Boundaries) -> list[ZoneAlarm]:
    """Zone C (high, at B/C) and zone D (high-high, at C/D)."""
    return [
        ZoneAlarm("h", Zone.C, limits.bc, round(limits.bc * ALARM_DEADBAND_SHARE, 3), "medium"),
        ZoneAlarm("hh", Zone.D, limits.cd, round(limits.cd * ALARM_DEADBAND_SHARE, 3), "high"),
    ]


# --- drift: an EWMA chart of the hourly averages -----------------------------------------

EWMA_LAMBDA = 0.1  # weight of the newest point: small, to see small sustained shifts
EWMA_L = 3.0  # the control limit in standard deviations of the EWMA
BASELINE_POINTS = 48  # the first two days of hourly averages set the baseline
MIN_DRIFT_POINTS = BASELINE_POINTS + 12  # and at least half a day after it is judged
# Hourly averages of a steady machine move by hundredths of a mm/s, so a purely statistical
# limit would flag rises that matter to nobody: a rise is flagged only when it is also at
# least a tenth of zone B's width (0.14 mm/s for group 2, rigid).
DRIFT_FLOOR_SHARE = 0.1
D2 = 1.128  # the moving range of two points estimates sigma as MR / d2


@dataclass(frozen=True, slots=True)
class Drift:
    """The EWMA chart at its last point: is the value drifting up from its baseline?"""

    flagged: bool
    ewma: float
    baseline: float  # the mean of the baseline points
    limit: float  # the EWMA's upper control limit
    since: float | None  # the time from which the EWMA has stayed above the limit
    first_exceeded: float | None  # the first time the EWMA was above the limit at all
    points: int

    @property
    def rise(self) -> float:
        """How far the EWMA stands above the baseline (mm/s)."""
        return self.ewma - self.baseline


def drift(points: Sequence[Point], limits: Boundaries) -> Drift | None:
    """The drift chart of equally spaced averages, oldest first; None with too few points.

    The baseline is the mean of the first BASELINE_POINTS, its spread their average moving
    range over d2 (which a slow rise inside the baseline hardly inflates). The EWMA starts at
    the baseline and runs over the points after it; it is flagged while above
    baseline + max(L * sigma * sqrt(lambda / (2 - lambda)), floor).
    """
    if len(points) < MIN_DRIFT_POINTS:
        return None
    base = [value for _, value in points[:BASELINE_POINTS]]
    mean = math.fsum(base) / len(base)
    ranges = [abs(b - a) for a, b in itertools.pairwise(base)]
    sigma = math.fsum(ranges) / len(ranges) / D2
    spread = EWMA_L * sigma * math.sqrt(EWMA_LAMBDA / (2 - EWMA_LAMBDA))
    limit = mean + max(spread, DRIFT_FLOOR_SHARE * (limits.bc - limits.ab))
    ewma, since, first = mean, None, None
    for at, value in points[BASELINE_POINTS:]:
        ewma = EWMA_LAMBDA * value + (1 - EWMA_LAMBDA) * ewma
        if ewma > limit:
            since = at if since is None else since
            first = at if first is None else first
        else:
            since = None
    return Drift(since is not None, ewma, mean, limit, since, first, len(points))


# --- remaining useful life: a trend of the daily averages --------------------------------

MIN_LIFE_POINTS = 7  # a week of daily averages at least
MIN_R2 = 0.7  # a fit explaining less of the variation than this is not shown
# A trend is extrapolated at most this many times the span of the days it was fitted to
# (30 days of history: 60 days ahead); a boundary further away reads "more than N days".
MAX_EXTRAPOLATION = 2.0


@dataclass(frozen=True, slots=True)
class Fit:
    """A trend fitted to (day, value) points, counted from the first point's day (`origin`,
    so days since 1970 do not overflow an exponential): value = a + b * (day - origin), or
    a * exp(b * (day - origin))."""

    model: str  # "linear" or "exponential"
    a: float
    b: float  # the slope (mm/s a day), or the growth rate (per day)
    r2: float  # the share of the values' variation the fit explains, on the values themselves
    origin: float = 0.0

    def value_at(self, day: float) -> float:
        if self.model == "linear":
            return self.a + self.b * (day - self.origin)
        return self.a * math.exp(min(self.b * (day - self.origin), 700.0))

    def day_of(self, value: float) -> float:
        """When the trend reaches `value` (it must be rising: b > 0)."""
        if self.model == "linear":
            return self.origin + (value - self.a) / self.b
        return self.origin + math.log(value / self.a) / self.b


def _line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    """Least squares intercept and slope; None if every x is the same."""
    n = len(xs)
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - slope * mx, slope


def r_squared(fit: Fit, points: Sequence[Point]) -> float:
    ys = [y for _, y in points]
    mean = math.fsum(ys) / len(ys)
    total = math.fsum((y - mean) ** 2 for y in ys)
    if total == 0:
        return 0.0  # a flat series: nothing to explain, and no trend
    residual = math.fsum((y - fit.value_at(x)) ** 2 for x, y in points)
    return 1 - residual / total


def fit_linear(points: Sequence[Point]) -> Fit | None:
    if not points:
        return None
    origin = points[0][0]
    line = _line([x - origin for x, _ in points], [y for _, y in points])
    if line is None:
        return None
    fit = Fit("linear", line[0], line[1], 0.0, origin)
    return Fit(fit.model, fit.a, fit.b, r_squared(fit, points), origin)


def fit_exponential(points: Sequence[Point]) -> Fit | None:
    """A straight line through the logarithms; None unless every value is above zero."""
    if not points or any(y <= 0 for _, y in points):
        return None
    origin = points[0][0]
    line = _line([x - origin for x, _ in points], [math.log(y) for _, y in points])
    if line is None:
        return None
    fit = Fit("exponential", math.exp(line[0]), line[1], 0.0, origin)
    return Fit(fit.model, fit.a, fit.b, r_squared(fit, points), origin)


def best_fit(points: Sequence[Point]) -> Fit | None:
    """The linear or the exponential fit, whichever explains more (R² on the values
    themselves, so the two compare); on a tie the straight line, the simpler one."""
    fits = [f for f in (fit_linear(points), fit_exponential(points)) if f is not None]
    return max(fits, key=lambda f: f.r2, default=None)


@dataclass(frozen=True, slots=True)
class RemainingLife:
    """How many days until the trend reaches zone C and zone D, or why it is not said."""

    fit: Fit | None
    points: int
    to_c: float | None = None  # days from now; 0: reached; None: withheld or beyond horizon
    to_d: float | None = None
    horizon: float = 0.0  # the furthest a trend is extrapolated, in days
    withheld: str = ""  # why no estimate is shown ("" when one is)

    @property
    def shown(self) -> bool:
        return not self.withheld


def remaining_life(
    points: Sequence[Point], now: float, limits: Boundaries, current: float | None = None
) -> RemainingLife:
    """Days from `now` until the better trend of the daily averages reaches B/C and C/D.

    Withheld (with the reason) when there are fewer than MIN_LIFE_POINTS days, when the
    trend does not rise, or when the better fit's R² is below MIN_R2. A boundary beyond the
    horizon (MAX_EXTRAPOLATION times the fitted span) gives None; one the trend has already
    passed, or the `current` value has reached, gives 0.
    """
    n = len(points)
    if n < MIN_LIFE_POINTS:
        return RemainingLife(None, n, withheld=f"too few days of data ({n} of {MIN_LIFE_POINTS})")
    fit = best_fit(points)
    if fit is None or fit.b <= 0:
        return RemainingLife(fit, n, withheld="no rising trend")
    if fit.r2 < MIN_R2:
        return RemainingLife(fit, n, withheld=f"the trend fits poorly (R² {fit.r2:.2f} < {MIN_R2})")
    horizon = MAX_EXTRAPOLATION * (points[-1][0] - points[0][0])

    def days_to(boundary: float) -> float | None:
        if current is not None and current >= boundary:
            return 0.0
        ahead = max(0.0, fit.day_of(boundary) - now)
        return ahead if ahead <= horizon else None

    return RemainingLife(fit, n, days_to(limits.bc), days_to(limits.cd), horizon)


def days_text(days: float | None, horizon: float) -> str:
    """ "about 12 days", "less than a day", "now", or "more than 60 days" (beyond the horizon)."""
    if days is None:
        return f"more than {math.floor(horizon)} days"
    if days == 0:
        return "now"
    if days < 1:
        return "less than a day"
    return f"about {round(days)} day{'s' if round(days) != 1 else ''}"


# --- the maintenance list's order ----------------------------------------------------------


def urgency(
    current: Zone | None, life: RemainingLife | None, drifting: bool, value: float | None,
    limits: Boundaries,
) -> tuple[int, float, float]:  # fmt: skip
    """A sort key, most urgent first: zone D, zone C (sooner to D first), a known number of
    days to zone C (fewest first), a drift, then the rest by how close the value is to B/C;
    machines without a value last."""
    closeness = -(value / limits.bc) if value is not None else 0.0
    to_c = life.to_c if life is not None and life.shown else None
    to_d = life.to_d if life is not None and life.shown else None
    if current is Zone.D:
        return 0, 0.0, closeness
    if current is Zone.C:
        return 1, to_d if to_d is not None else math.inf, closeness
    if to_c is not None:
        return 2, to_c, closeness
    if drifting:
        return 3, 0.0, closeness
    return (4 if current is not None else 5), 0.0, closeness
