"""Alarms (ISA-18.2): what raises them, where each stands, and the journal of every change.

The rules live in plant.alarming (pure); rows here change only through plant.actions.alarms,
with conditional UPDATEs. The journal is append-only: the model refuses updates and deletes,
and a database trigger (migration 0006) refuses them from any other client too.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count

from plant import alarming

INF = float("inf")
STANDING = ["unack", "ack", "rtn_unack"]  # what the banner counts: in alarm or not yet seen


class AlarmDefinition(models.Model):
    """One alarm on one tag: a kind of limit, its priority, and what the operator should do."""

    class Kind(models.TextChoices):
        HIGH_HIGH = "hh", "high-high"
        HIGH = "h", "high"
        LOW = "l", "low"
        LOW_LOW = "ll", "low-low"
        DIGITAL = "digital", "digital (alarm on a state)"
        DEVIATION = "deviation", "deviation from setpoint"
        RATE = "rate", "rate of change (per second)"
        COMM_LOSS = "comm_loss", "communication loss (seconds without an update)"

    class Priority(models.TextChoices):
        CRITICAL = "critical", "critical"
        HIGH = "high", "high"
        MEDIUM = "medium", "medium"
        LOW = "low", "low"

    tag = models.ForeignKey("plant.Tag", on_delete=models.PROTECT, related_name="alarm_definitions")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    limit = models.FloatField(
        help_text="The limit; for digital the alarm state (1 or 0), for deviation the allowed "
        "difference, for rate the change per second, for communication loss the seconds."
    )
    deadband = models.FloatField(default=0.0, help_text="How far back a value must come to clear.")
    on_delay_s = models.FloatField(default=0.0, help_text="Condition must last this long.")
    off_delay_s = models.FloatField(default=0.0, help_text="Clear must last this long.")
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.MEDIUM)
    message = models.CharField(max_length=200)
    response = models.TextField(blank=True, help_text="What the operator should do.")
    enabled = models.BooleanField(
        default=True, help_text="Off: out of service (suppressed), journaled as such."
    )
    runs_emergency_actions = models.BooleanField(
        default=False,
        help_text="When it activates, run the emergency actions of its area (the tag's line) "
        "and show the full-screen emergency banner until a supervisor acknowledges.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tag_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["tag", "kind"], name="alarm_one_kind_per_tag"),
            models.CheckConstraint(
                condition=models.Q(deadband__gte=0, on_delay_s__gte=0, off_delay_s__gte=0),
                name="alarm_definition_non_negative",
            ),
            # The engine compares every sample with these: NaN would never alarm, and an
            # infinite delay would never let the alarm activate (PostgreSQL sorts NaN last).
            models.CheckConstraint(
                condition=models.Q(
                    limit__gt=-INF,
                    limit__lt=INF,
                    deadband__lt=INF,
                    on_delay_s__lt=INF,
                    off_delay_s__lt=INF,
                ),
                name="alarm_definition_finite",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind__in=["comm_loss", "rate"]) | models.Q(limit__gt=0),
                name="alarm_definition_time_limit_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tag} {self.get_kind_display()}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for name in ("limit", "deadband", "on_delay_s", "off_delay_s"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                errors[name] = "Enter a finite number."
        if self.kind == self.Kind.DEVIATION and self.tag_id and not self.tag.setpoint_tag_id:
            errors["kind"] = "A deviation alarm needs a tag with a setpoint tag."
        time_limit = self.kind in (self.Kind.COMM_LOSS, self.Kind.RATE)
        if time_limit and "limit" not in errors and self.limit is not None and self.limit <= 0:
            errors["limit"] = "Must be above zero."
        if errors:
            raise ValidationError(errors)

    def rule(self) -> alarming.Definition:
        """The pure definition plant.alarming evaluates."""
        return alarming.Definition(
            alarming.Kind(self.kind), self.limit, self.deadband, self.on_delay_s, self.off_delay_s
        )


class EmergencyAction(models.Model):
    """A write the system makes at once when an emergency alarm of its area (line) activates."""

    line = models.ForeignKey(
        "plant.Line", on_delete=models.CASCADE, related_name="emergency_actions"
    )
    tag = models.ForeignKey("plant.Tag", on_delete=models.PROTECT, related_name="+")
    value = models.FloatField(help_text="The value written; bools as 1 (on/open) or 0.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["line_id", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(value__gt=-INF, value__lt=INF), name="emergency_value_finite"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tag} ← {self.value:g}"

    def clean(self) -> None:
        """Refuse what the write would refuse at the worst moment: in the emergency itself."""
        if not self.tag_id or self.value is None:
            return
        tag = self.tag
        if not tag.writable:
            raise ValidationError(
                {"tag": "Emergency actions write setpoints: pick a writable tag."}
            )
        if tag.data_type == tag.DataType.STRING:
            raise ValidationError({"tag": "Emergency actions cannot write text tags."})
        if not math.isfinite(self.value):
            raise ValidationError({"value": "Enter a finite number."})
        if tag.data_type == tag.DataType.BOOL and self.value not in (0.0, 1.0):
            raise ValidationError({"value": "A switch is either on (1) or off (0)."})
        if tag.data_type == tag.DataType.INT and not float(self.value).is_integer():
            raise ValidationError({"value": "Enter a whole number for an integer tag."})
        low, high = tag.setpoint_min, tag.setpoint_max
        if (low is not None and self.value < low) or (high is not None and self.value > high):
            raise ValidationError(
                {"value": f"{self.value:g} is outside the tag's setpoint limits "
                          f"({_text(low)} to {_text(high)}): the write would be refused."}
            )  # fmt: skip


def _text(limit: float | None) -> str:
    return "none" if limit is None else f"{limit:g}"


class AlarmQuerySet(models.QuerySet["Alarm"]):
    def standing(self) -> AlarmQuerySet:
        return self.filter(state__in=STANDING)

    def active_counts_by_line(self, line_ids: list[int]) -> dict[int, dict[str, int]]:
        """Standing alarms per line and priority (for the screens' line tiles)."""
        rows = (
            self.standing()
            .filter(definition__tag__machine__line_id__in=line_ids)
            .values_list("definition__tag__machine__line_id", "definition__priority")
            .annotate(n=Count("id"))
        )
        counts: dict[int, dict[str, int]] = {}
        for line_id, priority, n in rows:
            counts.setdefault(line_id, {})[priority] = n
        return counts


class Alarm(models.Model):
    """Where one definition's alarm stands now; persisted so a worker restart keeps it."""

    State = alarming.State  # the values; choices below

    definition = models.OneToOneField(
        AlarmDefinition, on_delete=models.PROTECT, related_name="alarm"
    )
    state = models.CharField(
        max_length=10,
        choices=[(s.value, alarming.state_label(s)) for s in alarming.State],
        default="normal",
    )
    active = models.BooleanField(default=False, help_text="The condition, also while shelved.")
    value = models.FloatField(null=True, help_text="The value at the last change.")
    changed_at = models.DateTimeField(null=True)
    activated_at = models.DateTimeField(null=True, help_text="When it last became active.")
    shelved_until = models.DateTimeField(null=True)
    shelve_reason = models.CharField(max_length=200, blank=True)
    pending_since = models.DateTimeField(
        null=True,
        help_text="Since when the raw condition has differed from `active` (an on- or "
        "off-delay counting); kept here so a worker restart does not restart the delay.",
    )

    objects = AlarmQuerySet.as_manager()

    class Meta:
        ordering = ["-changed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=[s.value for s in alarming.State]),
                name="alarm_state_known",
            ),
            models.CheckConstraint(
                condition=models.Q(state="shelved", shelved_until__isnull=False)
                | (~models.Q(state="shelved") & models.Q(shelved_until__isnull=True)),
                name="alarm_shelved_has_end",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.definition} ({self.state})"

    @property
    def is_shelved(self) -> bool:
        return self.state == alarming.State.SHELVED


class AlarmJournalEntry(models.Model):
    """One change of an alarm's state: append-only, never edited or deleted."""

    alarm = models.ForeignKey(Alarm, on_delete=models.PROTECT, related_name="journal")
    tag = models.ForeignKey("plant.Tag", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(db_index=True)
    value = models.FloatField(null=True)
    from_state = models.CharField(max_length=10)
    to_state = models.CharField(max_length=10)
    event = models.CharField(max_length=12)
    priority = models.CharField(max_length=8, help_text="The definition's priority then.")
    message = models.CharField(max_length=200, help_text="The definition's message then.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+",
        help_text="Who caused it; empty for the system.",
    )  # fmt: skip
    comment = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "alarm journal entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.tag_id}: {self.from_state} → {self.to_state}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("The alarm journal is append-only: entries are never edited.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValueError("The alarm journal is append-only: entries are never deleted.")
