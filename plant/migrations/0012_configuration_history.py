from django.db import migrations


class Migration(migrations.Migration):
    """Placeholder: filled by the configuration history work."""

    dependencies = [("plant", "0011_tokens_and_admin")]

    operations = []
