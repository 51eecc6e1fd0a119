"""The product's own health in the Django admin: system alarms and worker heartbeats, read-only.

Rows change only through plant.system_health; admins look here for the detail behind the
status bar every screen shows (the latest error, how often, since when).
"""

from __future__ import annotations

from django.contrib import admin

from plant.admin_base import ModelAdmin, ReadOnly
from plant.models import SystemAlarm, WorkerHeartbeat


@admin.register(SystemAlarm)
class SystemAlarmAdmin(ReadOnly, ModelAdmin):
    """Faults of the product itself, active ones first, with the latest error."""

    list_display = ["key", "message", "active", "raised_at", "last_seen_at", "cleared_at", "count"]
    list_filter = ["active"]
    search_fields = ["key", "message", "detail"]
    readonly_fields = [*list_display, "detail"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnly, ModelAdmin):
    """Each ingest worker's latest sign of life: when it beat, stored, and how far behind."""

    list_display = ["name", "beat_at", "committed_at", "lag_s", "buffered", "broker_connected",
                    "started_at"]  # fmt: skip
    readonly_fields = list_display
