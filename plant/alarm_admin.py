"""Admin pages for alarms: admins configure definitions and emergency actions; the alarm state
and the journal are read-only here (they change only through plant.actions.alarms). Each admin
sees only their own plants' alarms (plant.admin_scope)."""

from __future__ import annotations

from django.contrib import admin

from plant import alarming
from plant.admin_base import NeverDeleted, ReadOnly
from plant.admin_scope import PlantScopedAdmin
from plant.models import Alarm, AlarmDefinition, AlarmJournalEntry, EmergencyAction

OWN = admin.RelatedOnlyFieldListFilter


@admin.register(AlarmDefinition)
class AlarmDefinitionAdmin(NeverDeleted, PlantScopedAdmin):
    """An alarm's definition; the journal refers to it: take it out of service instead."""

    list_display = ["tag", "kind", "limit", "deadband", "priority", "enabled", "message"]
    list_filter = ["priority", "kind", "enabled", ("tag__machine__line__plant", OWN)]
    search_fields = ["message", "tag__key", "tag__description"]
    autocomplete_fields = ["tag"]


@admin.register(EmergencyAction)
class EmergencyActionAdmin(PlantScopedAdmin):
    list_display = ["line", "tag", "value", "position"]
    list_filter = [("line__plant", OWN)]
    autocomplete_fields = ["tag"]


@admin.register(Alarm)
class AlarmAdmin(ReadOnly, PlantScopedAdmin):
    list_display = ["definition", "state", "active", "value", "changed_at", "shelved_until"]
    list_filter = ["state", "definition__priority"]


@admin.register(AlarmJournalEntry)
class AlarmJournalEntryAdmin(ReadOnly, PlantScopedAdmin):
    list_display = ["at", "tag", "what", "change", "value", "user", "comment"]
    list_filter = ["event", "priority", "to_state"]
    date_hierarchy = "at"

    @admin.display(description="event", ordering="event")
    def what(self, entry: AlarmJournalEntry) -> str:
        return alarming.event_label(entry.event)

    @admin.display(description="state")
    def change(self, entry: AlarmJournalEntry) -> str:
        return f"{alarming.state_label(entry.from_state)} → {alarming.state_label(entry.to_state)}"
