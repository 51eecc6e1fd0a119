import django.db.models.deletion
from django.db import migrations, models

from plant.rollups import install, rebuild, uninstall


def keep_rollups_on_plain_postgresql(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Without TimescaleDB: the trigger and views, then the rollups of the samples stored."""
    if install(schema_editor.connection):
        rebuild(schema_editor.connection)


def stop_keeping_rollups(apps, schema_editor):  # type: ignore[no-untyped-def]
    uninstall(schema_editor.connection)


def rollup_fields() -> list[tuple[str, models.Field]]:  # type: ignore[type-arg]
    return [
        (
            "pk",
            models.CompositePrimaryKey(
                "tag_id", "bucket", blank=True, editable=False, primary_key=True, serialize=False
            ),
        ),
        ("bucket", models.DateTimeField()),
        ("min", models.FloatField()),
        ("max", models.FloatField()),
        ("avg", models.FloatField()),
        (
            "sum",
            models.FloatField(help_text="With count, merges buckets into wider ones exactly."),
        ),
        ("count", models.BigIntegerField()),
        (
            "tag",
            models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="plant.tag",
            ),
        ),
    ]


class Migration(migrations.Migration):
    """The historian's own per-minute and per-hour rollups where TimescaleDB is absent.

    Not atomic: the rollups of an existing database are rebuilt a tag-day per transaction,
    so a worker that keeps ingesting waits for one step at a time (plant/rollups.py).
    """

    atomic = False

    dependencies = [("plant", "0030_user_preferences")]

    operations = [
        migrations.CreateModel(
            name="HourRollup",
            fields=rollup_fields(),
            options={"db_table": "plant_rollup_1h"},
        ),
        migrations.CreateModel(
            name="MinuteRollup",
            fields=rollup_fields(),
            options={"db_table": "plant_rollup_1m"},
        ),
        migrations.CreateModel(
            name="PendingRollup",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "tag_id",
                        "bucket",
                        "batch",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("bucket", models.DateTimeField()),
                ("batch", models.BigIntegerField(help_text="One number per insert statement.")),
                ("min", models.FloatField()),
                ("max", models.FloatField()),
                ("sum", models.FloatField()),
                ("count", models.BigIntegerField()),
                (
                    "tag",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="plant.tag",
                    ),
                ),
            ],
            options={"db_table": "plant_rollup_pending"},
        ),
        migrations.RunPython(keep_rollups_on_plain_postgresql, stop_keeping_rollups),
    ]
