"""Alarm system performance as EEMUA 191 (and ISA-18.2 section 16) measures it.

An *alarm* here is an annunciation: a journal entry that put an alarm into `unack` (an
activation, or a return from a shelf or from out of service while active). The figures are
computed from the journal over a window, per operator position (one per plant here).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db.models import QuerySet

from plant.models import Alarm, AlarmJournalEntry, Plant

BUCKET = timedelta(minutes=10)
FLOOD_PER_10_MIN = 10  # EEMUA 191: more than 10 alarms in 10 minutes is a flood
CHATTER_WINDOW = timedelta(minutes=1)
CHATTER_COUNT = 3  # 3 or more activations of one alarm within a minute
STALE_AFTER = timedelta(hours=24)
# The EEMUA 191 / ISA-18.2 targets shown beside the figures.
TARGETS = {
    "average": "≤ 1 very likely acceptable; ≤ 2 manageable",
    "peak": "< 10 alarms in any 10 minutes",
    "flood": "< 1 % of the time",
    "top10": "the top 10 give < 1-5 % of all alarms",
    "chattering": "none",
    "stale": "< 5 standing over 24 h",
}


class Frequent(NamedTuple):
    """One of the most frequent alarms."""

    label: str  # message (tag)
    times: int  # not `count`, which would hide tuple.count
    share: float  # of all alarms in the window, in %


class Chattering(NamedTuple):
    """An alarm that chattered."""

    label: str  # message (tag)
    most: int  # the most activations within a minute


@dataclass(frozen=True)
class Kpis:
    """One window's figures."""

    start: datetime
    end: datetime
    positions: int
    total: int
    average_per_10_min: float
    peak_per_10_min: int
    flood_percent: float
    top10: list[Frequent]
    top10_percent: float
    chattering: list[Chattering]
    stale: list[Alarm]


class Annunciation(NamedTuple):
    """One journal entry that put an alarm into `unack`."""

    at: datetime
    alarm_id: int
    message: str
    tag_key: str
    priority: str = ""  # the definition's priority then


def annunciations(plants: QuerySet[Plant], start: datetime, end: datetime) -> list[Annunciation]:
    """Every annunciation in [start, end), oldest first."""
    rows = (
        AlarmJournalEntry.objects.filter(
            to_state="unack", at__gte=start, at__lt=end, tag__machine__line__plant__in=plants
        )
        .exclude(event="action_fail")  # an emergency action's failure, journaled on its alarm
        .order_by("at")
    )
    return [Annunciation(*row) for row in rows.values_list("at", "alarm_id", "message", "tag__key",
                                                                "priority")]  # fmt: skip


def compute(plants: QuerySet[Plant], start: datetime, end: datetime, now: datetime) -> Kpis:
    rows = annunciations(plants, start, end)
    positions = max(1, plants.count())
    buckets = bucket_counts([row.at for row in rows], start, end)
    labels = {row.alarm_id: f"{row.message} ({row.tag_key})" for row in rows}
    counts = Counter(row.alarm_id for row in rows)
    total = len(rows)
    top = [Frequent(labels[a], n, 100.0 * n / total) for a, n in counts.most_common(10)]
    return Kpis(
        start=start, end=end, positions=positions, total=total,
        average_per_10_min=total / max(1, len(buckets)) / positions,
        peak_per_10_min=max(buckets, default=0),
        flood_percent=100.0 * sum(n > FLOOD_PER_10_MIN for n in buckets) / max(1, len(buckets)),
        top10=top, top10_percent=sum(row.share for row in top),
        chattering=[Chattering(labels[a], n) for a, n in chattering(rows).items()],
        stale=stale(plants, now),
    )  # fmt: skip


def bucket_counts(times: list[datetime], start: datetime, end: datetime) -> list[int]:
    """Alarms per 10-minute interval of the window (the last one may be shorter)."""
    n = max(1, -(-int((end - start).total_seconds()) // int(BUCKET.total_seconds())))
    buckets = [0] * n
    for at in times:
        buckets[min(n - 1, int((at - start) / BUCKET))] += 1
    return buckets


def chattering(rows: list[Annunciation]) -> dict[int, int]:
    """Alarms activated CHATTER_COUNT or more times within a minute: id → most in a minute."""
    by_alarm: dict[int, list[datetime]] = {}
    for row in rows:
        by_alarm.setdefault(row.alarm_id, []).append(row.at)
    found = {}
    for alarm_id, times in by_alarm.items():
        most, first = 0, 0
        for last, at in enumerate(times):
            while at - times[first] > CHATTER_WINDOW:
                first += 1
            most = max(most, last - first + 1)
        if most >= CHATTER_COUNT:
            found[alarm_id] = most
    return found


def stale(plants: QuerySet[Plant], now: datetime) -> list[Alarm]:
    """Alarms active for more than 24 hours (standing alarms)."""
    return list(
        Alarm.objects.filter(
            state__in=["unack", "ack"],
            activated_at__lt=now - STALE_AFTER,
            definition__tag__machine__line__plant__in=plants,
        ).select_related("definition__tag")
    )
