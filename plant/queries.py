"""Read helpers shared by hmi and ingest: which plants a user may see, and how a tag reads.

`Reading` is the one input of templates/hmi/fragments/tag_value.html. The page builds it from
a tag's LatestValue (`read_latest`), and a websocket push can build it from a pushed value
(`read_value`), so a value looks the same at page load and after a push.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Prefetch, QuerySet

from plant.models import Line, Machine, Plant, Quality, Tag

NO_VALUE = "—"
Status = Literal["ok", "uncertain", "stale", "bad", "none"]


def visible_plants(user: User | AnonymousUser) -> QuerySet[Plant]:
    """Every plant for a superuser; otherwise the plants the user is a member of and may view."""
    if not user.is_active:
        return Plant.objects.none()
    if user.is_superuser:
        return Plant.objects.all()
    if not user.has_perm("plant.view_tag"):
        return Plant.objects.none()
    return Plant.objects.filter(members=user)


@dataclass(frozen=True)
class Reading:
    """How one tag's value reads on a screen: its text, its condition and where it sits."""

    tag: Tag
    text: str
    status: Status
    value: float | None = None
    time: datetime | None = None
    # When an "ok" value turns stale if nothing newer arrives; hmi.js marks it then.
    stale_at: datetime | None = None

    @property
    def flag(self) -> str:
        """The condition in words, so it never rests on colour alone ("" when nothing to say)."""
        return "" if self.status in ("ok", "none") else self.status

    @property
    def position(self) -> float | None:
        """The value as a percentage of the engineering range, for the analog bar."""
        if self.value is None or not self.tag.is_numeric or not _has_range(self.tag):
            return None
        return _percent(self.tag, self.value)

    @property
    def band(self) -> tuple[float, float] | None:
        """The normal operating band as (left, width) percentages of the engineering range."""
        tag = self.tag
        if not tag.is_numeric or not _has_range(tag):
            return None
        if tag.normal_min is None and tag.normal_max is None:
            return None
        low = _percent(tag, tag.normal_min if tag.normal_min is not None else tag.range_min)
        high = _percent(tag, tag.normal_max if tag.normal_max is not None else tag.range_max)
        return low, high - low


def read_value(
    tag: Tag,
    *,
    value: float | None,
    text: str | None,
    quality: int,
    time: datetime,
    now: datetime,
) -> Reading:
    """The reading of one value of `tag` taken at `time`, as seen at `now`."""
    formatted = format_value(tag, value, text)
    if formatted == NO_VALUE:
        return Reading(tag, NO_VALUE, "none", time=time)
    stale_at = time + timedelta(seconds=tag.expected_interval_s)
    status: Status = "ok"
    if quality == Quality.BAD:
        status = "bad"
    elif now > stale_at:
        status = "stale"
    elif quality == Quality.UNCERTAIN:
        status = "uncertain"
    return Reading(tag, formatted, status, value, time, stale_at)


def read_latest(tag: Tag, now: datetime) -> Reading:
    """The reading of a tag's LatestValue; select_related("latest") saves the query."""
    # A missing reverse one-to-one raises an AttributeError subclass, so getattr's default works.
    latest = getattr(tag, "latest", None)
    if latest is None:
        return Reading(tag, NO_VALUE, "none")
    return read_value(
        tag,
        value=latest.value,
        text=latest.text,
        quality=latest.quality,
        time=latest.time,
        now=now,
    )


def format_value(tag: Tag, value: float | None, text: str | None) -> str:
    """The value as text: the tag's precision, its bool labels, or "—" when there is none."""
    if tag.data_type == Tag.DataType.STRING:
        return text if text else NO_VALUE
    if value is None:
        return NO_VALUE
    if tag.data_type == Tag.DataType.BOOL:
        return (tag.true_label or "true") if value else (tag.false_label or "false")
    formatted = f"{value:.{tag.precision}f}"
    # A small negative value rounds to "-0.0", which reads like a sign error on a screen.
    return formatted.lstrip("-") if float(formatted) == 0 else formatted


@dataclass(frozen=True)
class MachineOverview:
    """A machine with the readings of its tags."""

    machine: Machine
    readings: list[Reading]


@dataclass(frozen=True)
class LineOverview:
    """A line with its machines."""

    line: Line
    machines: list[MachineOverview]


@dataclass(frozen=True)
class PlantOverview:
    """A plant with its lines."""

    plant: Plant
    lines: list[LineOverview]


def plant_overview(plants: QuerySet[Plant], now: datetime) -> list[PlantOverview]:
    """The tree under each plant with every tag's reading, in four queries however large."""
    # Explicit order_by: the models' default orderings name their parent, which would join it.
    plants = plants.order_by("name").prefetch_related(
        Prefetch("lines", queryset=Line.objects.order_by("position", "name")),
        Prefetch("lines__machines", queryset=Machine.objects.order_by("position", "name")),
        Prefetch(
            "lines__machines__tags", queryset=Tag.objects.select_related("latest").order_by("key")
        ),
    )
    return [
        PlantOverview(plant, [_line_overview(line, now) for line in plant.lines.all()])
        for plant in plants
    ]


def _line_overview(line: Line, now: datetime) -> LineOverview:
    machines = [
        MachineOverview(machine, [read_latest(tag, now) for tag in machine.tags.all()])
        for machine in line.machines.all()
    ]
    return LineOverview(line, machines)


def _has_range(tag: Tag) -> bool:
    return tag.range_min is not None and tag.range_max is not None


def _percent(tag: Tag, value: float | None) -> float:
    assert tag.range_min is not None and tag.range_max is not None and value is not None
    share = (value - tag.range_min) / (tag.range_max - tag.range_min)
    return round(min(max(share, 0.0), 1.0) * 100, 1)
