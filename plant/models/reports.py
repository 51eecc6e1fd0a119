"""Shift reports: a plant's mailing list and key values, the reports made at each shift's end
(their figures and PDF, kept for download), and how far each plant has been reported.

The report job (plant.report_job, a part of `manage.py notify`) makes them; rows change only
through plant.actions.reports. The mailing list is configured in the admin.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models


def addresses_of(text: str) -> list[str]:
    """The e-mail addresses of a mailing list: one a line, or separated by commas."""
    return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]


class ShiftReportSettings(models.Model):
    """Who a plant's shift reports are mailed to, and which tags they give min/max/avg for."""

    plant = models.OneToOneField(
        "plant.Plant", on_delete=models.CASCADE, related_name="report_settings"
    )
    recipients = models.TextField(
        blank=True, help_text="E-mail addresses the PDF is mailed to, one a line (or commas)."
    )
    key_tags = models.ManyToManyField(
        "plant.Tag", blank=True, related_name="+",
        help_text="The key values (min, max, average). Empty: every number tag of the plant.",
    )  # fmt: skip
    enabled = models.BooleanField(default=True, help_text="Off: reports are kept, not mailed.")

    class Meta:
        verbose_name = "shift report settings"
        verbose_name_plural = "shift report settings"

    def __str__(self) -> str:
        return f"Shift reports of {self.plant}"

    def clean(self) -> None:
        bad = []
        for address in addresses_of(self.recipients):
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            raise ValidationError({"recipients": f"Not e-mail addresses: {', '.join(bad)}."})

    @property
    def addresses(self) -> list[str]:
        return addresses_of(self.recipients)


class ShiftReport(models.Model):
    """One shift's (or day's) report as it was made: its figures, and the PDF mailed."""

    class Kind(models.TextChoices):
        SHIFT = "shift", "shift"
        DAY = "day", "day"

    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="reports")
    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.SHIFT)
    name = models.CharField(max_length=100, help_text="The shift's name, or the day.")
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    figures = models.JSONField(help_text="Everything the page, the CSV and the PDF show.")
    pdf = models.BinaryField()
    created_at = models.DateTimeField()
    build_ms = models.PositiveIntegerField(default=0, help_text="How long it took to make.")

    class Meta:
        ordering = ["-start_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plant", "kind", "start_at", "end_at"], name="shift_report_once"
            ),
            models.CheckConstraint(
                condition=models.Q(end_at__gt=models.F("start_at")), name="shift_report_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plant}: {self.name} {self.start_at:%Y-%m-%d %H:%M}"


class ShiftReportCursor(models.Model):
    """Every shift of the plant that ended by `reported_until` is reported. Made at the job's
    first look at the plant (so the past is not mailed out); a shift that ended while the job
    was down is reported when it comes back."""

    plant = models.OneToOneField("plant.Plant", on_delete=models.CASCADE, related_name="+")
    reported_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.plant} reported until {self.reported_until:%Y-%m-%d %H:%M}"
