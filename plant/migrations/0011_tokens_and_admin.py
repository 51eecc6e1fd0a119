from django.db import migrations


class Migration(migrations.Migration):
    """Placeholder: filled by the API-token and per-plant administration work."""

    dependencies = [("plant", "0010_alarms_and_loops")]

    operations = []
