"""Security events (plant.models.SecurityEvent), append-only like the journals, and the
admins' right to see them."""

import django.utils.timezone
from django.db import migrations, models

from plant.roles import sync_roles

# The row and statement triggers of migration 0012's plant_journal_append_only.
PROTECT = """
CREATE TRIGGER plant_securityevent_append_only BEFORE UPDATE OR DELETE ON plant_securityevent
    FOR EACH ROW EXECUTE FUNCTION plant_journal_append_only();
CREATE TRIGGER plant_securityevent_no_truncate BEFORE TRUNCATE ON plant_securityevent
    FOR EACH STATEMENT EXECUTE FUNCTION plant_journal_append_only();
"""
UNPROTECT = """
DROP TRIGGER plant_securityevent_append_only ON plant_securityevent;
DROP TRIGGER plant_securityevent_no_truncate ON plant_securityevent;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("plant", "0016_security_events"),
    ]

    operations = [
        migrations.CreateModel(
            name="SecurityEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("login_failed", "login failed"),
                            ("login_locked_out", "login locked out"),
                            ("socket_origin_refused", "websocket from a foreign origin"),
                            ("socket_unauthenticated", "websocket without a login"),
                            ("socket_forbidden", "websocket to a screen not allowed"),
                            ("token_refused", "API token refused"),
                            ("token_misused", "API token used to write"),
                            ("mqtt_identity_refused", "MQTT identity refused"),
                        ],
                        max_length=32,
                    ),
                ),
                (
                    "username",
                    models.CharField(
                        blank=True, help_text="The name given or logged in, if any.", max_length=150
                    ),
                ),
                (
                    "user_id",
                    models.IntegerField(help_text="The user's id, if a known user.", null=True),
                ),
                (
                    "source",
                    models.CharField(
                        blank=True,
                        help_text="Where it came from: an address or a client id.",
                        max_length=200,
                    ),
                ),
                (
                    "plant_id",
                    models.BigIntegerField(help_text="The plant it concerns, if any.", null=True),
                ),
                (
                    "detail",
                    models.CharField(
                        blank=True, help_text="What was tried, in words.", max_length=500
                    ),
                ),
            ],
            options={
                "ordering": ["-at", "-id"],
                "indexes": [
                    models.Index(fields=["-at", "-id"], name="security_event_recent"),
                    models.Index(fields=["plant_id", "-at"], name="security_event_plant"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "kind__in",
                                [
                                    "login_failed",
                                    "login_locked_out",
                                    "socket_origin_refused",
                                    "socket_unauthenticated",
                                    "socket_forbidden",
                                    "token_refused",
                                    "token_misused",
                                    "mqtt_identity_refused",
                                ],
                            )
                        ),
                        name="security_event_kind_known",
                    )
                ],
            },
        ),
        migrations.RunSQL(PROTECT, UNPROTECT),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
