import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from plant.roles import sync_roles


class Migration(migrations.Migration):
    """Setpoint writes (outbox and audit) and control loops; the roles gain their permissions."""

    dependencies = [
        ("plant", "0004_history_aggregates"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ControlLoop",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100)),
                (
                    "mode",
                    models.CharField(
                        choices=[("auto", "auto"), ("manual", "manual")],
                        default="manual",
                        max_length=6,
                    ),
                ),
                ("kp", models.FloatField(help_text="Gain: output units per unit of error.")),
                ("ti_s", models.FloatField(help_text="Integral time in seconds.")),
                (
                    "filter_s",
                    models.FloatField(
                        default=0.0, help_text="Measurement filter time constant (s)."
                    ),
                ),
                ("output_min", models.FloatField()),
                ("output_max", models.FloatField()),
                ("max_rate", models.FloatField(help_text="Largest output change per second.")),
                (
                    "write_deadband",
                    models.FloatField(
                        default=0.0,
                        help_text="Write only output changes at least this large (keeps the audit readable).",
                    ),
                ),
                (
                    "pv_stale_s",
                    models.FloatField(
                        default=5.0,
                        help_text="Drop to manual when the measurement is older than this.",
                    ),
                ),
                (
                    "output",
                    models.FloatField(blank=True, help_text="The last output it wrote.", null=True),
                ),
                ("output_at", models.DateTimeField(blank=True, null=True)),
                (
                    "note",
                    models.CharField(
                        blank=True, help_text="The latest event, in words.", max_length=200
                    ),
                ),
                (
                    "changed_at",
                    models.DateTimeField(blank=True, help_text="When the mode changed.", null=True),
                ),
                ("runner", models.CharField(blank=True, max_length=100)),
                ("lease_until", models.DateTimeField(blank=True, null=True)),
                (
                    "output_tag",
                    models.OneToOneField(
                        help_text="The writable setpoint the loop trims; one loop per output.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="control_loop",
                        to="plant.tag",
                    ),
                ),
                (
                    "pv_tag",
                    models.ForeignKey(
                        help_text="The measurement.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="plant.tag",
                    ),
                ),
                (
                    "sp_tag",
                    models.ForeignKey(
                        help_text="Its setpoint.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="plant.tag",
                    ),
                ),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="ControlLoopEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField()),
                (
                    "from_mode",
                    models.CharField(
                        choices=[("auto", "auto"), ("manual", "manual")], max_length=6
                    ),
                ),
                (
                    "to_mode",
                    models.CharField(
                        choices=[("auto", "auto"), ("manual", "manual")], max_length=6
                    ),
                ),
                ("reason", models.CharField(blank=True, max_length=200)),
                (
                    "loop",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="plant.controlloop",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="SetpointWrite",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "command_id",
                    models.UUIDField(
                        default=uuid.uuid4,
                        editable=False,
                        help_text="The id sent with the write.",
                        unique=True,
                    ),
                ),
                ("value", models.FloatField(help_text="The requested value; bools as 0/1.")),
                (
                    "old_value",
                    models.FloatField(
                        help_text="The tag's value when it was requested.", null=True
                    ),
                ),
                ("reason", models.CharField(blank=True, max_length=200)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "pending"),
                            ("sent", "sent"),
                            ("confirmed", "confirmed"),
                            ("failed", "failed"),
                            ("timed_out", "timed out"),
                            ("expired", "expired"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("requested_at", models.DateTimeField()),
                ("expires_at", models.DateTimeField(help_text="Not sent after this time, ever.")),
                (
                    "claimed_at",
                    models.DateTimeField(help_text="When a writer took it to publish.", null=True),
                ),
                (
                    "sent_at",
                    models.DateTimeField(help_text="When the broker acknowledged it.", null=True),
                ),
                (
                    "finished_at",
                    models.DateTimeField(help_text="When it reached its final state.", null=True),
                ),
                (
                    "readback",
                    models.FloatField(help_text="The value the device reported back.", null=True),
                ),
                (
                    "detail",
                    models.CharField(
                        blank=True, help_text="Why it ended as it did.", max_length=200
                    ),
                ),
                (
                    "tag",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="setpoint_writes",
                        to="plant.tag",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        help_text="Who asked for it; empty for the system (a control loop, an emergency action).",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="setpoint_writes",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-requested_at", "-id"],
                "indexes": [
                    models.Index(fields=["tag", "-requested_at"], name="setpoint_tag_recent"),
                    models.Index(fields=["-requested_at"], name="setpoint_recent"),
                    models.Index(
                        condition=models.Q(("state__in", ["pending", "sent"])),
                        fields=["state"],
                        name="setpoint_open",
                    ),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "state__in",
                                ["pending", "sent", "confirmed", "failed", "timed_out", "expired"],
                            )
                        ),
                        name="setpoint_state_known",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("state__in", ["pending", "sent"]),
                            ("finished_at__isnull", False),
                            _connector="OR",
                        ),
                        name="setpoint_final_has_time",
                    ),
                ],
            },
        ),
        # Last: the permissions of the new models exist now, so the roles can hold them.
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
