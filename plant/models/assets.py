"""The ISA-95 asset tree: Plant → Line → Machine → Tag."""

from __future__ import annotations

import math
import re
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

INF = float("inf")
FLOAT_FIELDS = ("range_min", "range_max", "normal_min", "normal_max", "deadband",
                "setpoint_min", "setpoint_max", "max_step", "readback_tolerance",
                "counter_rollover")  # fmt: skip

# MQTT topic names may not hold wildcards and must not start with '$' (reserved by brokers).
TOPIC_RE = re.compile(r"^[^#+$\s/][^#+\s]*$")


def validate_topic(topic: str) -> None:
    if not TOPIC_RE.match(topic) or topic.endswith("/") or "//" in topic:
        raise ValidationError(
            f"{topic!r} is not a valid MQTT topic: use levels like plant/line/machine/tag, "
            "without wildcards (+, #), spaces, a leading '$' or empty levels."
        )
    if topic.endswith("/set"):
        raise ValidationError("Topics ending in '/set' are reserved for setpoint writes.")


def validate_time_zone(name: str) -> None:
    if name not in zoneinfo.available_timezones():
        raise ValidationError(f"{name!r} is not a known IANA time zone, e.g. Europe/Berlin.")


class Plant(models.Model):
    """A factory site: the root of the asset tree and of who may see what."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True, help_text="First level of MQTT topics.")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    description = models.TextField(blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="plants",
        help_text="People who may see this plant. Superusers see every plant.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Line(models.Model):
    """A production line or process area of a plant (the filling line, the gas-detection area)."""

    plant = models.ForeignKey(Plant, on_delete=models.CASCADE, related_name="lines")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order on screens.")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["plant", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["plant", "slug"], name="line_slug_unique_in_plant"),
        ]

    def __str__(self) -> str:
        return f"{self.plant.name} / {self.name}"


class Machine(models.Model):
    """One piece of equipment on a line (filler, pump, gas detector, energy meter)."""

    line = models.ForeignKey(Line, on_delete=models.CASCADE, related_name="machines")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order on screens.")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["line", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["line", "slug"], name="machine_slug_unique_in_line"),
        ]

    def __str__(self) -> str:
        return f"{self.line} / {self.name}"

    @property
    def topic(self) -> str:
        """The machine's own topic, where gateways publish batches of its values."""
        return f"{self.line.plant.slug}/{self.line.slug}/{self.slug}"


class Tag(models.Model):
    """One signal of a machine (say, the filler's fill level), carried on one MQTT topic."""

    class DataType(models.TextChoices):
        FLOAT = "float", "Float"
        INT = "int", "Integer"
        BOOL = "bool", "Boolean"
        STRING = "string", "String / state"

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="tags")
    key = models.SlugField(max_length=64, help_text="Unique within the machine, e.g. fill_level.")
    description = models.CharField(max_length=200, blank=True)
    data_type = models.CharField(max_length=8, choices=DataType.choices, default=DataType.FLOAT)
    unit = models.CharField(max_length=16, blank=True, help_text="Engineering unit, e.g. ml.")
    range_min = models.FloatField(null=True, blank=True, help_text="Engineering range low.")
    range_max = models.FloatField(null=True, blank=True, help_text="Engineering range high.")
    normal_min = models.FloatField(null=True, blank=True, help_text="Normal operating band low.")
    normal_max = models.FloatField(null=True, blank=True, help_text="Normal operating band high.")
    precision = models.PositiveSmallIntegerField(default=1, help_text="Decimals shown.")
    true_label = models.CharField(max_length=24, blank=True, help_text="Shown for true (bool).")
    false_label = models.CharField(max_length=24, blank=True, help_text="Shown for false (bool).")
    topic = models.CharField(
        max_length=255, unique=True, validators=[validate_topic], help_text="MQTT topic."
    )
    expected_interval_s = models.PositiveIntegerField(
        default=30, help_text="A value older than this is shown as stale."
    )
    deadband = models.FloatField(
        default=0.0, help_text="Historian deadband: store only moves larger than this."
    )
    heartbeat_s = models.PositiveIntegerField(
        default=300, help_text="Store a sample at least this often, even inside the deadband."
    )
    writable = models.BooleanField(default=False, help_text="Operators may write a setpoint.")
    setpoint_min = models.FloatField(null=True, blank=True)
    setpoint_max = models.FloatField(null=True, blank=True)
    max_step = models.FloatField(
        null=True, blank=True, help_text="Largest change one write may make."
    )
    readback_tolerance = models.FloatField(
        default=0.0, help_text="How far the device's readback may be from the requested value."
    )
    echoes_write_id = models.BooleanField(
        default=False,
        db_default=False,  # rows inserted by SQL alone (bench/, fixtures) get it too
        help_text="The device sends each write's id back with its readback, so only such a "
        "readback confirms a write. Set by the ingest worker the first time it does.",
    )
    counter_rollover = models.FloatField(
        null=True,
        blank=True,
        help_text="Cumulative counters only: the value at which the counter starts again from "
        "0 (its modulus: 4294967296 for a 32-bit counter, 1000000 for six digits). Empty: "
        "every drop is a reset.",
    )
    setpoint_tag = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="process_values",
        help_text="The writable tag that holds this value's setpoint (shown as a marker).",
    )

    class Meta:
        ordering = ["machine", "key"]
        # What the ingest worker reads (historian deadband, readback, staleness, limits) holds
        # for every row, whoever wrote it. A NULL limit passes, as a CHECK lets NULL pass.
        constraints = [
            models.UniqueConstraint(fields=["machine", "key"], name="tag_key_unique_in_machine"),
            models.CheckConstraint(
                condition=models.Q(deadband__gte=0, deadband__lt=INF),
                name="tag_deadband_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(readback_tolerance__gte=0, readback_tolerance__lt=INF),
                name="tag_readback_tolerance_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(expected_interval_s__gt=0), name="tag_expected_interval_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    range_min__gt=-INF, range_min__lt=models.F("range_max"), range_max__lt=INF
                ),
                name="tag_range_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    setpoint_min__gt=-INF,
                    setpoint_min__lte=models.F("setpoint_max"),
                    setpoint_max__lt=INF,
                ),
                name="tag_setpoint_limits_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(max_step__gt=0, max_step__lt=INF), name="tag_max_step_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(counter_rollover__gt=0, counter_rollover__lt=INF),
                name="tag_counter_rollover_positive",
            ),
        ]
        permissions = [
            ("write_setpoint", "Can write setpoints to devices"),
            ("acknowledge_alarm", "Can acknowledge alarms"),
            ("shelve_alarm", "Can shelve alarms"),
        ]

    def __str__(self) -> str:
        return f"{self.machine} / {self.key}"

    @property
    def is_numeric(self) -> bool:
        return self.data_type in (self.DataType.FLOAT, self.DataType.INT)

    def clean(self) -> None:
        errors = self._number_errors()
        if _above(self.normal_min, self.normal_max):
            errors.setdefault("normal_max", "Must be above the normal band minimum.")
        if (
            self.writable
            and self.is_numeric
            and (self.setpoint_min is None or self.setpoint_max is None)
        ):
            errors["setpoint_min"] = "A writable numeric tag needs setpoint limits."
        if not self.is_numeric and any(
            v is not None for v in (self.range_min, self.range_max, self.setpoint_min)
        ):
            errors["data_type"] = "Only numeric tags have ranges and setpoint limits."
        if self.setpoint_tag_id and self.setpoint_tag_id == self.pk:
            errors["setpoint_tag"] = "A tag cannot be its own setpoint."
        if errors:
            raise ValidationError(errors)

    def _number_errors(self) -> dict[str, str]:
        """The numbers the ingest worker computes with, checked as the constraints do."""
        errors = {name: "Enter a finite number." for name in FLOAT_FIELDS
                  if getattr(self, name) is not None
                  and not math.isfinite(getattr(self, name))}  # fmt: skip
        if "range_min" not in errors and _above(self.range_min, self.range_max):
            errors.setdefault("range_max", "Must be above the range minimum.")
        low, high = self.setpoint_min, self.setpoint_max
        if "setpoint_min" not in errors and low is not None and high is not None and low > high:
            errors.setdefault("setpoint_max", "Must not be below the setpoint minimum.")
        for name in ("deadband", "readback_tolerance"):
            value = getattr(self, name)
            if name not in errors and value is not None and value < 0:
                errors[name] = "Must not be negative."
        if self.max_step is not None and "max_step" not in errors and self.max_step <= 0:
            errors["max_step"] = "Must be above zero, or empty for no limit."
        rollover = self.counter_rollover
        if rollover is not None and "counter_rollover" not in errors and rollover <= 0:
            errors["counter_rollover"] = "Must be above zero, or empty for a counter without one."
        if self.expected_interval_s is not None and self.expected_interval_s <= 0:
            errors["expected_interval_s"] = "Must be at least one second."
        return errors


def _above(low: float | None, high: float | None) -> bool:
    """True when both limits are set and the low one is not below the high one."""
    return low is not None and high is not None and low >= high
