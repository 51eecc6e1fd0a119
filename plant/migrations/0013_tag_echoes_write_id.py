from django.db import migrations, models


class Migration(migrations.Migration):
    """Tag.echoes_write_id: a device seen echoing write ids is confirmed only by such echoes."""

    dependencies = [("plant", "0012_configuration_history")]

    operations = [
        migrations.AddField(
            model_name="tag",
            name="echoes_write_id",
            field=models.BooleanField(
                default=False,
                db_default=False,
                help_text="The device sends each write's id back with its readback, so only "
                "such a readback confirms a write. Set by the ingest worker the first time it "
                "does.",
            ),
        ),
    ]
