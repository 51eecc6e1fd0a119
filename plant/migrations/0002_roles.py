from django.db import migrations

from plant.roles import sync_roles


class Migration(migrations.Migration):
    """Create the viewer, operator, supervisor and admin groups with their permissions."""

    dependencies = [
        ("plant", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
