from django.db import migrations


class Migration(migrations.Migration):
    """Setpoint writes (outbox and audit) and control loops (filled in by the setpoint work)."""

    dependencies = [("plant", "0004_history_aggregates")]

    operations: list[migrations.operations.base.Operation] = []
