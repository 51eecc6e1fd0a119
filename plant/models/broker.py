"""Who may connect to the plant's MQTT broker: one identity per device or gateway.

`manage.py broker_access` writes Mosquitto's password and ACL files from these rows and from
the product's own identities (ingest, the simulator); plant.mosquitto_auth says what each kind
may publish and receive. Only the password's `$7$` hash is stored; the configuration history
records that it changed, never the hash.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from plant import mosquitto_auth
from plant.models.assets import Plant, validate_topic

# The product's own identities (compose.yaml, `manage.py run`): no device may take their names.
RESERVED_USERNAMES = frozenset({"ingest", "simulator"})


def validate_username(username: str) -> None:
    try:
        mosquitto_auth.check_username(username)
    except mosquitto_auth.AuthFileError as error:
        raise ValidationError(str(error)) from None
    if username.lower() in RESERVED_USERNAMES:
        raise ValidationError(f"{username!r} is one of the product's own broker identities.")


def plant_topic_prefix(plant: Plant) -> str:
    """Where a plant's topics lie: `<MQTT_TOPIC_ROOT><slug>` (the MQTT contract)."""
    return f"{settings.MQTT_TOPIC_ROOT}{plant.slug}"


class DeviceIdentity(models.Model):
    """A device's (or a gateway's) login on the broker, and the topics it owns.

    It publishes only the telemetry of the tags whose topic lies under `topic_prefix` (and the
    batch topics of the machines there) and receives only the writes to those of them that are
    writable; with a Sparkplug edge node it also publishes that node's births, deaths and data
    and receives its commands. It never publishes a write (`…/set`): only ingest does.
    """

    plant = models.ForeignKey(Plant, on_delete=models.CASCADE, related_name="device_identities")
    username = models.CharField(
        max_length=64, unique=True, validators=[validate_username],
        help_text="The device's MQTT user name.",
    )  # fmt: skip
    password_hash = models.CharField(max_length=200, editable=False)
    topic_prefix = models.CharField(
        max_length=255, blank=True, validators=[validate_topic],
        help_text="The topics it owns: a machine's (plant/line/machine), a line's or the plant's "
        "topic; its tags' topics lie under it. Empty: none (a Sparkplug gateway only).",
    )  # fmt: skip
    sparkplug_group = models.CharField(
        max_length=100, blank=True, help_text="Sparkplug B group id (with an edge node id)."
    )
    sparkplug_node = models.CharField(
        max_length=100, blank=True, help_text="Sparkplug B edge node id it publishes as."
    )
    neuron_app = models.CharField(
        max_length=128, blank=True,
        help_text="The EMQX Neuron north app it publishes as (a Neuron gateway's app name).",
    )  # fmt: skip
    enabled = models.BooleanField(default=True, help_text="Off: the broker refuses its login.")
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["plant", "username"]
        verbose_name = "device identity"
        verbose_name_plural = "device identities"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(username__in=sorted(RESERVED_USERNAMES)),
                name="device_identity_username_not_reserved",
            ),
            models.CheckConstraint(
                condition=models.Q(sparkplug_group="", sparkplug_node="")
                | (~models.Q(sparkplug_group="") & ~models.Q(sparkplug_node="")),
                name="device_identity_sparkplug_group_and_node",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username} ({self.plant.slug})" if self.plant_id else self.username

    def clean(self) -> None:
        errors = {}
        if self.plant_id and self.topic_prefix:
            prefix = plant_topic_prefix(self.plant)
            if self.topic_prefix != prefix and not self.topic_prefix.startswith(prefix + "/"):
                errors["topic_prefix"] = f"A device of {self.plant} owns topics under {prefix}."
        if bool(self.sparkplug_group) != bool(self.sparkplug_node):
            errors["sparkplug_node"] = "Give both the Sparkplug group and edge node, or neither."
        elif self.sparkplug_group:
            try:
                mosquitto_auth.sparkplug_gateway_grants(self.sparkplug_group, self.sparkplug_node)
            except mosquitto_auth.AuthFileError as error:
                errors["sparkplug_node"] = str(error)
        if self.neuron_app:
            try:
                mosquitto_auth.neuron_gateway_grants(self.neuron_app)
            except mosquitto_auth.AuthFileError as error:
                errors["neuron_app"] = str(error)
        if not self.topic_prefix and not self.sparkplug_group and not self.neuron_app:
            errors["topic_prefix"] = (
                "Give the topics it owns, a Sparkplug edge node or a Neuron north app."
            )
        if errors:
            raise ValidationError(errors)

    def set_password(self, password: str) -> None:
        """Store the hash of `password` (the broker learns it at the next broker_access)."""
        try:
            self.password_hash = mosquitto_auth.hash_password(password)
        except mosquitto_auth.AuthFileError as error:
            raise ValidationError({"password_hash": str(error)}) from None

    def set_new_password(self) -> str:
        """Give the identity a fresh random password and return it: the only time it is shown."""
        password = secrets.token_urlsafe(24)
        self.set_password(password)
        return password
