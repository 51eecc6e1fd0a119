from django.db import migrations


class Migration(migrations.Migration):
    """Placeholder: filled by the hostile-input work (latest-value ordering, retention)."""

    dependencies = [("plant", "0008_system_health")]

    operations = []
