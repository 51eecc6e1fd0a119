"""Device identities on the broker (issue 12): who may connect, and which topics each owns."""

import django.db.models.deletion
from django.db import migrations, models

import plant.models.assets
import plant.models.broker
from plant.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("plant", "0019_sparkplug"),
    ]

    operations = [
        migrations.CreateModel(
            name="DeviceIdentity",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "username",
                    models.CharField(
                        help_text="The device's MQTT user name.",
                        max_length=64,
                        unique=True,
                        validators=[plant.models.broker.validate_username],
                    ),
                ),
                ("password_hash", models.CharField(editable=False, max_length=200)),
                (
                    "topic_prefix",
                    models.CharField(
                        blank=True,
                        help_text="The topics it owns: a machine's (plant/line/machine), a line's or the plant's topic; its tags' topics lie under it. Empty: none (a Sparkplug gateway only).",
                        max_length=255,
                        validators=[plant.models.assets.validate_topic],
                    ),
                ),
                (
                    "sparkplug_group",
                    models.CharField(
                        blank=True,
                        help_text="Sparkplug B group id (with an edge node id).",
                        max_length=100,
                    ),
                ),
                (
                    "sparkplug_node",
                    models.CharField(
                        blank=True,
                        help_text="Sparkplug B edge node id it publishes as.",
                        max_length=100,
                    ),
                ),
                (
                    "enabled",
                    models.BooleanField(
                        default=True, help_text="Off: the broker refuses its login."
                    ),
                ),
                ("description", models.CharField(blank=True, max_length=200)),
                (
                    "plant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="device_identities",
                        to="plant.plant",
                    ),
                ),
            ],
            options={
                "verbose_name": "device identity",
                "verbose_name_plural": "device identities",
                "ordering": ["plant", "username"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("username__in", ["ingest", "simulator"]), _negated=True
                        ),
                        name="device_identity_username_not_reserved",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("sparkplug_group", ""), ("sparkplug_node", "")),
                            models.Q(
                                models.Q(("sparkplug_group", ""), _negated=True),
                                models.Q(("sparkplug_node", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="device_identity_sparkplug_group_and_node",
                    ),
                ],
            },
        ),
        # Admins manage their plants' device identities (plant.roles).
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
