"""The admin page of SPC settings: specification limits, ℮, subgroups and run rules per tag.

Plant admins see and edit the settings of their own plants' tags (plant.admin_scope). Saving
makes sure the tag's derived run-rule tags exist (plant.spc_tags), so an alarm can be defined
on the flag at once.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from plant.admin_base import ModelForm
from plant.admin_scope import PlantScopedAdmin
from plant.models import SpcSettings
from plant.models.spc_settings import RULE_CHOICES
from plant.spc_tags import ensure_spc_tags

OWN = admin.RelatedOnlyFieldListFilter
CHART_FIELDS: list[str | list[str] | tuple[str, ...] | tuple[()]] = [
    "subgroup_size", "rules", "rules_chart", "center_line", "sigma",
]  # fmt: skip


class SpcSettingsForm(ModelForm):
    rules = forms.TypedMultipleChoiceField(
        choices=RULE_CHOICES, coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="The Nelson rules evaluated live; the flag tag is 1 while one is broken.",
    )  # fmt: skip

    class Meta:
        model = SpcSettings
        fields = "__all__"


@admin.register(SpcSettings)
class SpcSettingsAdmin(PlantScopedAdmin):
    """One measured tag's specification and SPC settings."""

    form = SpcSettingsForm
    list_display = ["tag", "lsl", "usl", "nominal", "e_marked", "subgroup_size", "rules_chart",
                    "loop_may_apply"]  # fmt: skip
    list_filter = ["e_marked", "loop_may_apply", ("tag__machine__line__plant", OWN)]
    list_select_related = ["tag__machine__line__plant"]
    autocomplete_fields = ["tag"]
    fieldsets = [
        (None, {"fields": ["tag"]}),
        ("Specification", {"fields": ["lsl", "usl", "nominal", "tne", "e_marked"]}),
        ("Control charts", {"fields": CHART_FIELDS}),
        ("Recommended setpoint", {"fields": ["loop_may_apply", "max_loop_change"]}),
    ]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        ensure_spc_tags(obj)
