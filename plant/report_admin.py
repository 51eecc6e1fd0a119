"""Shift reports in the Django admin, scoped per plant (plant.admin_scope): a plant's mailing
list and the key values its reports give. The reports themselves are on the HMI's reports
page (/reports/), where everyone who sees the plant downloads them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from plant.admin_base import ModelForm
from plant.admin_scope import PlantScopedAdmin, in_own_plants
from plant.models import ShiftReportSettings, Tag


class ShiftReportSettingsForm(ModelForm):
    """Key tags of another plant are refused, with their names."""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        plant, tags = data.get("plant"), data.get("key_tags")
        if plant is not None and tags is not None:
            foreign = [str(t) for t in tags if t.machine.line.plant_id != plant.pk]
            if foreign:
                self.add_error("key_tags", f"Not tags of {plant}: {', '.join(foreign)}.")
        return data


@admin.register(ShiftReportSettings)
class ShiftReportSettingsAdmin(PlantScopedAdmin):
    """Who a plant's shift reports are mailed to, and which tags they summarise."""

    form = ShiftReportSettingsForm
    list_display = ["plant", "recipients", "enabled"]
    fields = ["plant", "recipients", "enabled", "key_tags"]
    filter_horizontal = ["key_tags"]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "key_tags":
            tags = Tag.objects.select_related("machine__line__plant")
            kwargs["queryset"] = in_own_plants(tags, request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)
