"""A plant's shift calendar as pure functions: no Django, no I/O.

A shift is wall-clock time in the plant's zone: "Early 06:00-14:00 on weekdays" starts at six
on the plant's clocks whatever the season, so on the days the clocks change a shift that spans
the change is an hour shorter or longer in real time (a 22:00-06:00 night shift lasts 7 hours
in spring, 9 in autumn). A shift belongs to the day it starts on; it ends the next day when its
end is not after its start (a night shift), and lasts 24 hours when both are equal.

Breaks are wall-clock times inside their shift. Planned downtime (maintenance on a date) is a
one-off span of real time. Both are planned: a shift's planned busy time (ISO 22400-2) is its
length less the union of its breaks and planned downtime.

Wall-clock times that do not exist (the hour the clocks skip in spring) are the instant the
clocks jumped; times that happen twice (the hour repeated in autumn) are their first
occurrence. So instants keep the order of the wall-clock times they come from, and shifts that
meet on the clock (14:00 end, 14:00 start) meet in real time too: they tile without overlap.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_S = 86400
Span = tuple[datetime, datetime]
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # ISO 1..7


@dataclass(frozen=True)
class ShiftWindow:
    """One shift as it happened or will: its real-time bounds (aware, UTC) and planned stops."""

    plant_id: int
    name: str
    start: datetime
    end: datetime
    breaks: tuple[Span, ...] = ()
    planned_downtime: tuple[Span, ...] = ()

    @property
    def planned_busy_s(self) -> float:
        """Seconds the shift is planned to produce: its length less breaks and planned downtime."""
        return sum((end - start).total_seconds() for start, end in self.busy_spans())

    def busy_spans(self) -> list[Span]:
        """The planned busy time as spans: the shift without its breaks and planned downtime."""
        return subtract((self.start, self.end), [*self.breaks, *self.planned_downtime])

    def planned_stops(self) -> tuple[Span, ...]:
        """Breaks and planned downtime within the shift, merged where they overlap."""
        return merge(clip(span, self.start, self.end) for span in
                     (*self.breaks, *self.planned_downtime))  # fmt: skip


@dataclass(frozen=True)
class ShiftSpec:
    """One shift of a weekly calendar, in wall-clock time: what the admin configured."""

    name: str
    start: time
    end: time
    weekdays: frozenset[int]  # ISO weekdays (1 Monday … 7 Sunday) the shift starts on
    breaks: tuple[tuple[time, time], ...] = ()
    valid_from: date | None = None
    valid_until: date | None = None

    @property
    def length_s(self) -> int:
        """Its length on the clock: to the end on the same day, or the next day's."""
        length = (seconds_of(self.end) - seconds_of(self.start)) % DAY_S
        return length or DAY_S

    def runs_on(self, day: date) -> bool:
        if day.isoweekday() not in self.weekdays:
            return False
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_until is None or day <= self.valid_until

    def break_offsets(self) -> list[tuple[int, int]]:
        """Each break as seconds after the shift's start (start, end)."""
        offsets = []
        for start, end in self.breaks:
            begin = (seconds_of(start) - seconds_of(self.start)) % DAY_S
            length = (seconds_of(end) - seconds_of(start)) % DAY_S
            offsets.append((begin, begin + length))
        return offsets


def seconds_of(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """The instant (UTC) of a wall-clock time (naive) in `zone`; see the module's docstring for
    times the clocks skip or repeat."""
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first
    # In a gap: fold=1 reads it with the offset after the jump, an instant before the jump,
    # fold=0 with the one before, an instant after it. The jump lies between, on a whole second.
    low = math.floor(local.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    high = math.ceil(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) > local:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def day_bounds(day: date, zone: ZoneInfo) -> Span:
    """A plant-local calendar day as an instant range [midnight, next midnight)."""
    midnight = datetime.combine(day, time())
    return to_utc(midnight, zone), to_utc(midnight + timedelta(days=1), zone)


def windows_between(
    plant_id: int,
    specs: Sequence[ShiftSpec],
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    downtime: Sequence[Span] = (),
) -> list[ShiftWindow]:
    """Every shift that overlaps [start, end), in order of its start (not cut to the range)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    first_day = start.astimezone(zone).date() - timedelta(days=1)  # a night shift from before
    last_day = end.astimezone(zone).date()
    found = []
    day = first_day
    while day <= last_day:
        for spec in specs:
            if spec.runs_on(day):
                window = window_of(plant_id, spec, day, zone, downtime)
                if window.start < end and window.end > start:
                    found.append(window)
        day += timedelta(days=1)
    return sorted(found, key=lambda w: (w.start, w.name))


def window_of(
    plant_id: int, spec: ShiftSpec, day: date, zone: ZoneInfo, downtime: Sequence[Span] = ()
) -> ShiftWindow:
    """The shift of `spec` that starts on `day` (plant-local)."""
    local_start = datetime.combine(day, spec.start)

    def at(offset_s: int) -> datetime:
        return to_utc(local_start + timedelta(seconds=offset_s), zone)

    start, end = at(0), at(spec.length_s)
    breaks = merge(clip((at(begin), at(finish)), start, end)
                   for begin, finish in spec.break_offsets())  # fmt: skip
    planned = merge(clip(span, start, end) for span in downtime)
    return ShiftWindow(plant_id, spec.name, start, end, breaks, planned)


def clip(span: Span, start: datetime, end: datetime) -> Span:
    """`span` cut to [start, end); empty (end <= start) when it lies outside."""
    return max(span[0], start), min(span[1], end)


def merge(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Spans sorted and joined where they overlap or touch; empty ones left out."""
    merged: list[Span] = []
    for begin, finish in sorted(s for s in spans if s[1] > s[0]):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return tuple(merged)


def subtract(span: Span, holes: Iterable[Span]) -> list[Span]:
    """What is left of `span` without the holes."""
    left = []
    cursor = span[0]
    for begin, finish in merge(clip(h, span[0], span[1]) for h in holes):
        if begin > cursor:
            left.append((cursor, begin))
        cursor = max(cursor, finish)
    if span[1] > cursor:
        left.append((cursor, span[1]))
    return left


# --- what an admin may configure -------------------------------------------------------------

# A reference fortnight on the clock (no zone): the weekly pattern repeats, so shifts that do
# not overlap here never do; 2024-01-01 is a Monday.
REFERENCE_MONDAY = date(2024, 1, 1)


def break_problems(spec: ShiftSpec) -> list[str]:
    """Why the shift's breaks cannot be: outside the shift, empty, or overlapping each other."""
    problems = []
    offsets = spec.break_offsets()
    for (start, end), (_, finish) in zip(spec.breaks, offsets, strict=True):
        name = f"The break {start:%H:%M}-{end:%H:%M}"
        if start == end:
            problems.append(f"{name} has no length.")
        elif finish > spec.length_s:
            problems.append(f"{name} is not inside the shift "
                            f"{spec.start:%H:%M}-{spec.end:%H:%M}.")  # fmt: skip
    ordered = sorted(o for o in offsets if o[1] > o[0])
    for (_, finish), (begin, _) in itertools.pairwise(ordered):
        if begin < finish:
            problems.append("Two breaks of the shift overlap.")
            break
    return problems


def overlap_problems(specs: Sequence[ShiftSpec], involving: ShiftSpec | None = None) -> list[str]:
    """The pairs of shifts that overlap on some day of the week (within their valid dates);
    with `involving`, only the pairs that one of them is."""
    spans: list[tuple[datetime, datetime, ShiftSpec]] = []
    for spec in specs:
        for offset in range(-7, 21):
            day = REFERENCE_MONDAY + timedelta(days=offset)
            if day.isoweekday() in spec.weekdays:
                begin = datetime.combine(day, spec.start)
                spans.append((begin, begin + timedelta(seconds=spec.length_s), spec))
    problems = []
    spans.sort(key=lambda s: s[0])
    for i, (_, finish, spec) in enumerate(spans):
        for other_begin, _, other in spans[i + 1 :]:
            if other_begin >= finish:
                break
            if other is spec or not valid_together(spec, other):
                continue
            if involving is not None and involving is not spec and involving is not other:
                continue
            message = f"{_described(spec)} overlaps {_described(other)}."
            if message not in problems:
                problems.append(message)
    return problems


def valid_together(a: ShiftSpec, b: ShiftSpec) -> bool:
    """Whether two shifts' valid dates share a day (a day's margin: a night shift runs over)."""
    a_from, a_until = a.valid_from or date.min, a.valid_until or date.max
    b_from, b_until = b.valid_from or date.min, b.valid_until or date.max
    margin = timedelta(days=1)
    return a_from <= _plus(b_until, margin) and b_from <= _plus(a_until, margin)


def _plus(day: date, delta: timedelta) -> date:
    return day if day == date.max else day + delta


def _described(spec: ShiftSpec) -> str:
    days = ",".join(WEEKDAY_NAMES[d - 1] for d in sorted(spec.weekdays))
    return f"{spec.name} ({days} {spec.start:%H:%M}-{spec.end:%H:%M})"
