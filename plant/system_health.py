"""The only code that changes the product's health rows: system alarms and worker heartbeats.

A system alarm is raised by the part of the product that failed (say, the ingest worker's
alarm engine) and cleared by it once the part works again. Raising an alarm that is already
active only counts the occurrence and keeps the latest error, so a part failing on every turn
of its loop writes one row, not a journal of thousands. `read_health` is what every screen's
status bar shows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from plant.models import SystemAlarm, WorkerHeartbeat

log = logging.getLogger(__name__)

# A worker writes its heartbeat every HEARTBEAT_S; silent for STALE_AFTER_S, it is "not
# running" on every screen. Behind by more than LAG_WARN_S, it is "not keeping up".
HEARTBEAT_S = 2.0
STALE_AFTER_S = 15.0
LAG_WARN_S = 30.0


@transaction.atomic
def do_raise_system_alarm(
    key: str, message: str, *, detail: str = "", occurrences: int = 1,
    now: datetime | None = None,
) -> bool:  # fmt: skip
    """Raise (or count again) a system alarm; True when it became active with this call."""
    now = now or timezone.now()
    alarm, _ = SystemAlarm.objects.get_or_create(key=key[:64], defaults={"message": message[:200]})
    fields = {"message": message[:200], "detail": detail[:500], "last_seen_at": now,
              "count": F("count") + occurrences}  # fmt: skip
    became_active = bool(
        SystemAlarm.objects.filter(pk=alarm.pk, active=False).update(
            active=True, raised_at=now, **fields
        )
    )
    if not became_active:
        SystemAlarm.objects.filter(pk=alarm.pk).update(**fields)
    else:
        log.error("system alarm %s raised: %s (%s)", key, message, detail)
    return became_active


def do_clear_system_alarm(key: str, *, now: datetime | None = None) -> bool:
    """Clear a system alarm; True when it was active."""
    cleared = bool(
        SystemAlarm.objects.filter(key=key[:64], active=True).update(
            active=False, cleared_at=now or timezone.now()
        )
    )
    if cleared:
        log.info("system alarm %s cleared", key)
    return cleared


def do_beat(
    name: str, *, started_at: datetime, committed_at: datetime | None, lag_s: float,
    buffered: int, broker_connected: bool, now: datetime | None = None,
) -> None:  # fmt: skip
    """Record that a worker is alive (one upsert)."""
    now = now or timezone.now()
    fields = {"started_at": started_at, "beat_at": now, "lag_s": lag_s,
              "buffered": buffered, "broker_connected": broker_connected}  # fmt: skip
    if committed_at is not None:
        fields["committed_at"] = committed_at
    WorkerHeartbeat.objects.update_or_create(name=name[:100], defaults=fields)


@dataclass(frozen=True)
class Health:
    """What the status bar says: whether values arrive, and the active system alarms."""

    updating: bool  # a worker beat recently and is keeping up
    problem: str  # "" when updating; else why values are not current, in words
    since: datetime | None  # the newest stored batch (or beat) when values stopped
    alarms: list[SystemAlarm]
    behind_s: float | None = None  # how far the slowest worker is behind, when that is why


def read_health(now: datetime | None = None) -> Health:
    """The product's health now, for every screen's status bar (two small queries)."""
    now = now or timezone.now()
    alarms = list(SystemAlarm.objects.filter(active=True).order_by("raised_at"))
    beats = list(WorkerHeartbeat.objects.order_by("-beat_at"))
    fresh = [b for b in beats if now - b.beat_at <= timedelta(seconds=STALE_AFTER_S)]
    if not fresh:
        since = max((b.committed_at or b.beat_at for b in beats), default=None)
        return Health(False, "the ingest worker is not running", since, alarms)
    if not any(b.broker_connected for b in fresh):
        since = max((b.committed_at or b.beat_at for b in fresh), default=None)
        return Health(False, "the ingest worker has lost the broker", since, alarms)
    # Several workers share the load: the one furthest behind holds values back.
    worst = max(fresh, key=lambda b: b.lag_s)
    if worst.lag_s > LAG_WARN_S:
        since = now - timedelta(seconds=worst.lag_s)
        return Health(False, "the ingest worker is not keeping up", since, alarms, worst.lag_s)
    return Health(True, "", None, alarms)
