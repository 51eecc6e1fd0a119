"""Energy monitoring in the Django admin, scoped per plant (plant.admin_scope): a plant's
demand contract and its meters. Saving the contract makes the predicted-demand tag and its
high alarm (plant.energy_alarm)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from plant.admin_scope import PlantScopedAdmin
from plant.energy_alarm import ensure_demand_alarm
from plant.models import EnergyMeter, PlantEnergy


@admin.register(PlantEnergy)
class PlantEnergyAdmin(PlantScopedAdmin):
    """A plant's contracted peak, warning margin, demand interval and baseline window."""

    list_display = ["plant", "contracted_peak_kw", "warning_margin_pct", "demand_interval_min",
                    "predicted_demand_tag"]  # fmt: skip
    fields = ["plant", "contracted_peak_kw", "warning_margin_pct", "demand_interval_min",
              "baseline_days", "predicted_demand_tag"]  # fmt: skip
    readonly_fields = ["predicted_demand_tag"]

    def save_model(self, request: HttpRequest, obj: PlantEnergy, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        ensure_demand_alarm(obj)  # the limits follow the contract


@admin.register(EnergyMeter)
class EnergyMeterAdmin(PlantScopedAdmin):
    """A cumulative kWh meter of a line (or of the whole plant), and the line's output."""

    list_display = ["name", "plant", "line", "energy_tag", "power_tag", "production_tag"]
    list_filter = [("plant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name"]
    fields = ["plant", "line", "name", "energy_tag", "rollover_kwh", "power_tag",
              "production_tag"]  # fmt: skip

    def save_model(self, request: HttpRequest, obj: EnergyMeter, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        contract = PlantEnergy.objects.filter(plant=obj.plant_id).first()
        if contract is not None:
            ensure_demand_alarm(contract)  # the plant's first meter gives the tag its place

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("plant", "line", "energy_tag")
