"""Placeholder in the migration chain; its owner fills in the operations."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("plant", "0014_roles_and_loop_journal")]

    operations: list = []
