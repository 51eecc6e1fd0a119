"""The one review list of signals seen but not (yet) in the asset model: Neuron tags,
Sparkplug births waiting for approval, unknown topics of our own JSON contract."""

from __future__ import annotations

from django.db import models


class DiscoveredSignal(models.Model):
    """A signal the worker saw that no tag stores, and what an admin decided about it."""

    class Kind(models.TextChoices):
        SPARKPLUG = "sparkplug", "Sparkplug birth"
        NEURON = "neuron", "Neuron tag"
        TOPIC = "topic", "unknown topic"

    class Status(models.TextChoices):
        NEW = "new", "new"
        ACCEPTED = "accepted", "accepted"
        MAPPED = "mapped", "mapped"
        IGNORED = "ignored", "ignored"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    # neuron: "<app>/<node>/<group>/<tag>"; sparkplug: "<group>/<edge>[/<device>]"; topic: it.
    key = models.CharField(max_length=512)
    plant = models.ForeignKey(
        "plant.Plant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    data_type = models.CharField(max_length=16, blank=True)
    unit = models.CharField(max_length=16, blank=True)
    last_value = models.CharField(max_length=200, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    count = models.PositiveBigIntegerField(default=1)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.NEW)
    tag = models.ForeignKey(
        "plant.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What accepting needs: the Neuron gateway id, node, group, name; the pending birth's id.
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["status", "-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="discovered_signal_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.key}"
