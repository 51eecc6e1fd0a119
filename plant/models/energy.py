"""Energy monitoring: a plant's demand contract and its energy meters (plant.energy computes).

A meter is a cumulative kWh counter tag (optionally with a power tag) on a line, or on the
whole plant. A line meter may name the line's production counter (the filler's
`bottles_filled`, the same counter OEE reads), which makes its kWh per 1,000 units. The
plant's settings hold its contracted peak demand, the warning margin and the demand interval;
the predicted demand is a derived tag the ingest worker writes, with an ordinary high alarm.
"""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

INF = float("inf")
DEMAND_INTERVAL_CHOICES = [(m, f"{m} min") for m in (5, 10, 15, 30, 60)]  # plant.energy's


class PlantEnergy(models.Model):
    """A plant's demand contract: its contracted peak, how early to warn, the demand interval."""

    plant = models.OneToOneField("plant.Plant", on_delete=models.CASCADE, related_name="energy")
    contracted_peak_kw = models.FloatField(
        validators=[MinValueValidator(0.001)],
        help_text="The peak demand of the supply contract (average kW over one interval).",
    )
    warning_margin_pct = models.FloatField(
        default=10.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text="Alarm when the predicted demand comes within this share of the peak.",
    )
    demand_interval_min = models.PositiveSmallIntegerField(
        choices=DEMAND_INTERVAL_CHOICES,
        default=15,
        help_text="The utility's demand interval; blocks start on the plant's clock.",
    )
    baseline_days = models.PositiveSmallIntegerField(
        default=28,
        validators=[MinValueValidator(3), MaxValueValidator(366)],
        help_text="How many days before a day its line baselines are fitted over.",
    )
    predicted_demand_tag = models.OneToOneField(
        "plant.Tag",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Written by the ingest worker: the current block's demand at its end (kW). "
        "Made with its high alarm when the settings are saved.",
    )

    class Meta:
        verbose_name = "plant energy settings"
        verbose_name_plural = "plant energy settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(contracted_peak_kw__gt=0, contracted_peak_kw__lt=INF),
                name="plant_energy_peak_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(warning_margin_pct__gte=0, warning_margin_pct__lte=100),
                name="plant_energy_margin_a_share",
            ),
            models.CheckConstraint(
                condition=models.Q(demand_interval_min__in=[5, 10, 15, 30, 60]),
                name="plant_energy_interval_divides_an_hour",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plant} energy"

    @property
    def interval_s(self) -> int:
        return int(self.demand_interval_min) * 60

    @property
    def warning_kw(self) -> float:
        """The predicted demand that raises the alarm: the peak less the margin."""
        return self.contracted_peak_kw * (1 - self.warning_margin_pct / 100)

    def clean(self) -> None:
        if self.contracted_peak_kw is not None and not math.isfinite(self.contracted_peak_kw):
            raise ValidationError({"contracted_peak_kw": "Enter a finite number."})


class EnergyMeter(models.Model):
    """A cumulative kWh meter of a line, or of the whole plant (its incomer) when no line."""

    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="energy_meters")
    line = models.ForeignKey(
        "plant.Line",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="energy_meters",
        help_text="Empty: the meter measures the whole plant.",
    )
    name = models.CharField(max_length=100)
    energy_tag = models.ForeignKey(
        "plant.Tag",
        on_delete=models.CASCADE,  # a meter without its counter measures nothing
        related_name="energy_meters",
        help_text="The meter's cumulative energy counter (kWh).",
    )
    rollover_kwh = models.FloatField(
        null=True,
        blank=True,
        help_text="The counter's reading at which it starts from zero again (e.g. 1000000); "
        "empty: the tag's own counter rollover, if any (else a fall is a reset).",
    )
    power_tag = models.ForeignKey(
        "plant.Tag",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The meter's active power (kW), shown beside the demand.",
    )
    production_tag = models.ForeignKey(
        "plant.Tag",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The line's production counter (units made, e.g. bottles_filled), for kWh "
        "per 1,000 units and the baseline, with the tag's counter rollover. Only for a "
        "line's meter.",
    )

    class Meta:
        ordering = ["plant", "line__position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["plant", "name"], name="energy_meter_name_unique"),
            models.CheckConstraint(
                condition=models.Q(rollover_kwh__gt=0, rollover_kwh__lt=INF),
                name="energy_meter_rollover_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plant} / {self.name}"

    @property
    def rollover(self) -> float | None:
        """The energy counter's rollover: the meter's own, else its tag's."""
        if self.rollover_kwh is not None:
            return self.rollover_kwh
        return self.energy_tag.counter_rollover

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.line_id and self.plant_id and self.line.plant_id != self.plant_id:  # type: ignore[union-attr]
            errors["line"] = "Choose a line of the meter's plant."
        for name in ("energy_tag", "power_tag", "production_tag"):
            tag = getattr(self, name) if getattr(self, f"{name}_id") is not None else None
            if tag is None:
                continue
            if self.plant_id is not None and tag.machine.line.plant_id != self.plant_id:
                errors[name] = "Choose a tag of the meter's plant."
            elif not tag.is_numeric:
                errors[name] = "Choose a numeric tag."
        if self.production_tag_id is not None and self.line_id is None:
            errors["production_tag"] = "Only a line's meter counts the line's production."
        value = self.rollover_kwh
        if value is not None and (not math.isfinite(value) or value <= 0):
            errors["rollover_kwh"] = "Enter a number above zero, or leave it empty."
        if errors:
            raise ValidationError(errors)
