"""OEE from the historian: a machine's state timeline and counters over shifts, days, weeks.

The state tag's samples are collapsed to its changes in SQL (a window function: a shift of a
state sampled every second is a few dozen rows, not 28,800); a state older than the tag's hold
time (plant.historian.hold_seconds) without a newer sample is "no data" from then on. Counters
come from plant.counter_history, all shifts of a period at once per counter: the historian's
hourly or minute buckets (TimescaleDB's aggregates, plain PostgreSQL's rollups) where the
shift edges lie on whole minutes, the raw samples otherwise. The rules are
plant.oee's; the calendar is plant.shifts'.

Line OEE: the line's bottleneck machine's (OeeMachine.is_bottleneck), if it has one; else its
machines' times and counts summed (planned busy time, production time, ideal time, produced
and good quantities), which weights each machine by its planned busy time.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from plant import oee
from plant.counter_history import increases
from plant.historian import hold_seconds
from plant.models import Line, Machine, MachineStop, OeeMachine, Tag
from plant.oee import LABELS, Category, Figures, Interval, StateChange
from plant.quality import Quality
from plant.read_replica import samples_connection as connection
from plant.shifts import ShiftWindow, day_window, shift_at, shifts_between

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The state of each sample (its text, or its number as text; none if bad), kept where it
# differs from the sample before or follows a gap longer than the hold time.
STATE_SQL = f"""
WITH points AS (
    (SELECT time, text, value, quality FROM plant_sample
     WHERE tag_id = %(tag)s AND time < %(start)s ORDER BY time DESC LIMIT 1)
    UNION ALL
    (SELECT time, text, value, quality FROM plant_sample
     WHERE tag_id = %(tag)s AND time >= %(start)s AND time < %(end)s)
), keyed AS (
    SELECT time, CASE WHEN quality >= {int(Quality.BAD)} THEN NULL
                      WHEN text IS NOT NULL THEN text
                      WHEN value = trunc(value) AND abs(value) < 1e15
                      THEN trunc(value)::bigint::text
                      ELSE value::text END AS state
    FROM points
), marked AS (
    SELECT time, state, lag(state) OVER w AS before, lag(time) OVER w AS before_at,
           max(time) OVER () AS last_at
    FROM keyed WINDOW w AS (ORDER BY time)
)
SELECT (extract(epoch FROM time) * 1000000)::bigint, state,
       (extract(epoch FROM before_at) * 1000000)::bigint,
       (extract(epoch FROM last_at) * 1000000)::bigint
FROM marked
WHERE before_at IS NULL OR state IS DISTINCT FROM before
   OR time - before_at > %(hold)s * INTERVAL '1 second'
ORDER BY time
"""


def _instant(microseconds: int) -> datetime:
    return EPOCH + timedelta(microseconds=microseconds)


def state_changes(tag: Tag, start: datetime, end: datetime) -> list[StateChange]:
    """The state tag's changes over [start, end), the state it had at `start` first; a gap
    longer than its hold time is "no data" (None) from the hold time after the last sample."""
    hold = timedelta(seconds=hold_seconds(tag))
    found: list[StateChange] = []
    last_at: datetime | None = None
    with connection.cursor() as cursor:
        cursor.execute(STATE_SQL, {"tag": tag.pk, "start": start, "end": end,
                                   "hold": hold.total_seconds()})  # fmt: skip
        for at_us, state, before_us, last_us in cursor.fetchall():
            at = _instant(at_us)
            if before_us is not None and at - _instant(before_us) > hold:
                found.append(StateChange(_instant(before_us) + hold, None))
            found.append(StateChange(at, state))
            last_at = _instant(last_us)
    if last_at is not None and last_at + hold < end:
        found.append(StateChange(last_at + hold, None))
    return found


@dataclass(frozen=True)
class Stop:
    """An unplanned stop of the timeline, with the reason someone gave it (if anyone did)."""

    start: datetime
    end: datetime
    category: Category
    reason: MachineStop | None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def label(self) -> str:
        return LABELS[self.category]


@dataclass(frozen=True)
class MachineOee:
    """A machine's OEE over a period: the total, each shift's, the timeline and its stops."""

    config: OeeMachine
    start: datetime
    end: datetime  # the period's end, or now for a period still running
    total: Figures
    shifts: list[tuple[ShiftWindow, Figures]] = field(default_factory=list)
    timeline: list[Interval] = field(default_factory=list)
    stops: list[Stop] = field(default_factory=list)


def mapping_of(config: OeeMachine) -> dict[str, Category]:
    return {s.state: Category(s.category) for s in config.states.all()}


def reasons_of(machine: Machine, start: datetime, end: datetime) -> dict[datetime, MachineStop]:
    rows = MachineStop.objects.filter(machine=machine, started_at__gte=start, started_at__lt=end)
    return {row.started_at: row for row in rows.select_related("reason", "tagged_by")}


def machine_oee(
    config: OeeMachine, windows: Sequence[ShiftWindow], now: datetime
) -> MachineOee | None:
    """The machine's OEE over the shifts (in order), up to `now`; None without any shift."""
    if not windows:
        return None
    start, end = windows[0].start, min(windows[-1].end, now)
    end = max(end, start)
    reasons = reasons_of(config.machine, start, end)
    overrides = {at: Category(r.reason.category) for at, r in reasons.items() if r.reason.category}
    changes = state_changes(config.state_tag, start, end)
    intervals = oee.timeline(changes, start, end, mapping_of(config), config.microstop_s,
                             overrides)  # fmt: skip
    made = _counts(config, windows, now)
    per_shift = []
    for window, (produced, rejected, ideal_s) in zip(windows, made, strict=True):
        busy = [(a, min(b, now)) for a, b in window.busy_spans() if a < now]
        per_shift.append((window, oee.figures(intervals, busy, ideal_s, produced, rejected)))
    total = sum((f for _, f in per_shift[1:]), per_shift[0][1])
    found = [_stop(intervals, run, reasons) for run in oee.stops(intervals)]
    return MachineOee(config, start, end, total, per_shift, intervals, found)


def _stop(intervals: list[Interval], run: list[int], reasons: dict[datetime, MachineStop]) -> Stop:
    first, last = intervals[run[0]], intervals[run[-1]]
    return Stop(first.start, last.end, first.category, reasons.get(first.start))


def _counts(
    config: OeeMachine, windows: Sequence[ShiftWindow], now: datetime
) -> list[tuple[float, float, float]]:
    """(produced, rejected, ideal seconds) of each shift up to now, one query per counter;
    with a product tag, each product's count takes its own ideal cycle time."""
    spans = [(w.start, min(w.end, now)) for w in windows if min(w.end, now) > w.start]
    cycle_at = _cycles(config, windows[0].start, min(windows[-1].end, now))
    cuts = sorted({t for span in spans for t in span} | {
        at for at in cycle_at.changes if any(a < at < b for a, b in spans)})  # fmt: skip
    produced = _rises(config.produced_tag, cuts)
    rejected = _rises(config.rejected_tag, cuts) if config.rejected_tag else {}
    found = []
    for window in windows:
        a, b = window.start, min(window.end, now)
        inside = [t for t in cuts[:-1] if a <= t < b]
        made = sum(produced.get(t, 0.0) for t in inside)
        ideal = sum(produced.get(t, 0.0) * cycle_at(t) for t in inside)
        found.append((made, sum(rejected.get(t, 0.0) for t in inside), ideal))
    return found


@dataclass(frozen=True)
class _Cycles:
    """The ideal cycle time at any instant: the product running then, or the machine's own."""

    base: float
    changes: list[datetime]
    cycles: list[float]

    def __call__(self, at: datetime) -> float:
        index = bisect_right(self.changes, at) - 1
        return self.cycles[index] if index >= 0 else self.base


def _cycles(config: OeeMachine, start: datetime, end: datetime) -> _Cycles:
    products = {p.product: p.ideal_cycle_s for p in config.products.all()}
    base = config.base_cycle_s
    if config.product_tag is None or not products:
        return _Cycles(base, [], [])
    # The product runs until the next one: a product tag is sent on change, so its silence
    # is no change (unlike a state's), and a bad sample leaves the product as it was.
    changes = [c for c in state_changes(config.product_tag, start, end) if c.state is not None]
    return _Cycles(base, [c.at for c in changes],
                   [products.get(c.state or "", base) for c in changes])  # fmt: skip


def _rises(tag: Tag, cuts: list[datetime]) -> dict[datetime, float]:
    """The counter's increase from each cut to the next."""
    if len(cuts) < 2:
        return {}
    return dict(zip(cuts, increases(tag.pk, cuts, tag.counter_rollover), strict=False))


def line_oee(line: Line, windows: Sequence[ShiftWindow], now: datetime) -> Figures | None:
    """The line's OEE: its bottleneck's, else its machines' summed (see the module's doc)."""
    configs = list(
        OeeMachine.objects.filter(machine__line=line)
        .select_related("machine__line__plant", "state_tag", "produced_tag", "rejected_tag")
        .prefetch_related("states", "products")
    )
    bottleneck = [c for c in configs if c.is_bottleneck]
    found = [machine_oee(c, windows, now) for c in (bottleneck[:1] or configs)]
    totals = [m.total for m in found if m is not None]
    return sum(totals[1:], totals[0]) if totals else None


@dataclass(frozen=True)
class Period:
    """A period of a line's calendar: its shifts, and what to call it."""

    kind: str  # shift, day, week or range
    label: str
    start: datetime
    end: datetime
    windows: list[ShiftWindow]

    def live(self, now: datetime) -> bool:
        return self.start <= now < self.end


def resolve_period(
    line: Line, kind: str, now: datetime, *, day: date | None = None, shift: str = "",
    start: datetime | None = None, end: datetime | None = None,
) -> Period:  # fmt: skip
    """The shifts of a period on the line's calendar (with its planned downtime): the shift
    running now (or the last one before now), a named shift of a plant-local day, a day, the
    ISO week of a day, or a range (shifts cut to it)."""
    plant, zone = line.plant, ZoneInfo(line.plant.time_zone)
    today = now.astimezone(zone).date()
    if kind == "range" and start is not None and end is not None:
        found = [_cut(w, start, end) for w in shifts_between(plant, start, end, line=line)]
        label = f"{start.astimezone(zone):%Y-%m-%d %H:%M} to {end.astimezone(zone):%Y-%m-%d %H:%M}"
        return Period("range", label, start, end, found)
    if kind == "week":
        monday = (day or today) - timedelta(days=(day or today).weekday())
        first, _ = day_window(plant, monday)
        _, last = day_window(plant, monday + timedelta(days=6))
        iso = monday.isocalendar()
        return Period("week", f"Week {iso.week} of {iso.year}", first, last,
                      _starting(line, first, last))  # fmt: skip
    if kind == "day":
        first, last = day_window(plant, day or today)
        return Period("day", f"{day or today:%A %Y-%m-%d}", first, last,
                      _starting(line, first, last))  # fmt: skip
    return _shift_period(line, now, day, shift)


def _shift_period(line: Line, now: datetime, day: date | None, shift: str) -> Period:
    zone = ZoneInfo(line.plant.time_zone)
    if day is None:
        window = shift_at(line.plant, now, line=line)
        if window is None:  # between shifts: the last one that ended
            earlier = [w for w in shifts_between(line.plant, now - timedelta(days=7), now,
                                                 line=line) if w.start <= now]  # fmt: skip
            window = earlier[-1] if earlier else None
    else:
        first, last = day_window(line.plant, day)
        named = [w for w in _starting(line, first, last) if not shift or w.name == shift]
        window = named[0] if named else None
    if window is None:
        moment = now if day is None else day_window(line.plant, day)[0]
        return Period("shift", "No shift", moment, moment, [])
    label = f"{window.name} shift of {window.start.astimezone(zone):%A %Y-%m-%d}"
    return Period("shift", label, window.start, window.end, [window])


def _starting(line: Line, start: datetime, end: datetime) -> list[ShiftWindow]:
    """The line's shifts that start within [start, end)."""
    return [w for w in shifts_between(line.plant, start, end, line=line) if start <= w.start < end]


def _cut(window: ShiftWindow, start: datetime, end: datetime) -> ShiftWindow:
    return replace(window, start=max(window.start, start), end=min(window.end, end))
