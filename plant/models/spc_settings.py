"""Statistical process control of one measured tag: its specification, the ℮ rule and the rules.

The arithmetic is plant.spc (pure); the run rules are evaluated live by the ingest worker
(ingest.spc_job), which writes the result to a derived tag (plant.derived) that an ordinary
digital alarm watches. Admins edit these rows in the admin, for their own plants.
"""

from __future__ import annotations

import math

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models

INF = float("inf")
ALL_RULES = [1, 2, 3, 4, 5, 6, 7, 8]
RULE_CHOICES = [
    (1, "1: one point beyond 3σ"),
    (2, "2: nine points in a row on one side of the centre"),
    (3, "3: six points in a row steadily rising or falling"),
    (4, "4: fourteen points in a row alternating up and down"),
    (5, "5: two of three points beyond 2σ, on one side"),
    (6, "6: four of five points beyond 1σ, on one side"),
    (7, "7: fifteen points in a row within 1σ"),
    (8, "8: eight points in a row beyond 1σ, on either side"),
]


def default_rules() -> list[int]:
    return list(ALL_RULES)


class SpcSettings(models.Model):
    """The specification and SPC settings of one measured tag (the filler's fill level)."""

    class Chart(models.TextChoices):
        XBAR = "xbar", "subgroup means (X̄ chart)"
        INDIVIDUALS = "individuals", "individual values (I chart)"

    tag = models.OneToOneField("plant.Tag", on_delete=models.CASCADE, related_name="spc")
    lsl = models.FloatField(help_text="Lower specification limit, in the tag's unit.")
    usl = models.FloatField(help_text="Upper specification limit, in the tag's unit.")
    nominal = models.FloatField(help_text="Nominal quantity Qn (e.g. 500 for 500 ml).")
    tne = models.FloatField(
        null=True,
        blank=True,
        help_text="Tolerable negative error; empty: the Directive 76/211/EEC table for Qn "
        "(500 ml: 15 ml).",
    )
    e_marked = models.BooleanField(
        default=True, help_text="℮-marked: each hour's batch is checked against the ℮ rule."
    )
    subgroup_size = models.PositiveSmallIntegerField(
        default=5, help_text="Consecutive values per subgroup of the X̄–R chart (2 to 10)."
    )
    rules = ArrayField(
        models.PositiveSmallIntegerField(choices=RULE_CHOICES),
        default=default_rules,
        blank=True,
        help_text="The Nelson rules evaluated live and raised as an alarm.",
    )
    rules_chart = models.CharField(
        max_length=12,
        choices=Chart.choices,
        default=Chart.XBAR,
        help_text="Which chart the run rules watch. Subgroup means raise far fewer false alarms "
        "at one value a second; individual values react one value sooner.",
    )
    center_line = models.FloatField(
        null=True,
        blank=True,
        help_text="Frozen centre line of the run rules' chart; empty: the previous hour's mean.",
    )
    sigma = models.FloatField(
        null=True,
        blank=True,
        help_text="Frozen σ of the individual values (the X̄ chart's is σ/√n); empty: from the "
        "previous hour (R̄/d2 of its subgroups, or MR̄/1.128 for the I chart).",
    )
    loop_may_apply = models.BooleanField(
        default=False,
        help_text="Once an hour, the system itself moves the setpoint towards the recommended "
        "fill target, by at most the largest change below (within the setpoint's limits).",
    )
    max_loop_change = models.FloatField(
        default=1.0, help_text="The largest change the system's own move may make at once."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SPC settings"
        verbose_name_plural = "SPC settings"
        ordering = ["tag_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lsl__gt=-INF, lsl__lt=models.F("usl"), usl__lt=INF),
                name="spc_spec_limits_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(nominal__gt=0, nominal__lt=INF), name="spc_nominal_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(tne__gt=0, tne__lt=INF), name="spc_tne_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(subgroup_size__gte=2, subgroup_size__lte=10),
                name="spc_subgroup_size_2_to_10",
            ),
            models.CheckConstraint(
                condition=models.Q(sigma__gt=0, sigma__lt=INF), name="spc_sigma_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(center_line__gt=-INF, center_line__lt=INF),
                name="spc_center_line_finite",
            ),
            models.CheckConstraint(
                condition=models.Q(max_loop_change__gt=0, max_loop_change__lt=INF),
                name="spc_max_loop_change_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"SPC of {self.tag}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for name in ("lsl", "usl", "nominal", "tne", "center_line", "sigma", "max_loop_change"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                errors[name] = "Enter a finite number."
        if not errors and self.lsl is not None and self.usl is not None and self.lsl >= self.usl:
            errors["usl"] = "Must be above the lower specification limit."
        for name in ("nominal", "tne", "sigma", "max_loop_change"):
            value = getattr(self, name)
            if name not in errors and value is not None and value <= 0:
                errors[name] = "Must be above zero."
        if self.subgroup_size is not None and not 2 <= self.subgroup_size <= 10:
            errors["subgroup_size"] = "Must be between 2 and 10."
        if self.rules and set(self.rules) - set(ALL_RULES):
            errors["rules"] = "Nelson rules are numbered 1 to 8."
        if self.tag_id and not self.tag.is_numeric:
            errors["tag"] = "SPC needs a numeric tag."
        if self.loop_may_apply and self.tag_id and not self._setpoint_writable():
            errors["loop_may_apply"] = "The tag needs a writable setpoint tag for this."
        if errors:
            raise ValidationError(errors)

    def _setpoint_writable(self) -> bool:
        setpoint = self.tag.setpoint_tag
        return setpoint is not None and setpoint.writable
