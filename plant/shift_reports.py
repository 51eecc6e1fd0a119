"""A shift's (or a day's) report: its alarms, setpoint writes, key values, OEE, fill quality
and energy, as plain figures that the page, the CSV and the PDF all show.

`figures(plant, period)` reads everything once and returns a JSON-able dict, which a stored
report (plant.models.ShiftReport) keeps as it was made. What each figure means:

- alarms: an *activation* is an annunciation (a journal entry into `unack`, as EEMUA 191 and
  plant.alarm_kpis count them); an alarm is *active* while its state is `unack` or `ack` (its
  condition on and not shelved or out of service), cut to the period: an alarm that activated
  before the period and is still active counts from the period's start.
- setpoint writes: requested within the period, by whom (empty: the system), and those that
  did not take (failed, timed out or expired) with why.
- key values: each key tag's minimum, maximum and average of its good values (the average
  weighs every sample alike, as the historian's buckets do), read from the historian's
  buckets: TimescaleDB's continuous aggregates or the product's rollups when the period lies
  on whole hours or minutes, else the samples grouped in SQL (plant.historian).
- OEE per machine (plant.oee_queries), fill quality per SPC tag and hour (plant.spc_history),
  energy per line and plant (plant.energy_history).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from plant import alarm_kpis, alarming
from plant.counter_history import resolution_for
from plant.energy_history import Period as EnergyPeriod
from plant.energy_history import scopes, usages
from plant.historian import buckets, source_for
from plant.models import (
    AlarmJournalEntry,
    OeeMachine,
    Plant,
    SetpointWrite,
    ShiftReportSettings,
    SpcSettings,
    Tag,
)
from plant.oee_queries import machine_oee
from plant.quality import USABLE_SQL
from plant.shifts import ShiftWindow, day_window, shifts_between
from plant.spc_history import hourly

Figures = dict[str, Any]
TOP = 5  # the worst actors listed
NOT_APPLIED = (
    SetpointWrite.State.FAILED,
    SetpointWrite.State.TIMED_OUT,
    SetpointWrite.State.EXPIRED,
)
# The last state of each alarm before the period starts: was it active then?
BEFORE_SQL = """
SELECT DISTINCT ON (j.alarm_id) j.alarm_id, j.to_state
FROM plant_alarmjournalentry j
JOIN plant_tag t ON t.id = j.tag_id JOIN plant_machine m ON m.id = t.machine_id
JOIN plant_line l ON l.id = m.line_id
WHERE l.plant_id = %s AND j.at < %s
ORDER BY j.alarm_id, j.at DESC, j.id DESC
"""


SUMMARY_SQL = f"""
SELECT min(value), max(value), avg(value), count(value) FROM plant_sample
WHERE tag_id = %s AND time >= %s AND time < %s AND value IS NOT NULL AND {USABLE_SQL}
"""


class ReportError(ValueError):
    """A report that cannot be made as asked (an unknown shift, a bad day), with why."""


@dataclass(frozen=True)
class Period:
    """What a report covers: one shift of the calendar, or a plant-local day."""

    kind: str  # "shift" or "day"
    name: str  # the shift's name, or the day (YYYY-MM-DD)
    day: date  # the day the shift starts on, or the day
    start: datetime
    end: datetime
    windows: tuple[ShiftWindow, ...]  # the shifts it holds (OEE is per planned busy time)


def shift_period(plant: Plant, window: ShiftWindow) -> Period:
    day = window.start.astimezone(ZoneInfo(plant.time_zone)).date()
    return Period("shift", window.name, day, window.start, window.end, (window,))


def resolve_period(plant: Plant, day: date, shift: str = "") -> Period:
    """The shift named `shift` that starts on the plant-local `day`, or the whole day."""
    if not date(2000, 1, 1) <= day <= date(2199, 12, 31):
        raise ReportError("give a day between 2000-01-01 and 2199-12-31")
    start, end = day_window(plant, day)
    windows = [w for w in shifts_between(plant, start, end) if start <= w.start < end]
    if not shift:
        return Period("day", day.isoformat(), day, start, end, tuple(windows))
    found = [w for w in windows if w.name == shift]
    if not found:
        names = ", ".join(w.name for w in windows) or "none"
        raise ReportError(f"no shift {shift!r} starts on {day.isoformat()} (shifts: {names})")
    return shift_period(plant, found[0])


# --- the figures ---------------------------------------------------------------------------


def figures(plant: Plant, period: Period, *, now: datetime | None = None) -> Figures:
    """Everything a report shows for the plant over the period, as plain values."""
    now = now or timezone.now()
    zone = ZoneInfo(plant.time_zone)
    return {
        "plant": plant.name,
        "plant_id": plant.pk,
        "time_zone": plant.time_zone,
        "kind": period.kind,
        "name": period.name,
        "day": period.day.isoformat(),
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "start_local": local(period.start, zone),
        "end_local": local(period.end, zone),
        "made_at": local(now, zone),
        "complete": period.end <= now,
        "alarms": alarm_figures(plant, period.start, period.end),
        "setpoints": setpoint_figures(plant, period.start, period.end),
        "values": value_figures(plant, period.start, period.end),
        "oee": oee_figures(plant, period, now),
        "quality": quality_figures(plant, period.start, period.end, zone),
        "energy": energy_figures(plant, period.start, period.end),
    }


def local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def active_seconds(
    active_at_start: bool, changes: Iterable[tuple[datetime, str]], start: datetime, end: datetime
) -> float:
    """Seconds within [start, end) in an active state (unack, ack), given whether the alarm
    was active at `start` and its state changes (time, new state) within the period, in order."""
    total = 0.0
    since: datetime | None = start if active_at_start else None
    for at, state in changes:
        if state in alarming.IN_ALARM:
            if since is None:
                since = at
        elif since is not None:
            total += (at - since).total_seconds()
            since = None
    if since is not None:
        total += (end - since).total_seconds()
    return total


def alarm_figures(plant: Plant, start: datetime, end: datetime) -> dict[str, Any]:
    plants = Plant.objects.filter(pk=plant.pk)
    rows = alarm_kpis.annunciations(plants, start, end)
    labels = {row.alarm_id: f"{row.message} ({row.tag_key})" for row in rows}
    counts = Counter(row.alarm_id for row in rows)
    with connection.cursor() as cursor:
        cursor.execute(BEFORE_SQL, [plant.pk, start])
        before = dict(cursor.fetchall())
    changes: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    entries = AlarmJournalEntry.objects.filter(
        tag__machine__line__plant=plant, at__gte=start, at__lt=end
    ).order_by("at", "id")
    for entry in entries.values("alarm_id", "at", "to_state", "message", "tag__key"):
        changes[entry["alarm_id"]].append((entry["at"], entry["to_state"]))
        labels.setdefault(entry["alarm_id"], f"{entry['message']} ({entry['tag__key']})")
    active = {}
    for alarm_id in set(changes) | {a for a, s in before.items() if s in alarming.IN_ALARM}:
        was = before.get(alarm_id) in alarming.IN_ALARM
        active[alarm_id] = active_seconds(was, changes.get(alarm_id, []), start, end)
    if any(a not in labels for a in active):  # active throughout: its label from one entry
        missing = AlarmJournalEntry.objects.filter(alarm_id__in=set(active) - set(labels))
        firsts = missing.order_by("alarm_id").distinct("alarm_id")
        for alarm_id, message, key in firsts.values_list("alarm_id", "message", "tag__key"):
            labels[alarm_id] = f"{message} ({key})"
    by_priority = Counter(row.priority for row in rows)
    longest = sorted(active.items(), key=lambda item: (-item[1], labels[item[0]]))
    return {
        "activations": len(rows),
        "by_priority": {p: by_priority.get(p, 0) for p in ("critical", "high", "medium", "low")},
        "most_activations": [
            {"alarm": labels[a], "times": n}
            for a, n in sorted(counts.items(), key=lambda item: (-item[1], labels[item[0]]))[:TOP]
        ],
        "longest_active": [
            {"alarm": labels[a], "active_s": round(s, 3), "active": duration(s)}
            for a, s in longest[:TOP] if s > 0
        ],
    }  # fmt: skip


def duration(seconds: float) -> str:
    """Seconds as h:mm:ss."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def setpoint_figures(plant: Plant, start: datetime, end: datetime) -> dict[str, Any]:
    writes = list(
        SetpointWrite.objects.filter(
            tag__machine__line__plant=plant, requested_at__gte=start, requested_at__lt=end
        ).select_related("tag__machine", "user").order_by("requested_at", "id")
    )  # fmt: skip
    by_user = Counter(w.user.get_username() if w.user else "system" for w in writes)
    refused = [w for w in writes if w.state in NOT_APPLIED]
    zone = ZoneInfo(plant.time_zone)
    return {
        "count": len(writes),
        "by_user": [{"user": u, "count": n} for u, n in sorted(by_user.items(),
                                                              key=lambda i: (-i[1], i[0]))],
        "not_applied": len(refused),
        "refused": [
            {"at": local(w.requested_at, zone), "tag": f"{w.tag.machine.name} / {w.tag.key}",
             "value": w.value, "user": w.user.get_username() if w.user else "system",
             "state": w.get_state_display(), "detail": w.detail}
            for w in refused
        ],
    }  # fmt: skip


def key_tags(plant: Plant) -> list[Tag]:
    """The plant's key tags (its report settings'), else every number tag of the plant."""
    chosen = Tag.objects.filter(machine__line__plant=plant)
    settings = ShiftReportSettings.objects.filter(plant=plant).first()
    if settings is not None and settings.key_tags.exists():
        chosen = chosen.filter(pk__in=settings.key_tags.values("pk"))
    else:
        chosen = chosen.filter(data_type__in=[Tag.DataType.FLOAT, Tag.DataType.INT])
    return list(
        chosen.select_related("machine__line")
        .order_by("machine__line__position", "machine__line__name", "machine__name", "key")
    )  # fmt: skip


def summary(tag_id: int, start: datetime, end: datetime) -> dict[str, Any] | None:
    """A tag's min, max, average and count of good values over [start, end); None without any."""
    width = resolution_for((start, end))  # the widest buckets both ends lie on
    if width >= 60:
        rows = buckets(tag_id, start, end, width, source=source_for(width))
        n = sum(b.count for b in rows)
        if not n:
            return None
        return {"min": min(b.min for b in rows), "max": max(b.max for b in rows),
                "avg": sum(b.avg * b.count for b in rows) / n, "count": n}  # fmt: skip
    with connection.cursor() as cursor:  # a period off the minute: the samples themselves
        cursor.execute(SUMMARY_SQL, [tag_id, start, end])
        low, high, mean, n = cursor.fetchone()
    return {"min": low, "max": high, "avg": mean, "count": n} if n else None


def value_figures(plant: Plant, start: datetime, end: datetime) -> list[dict[str, Any]]:
    found = []
    for tag in key_tags(plant):
        stats = summary(tag.pk, start, end)
        found.append({
            "tag_id": tag.pk, "tag": f"{tag.machine.name} / {tag.key}",
            "description": tag.description, "unit": tag.unit, "precision": tag.precision,
            "min": None if stats is None else stats["min"],
            "max": None if stats is None else stats["max"],
            "avg": None if stats is None else stats["avg"],
            "count": 0 if stats is None else stats["count"],
        })  # fmt: skip
    return found


def percent(value: float | None) -> float | None:
    """A ratio as a percentage with one decimal, as every report shows it."""
    return None if value is None else round(value * 100, 1)


def oee_figures(plant: Plant, period: Period, now: datetime) -> list[dict[str, Any]]:
    configs = (
        OeeMachine.objects.filter(machine__line__plant=plant)
        .select_related("machine__line__plant", "state_tag", "produced_tag", "rejected_tag")
        .prefetch_related("states", "products")
        .order_by("machine__line__position", "machine__line__name", "machine__name")
    )  # fmt: skip
    found = []
    for config in configs:
        result = machine_oee(config, period.windows, now)
        if result is None:
            continue
        total = result.total
        found.append({
            "machine": f"{config.machine.line.name} / {config.machine.name}",
            "availability_pct": percent(total.availability),
            "performance_pct": percent(total.performance),
            "quality_pct": percent(total.quality), "oee_pct": percent(total.oee),
            "produced": total.produced, "good": total.good,
            "planned_busy_s": total.planned_busy_s, "run_s": total.run_s,
        })  # fmt: skip
    return found


def quality_figures(
    plant: Plant, start: datetime, end: datetime, zone: ZoneInfo
) -> list[dict[str, Any]]:
    found = []
    settings = SpcSettings.objects.filter(tag__machine__line__plant=plant).select_related(
        "tag__machine"
    )
    for spc in settings.order_by("tag__machine__name", "tag__key"):
        hours = [h for h in hourly(spc, start, end) if start <= h.hour < end or
                 start < h.hour + timedelta(hours=1) <= end]  # fmt: skip
        found.append({
            "tag": f"{spc.tag.machine.name} / {spc.tag.key}", "unit": spc.tag.unit,
            "e_marked": spc.e_marked, "nominal": spc.nominal,
            "hours": [
                {"hour": h.hour.astimezone(zone).strftime("%H:%M"), "n": h.n,
                 "mean": round(h.mean, 3), "cpk": None if h.cpk is None else round(h.cpk, 3),
                 "below_t1": h.batch.below_t1, "below_t2": h.batch.below_t2,
                 "compliant": h.batch.compliant, "problems": "; ".join(h.batch.problems)}
                for h in hours
            ],
        })  # fmt: skip
    return found


def energy_figures(plant: Plant, start: datetime, end: datetime) -> list[dict[str, Any]]:
    period = EnergyPeriod("report", "shift", start, end)
    found = []
    for scope in scopes(plant):
        (usage,) = usages(scope, [period])
        found.append({
            "scope": scope.name, "kwh": round(usage.kwh, 3),
            "units": usage.units,
            "kwh_per_1000": None if usage.kwh_per_1000 is None else round(usage.kwh_per_1000, 3),
        })  # fmt: skip
    return found


def shifts_ended(plant: Plant, after: datetime, until: datetime) -> Sequence[ShiftWindow]:
    """The plant's shifts that ended in (after, until], oldest first."""
    found = shifts_between(plant, after - timedelta(days=1), until)
    return [w for w in found if after < w.end <= until]
