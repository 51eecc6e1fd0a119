"""How OEE is measured per machine, and the reasons operators give for its stops.

The computation is plant.oee's (pure); plant.oee_queries reads these rows and the historian.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from plant.oee import LABELS, Category

CATEGORY_CHOICES = [(c.value, LABELS[c]) for c in Category if c != Category.MICROSTOP]


class OeeMachine(models.Model):
    """A machine's OEE configuration: what its state and counters are, and its ideal speed."""

    machine = models.OneToOneField("plant.Machine", on_delete=models.CASCADE, related_name="oee")
    # The configuration follows its tags: a machine whose state or counter tag is deleted has
    # no OEE to compute (its stops and their journal stay: they protect the machine).
    state_tag = models.ForeignKey(
        "plant.Tag", on_delete=models.CASCADE, related_name="+",
        help_text="The machine's state (a text or a number), mapped to loss categories below.",
    )  # fmt: skip
    produced_tag = models.ForeignKey(
        "plant.Tag", on_delete=models.CASCADE, related_name="+",
        help_text="Cumulative counter of everything made, good and rejected.",
    )  # fmt: skip
    rejected_tag = models.ForeignKey(
        "plant.Tag", on_delete=models.SET_NULL, related_name="+", null=True, blank=True,
        help_text="Cumulative counter of rejects. Empty: everything made is good.",
    )  # fmt: skip
    ideal_cycle_s = models.FloatField(
        null=True, blank=True, help_text="Seconds one unit takes at the ideal rate, e.g. 0.3."
    )
    rated_per_min = models.FloatField(
        null=True, blank=True, help_text="Or the rated speed: units a minute (200 = 0.3 s)."
    )
    product_tag = models.ForeignKey(
        "plant.Tag", on_delete=models.SET_NULL, related_name="+", null=True, blank=True,
        help_text="The product running (text), when ideal cycle times differ by product.",
    )  # fmt: skip
    microstop_s = models.FloatField(
        default=120.0,
        help_text="Unplanned stops shorter than this are microstops: a performance loss, not "
        "an availability loss.",
    )
    is_bottleneck = models.BooleanField(
        default=False,
        help_text="The line's constraint: the line's OEE is this machine's. Without one, the "
        "line's OEE sums the times and counts of its machines.",
    )

    class Meta:
        verbose_name = "OEE machine"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ideal_cycle_s__gt=0, ideal_cycle_s__lt=math.inf)
                | models.Q(rated_per_min__gt=0, rated_per_min__lt=math.inf),
                name="oee_machine_has_an_ideal_speed",
            ),
            models.CheckConstraint(
                condition=models.Q(microstop_s__gte=0, microstop_s__lt=math.inf),
                name="oee_machine_microstop_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"OEE of {self.machine}"

    @property
    def base_cycle_s(self) -> float:
        """The ideal cycle time, from itself or the rated speed."""
        if self.ideal_cycle_s:
            return self.ideal_cycle_s
        return 60.0 / self.rated_per_min if self.rated_per_min else math.nan

    def clean(self) -> None:
        errors: dict[str, str] = {}
        have_cycle, have_rate = self.ideal_cycle_s is not None, self.rated_per_min is not None
        if have_cycle == have_rate:
            errors["ideal_cycle_s"] = "Give the ideal cycle time or the rated speed (one of them)."
        for name in ("ideal_cycle_s", "rated_per_min"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                errors[name] = "Must be a number above zero."
        if not (math.isfinite(self.microstop_s) and self.microstop_s >= 0):
            errors["microstop_s"] = "Must be zero or more seconds."
        errors |= self._tag_errors()
        if errors:
            raise ValidationError(errors)

    def _tag_errors(self) -> dict[str, str]:
        if not self.machine_id:
            return {}
        plant_id = self.machine.line.plant_id
        errors = {}
        for name in ("state_tag", "produced_tag", "rejected_tag", "product_tag"):
            tag = getattr(self, name) if getattr(self, f"{name}_id") else None
            if tag is not None and tag.machine.line.plant_id != plant_id:
                errors[name] = "Choose a tag of the machine's own plant."
            elif (
                tag is not None
                and name in ("produced_tag", "rejected_tag")
                and (not tag.is_numeric)
            ):
                errors[name] = "A counter is a numeric tag."
        return errors


class OeeProduct(models.Model):
    """The ideal cycle time of one product on a machine (the product tag's value)."""

    oee_machine = models.ForeignKey(OeeMachine, on_delete=models.CASCADE, related_name="products")
    product = models.CharField(max_length=100, help_text="As the product tag reads, e.g. 0.5l.")
    ideal_cycle_s = models.FloatField(help_text="Seconds one unit of it takes at the ideal rate.")

    class Meta:
        verbose_name = "OEE product"
        constraints = [
            models.UniqueConstraint(fields=["oee_machine", "product"], name="oee_product_once"),
            models.CheckConstraint(
                condition=models.Q(ideal_cycle_s__gt=0, ideal_cycle_s__lt=math.inf),
                name="oee_product_cycle_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product}: {self.ideal_cycle_s} s"


class OeeState(models.Model):
    """What one value of a machine's state tag means for OEE: its loss category."""

    oee_machine = models.ForeignKey(OeeMachine, on_delete=models.CASCADE, related_name="states")
    state = models.CharField(
        max_length=64, help_text="The state tag's value: a text (running) or a number (3)."
    )
    category = models.CharField(max_length=24, choices=CATEGORY_CHOICES)

    class Meta:
        verbose_name = "OEE state"
        ordering = ["oee_machine", "state"]
        constraints = [
            models.UniqueConstraint(fields=["oee_machine", "state"], name="oee_state_once"),
        ]

    def __str__(self) -> str:
        return f"{self.state} → {self.get_category_display()}"


class StopReason(models.Model):
    """A reason an operator may give for a stop (Filler jam, Waiting for bottles), per plant;
    with a category, a stop given it counts as that loss."""

    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="stop_reasons")
    name = models.CharField(max_length=100)
    category = models.CharField(
        max_length=24, choices=CATEGORY_CHOICES, blank=True,
        help_text="Empty: the stop keeps the category of the machine's state.",
    )  # fmt: skip
    active = models.BooleanField(default=True, help_text="Offered to operators.")

    class Meta:
        ordering = ["plant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["plant", "name"], name="stop_reason_name_once"),
        ]

    def __str__(self) -> str:
        return self.name


class MachineStop(models.Model):
    """A stop of a machine that someone gave a reason; the stop itself is the state tag's
    (from `started_at`, as the OEE timeline finds it). Changed only by plant.actions.oee."""

    machine = models.ForeignKey("plant.Machine", on_delete=models.PROTECT, related_name="stops")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, help_text="As far as it was known when tagged.")
    reason = models.ForeignKey(StopReason, on_delete=models.PROTECT, related_name="stops")
    comment = models.CharField(max_length=200, blank=True)
    tagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    tagged_at = models.DateTimeField()

    class Meta:
        ordering = ["machine", "-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "started_at"], name="machine_stop_once"),
        ]
        permissions = [
            ("tag_stop", "Can give a machine's stop a reason"),
            ("retag_stop", "Can change the reason someone gave a stop"),
        ]

    def __str__(self) -> str:
        return f"{self.machine} stopped {self.started_at:%Y-%m-%d %H:%M:%S}: {self.reason}"


class MachineStopEntry(models.Model):
    """The journal of stop reasons: who gave or changed which reason, when (append-only)."""

    stop = models.ForeignKey(MachineStop, on_delete=models.PROTECT, related_name="journal")
    at = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    from_reason = models.CharField(max_length=100, blank=True)
    to_reason = models.CharField(max_length=100)
    comment = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["stop", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.from_reason or '-'} → {self.to_reason}"
