"""EMQX Neuron gateways as the asset model knows them: a gateway (one Neuron MQTT north app)
feeds one plant; each south node (Neuron's driver, one device link) fills a machine; each
(node, group, tag) of its uploads maps onto one of our tags (plant.discovery creates or maps
them). Topics default to Neuron's documented ones (plant.neuron)."""

from __future__ import annotations

from django.db import models

from plant import neuron


class NeuronGateway(models.Model):
    """One Neuron MQTT north app (its name is `app`), publishing into one plant.

    Uploads arrive on /neuron/{app}/{driver}/{group}; the format (tags- or values-format) is
    read off each message. Empty topics mean Neuron's documented defaults."""

    app = models.CharField(
        max_length=128, unique=True, help_text="The north app's name ({node_name} in Neuron)."
    )
    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="+")
    write_request_topic = models.CharField(
        max_length=255, blank=True, help_text="Empty: " + neuron.WRITE_REQUEST_TOPIC
    )
    write_response_topic = models.CharField(
        max_length=255, blank=True, help_text="Empty: " + neuron.WRITE_RESPONSE_TOPIC
    )
    status_topic = models.CharField(
        max_length=255, blank=True, help_text="Empty: " + neuron.STATUS_TOPIC
    )

    class Meta:
        ordering = ["app"]

    def __str__(self) -> str:
        return self.app

    def topic(self, kind: str) -> str:
        """The gateway's write_request, write_response or status topic, or the default."""
        own: str = getattr(self, f"{kind}_topic")
        return own or neuron.topics(self.app)[kind]


class NeuronDevice(models.Model):
    """A south node of a gateway, the machine its tags belong to, and its link as the
    gateway's driver status report last said."""

    gateway = models.ForeignKey(NeuronGateway, on_delete=models.CASCADE, related_name="devices")
    node = models.CharField(max_length=128)
    machine = models.ForeignKey(
        "plant.Machine", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    link = models.SmallIntegerField(null=True, blank=True, help_text="0 disconnected, 1 connected")
    running = models.SmallIntegerField(
        null=True, blank=True, help_text="1 init, 2 ready, 3 running, 4 stopped"
    )
    state_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["gateway", "node"]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "node"], name="neuron_device_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.gateway}/{self.node}"

    @property
    def link_label(self) -> str:
        if self.link is None:
            return "unknown"
        return neuron.LINK_STATES.get(self.link, f"link {self.link}")


class NeuronTag(models.Model):
    """A tag of a gateway's uploads, named (node, group, name), and our tag that stores it."""

    gateway = models.ForeignKey(NeuronGateway, on_delete=models.CASCADE, related_name="tags")
    node = models.CharField(max_length=128)
    group = models.CharField(max_length=128)
    name = models.CharField(max_length=128)
    tag = models.ForeignKey("plant.Tag", on_delete=models.CASCADE, related_name="neuron_sources")

    class Meta:
        ordering = ["gateway", "node", "group", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "node", "group", "name"], name="neuron_tag_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gateway}/{self.node}/{self.group}/{self.name}"
