"""Setpoint writes (the outbox the writer sends, and the audit trail) and supervisory loops.

Rows here change only through plant.actions.setpoints and plant.actions.loops: a write moves
pending → sent → confirmed, or ends failed, timed out or expired, each move a conditional
UPDATE; nothing edits or deletes one.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

INF = float("inf")


class SetpointWrite(models.Model):
    """One request to change a device's setpoint: the outbox row and its audit record at once."""

    class State(models.TextChoices):
        PENDING = "pending", "pending"  # stored, waiting for the writer
        SENT = "sent", "sent"  # the broker acknowledged it; waiting for the readback
        CONFIRMED = "confirmed", "confirmed"  # the device read back the requested value
        FAILED = "failed", "failed"  # the device read back another value, or the broker refused
        TIMED_OUT = "timed_out", "timed out"  # sent, but no readback before the timeout
        EXPIRED = "expired", "expired"  # could not be sent before its expiry; never sent later

    FINAL = (State.CONFIRMED, State.FAILED, State.TIMED_OUT, State.EXPIRED)

    command_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, help_text="The id sent with the write."
    )
    # PROTECT: the audit trail outlives neither a deleted tag nor a deleted user silently.
    tag = models.ForeignKey("plant.Tag", on_delete=models.PROTECT, related_name="setpoint_writes")
    value = models.FloatField(help_text="The requested value; bools as 0/1.")
    old_value = models.FloatField(null=True, help_text="The tag's value when it was requested.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="setpoint_writes",
        help_text="Who asked for it; empty for the system (a control loop, an emergency action).",
    )
    reason = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    requested_at = models.DateTimeField()
    expires_at = models.DateTimeField(help_text="Not sent after this time, ever.")
    claimed_at = models.DateTimeField(null=True, help_text="When a writer took it to publish.")
    sent_at = models.DateTimeField(null=True, help_text="When the broker acknowledged it.")
    finished_at = models.DateTimeField(null=True, help_text="When it reached its final state.")
    readback = models.FloatField(null=True, help_text="The value the device reported back.")
    detail = models.CharField(max_length=200, blank=True, help_text="Why it ended as it did.")

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["tag", "-requested_at"], name="setpoint_tag_recent"),
            models.Index(fields=["-requested_at"], name="setpoint_recent"),
            models.Index(
                fields=["state"],
                name="setpoint_open",
                condition=models.Q(state__in=["pending", "sent"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    state__in=["pending", "sent", "confirmed", "failed", "timed_out", "expired"]
                ),
                name="setpoint_state_known",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "sent"])
                | models.Q(finished_at__isnull=False),
                name="setpoint_final_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tag_id} ← {self.value} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL

    @property
    def confirmed_at(self) -> datetime | None:
        """The confirmation time, for the audit trail; None unless the device confirmed."""
        return self.finished_at if self.state == self.State.CONFIRMED else None


def _between(field: str, low: float, *, inclusive: bool = False) -> models.Q:
    """field > low (or >= low) and finite: PostgreSQL orders NaN above every number."""
    above = models.Q(**{f"{field}__gte" if inclusive else f"{field}__gt": low})
    return above & models.Q(**{f"{field}__lt": INF})


class ControlLoop(models.Model):
    """A supervisory PI loop: keeps a measurement at its setpoint by writing another setpoint.

    The filler's fill-level loop reads fill_level against fill_level_sp and trims
    flow_rate_sp. Its writes go through the same audited path as an operator's.
    """

    class Mode(models.TextChoices):
        AUTO = "auto", "auto"
        MANUAL = "manual", "manual"

    name = models.CharField(max_length=100)
    pv_tag = models.ForeignKey(
        "plant.Tag", on_delete=models.PROTECT, related_name="+", help_text="The measurement."
    )
    sp_tag = models.ForeignKey(
        "plant.Tag", on_delete=models.PROTECT, related_name="+", help_text="Its setpoint."
    )
    output_tag = models.OneToOneField(
        "plant.Tag",
        on_delete=models.PROTECT,
        related_name="control_loop",
        help_text="The writable setpoint the loop trims; one loop per output.",
    )
    mode = models.CharField(max_length=6, choices=Mode.choices, default=Mode.MANUAL)
    kp = models.FloatField(help_text="Gain: output units per unit of error.")
    ti_s = models.FloatField(help_text="Integral time in seconds.")
    filter_s = models.FloatField(default=0.0, help_text="Measurement filter time constant (s).")
    output_min = models.FloatField()
    output_max = models.FloatField()
    max_rate = models.FloatField(help_text="Largest output change per second.")
    write_deadband = models.FloatField(
        default=0.0,
        help_text="Write only output changes at least this large (keeps the audit readable).",
    )
    pv_stale_s = models.FloatField(
        default=5.0, help_text="Drop to manual when the measurement is older than this."
    )
    output = models.FloatField(null=True, blank=True, help_text="The last output it wrote.")
    output_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True, help_text="The latest event, in words.")
    changed_at = models.DateTimeField(null=True, blank=True, help_text="When the mode changed.")
    # Several ingest workers may run; the one holding the lease runs the loop.
    runner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        # The ingest worker builds a controller from these on every step: a row that breaks
        # them would stop the loop (and once stopped the whole worker), whoever wrote it.
        constraints = [
            models.CheckConstraint(condition=_between("kp", 0), name="loop_kp_positive"),
            models.CheckConstraint(condition=_between("ti_s", 0), name="loop_ti_positive"),
            models.CheckConstraint(
                condition=_between("filter_s", 0, inclusive=True), name="loop_filter_not_negative"
            ),
            models.CheckConstraint(
                condition=_between("max_rate", 0), name="loop_max_rate_positive"
            ),
            models.CheckConstraint(
                condition=_between("write_deadband", 0, inclusive=True),
                name="loop_write_deadband_not_negative",
            ),
            models.CheckConstraint(
                condition=_between("pv_stale_s", 0), name="loop_pv_stale_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(output_min__gt=-INF, output_min__lt=models.F("output_max"))
                & models.Q(output_max__lt=INF),
                name="loop_output_limits_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = self._number_errors()
        if not errors and self.output_tag_id:
            out = self.output_tag
            if not out.writable:
                errors["output_tag"] = "The loop writes this tag, so it must be writable."
            elif _outside(self.output_min, out.setpoint_min, out.setpoint_max) or _outside(
                self.output_max, out.setpoint_min, out.setpoint_max
            ):
                errors["output_min"] = "Output limits must lie within the tag's setpoint limits."
        if errors:
            raise ValidationError(errors)

    def _number_errors(self) -> dict[str, str]:
        """The tuning numbers an admin typed that the controller could not run with."""
        errors: dict[str, str] = {}
        rules = [("kp", False, "The gain must be above zero."),
                 ("ti_s", False, "The integral time must be above zero."),
                 ("filter_s", True, "The filter time must not be negative (0: no filter)."),
                 ("max_rate", False, "The largest output change per second must be above zero."),
                 ("write_deadband", True, "The write deadband must not be negative (0: none)."),
                 ("pv_stale_s", False, "The stale time must be above zero seconds.")]  # fmt: skip
        for name, zero_allowed, message in rules:
            value = getattr(self, name)
            if value is None:
                continue  # a missing value is the field's own (required) error
            if not math.isfinite(value):
                errors[name] = "Enter a finite number."
            elif value < 0 or (value == 0 and not zero_allowed):
                errors[name] = message
        low, high = self.output_min, self.output_max
        for name, value in (("output_min", low), ("output_max", high)):
            if value is not None and not math.isfinite(value):
                errors[name] = "Enter a finite number."
        ordered = low is None or high is None or low < high
        if not ordered and "output_min" not in errors and "output_max" not in errors:
            errors["output_max"] = "Must be above the output minimum."
        return errors


class ControlLoopEvent(models.Model):
    """One change of a loop's mode, by a person or by the loop itself: an append-only journal."""

    # PROTECT: the journal outlives nothing it speaks of (a database trigger refuses deletes).
    loop = models.ForeignKey(ControlLoop, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField()
    from_mode = models.CharField(max_length=6, choices=ControlLoop.Mode.choices)
    to_mode = models.CharField(max_length=6, choices=ControlLoop.Mode.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.loop_id}: {self.from_mode} → {self.to_mode}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("The loop journal is append-only: events are never edited.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValueError("The loop journal is append-only: events are never deleted.")


def _outside(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < low) or (high is not None and value > high)
