from django.db import migrations, models


class Migration(migrations.Migration):
    """Hostile input: a daily tally of refused messages that outlives their purge, and an index
    by latest sighting for the unknown topics' listing and retention cap."""

    dependencies = [("plant", "0008_system_health")]

    operations = [
        migrations.CreateModel(
            name="RejectionTally",
            fields=[
                ("day", models.DateField(primary_key=True, serialize=False)),
                (
                    "rejected",
                    models.PositiveBigIntegerField(default=0, help_text="Messages refused."),
                ),
                (
                    "unknown_topic",
                    models.PositiveBigIntegerField(
                        default=0, help_text="Of them, messages on a topic no tag has."
                    ),
                ),
            ],
            options={"ordering": ["-day"]},
        ),
        migrations.AddIndex(
            model_name="unknowntopic",
            index=models.Index(fields=["last_seen_at"], name="plant_unknowntopic_seen"),
        ),
    ]
