"""Alarm notifications: rosters of recipients per area and priority, and the outbox of deliveries.

The dispatcher (`manage.py notify`, plant.notifications.dispatcher) follows the alarm journal
and writes a delivery per recipient to tell, rendered then; it sends them apart from the alarm
engine, so a slow mail server never holds an alarm back. Every attempt is recorded. Rows
change only through plant.actions.notifications; rosters and recipients are configured in the
admin.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import models
from django.template import Template, TemplateSyntaxError

from plant.models.alarms import AlarmDefinition
from plant.notifications.rules import REASON_LABELS, Reason


def validate_template(text: str) -> None:
    """A subject or body must be a Django template that compiles."""
    try:
        Template(text)
    except TemplateSyntaxError as error:
        raise ValidationError(f"Not a valid template: {error}") from None


# A shift report travels the same outbox as the alarms, so its retries and failures show the same.
REPORT_REASON = "report"
REASON_CHOICES = [(r.value, REASON_LABELS[r]) for r in Reason] + [(REPORT_REASON, "Shift report")]


class NotificationRoster(models.Model):
    """Who is told about the alarms of an area (a line, or the whole plant) of a priority and
    above: at activation (delay 0), or when still unacknowledged after the delay (escalation)."""

    name = models.CharField(max_length=100)
    plant = models.ForeignKey(
        "plant.Plant", on_delete=models.CASCADE, related_name="notification_rosters"
    )
    line = models.ForeignKey(
        "plant.Line", on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        help_text="Empty: every line of the plant.",
    )  # fmt: skip
    min_priority = models.CharField(
        max_length=8, choices=AlarmDefinition.Priority.choices,
        default=AlarmDefinition.Priority.HIGH, help_text="Alarms of this priority and above.",
    )  # fmt: skip
    delay_minutes = models.PositiveIntegerField(
        default=0,
        help_text="0: told when an alarm activates. N: told when it is still unacknowledged "
        "N minutes after it activated (the next roster of an escalation).",
    )
    on_return = models.BooleanField(
        default=True,
        help_text="Also told when the alarm returns to normal (an escalation roster only if it "
        "was told of that activation).",
    )
    subject_template = models.CharField(
        max_length=300, blank=True, validators=[validate_template],
        help_text="Empty: the default. A Django template; see the README for its variables.",
    )  # fmt: skip
    body_template = models.TextField(
        blank=True, validators=[validate_template],
        help_text="Empty: the default. A Django template; see the README for its variables.",
    )  # fmt: skip
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["plant_id", "delay_minutes", "name"]

    def __str__(self) -> str:
        when = f"after {self.delay_minutes} min" if self.delay_minutes else "at activation"
        return f"{self.name} ({self.plant}, {self.get_min_priority_display()}+, {when})"

    def clean(self) -> None:
        line = self.line if self.line_id else None
        if line is not None and self.plant_id and line.plant_id != self.plant_id:
            raise ValidationError({"line": "Pick a line of the roster's plant."})


class NotificationRecipient(models.Model):
    """One address of a roster: an e-mail address, or a webhook URL that takes a JSON POST."""

    class Kind(models.TextChoices):
        EMAIL = "email", "e-mail"
        WEBHOOK = "webhook", "webhook (JSON POST)"

    roster = models.ForeignKey(
        NotificationRoster, on_delete=models.CASCADE, related_name="recipients"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.EMAIL)
    address = models.CharField(max_length=500, help_text="An e-mail address, or an http(s) URL.")
    secret = models.CharField(
        max_length=200, blank=True,
        help_text="Webhooks: the shared secret of the X-Scada-Signature header (HMAC-SHA256).",
    )  # fmt: skip
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["roster_id", "kind", "address"]
        constraints = [
            models.UniqueConstraint(
                fields=["roster", "kind", "address"], name="notification_recipient_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.address}"

    def clean(self) -> None:
        if self.kind == self.Kind.EMAIL:
            try:
                validate_email(self.address)
            except ValidationError:
                raise ValidationError({"address": "Enter an e-mail address."}) from None
            if self.secret:
                raise ValidationError({"secret": "Only a webhook has a secret."})
        elif self.kind == self.Kind.WEBHOOK:
            try:
                URLValidator(schemes=["http", "https"])(self.address)
            except ValidationError:
                raise ValidationError({"address": "Enter an http:// or https:// URL."}) from None


class NotificationDelivery(models.Model):
    """One message to one recipient about one alarm event: the outbox row, and its record."""

    class State(models.TextChoices):
        PENDING = "pending", "waiting to be sent"
        SENDING = "sending", "being sent"
        SENT = "sent", "sent"
        FAILED = "failed", "failed (given up)"

    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="+")
    entry = models.ForeignKey(
        "plant.AlarmJournalEntry", on_delete=models.PROTECT, related_name="+", null=True,
        help_text="The journal entry told of (for an escalation, the activation); empty for "
        "a shift report.",
    )  # fmt: skip
    report = models.ForeignKey(
        "plant.ShiftReport", on_delete=models.PROTECT, related_name="deliveries", null=True,
        help_text="The shift report mailed (its PDF attached); empty for an alarm.",
    )  # fmt: skip
    reason = models.CharField(max_length=12, choices=REASON_CHOICES)
    roster = models.ForeignKey(
        NotificationRoster, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    recipient = models.ForeignKey(
        NotificationRecipient, on_delete=models.SET_NULL, null=True, related_name="deliveries"
    )
    kind = models.CharField(max_length=8, choices=NotificationRecipient.Kind.choices)
    address = models.CharField(max_length=500)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    payload = models.JSONField(help_text="What a webhook is sent.")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_at = models.DateTimeField(null=True)
    sent_at = models.DateTimeField(null=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "notification deliveries"
        constraints = [
            # However many dispatchers plan, an event reaches a recipient once.
            models.UniqueConstraint(
                fields=["entry", "recipient", "reason"], name="notification_delivery_once"
            ),
            models.UniqueConstraint(
                fields=["report", "address"],
                name="report_delivery_once",
                condition=models.Q(report__isnull=False),
            ),
            models.CheckConstraint(
                condition=models.Q(entry__isnull=False) | models.Q(report__isnull=False),
                name="delivery_of_an_alarm_or_a_report",
            ),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.reason} of {self.subject} to {self.address}"


class NotificationAttempt(models.Model):
    """One try to send a delivery: when, whether it worked, and the error if not."""

    delivery = models.ForeignKey(
        NotificationDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    at = models.DateTimeField()
    ok = models.BooleanField()
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    dispatcher = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["delivery_id", "at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {'sent' if self.ok else self.error}"


class NotificationCursor(models.Model):
    """How far the dispatchers have followed the alarm journal (one row)."""

    last_entry_id = models.BigIntegerField(help_text="Every journal entry up to it is handled.")
    started_from_id = models.BigIntegerField(
        help_text="Where the first dispatcher started: older activations are not escalated."
    )
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"journal followed to {self.last_entry_id}"
