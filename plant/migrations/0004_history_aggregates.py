from django.db import migrations


class Migration(migrations.Migration):
    """Historian aggregates and API tokens (filled in by the historian work)."""

    dependencies = [("plant", "0003_timescale")]

    operations: list[migrations.operations.base.Operation] = []
