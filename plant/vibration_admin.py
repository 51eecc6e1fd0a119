"""Admin pages of vibration monitors: a tag's ISO 10816-3 class, whose zone alarms are made
when it is saved (plant.actions.vibration). Each admin sees only their own plants' monitors
(plant.admin_scope)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from plant.actions.vibration import do_apply_vibration_class
from plant.admin_scope import PlantScopedAdmin
from plant.models import VibrationMonitor

OWN = admin.RelatedOnlyFieldListFilter


@admin.register(VibrationMonitor)
class VibrationMonitorAdmin(PlantScopedAdmin):
    """A vibration tag's machine class; saving it makes or updates its zone C and D alarms."""

    list_display = ["tag", "machine_group", "foundation", "zones", "on_delay_s",
                    "bearing_temperature_tag"]  # fmt: skip
    list_filter = ["machine_group", "foundation", ("tag__machine__line__plant", OWN)]
    search_fields = ["tag__key", "tag__description", "tag__machine__name"]
    list_select_related = ["tag__machine__line__plant", "bearing_temperature_tag__machine__line"]
    autocomplete_fields = ["tag", "bearing_temperature_tag"]
    fields = ["tag", "machine_group", "foundation", "zones", "on_delay_s",
              "bearing_temperature_tag"]  # fmt: skip
    readonly_fields = ["zones"]

    @admin.display(description="zone boundaries (mm/s)")
    def zones(self, monitor: VibrationMonitor) -> str:
        if monitor.pk is None:
            return "from the class, once saved"
        limits = monitor.boundaries
        return (f"A/B {limits.ab:g} · B/C {limits.bc:g} (high alarm) · "
                f"C/D {limits.cd:g} (high-high alarm)")  # fmt: skip

    def save_model(
        self, request: HttpRequest, obj: VibrationMonitor, form: forms.ModelForm[Any], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        # In the admin's transaction: the monitor and its alarms are saved together or not.
        do_apply_vibration_class(obj)
