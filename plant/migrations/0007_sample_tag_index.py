import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Drop the samples' separate tag_id index: the (tag_id, time) primary key covers it."""

    dependencies = [("plant", "0006_alarms")]

    operations = [
        migrations.AlterField(
            model_name="sample",
            name="tag",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="plant.tag",
            ),
        ),
    ]
