"""Read helpers shared by hmi and ingest: which plants a user may see, and how a tag reads.

`Reading` is the one input of templates/hmi/fragments/tag_value.html. A page builds it from a
tag's LatestValue (`read_latest`), and a websocket push builds it from a pushed value
(`read_value`), so a value looks the same at page load and after a push.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import Prefetch, QuerySet

from plant.models import Alarm, AlarmDefinition, Line, Machine, Plant, Quality, Tag

NO_VALUE = "—"
KEY_TAGS_PER_MACHINE = 6  # a tile stays a tile: more key values link to the machine
Status = Literal["ok", "uncertain", "stale", "bad", "none"]
ScreenKind = Literal["plant", "line", "machine", "tag"]
SCREEN_KINDS: tuple[ScreenKind, ...] = ("plant", "line", "machine", "tag")
# How each kind of screen finds its tags, and the plant they belong to.
TAG_FILTER = {
    "plant": "machine__line__plant_id",
    "line": "machine__line_id",
    "machine": "machine_id",
    "tag": "pk",
}
PLANT_PATH = {
    "plant": "pk",
    "line": "lines",
    "machine": "lines__machines",
    "tag": "lines__machines__tags",
}


def visible_plants(user: User | AnonymousUser) -> QuerySet[Plant]:
    """Every plant for a superuser; otherwise the plants the user is a member of and may view."""
    if not user.is_active:
        return Plant.objects.none()
    if user.is_superuser:
        return Plant.objects.all()
    if not user.has_perm("plant.view_tag"):
        return Plant.objects.none()
    return Plant.objects.filter(members=user)


def screen_plant(user: User | AnonymousUser, kind: ScreenKind, pk: int) -> Plant | None:
    """The plant of a plant, line, machine or tag the user may see; None if they may not."""
    return visible_plants(user).filter(**{PLANT_PATH[kind]: pk}).first()


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
    good_at: datetime | None = None  # the last time the value had good quality
    setpoint: float | None = None  # the latest value of the tag's setpoint tag, if it has one

    @property
    def flag(self) -> str:
        """The condition in words, so it never rests on colour alone ("" when nothing to say)."""
        return "" if self.status in ("ok", "none") else self.status

    @property
    def ts_ms(self) -> int | None:
        """The device's time of the value in epoch milliseconds (hmi.js and the benchmark)."""
        return None if self.time is None else int(self.time.timestamp() * 1000)

    @property
    def position(self) -> float | None:
        """The value as a fraction (0..1) of the engineering range, for gauges."""
        return fraction(self.tag, self.value)

    @property
    def setpoint_position(self) -> float | None:
        return fraction(self.tag, self.setpoint)

    @property
    def band(self) -> tuple[float, float] | None:
        """The normal operating band as (low, high) fractions of the engineering range."""
        tag = self.tag
        if not has_range(tag) or (tag.normal_min is None and tag.normal_max is None):
            return None
        low = fraction(tag, tag.normal_min if tag.normal_min is not None else tag.range_min)
        high = fraction(tag, tag.normal_max if tag.normal_max is not None else tag.range_max)
        assert low is not None and high is not None
        return low, high


def read_value(
    tag: Tag,
    *,
    value: float | None,
    text: str | None,
    quality: int,
    time: datetime,
    now: datetime,
    good_at: datetime | None = None,
    setpoint: float | None = None,
) -> Reading:
    """The reading of one value of `tag` taken at `time`, as seen at `now`."""
    formatted = format_value(tag, value, text)
    if formatted == NO_VALUE:
        return Reading(tag, NO_VALUE, "none", time=time, good_at=good_at, setpoint=setpoint)
    stale_at = time + timedelta(seconds=tag.expected_interval_s)
    status: Status = "ok"
    if quality == Quality.BAD:
        status = "bad"
    elif now > stale_at:
        status = "stale"
    elif quality == Quality.UNCERTAIN:
        status = "uncertain"
    return Reading(tag, formatted, status, value, time, stale_at, good_at, setpoint)


def read_latest(tag: Tag, now: datetime) -> Reading:
    """The reading of a tag's LatestValue; select_related("latest",
    "setpoint_tag__latest") saves the queries."""
    # A missing reverse one-to-one raises an AttributeError subclass, so getattr's default works.
    latest = getattr(tag, "latest", None)
    setpoint = latest_number(tag.setpoint_tag) if tag.setpoint_tag_id else None
    if latest is None:
        return Reading(tag, NO_VALUE, "none", setpoint=setpoint)
    return read_value(
        tag,
        value=latest.value,
        text=latest.text,
        quality=latest.quality,
        time=latest.time,
        now=now,
        good_at=latest.good_at,
        setpoint=setpoint,
    )


def latest_number(tag: Tag | None) -> float | None:
    latest = getattr(tag, "latest", None)
    return None if latest is None else latest.value


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


def has_range(tag: Tag) -> bool:
    return tag.is_numeric and tag.range_min is not None and tag.range_max is not None


def fraction(tag: Tag, value: float | None) -> float | None:
    """Where `value` sits in the engineering range, clamped to 0..1; None without a range."""
    if value is None or not has_range(tag):
        return None
    assert tag.range_min is not None and tag.range_max is not None
    share = (value - tag.range_min) / (tag.range_max - tag.range_min)
    return min(max(share, 0.0), 1.0)


def is_key_tag(tag: Tag) -> bool:
    """A tag a plant tile shows: one with a normal band, or a state or on/off signal.

    Counters, totals and setpoints have no band: they belong on the line and machine screens.
    """
    if tag.data_type in (Tag.DataType.BOOL, Tag.DataType.STRING):
        return True
    return tag.normal_min is not None or tag.normal_max is not None


# --- Screens -------------------------------------------------------------------------------


def reading_tags() -> QuerySet[Tag]:
    """Tags with what their readings need (latest value, setpoint's latest) in one query."""
    return Tag.objects.select_related("latest", "setpoint_tag__latest").order_by("key")


def screen_tags(kind: ScreenKind, pk: int) -> list[Tag]:
    """The tags a plant, line, machine or tag screen shows, in screen order."""
    tags = reading_tags().filter(**{TAG_FILTER[kind]: pk})
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
    readings: list[Reading]
    more: int = 0  # tags not shown on a tile

    @property
    def states(self) -> list[Reading]:
        return [r for r in self.readings if r.tag.data_type == Tag.DataType.STRING]

    @property
    def values(self) -> list[Reading]:
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


def machine_readings(machine: Machine, now: datetime) -> list[Reading]:
    return [read_latest(tag, now) for tag in reading_tags().filter(machine=machine)]


def active_alarm_counts(line_ids: list[int]) -> dict[int, dict[str, int]]:
    """Standing alarms per line, by every priority (most urgent first, zeros kept)."""
    counts = Alarm.objects.active_counts_by_line(line_ids)
    priorities = AlarmDefinition.Priority.values
    return {
        line_id: {p: counts.get(line_id, {}).get(p, 0) for p in priorities} for line_id in line_ids
    }


SPARK_SQL = """
    SELECT tag_id, max(time) AS t, avg(value)
    FROM plant_sample
    WHERE tag_id = ANY(%s) AND time >= %s AND value IS NOT NULL AND quality < 2
    GROUP BY tag_id, floor(extract(epoch FROM time) / %s)
    ORDER BY tag_id, t
"""


def recent_samples(
    tags: list[Tag], now: datetime, window_s: int, buckets: int = 120
) -> dict[int, list[tuple[datetime, float]]]:
    """The last `window_s` seconds of each numeric tag's good samples, averaged into at most
    `buckets` points, in one query (for sparklines)."""
    ids = [tag.pk for tag in tags if tag.is_numeric]
    points: dict[int, list[tuple[datetime, float]]] = {pk: [] for pk in ids}
    if not ids:
        return points
    with connection.cursor() as cursor:
        cursor.execute(SPARK_SQL, [ids, now - timedelta(seconds=window_s), window_s / buckets])
        for tag_id, time, value in cursor.fetchall():
            points[tag_id].append((time, value))
    return points
