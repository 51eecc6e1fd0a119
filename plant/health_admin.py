"""The product's own health in the Django admin: system alarms and worker heartbeats, read-only.

Rows change only through plant.system_health; admins look here for the detail behind the
status bar every screen shows (the latest error, how often, since when).
"""

from __future__ import annotations

from django.contrib import admin

from plant.admin_base import ModelAdmin, ReadOnly
from plant.models import SystemAlarm, WorkerHeartbeat

# Tuples, so that a page's read-only fields can be its columns and more (mypy: a tuple of names is
# a tuple of columns, a list of names is no list of columns).
SYSTEM_ALARM_COLUMNS = ("key", "message", "active", "raised_at", "last_seen_at", "cleared_at",
                        "count")  # fmt: skip
HEARTBEAT_COLUMNS = ("name", "beat_at", "committed_at", "lag_s", "buffered", "broker_connected",
                     "started_at")  # fmt: skip


@admin.register(SystemAlarm)
class SystemAlarmAdmin(ReadOnly, ModelAdmin):
    """Faults of the product itself, active ones first, with the latest error."""

    list_display = SYSTEM_ALARM_COLUMNS
    list_filter = ["active"]
    search_fields = ["key", "message", "detail"]
    readonly_fields = (*SYSTEM_ALARM_COLUMNS, "detail")


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnly, ModelAdmin):
    """Each ingest worker's latest sign of life: when it beat, stored, and how far behind."""

    list_display = HEARTBEAT_COLUMNS
    readonly_fields = HEARTBEAT_COLUMNS
