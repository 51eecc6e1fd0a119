from django.db import migrations


class Migration(migrations.Migration):
    """Placeholder: filled by the alarm and loop work (delay timers, validation)."""

    dependencies = [("plant", "0009_hostile_input")]

    operations = []
