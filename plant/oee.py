"""OEE (ISO 22400-2) as pure functions: no Django, no I/O.

    Availability  A = actual production time / planned busy time
    Performance   P = ideal cycle time · produced quantity / actual production time
    Quality       Q = good quantity / produced quantity
    OEE             = A · P · Q

Planned busy time is the shift calendar's (plant.shift_calendar): the shift less its breaks
and planned downtime. A machine's state tag says what it did meanwhile; each state value maps
to a loss category, and each category is of one of three kinds:

- run: the machine produces (running, slow running). Actual production time.
- down: an unplanned stop (breakdown, starved, blocked, changeover, cleaning, no order, an
  unmapped state, no data). Availability losses, unless the stop is shorter than the
  microstop limit (default 120 s): then it is a microstop, counted as production time, so it
  costs performance instead (the machine was "running" with short interruptions).
- planned: a stop the machine reports as planned (planned maintenance, break). Like the
  calendar's own breaks, it is not planned busy time.

A run of consecutive down intervals is one stop: a stop that starts starved and ends blocked
is a single stop of their total length for the microstop rule. Speed losses (slow running,
microstops, running below the ideal rate) are not timed: they show in P. P above 1 means the
machine made more than its ideal cycle time allows: the ideal is set wrong; it is reported as
it is, flagged `over_speed`, never cut to 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from plant.shift_calendar import Span, merge


class Kind(StrEnum):
    RUN = "run"
    DOWN = "down"
    PLANNED = "planned"


class Category(StrEnum):
    RUNNING = "running"
    SLOW_RUNNING = "slow_running"
    MICROSTOP = "microstop"  # never mapped: a short down stop becomes one
    STARVED = "starved"
    BLOCKED = "blocked"
    CHANGEOVER = "changeover"
    CLEANING = "cleaning"
    BREAKDOWN = "breakdown"
    NO_ORDER = "no_order"
    UNKNOWN_STOP = "unknown_stop"  # a state value the mapping does not name
    NO_DATA = "no_data"  # no state known (no sample yet, or a bad one)
    PLANNED_MAINTENANCE = "planned_maintenance"
    BREAK = "break"


KINDS: dict[Category, Kind] = {
    Category.RUNNING: Kind.RUN,
    Category.SLOW_RUNNING: Kind.RUN,
    Category.MICROSTOP: Kind.RUN,
    Category.STARVED: Kind.DOWN,
    Category.BLOCKED: Kind.DOWN,
    Category.CHANGEOVER: Kind.DOWN,
    Category.CLEANING: Kind.DOWN,
    Category.BREAKDOWN: Kind.DOWN,
    Category.NO_ORDER: Kind.DOWN,
    Category.UNKNOWN_STOP: Kind.DOWN,
    Category.NO_DATA: Kind.DOWN,
    Category.PLANNED_MAINTENANCE: Kind.PLANNED,
    Category.BREAK: Kind.PLANNED,
}
LABELS: dict[Category, str] = {
    Category.RUNNING: "Running",
    Category.SLOW_RUNNING: "Slow running",
    Category.MICROSTOP: "Microstop",
    Category.STARVED: "Starved",
    Category.BLOCKED: "Blocked",
    Category.CHANGEOVER: "Changeover",
    Category.CLEANING: "Cleaning",
    Category.BREAKDOWN: "Breakdown",
    Category.NO_ORDER: "No order",
    Category.UNKNOWN_STOP: "Unknown stop",
    Category.NO_DATA: "No data",
    Category.PLANNED_MAINTENANCE: "Planned maintenance",
    Category.BREAK: "Break",
}
DEFAULT_MICROSTOP_S = 120.0


@dataclass(frozen=True)
class StateChange:
    """The state tag took `state` at `at` (None: no state known from then on)."""

    at: datetime
    state: str | None


@dataclass(frozen=True)
class Interval:
    """What the machine did over [start, end)."""

    start: datetime
    end: datetime
    state: str | None
    category: Category

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def kind(self) -> Kind:
        return KINDS[self.category]


def category_of(state: str | None, mapping: Mapping[str, Category]) -> Category:
    if state is None:
        return Category.NO_DATA
    return mapping.get(state, Category.UNKNOWN_STOP)


def timeline(
    changes: Sequence[StateChange],
    start: datetime,
    end: datetime,
    mapping: Mapping[str, Category],
    microstop_s: float = DEFAULT_MICROSTOP_S,
    overrides: Mapping[datetime, Category] | None = None,
) -> list[Interval]:
    """The machine's intervals over [start, end), from its state changes in time order (the
    last one before `start` included, if any; before the first, nothing is known).

    `overrides` re-categorise stops by their start (an operator's reason for a stop).
    """
    intervals: list[Interval] = []
    known = [c for c in changes if c.at < end]
    state: str | None = None
    cursor = start
    for change in known:
        if change.at <= start:
            state = change.state
            continue
        intervals.append(Interval(cursor, change.at, state, category_of(state, mapping)))
        cursor, state = change.at, change.state
    if cursor < end:
        intervals.append(Interval(cursor, end, state, category_of(state, mapping)))
    joined = _join_same_state(intervals)
    return apply_stop_rules(joined, microstop_s, overrides or {})


def _join_same_state(intervals: list[Interval]) -> list[Interval]:
    joined: list[Interval] = []
    for interval in intervals:
        if joined and joined[-1].state == interval.state and joined[-1].end == interval.start:
            joined[-1] = Interval(joined[-1].start, interval.end, interval.state,
                                  interval.category)  # fmt: skip
        elif interval.end > interval.start:
            joined.append(interval)
    return joined


def stops(intervals: Sequence[Interval]) -> list[list[int]]:
    """The stops: each a run of consecutive down intervals, as their indexes."""
    found: list[list[int]] = []
    for i, interval in enumerate(intervals):
        if interval.kind != Kind.DOWN:
            continue
        if found and found[-1][-1] == i - 1 and intervals[i - 1].end == interval.start:
            found[-1].append(i)
        else:
            found.append([i])
    return found


def apply_stop_rules(
    intervals: list[Interval], microstop_s: float, overrides: Mapping[datetime, Category]
) -> list[Interval]:
    """Stops shorter than the microstop limit become microstops; a stop with an operator's
    reason takes that reason's category (a reason outranks the microstop rule)."""
    result = list(intervals)
    for run in stops(intervals):
        first, last = intervals[run[0]], intervals[run[-1]]
        override = overrides.get(first.start)
        if override is not None:
            for i in run:
                result[i] = Interval(result[i].start, result[i].end, result[i].state, override)
        elif (last.end - first.start).total_seconds() < microstop_s:
            for i in run:
                result[i] = Interval(result[i].start, result[i].end, result[i].state,
                                     Category.MICROSTOP)  # fmt: skip
    return result


def within(intervals: Sequence[Interval], spans: Sequence[Span]) -> list[Interval]:
    """The parts of the intervals that lie in the spans (planned busy time, say)."""
    cut: list[Interval] = []
    for interval in intervals:
        for begin, finish in spans:
            start, end = max(interval.start, begin), min(interval.end, finish)
            if end > start:
                cut.append(Interval(start, end, interval.state, interval.category))
    return cut


def durations(intervals: Sequence[Interval]) -> dict[Category, float]:
    """Seconds per category, every category present (0 where none)."""
    found = dict.fromkeys(Category, 0.0)
    for interval in intervals:
        found[interval.category] += interval.seconds
    return found


@dataclass(frozen=True)
class Figures:
    """The OEE of one machine (or line) over one period, with what it was computed from."""

    planned_busy_s: float  # calendar busy time, less what the machine reported as planned
    run_s: float  # actual production time: run kinds and microstops
    ideal_s: float  # ideal cycle time · produced quantity (summed over products)
    produced: float
    good: float
    losses: dict[Category, float] = field(default_factory=dict)  # seconds within the period

    @property
    def availability(self) -> float | None:
        return self.run_s / self.planned_busy_s if self.planned_busy_s > 0 else None

    @property
    def performance(self) -> float | None:
        return self.ideal_s / self.run_s if self.run_s > 0 else None

    @property
    def quality(self) -> float | None:
        return self.good / self.produced if self.produced > 0 else None

    @property
    def oee(self) -> float | None:
        """A · P · Q; 0 when nothing ran or nothing was made in planned busy time."""
        a, p, q = self.availability, self.performance, self.quality
        if a is None:
            return None
        if p is None or q is None:
            return 0.0
        return a * p * q

    @property
    def over_speed(self) -> bool:
        """More made than the ideal cycle time allows: the ideal cycle time is set too long."""
        return self.performance is not None and self.performance > 1

    def __add__(self, other: Figures) -> Figures:
        """Two periods (or machines) together: their times and quantities summed."""
        losses = {c: self.losses.get(c, 0.0) + other.losses.get(c, 0.0)
                  for c in {*self.losses, *other.losses}}  # fmt: skip
        return Figures(self.planned_busy_s + other.planned_busy_s, self.run_s + other.run_s,
                       self.ideal_s + other.ideal_s, self.produced + other.produced,
                       self.good + other.good, losses)  # fmt: skip


def figures(
    intervals: Sequence[Interval],
    busy_spans: Sequence[Span],
    ideal_s: float,
    produced: float,
    rejected: float,
) -> Figures:
    """A, P, Q and OEE from the machine's intervals, the period's planned busy time (as spans),
    the ideal time of what it produced (ideal cycle · quantity), and its counts."""
    inside = within(intervals, merge(busy_spans))
    losses = durations(inside)
    planned = sum(s for c, s in losses.items() if KINDS[c] == Kind.PLANNED)
    calendar_busy = sum((b - a).total_seconds() for a, b in merge(busy_spans))
    run = sum(s for c, s in losses.items() if KINDS[c] == Kind.RUN)
    good = min(max(produced - rejected, 0.0), produced)
    return Figures(calendar_busy - planned, run, ideal_s, produced, good, losses)


def pareto(losses: Mapping[Category, float]) -> list[tuple[Category, float, float]]:
    """The losses (down kinds and microstops) largest first, each with the running share of
    all of them (the Pareto's cumulative line, 0 to 1)."""
    kept = sorted(((c, s) for c, s in losses.items()
                   if s > 0 and (KINDS[c] == Kind.DOWN or c == Category.MICROSTOP)),
                  key=lambda item: (-item[1], item[0]))  # fmt: skip
    total = sum(s for _, s in kept)
    running, found = 0.0, []
    for category, seconds in kept:
        running += seconds
        found.append((category, seconds, running / total))
    return found
