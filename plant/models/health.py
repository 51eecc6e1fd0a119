"""The product's own health: faults of its processes (system alarms) and the worker's pulse.

Operators see both on every screen (hmi's status bar): a system alarm says which part of the
product is failing and why, and the heartbeat says whether live values are still arriving.
Rows change only through plant.system_health.
"""

from __future__ import annotations

from django.db import models


class SystemAlarm(models.Model):
    """A fault of the product itself, such as a part of the ingest worker failing or the
    broker dropping messages: raised and cleared by the system, counted, shown to everyone."""

    key = models.CharField(
        max_length=64, unique=True, help_text="What failed, e.g. 'ingest.alarms'."
    )
    message = models.CharField(max_length=200, help_text="What it means, in words.")
    detail = models.CharField(max_length=500, blank=True, help_text="The latest error.")
    active = models.BooleanField(default=False)
    raised_at = models.DateTimeField(null=True, help_text="When it last became active.")
    cleared_at = models.DateTimeField(null=True, help_text="When it last cleared.")
    last_seen_at = models.DateTimeField(null=True, help_text="The latest occurrence.")
    count = models.PositiveBigIntegerField(default=0, help_text="Occurrences, ever.")

    class Meta:
        ordering = ["-active", "-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class WorkerHeartbeat(models.Model):
    """The latest sign of life of one ingest worker, written every couple of seconds."""

    name = models.CharField(max_length=100, unique=True, help_text="The worker's MQTT client id.")
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(help_text="The worker's latest turn of its loop.")
    committed_at = models.DateTimeField(null=True, help_text="Its latest stored batch.")
    lag_s = models.FloatField(default=0.0, help_text="Now minus the newest stored value's time.")
    buffered = models.PositiveIntegerField(default=0, help_text="Messages held, not yet stored.")
    broker_connected = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%H:%M:%S}"
