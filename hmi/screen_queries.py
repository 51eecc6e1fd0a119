"""What the screens read from the database: their tags, the overview tiles, sparklines.

Each builder reads a screen's tags with their latest values in a fixed number of queries,
however many machines a line has, and hands hmi.readings' `ScreenReading`s to the templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection
from django.db.models import Prefetch, QuerySet

from hmi.readings import ScreenReading, read_latest
from plant.models import Alarm, AlarmDefinition, Line, Machine, Plant, Tag
from plant.quality import USABLE_SQL
from plant.queries import ScreenKind

KEY_TAGS_PER_MACHINE = 6  # a tile stays a tile: more key values link to the machine
# How each kind of screen finds its tags.
TAG_FILTER = {
    "plant": "machine__line__plant_id",
    "line": "machine__line_id",
    "machine": "machine_id",
    "tag": "pk",
}


def is_key_tag(tag: Tag) -> bool:
    """A tag a plant tile shows: one with a normal band, or a state or on/off signal.

    Counters, totals and setpoints have no band: they belong on the line and machine screens.
    """
    if tag.data_type in (Tag.DataType.BOOL, Tag.DataType.STRING):
        return True
    return tag.normal_min is not None or tag.normal_max is not None


def reading_tags() -> QuerySet[Tag]:
    """Tags with what their readings need (latest value, setpoint's latest, the vibration
    monitor whose zones the gauge draws) in one query."""
    return Tag.objects.select_related(
        "latest", "setpoint_tag__latest", "vibration_monitor"
    ).order_by("key")


def screen_tags(kind: ScreenKind, pk: int) -> list[Tag]:
    """The tags a plant, line, machine or tag screen shows, in screen order."""
    tags = reading_tags().filter(**{TAG_FILTER[kind]: pk})
    # The plants of a tag and of its setpoint tag: a screen follows pushes of its own plant only.
    tags = tags.select_related("machine__line", "setpoint_tag__machine__line")
    tags = tags.order_by("machine__line__position", "machine__position", "machine_id", "key")
    if kind != "plant":
        return list(tags)
    shown: list[Tag] = []
    per_machine: dict[int, int] = {}
    for tag in tags:
        if is_key_tag(tag) and per_machine.get(tag.machine_id, 0) < KEY_TAGS_PER_MACHINE:
            per_machine[tag.machine_id] = per_machine.get(tag.machine_id, 0) + 1
            shown.append(tag)
    return shown


@dataclass(frozen=True)
class MachineOverview:
    """A machine with the readings of its tags (its key tags on a plant tile)."""

    machine: Machine
    readings: list[ScreenReading]
    more: int = 0  # tags not shown on a tile

    @property
    def states(self) -> list[ScreenReading]:
        return [r for r in self.readings if r.tag.data_type == Tag.DataType.STRING]

    @property
    def values(self) -> list[ScreenReading]:
        return [r for r in self.readings if r.tag.data_type != Tag.DataType.STRING]


@dataclass(frozen=True)
class LineOverview:
    """A line with its machines, and its standing alarms by priority."""

    line: Line
    machines: list[MachineOverview]
    alarms: dict[str, int]


@dataclass(frozen=True)
class PlantOverview:
    """A plant with its lines."""

    plant: Plant
    lines: list[LineOverview]


def plant_overview(plants: QuerySet[Plant], now: datetime) -> list[PlantOverview]:
    """Each plant's line tiles with key readings and alarm counts, in five queries in all."""
    # Explicit order_by: the models' default orderings name their parent, which would join it.
    plants = plants.order_by("name").prefetch_related(
        Prefetch("lines", queryset=Line.objects.order_by("position", "name")),
        Prefetch("lines__machines", queryset=Machine.objects.order_by("position", "name")),
        Prefetch("lines__machines__tags", queryset=reading_tags()),
    )
    alarms = active_alarm_counts([line.pk for plant in plants for line in plant.lines.all()])
    return [
        PlantOverview(
            plant,
            [
                LineOverview(line, machine_tiles(line, now), alarms[line.pk])
                for line in plant.lines.all()
            ],
        )
        for plant in plants
    ]


def machine_tiles(line: Line, now: datetime) -> list[MachineOverview]:
    """A line's machines with their key readings (the same choice as screen_tags("plant"))."""
    tiles = []
    for machine in line.machines.all():
        key = [tag for tag in machine.tags.all() if is_key_tag(tag)]
        shown = key[:KEY_TAGS_PER_MACHINE]
        readings = [read_latest(tag, now) for tag in shown]
        tiles.append(MachineOverview(machine, readings, len(machine.tags.all()) - len(shown)))
    return tiles


def line_machines(line: Line, now: datetime) -> list[MachineOverview]:
    """Every machine of a line with every tag's reading, in two queries however large."""
    machines = line.machines.order_by("position", "name").prefetch_related(
        Prefetch("tags", queryset=reading_tags())
    )
    return [
        MachineOverview(machine, [read_latest(tag, now) for tag in machine.tags.all()])
        for machine in machines
    ]


def machine_readings(machine: Machine, now: datetime) -> list[ScreenReading]:
    return [read_latest(tag, now) for tag in reading_tags().filter(machine=machine)]


def active_alarm_counts(line_ids: list[int]) -> dict[int, dict[str, int]]:
    """Standing alarms per line, by every priority (most urgent first, zeros kept)."""
    counts = Alarm.objects.active_counts_by_line(line_ids)
    priorities = AlarmDefinition.Priority.values
    return {
        line_id: {p: counts.get(line_id, {}).get(p, 0) for p in priorities} for line_id in line_ids
    }


class SparkPoint(NamedTuple):
    """One point of a sparkline: a bucket's newest time and its mean value."""

    at: datetime
    value: float


SPARK_SQL = f"""
    SELECT tag_id, max(time) AS t, avg(value)
    FROM plant_sample
    WHERE tag_id = ANY(%s) AND time >= %s AND value IS NOT NULL AND {USABLE_SQL}
    GROUP BY tag_id, floor(extract(epoch FROM time) / %s)
    ORDER BY tag_id, t
"""


def recent_samples(
    tags: list[Tag], now: datetime, window_s: int, buckets: int = 120
) -> dict[int, list[SparkPoint]]:
    """The last `window_s` seconds of each numeric tag's good samples, averaged into at most
    `buckets` points, in one query (for sparklines)."""
    ids = [tag.pk for tag in tags if tag.is_numeric]
    points: dict[int, list[SparkPoint]] = {pk: [] for pk in ids}
    if not ids:
        return points
    with connection.cursor() as cursor:
        cursor.execute(SPARK_SQL, [ids, now - timedelta(seconds=window_s), window_s / buckets])
        for tag_id, time, value in cursor.fetchall():
            points[tag_id].append(SparkPoint(time, value))
    return points
