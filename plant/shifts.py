"""A plant's shifts as they fall in real time: read from its calendar (plant.models.shifts).

What others ask of the calendar (OEE, shift reports, energy per shift):
    shifts_between(plant, start, end)  every shift overlapping [start, end), in order
    shift_at(plant, at)                the shift running at an instant, or None
    day_window(plant, day)             a plant-local calendar day as [start, end) in UTC
The rules themselves (wall-clock shifts, night shifts, DST, breaks) are plant.shift_calendar's.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q

from plant.models import Line, PlannedDowntime, Plant, Shift
from plant.shift_calendar import ShiftSpec, ShiftWindow, Span, day_bounds, windows_between

__all__ = ["ShiftWindow", "day_window", "shift_at", "shifts_between"]


def shift_specs(plant: Plant) -> list[ShiftSpec]:
    """The plant's weekly shifts with their breaks (two queries)."""
    return [shift.spec() for shift in Shift.objects.filter(plant=plant).prefetch_related("breaks")]


def planned_downtime(
    plant: Plant, start: datetime, end: datetime, line: Line | None = None
) -> list[Span]:
    """The plant's planned downtime overlapping [start, end): the whole plant's, and the
    line's own when a line is given."""
    lines = Q(line__isnull=True) | Q(line=line) if line is not None else Q(line__isnull=True)
    rows = PlannedDowntime.objects.filter(lines, plant=plant, start_at__lt=end, end_at__gt=start)
    return list(rows.values_list("start_at", "end_at"))


def shifts_between(
    plant: Plant, start: datetime, end: datetime, *, line: Line | None = None
) -> list[ShiftWindow]:
    """Every shift of the plant that overlaps [start, end) (whole, not cut to the range), in
    order, with its breaks and planned downtime (the plant's, and `line`'s if given)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    specs = shift_specs(plant)
    if not specs:
        return []
    # A shift lasts at most a day: downtime a day either side reaches every shift found.
    margin = timedelta(days=2)
    downtime = planned_downtime(plant, start - margin, end + margin, line)
    return windows_between(plant.pk, specs, ZoneInfo(plant.time_zone), start, end, downtime)


def shift_at(plant: Plant, at: datetime, *, line: Line | None = None) -> ShiftWindow | None:
    """The shift running at `at`, or None between shifts."""
    found = shifts_between(plant, at, at + timedelta(microseconds=1), line=line)
    return next((w for w in found if w.start <= at < w.end), None)


def day_window(plant: Plant, day: date) -> tuple[datetime, datetime]:
    """The plant-local calendar day `day` as [start, end) in UTC (23 or 25 hours on DST days)."""
    return day_bounds(day, ZoneInfo(plant.time_zone))
