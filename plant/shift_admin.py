"""The shift calendar in the Django admin, scoped per plant (plant.admin_scope): each plant's
weekly shifts with their breaks inline, and its one-off planned downtime."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from plant import shift_calendar
from plant.admin_base import ModelForm
from plant.admin_scope import PlantScopedAdmin, ScopedInline
from plant.models import PlannedDowntime, Shift, ShiftBreak

OWN = admin.RelatedOnlyFieldListFilter
WEEKDAY_CHOICES = [(str(n), name) for n, name in enumerate(shift_calendar.WEEKDAY_NAMES, 1)]


class ShiftForm(ModelForm):
    """A shift's page: its weekdays as seven checkboxes, stored as ISO numbers ("12345")."""

    weekdays = forms.MultipleChoiceField(
        choices=WEEKDAY_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text="The days the shift starts on (a night shift runs into the next day).",
    )

    class Meta:
        model = Shift
        fields = ["plant", "name", "start_time", "end_time", "weekdays", "valid_from",
                  "valid_until"]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.initial.get("weekdays"), str):
            self.initial["weekdays"] = list(self.initial["weekdays"])

    def clean_weekdays(self) -> str:
        return "".join(sorted(set(self.cleaned_data["weekdays"])))


class ShiftBreakFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    """A shift's breaks together: none may overlap another (each is checked inside the shift
    by ShiftBreak.clean)."""

    def clean(self) -> None:
        super().clean()
        breaks = [
            (form.cleaned_data["start_time"], form.cleaned_data["end_time"])
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("start_time") and form.cleaned_data.get("end_time")
        ]  # fmt: skip
        shift: Shift = self.instance
        if shift.start_time is None or shift.end_time is None:
            return
        spec = shift.spec(breaks=[])
        spec = shift_calendar.ShiftSpec(spec.name, spec.start, spec.end, spec.weekdays,
                                        tuple(breaks))  # fmt: skip
        overlaps = [p for p in shift_calendar.break_problems(spec) if "overlap" in p]
        if overlaps:
            raise ValidationError(overlaps)


class ShiftBreakInline(ScopedInline):
    model = ShiftBreak
    formset = ShiftBreakFormSet
    fields = ["name", "start_time", "end_time"]
    extra = 0


@admin.register(Shift)
class ShiftAdmin(PlantScopedAdmin):
    """A plant's weekly shifts on its own clocks; planned busy time (and OEE) follows from them."""

    form = ShiftForm
    list_display = ["name", "plant", "start_time", "end_time", "days", "valid_from",
                    "valid_until"]  # fmt: skip
    list_filter = [("plant", OWN)]
    list_select_related = ["plant"]
    search_fields = ["name", "plant__name"]
    inlines = [ShiftBreakInline]

    @admin.display(description="weekdays", ordering="weekdays")
    def days(self, shift: Shift) -> str:
        names = shift_calendar.WEEKDAY_NAMES
        return ", ".join(names[int(d) - 1] for d in shift.weekdays if d in "1234567")


@admin.register(PlannedDowntime)
class PlannedDowntimeAdmin(PlantScopedAdmin):
    """One-off planned stops (maintenance on a date): not planned busy time, so no OEE loss."""

    list_display = ["start_at", "end_at", "plant", "line", "reason"]
    list_filter = [("plant", OWN), ("line", OWN)]
    list_select_related = ["plant", "line__plant"]
    search_fields = ["reason"]
    date_hierarchy = "start_at"
