"""Sparkplug B edge nodes as the asset model knows them: group → plant, edge node → line,
device → machine, metric → tag (plant.sparkplug creates them from births)."""

from __future__ import annotations

from django.db import models


class SparkplugGroup(models.Model):
    """A Sparkplug group, and the plant its edge nodes' births fill."""

    group_id = models.CharField(max_length=255, unique=True, help_text="The topic's group id.")
    plant = models.ForeignKey(
        "plant.Plant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    discovery = models.BooleanField(
        default=True,
        help_text="A birth from an unknown edge node, device or metric creates its line, "
        "machine and tags. Off: the birth waits under Sparkplug pending births for approval.",
    )

    class Meta:
        ordering = ["group_id"]

    def __str__(self) -> str:
        return self.group_id


class SparkplugNode(models.Model):
    """An edge node, or one of its devices (`device_id` set), with the machine it fills and
    its session: online since its birth (bdSeq), offline since its death."""

    group = models.ForeignKey(SparkplugGroup, on_delete=models.CASCADE, related_name="nodes")
    edge_node_id = models.CharField(max_length=255)
    device_id = models.CharField(max_length=255, blank=True, help_text="Empty: the edge node.")
    machine = models.ForeignKey(
        "plant.Machine", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    online = models.BooleanField(default=False)
    # Made with the machine at its first birth (plant.sparkplug). A comm-loss alarm of the node
    # or device is a digital alarm definition on it (limit 0): raised at its death, or its
    # will's, and back to normal at its next birth, through the alarm engine like any other.
    status_tag = models.ForeignKey(
        "plant.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="Its communication: 1 from its birth, 0 from its death. Define a digital "
        "alarm (limit 0) on it for a comm-loss alarm.",
    )  # fmt: skip
    bd_seq = models.BigIntegerField(null=True, blank=True, help_text="bdSeq of the last NBIRTH.")
    birth_at = models.DateTimeField(null=True, blank=True)
    death_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["group", "edge_node_id", "device_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "edge_node_id", "device_id"], name="sparkplug_node_unique"
            ),
        ]

    def __str__(self) -> str:
        return "/".join(p for p in (str(self.group), self.edge_node_id, self.device_id) if p)


class SparkplugMetric(models.Model):
    """A metric of a node or device as its last birth named it, and the tag that stores it
    (none for datatypes the historian does not keep, or once an admin deleted the tag)."""

    node = models.ForeignKey(SparkplugNode, on_delete=models.CASCADE, related_name="metrics")
    name = models.CharField(max_length=255)
    alias = models.BigIntegerField(null=True, blank=True)
    datatype = models.PositiveSmallIntegerField(help_text="Sparkplug datatype number.")
    tag = models.ForeignKey(
        "plant.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["node", "name"]
        constraints = [
            models.UniqueConstraint(fields=["node", "name"], name="sparkplug_metric_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.node} {self.name}"


class SparkplugPendingBirth(models.Model):
    """A birth of a group whose discovery is off, waiting for an admin to approve it."""

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        APPROVED = "approved", "approved"
        IGNORED = "ignored", "ignored"

    group = models.ForeignKey(SparkplugGroup, on_delete=models.CASCADE, related_name="pending")
    edge_node_id = models.CharField(max_length=255)
    device_id = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField()
    # [{"name", "alias", "datatype", "unit", "low", "high"}, ...] as the birth described them.
    metrics = models.JSONField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "edge_node_id", "device_id"],
                condition=models.Q(state="pending"),
                name="sparkplug_one_pending_birth",
            ),
        ]

    def __str__(self) -> str:
        return "/".join(p for p in (str(self.group), self.edge_node_id, self.device_id) if p)
