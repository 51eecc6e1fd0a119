import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from plant.timescale import create_aggregates, drop_aggregates


def aggregate_samples_when_available(apps, schema_editor):  # type: ignore[no-untyped-def]
    """With TimescaleDB: the 1-minute and 1-hour continuous aggregates; otherwise nothing."""
    create_aggregates(schema_editor.connection)


def drop_sample_aggregates(apps, schema_editor):  # type: ignore[no-untyped-def]
    drop_aggregates(schema_editor.connection)


class Migration(migrations.Migration):
    """Historian aggregates (TimescaleDB only) and API tokens.

    Not atomic: TimescaleDB creates and refreshes continuous aggregates only outside a
    transaction block. Every step is safe to run again.
    """

    atomic = False

    dependencies = [
        ("plant", "0003_timescale"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="What uses it, e.g. 'energy report'.", max_length=100
                    ),
                ),
                (
                    "prefix",
                    models.CharField(
                        editable=False,
                        help_text="The first characters, to tell tokens apart.",
                        max_length=16,
                    ),
                ),
                ("key_hash", models.CharField(editable=False, max_length=64, unique=True)),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
                ("last_used_at", models.DateTimeField(blank=True, editable=False, null=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"verbose_name": "API token", "ordering": ["user", "name"]},
        ),
        migrations.RunPython(aggregate_samples_when_available, drop_sample_aggregates),
    ]
