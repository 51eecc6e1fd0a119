"""The machines' health from their vibration: zone, drift, remaining life, bearing temperature.

For each vibration monitor (plant.models.VibrationMonitor) of the plants asked for, the
historian's hourly buckets of the last LIFE_DAYS are read once (plant.historian, so the
continuous aggregates of TimescaleDB and the rollups of plain PostgreSQL serve them); the
drift chart takes the complete hours of the last DRIFT_DAYS, and the remaining-life fit the
daily averages made from the same hours. The rules themselves are plant.vibration's (pure).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import QuerySet

from plant import vibration
from plant.historian import Bucket, iter_buckets
from plant.models import Alarm, LatestValue, Machine, Plant, Quality, Tag, VibrationMonitor
from plant.vibration import Drift, RemainingLife, Zone

HOUR_S = 3600
DAY_S = 86400
DRIFT_DAYS = 14  # the drift chart: two weeks of hourly averages, the first two the baseline
LIFE_DAYS = 30  # the remaining-life fit: a month of daily averages


@dataclass(frozen=True)
class Reading:
    """A tag's latest value as the health card shows it."""

    tag: Tag
    value: float | None
    time: datetime | None
    quality: int | None

    @property
    def usable(self) -> bool:
        return self.value is not None and self.quality != Quality.BAD

    @property
    def above_normal(self) -> bool:
        high = self.tag.normal_max
        return self.usable and high is not None and self.value is not None and self.value > high


@dataclass(frozen=True)
class MonitorHealth:
    """One vibration monitor's state: where its value is, where it goes, and how soon."""

    monitor: VibrationMonitor
    reading: Reading
    drift: Drift | None  # None: too few hours yet
    life: RemainingLife
    bearing: Reading | None
    alarms: list[Alarm] = field(default_factory=list)  # the tag's standing alarms

    @property
    def limits(self) -> vibration.Boundaries:
        return self.monitor.boundaries

    @property
    def zone(self) -> Zone | None:
        reading = self.reading
        if not reading.usable or reading.value is None:
            return None
        return vibration.zone(reading.value, self.limits)

    @property
    def zone_meaning(self) -> str:
        return vibration.ZONE_MEANING[self.zone] if self.zone is not None else ""

    @property
    def drift_hours_needed(self) -> int:
        return vibration.MIN_DRIFT_POINTS

    @property
    def drift_since(self) -> datetime | None:
        """Since when the EWMA has stayed above its limit (None: not flagged)."""
        if self.drift is None or self.drift.since is None:
            return None
        return datetime.fromtimestamp(self.drift.since * HOUR_S, UTC)

    @property
    def drifting(self) -> bool:
        return self.drift is not None and self.drift.flagged

    @property
    def urgency(self) -> tuple[int, float, float]:
        value = self.reading.value if self.reading.usable else None
        return vibration.urgency(self.zone, self.life, self.drifting, value, self.limits)

    def to_c_text(self) -> str:
        return vibration.days_text(self.life.to_c, self.life.horizon)

    def to_d_text(self) -> str:
        return vibration.days_text(self.life.to_d, self.life.horizon)


@dataclass(frozen=True)
class MachineHealth:
    """A machine's health card: its vibration monitors, the most urgent first."""

    machine: Machine
    monitors: list[MonitorHealth]

    @property
    def urgency(self) -> tuple[int, float, float]:
        return min(m.urgency for m in self.monitors)

    @property
    def worst(self) -> MonitorHealth:
        return self.monitors[0]


def monitors_of(plants: QuerySet[Plant]) -> QuerySet[VibrationMonitor]:
    """The monitors of these plants with what their cards show, in one query."""
    return VibrationMonitor.objects.filter(tag__machine__line__plant__in=plants).select_related(
        "tag__machine__line__plant", "tag__latest", "bearing_temperature_tag__latest"
    )


def plant_health(plants: QuerySet[Plant], now: datetime) -> list[MachineHealth]:
    """Every monitored machine of these plants, the most urgent first (the maintenance list)."""
    return health_of(monitors_of(plants), now)


def machine_health(
    machine: Machine, plants: QuerySet[Plant], now: datetime
) -> MachineHealth | None:
    """One machine's health card; None when none of its tags is a vibration monitor."""
    found = health_of(monitors_of(plants).filter(tag__machine=machine), now)
    return found[0] if found else None


def health_of(monitors: Iterable[VibrationMonitor], now: datetime) -> list[MachineHealth]:
    listed = list(monitors)
    standing = standing_alarms([m.tag_id for m in listed])
    by_machine: dict[int, list[MonitorHealth]] = {}
    for monitor in listed:
        health = monitor_health(monitor, now, standing.get(monitor.tag_id, []))
        by_machine.setdefault(monitor.tag.machine_id, []).append(health)
    cards = [
        MachineHealth(found[0].monitor.tag.machine, sorted(found, key=lambda m: m.urgency))
        for found in by_machine.values()
    ]
    return sorted(cards, key=lambda card: (card.urgency, card.machine.name))


def standing_alarms(tag_ids: list[int]) -> dict[int, list[Alarm]]:
    alarms: dict[int, list[Alarm]] = {}
    rows = Alarm.objects.standing().filter(definition__tag_id__in=tag_ids)
    for alarm in rows.select_related("definition").order_by("definition__kind"):
        alarms.setdefault(alarm.definition.tag_id, []).append(alarm)
    return alarms


def monitor_health(monitor: VibrationMonitor, now: datetime, alarms: list[Alarm]) -> MonitorHealth:
    hours = hourly_buckets(monitor.tag_id, now)
    limits = monitor.boundaries
    since = now - timedelta(days=DRIFT_DAYS)
    complete = [b for b in hours if since <= b.time and b.time + timedelta(hours=1) <= now]
    drift = vibration.drift([(_hours(b.time), b.avg) for b in complete], limits)
    reading = reading_of(monitor.tag)
    current = reading.value if reading.usable else None
    life = vibration.remaining_life(daily_points(hours), _days(now), limits, current)
    bearing = monitor.bearing_temperature_tag
    return MonitorHealth(
        monitor, reading, drift, life,
        reading_of(bearing) if bearing is not None else None, alarms,
    )  # fmt: skip


def hourly_buckets(tag_id: int, now: datetime) -> list[Bucket]:
    """The hourly buckets of the last LIFE_DAYS, oldest first (the newest may be partial)."""
    start = now - timedelta(days=LIFE_DAYS)
    return [b for chunk in iter_buckets(tag_id, start, now, HOUR_S) for b in chunk]


def daily_points(hours: list[Bucket]) -> list[tuple[float, float]]:
    """(day, mean) per UTC day from hourly buckets, each mean weighted by the samples' count
    and placed at the count-weighted middle of its hours (so today's part-day sits where its
    samples are)."""
    days: dict[int, list[Bucket]] = {}
    for bucket in hours:
        days.setdefault(int(bucket.time.timestamp()) // DAY_S, []).append(bucket)
    points = []
    for _, buckets in sorted(days.items()):
        count = sum(b.count for b in buckets)
        mean = sum(b.avg * b.count for b in buckets) / count
        middle = sum((_days(b.time) + 0.5 / 24) * b.count for b in buckets) / count
        points.append((middle, mean))
    return points


def reading_of(tag: Tag) -> Reading:
    latest: LatestValue | None = getattr(tag, "latest", None)
    if latest is None:
        return Reading(tag, None, None, None)
    return Reading(tag, latest.value, latest.time, latest.quality)


def _hours(moment: datetime) -> float:
    return moment.timestamp() / HOUR_S


def _days(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp() / DAY_S
