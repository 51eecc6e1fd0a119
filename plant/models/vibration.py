"""Vibration monitoring: which tags are velocity RMS readings of which machine class."""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.db import models

from plant import vibration

INF = float("inf")
VELOCITY_UNIT = "mm/s"


class VibrationMonitor(models.Model):
    """A vibration velocity RMS tag judged by ISO 10816-3 / 20816-3 for its machine's class.

    Saving one (plant.actions.vibration.do_apply_vibration_class) makes the tag's zone C and
    zone D alarms from the class: ordinary alarm definitions, high at B/C and high-high at
    C/D, with this monitor's on-delay.
    """

    class Group(models.IntegerChoices):
        LARGE = 1, "group 1: large machines (300 kW to 50 MW)"
        MEDIUM = 2, "group 2: medium machines (15 kW to 300 kW)"

    class Foundation(models.TextChoices):
        RIGID = "rigid", "rigid"
        FLEXIBLE = "flexible", "flexible"

    tag = models.OneToOneField(
        "plant.Tag", on_delete=models.CASCADE, related_name="vibration_monitor",
        limit_choices_to={"unit": VELOCITY_UNIT},
        help_text="The velocity RMS reading (mm/s) of a bearing housing.",
    )  # fmt: skip
    machine_group = models.PositiveSmallIntegerField(choices=Group.choices, default=Group.MEDIUM)
    foundation = models.CharField(
        max_length=8, choices=Foundation.choices, default=Foundation.RIGID,
        help_text="Rigid: the machine and its support's lowest natural frequency lies at least "
        "25 % above the running speed; else flexible.",
    )  # fmt: skip
    bearing_temperature_tag = models.ForeignKey(
        "plant.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        limit_choices_to={"data_type__in": ["float", "int"]},
        help_text="The temperature of the same bearing, shown on the machine's health card.",
    )  # fmt: skip
    on_delay_s = models.FloatField(
        default=10.0,
        help_text="A zone must last this long before its alarm activates, so a start-up "
        "spike raises none.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tag_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(on_delay_s__gte=0, on_delay_s__lt=INF),
                name="vibration_on_delay_finite",
            ),
            models.CheckConstraint(
                condition=models.Q(machine_group__in=[1, 2], foundation__in=["rigid", "flexible"]),
                name="vibration_class_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tag} ({self.get_machine_group_display()}, {self.foundation})"

    @property
    def boundaries(self) -> vibration.Boundaries:
        return vibration.boundaries(self.machine_group, self.foundation)

    @property
    def class_label(self) -> str:
        return f"group {self.machine_group}, {self.foundation}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.on_delay_s is not None and not (
            math.isfinite(self.on_delay_s) and self.on_delay_s >= 0
        ):
            errors["on_delay_s"] = "Enter a finite number of seconds, zero or more."
        tag = self.tag if self.tag_id else None
        if tag is not None:
            if not tag.is_numeric:
                errors["tag"] = "A vibration reading is a number: pick a float or integer tag."
            elif tag.unit != VELOCITY_UNIT:
                errors["tag"] = (
                    f"ISO 10816-3 zones are velocities in {VELOCITY_UNIT}; this tag's unit is "
                    f"{tag.unit or 'empty'}: convert it on the device or fix the tag's unit."
                )
        bearing = self.bearing_temperature_tag if self.bearing_temperature_tag_id else None
        if bearing is not None and tag is not None:
            if not bearing.is_numeric:
                errors["bearing_temperature_tag"] = "A temperature is a number: pick a numeric tag."
            elif bearing.machine.line.plant_id != tag.machine.line.plant_id:
                errors["bearing_temperature_tag"] = "Pick a tag of the same plant."
        if errors:
            raise ValidationError(errors)
