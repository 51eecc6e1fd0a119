"""Admin pages for alarms: admins configure definitions and emergency actions; the alarm state
and the journal are read-only here (they change only through plant.alarm_actions). Each admin
sees only their own plants' alarms (plant.admin_scope)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from plant.admin_scope import PlantScopedAdmin
from plant.models import Alarm, AlarmDefinition, AlarmJournalEntry, EmergencyAction

OWN = admin.RelatedOnlyFieldListFilter


@admin.register(AlarmDefinition)
class AlarmDefinitionAdmin(PlantScopedAdmin):
    list_display = ["tag", "kind", "limit", "deadband", "priority", "enabled", "message"]
    list_filter = ["priority", "kind", "enabled", ("tag__machine__line__plant", OWN)]
    search_fields = ["message", "tag__key", "tag__description"]
    autocomplete_fields = ["tag"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the journal refers to it: take it out of service instead


@admin.register(EmergencyAction)
class EmergencyActionAdmin(PlantScopedAdmin):
    list_display = ["line", "tag", "value", "position"]
    list_filter = [("line__plant", OWN)]
    autocomplete_fields = ["tag"]


class ReadOnlyAdmin(PlantScopedAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Alarm)
class AlarmAdmin(ReadOnlyAdmin):
    list_display = ["definition", "state", "active", "value", "changed_at", "shelved_until"]
    list_filter = ["state", "definition__priority"]


@admin.register(AlarmJournalEntry)
class AlarmJournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "tag", "from_state", "to_state", "event", "value", "user", "comment"]
    list_filter = ["event", "priority", "to_state"]
    date_hierarchy = "at"
