"""Placeholder in the migration chain; its owner fills in the operations."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("plant", "0015_broker_access")]

    operations: list = []
