"""A plant's shift calendar: its weekly shifts with their breaks, and one-off planned downtime.

The rules (wall-clock time in the plant's zone, night shifts, DST) are plant.shift_calendar's;
plant.shifts reads these rows into it.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

from plant import shift_calendar

WEEKDAYS_RE = re.compile(r"^(?!.*(.).*\1)[1-7]{1,7}$")  # each ISO weekday at most once


def validate_weekdays(value: str) -> None:
    if not WEEKDAYS_RE.match(value):
        raise ValidationError(
            f"{value!r} is not a set of weekdays: ISO numbers 1 (Monday) to 7 (Sunday), each "
            "at most once, e.g. 12345 for Monday to Friday."
        )


class Shift(models.Model):
    """One shift of a plant's week (Early 06:00-14:00, Monday to Friday) on the plant's clocks."""

    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="shifts")
    name = models.CharField(max_length=50, help_text="e.g. Early, Late, Night.")
    start_time = models.TimeField(help_text="On the plant's clocks (its time zone).")
    end_time = models.TimeField(
        help_text="Not after the start: the shift ends the next day (a night shift); equal to "
        "the start: it lasts 24 hours."
    )
    weekdays = models.CharField(
        max_length=7,
        default="12345",
        validators=[validate_weekdays],
        help_text="The days the shift starts on.",
    )
    valid_from = models.DateField(null=True, blank=True, help_text="Empty: since always.")
    valid_until = models.DateField(null=True, blank=True, help_text="Empty: from now on.")

    class Meta:
        ordering = ["plant", "start_time", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(weekdays__regex=r"^[1-7]{1,7}$"), name="shift_weekdays_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(valid_from__lte=models.F("valid_until")),
                name="shift_valid_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plant} / {self.name} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    def spec(self, breaks: list[ShiftBreak] | None = None) -> shift_calendar.ShiftSpec:
        """The shift as the calendar's rules take it (its breaks: given, or read)."""
        rows = list(self.breaks.all()) if breaks is None and self.pk else breaks or []
        return shift_calendar.ShiftSpec(
            name=self.name,
            start=self.start_time,
            end=self.end_time,
            weekdays=frozenset(int(d) for d in self.weekdays if d.isdigit()),
            breaks=tuple((b.start_time, b.end_time) for b in rows),
            valid_from=self.valid_from,
            valid_until=self.valid_until,
        )

    def clean(self) -> None:
        if self.valid_from and self.valid_until and self.valid_from > self.valid_until:
            raise ValidationError({"valid_until": "Must not be before the first valid day."})
        if self.start_time is None or self.end_time is None or not self.plant_id:
            return
        try:
            validate_weekdays(self.weekdays)
        except ValidationError:
            return  # the field's own validator says so
        others = Shift.objects.filter(plant_id=self.plant_id).exclude(pk=self.pk)
        specs = [other.spec(breaks=[]) for other in others]
        mine = self.spec(breaks=[])
        problems = shift_calendar.overlap_problems([mine, *specs], involving=mine)
        if problems:
            raise ValidationError({"start_time": problems})


class ShiftBreak(models.Model):
    """A break inside a shift (planned: it is not planned busy time), on the plant's clocks."""

    shift = models.ForeignKey(Shift, on_delete=models.CASCADE, related_name="breaks")
    name = models.CharField(max_length=50, default="Break")
    start_time = models.TimeField()
    end_time = models.TimeField()

    class Meta:
        ordering = ["shift", "start_time"]

    def __str__(self) -> str:
        return f"{self.name} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    def clean(self) -> None:
        # On a new shift's page the shift is not saved yet: its breaks hold it unsaved.
        shift = self.shift if self.shift_id or ShiftBreak.shift.is_cached(self) else None
        if self.start_time is None or self.end_time is None or shift is None:
            return
        spec = shift.spec(breaks=[self])
        problems = shift_calendar.break_problems(spec)
        if problems:
            raise ValidationError({"end_time": problems})


class PlannedDowntime(models.Model):
    """A one-off planned stop (maintenance on a date) of a whole plant or one of its lines:
    not planned busy time, so it costs no availability."""

    plant = models.ForeignKey(
        "plant.Plant", on_delete=models.CASCADE, related_name="planned_downtimes"
    )
    line = models.ForeignKey(
        "plant.Line",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="planned_downtimes",
        help_text="Empty: the whole plant.",
    )
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    reason = models.CharField(max_length=200, help_text="e.g. Filler maintenance.")

    class Meta:
        ordering = ["-start_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_at__gt=models.F("start_at")),
                name="planned_downtime_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["plant", "end_at"], name="plant_downtime_plant_end")]

    def __str__(self) -> str:
        return f"{self.plant}: {self.reason}"

    def clean(self) -> None:
        errors = {}
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            errors["end_at"] = "Must be after the start."
        if self.line is not None and self.plant_id and self.line.plant_id != self.plant_id:
            errors["line"] = "Choose a line of this plant, or none for the whole plant."
        if errors:
            raise ValidationError(errors)
