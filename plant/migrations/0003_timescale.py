from django.db import migrations

from plant.timescale import try_create_extension

CHUNK_INTERVAL = "1 day"  # a day of a busy plant's samples fits comfortably in memory
COMPRESS_AFTER = "7 days"


def use_timescale_when_available(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Turn the samples table into a compressed hypertable, or leave it plain PostgreSQL."""
    connection = schema_editor.connection
    if not try_create_extension(connection):
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT create_hypertable('plant_sample', 'time', "
            "chunk_time_interval => %s::interval, migrate_data => true, if_not_exists => true)",
            [CHUNK_INTERVAL],
        )
        cursor.execute(
            "ALTER TABLE plant_sample SET (timescaledb.compress, "
            "timescaledb.compress_segmentby = 'tag_id', timescaledb.compress_orderby = 'time DESC')"
        )
        cursor.execute(
            "SELECT add_compression_policy('plant_sample', %s::interval, if_not_exists => true)",
            [COMPRESS_AFTER],
        )


class Migration(migrations.Migration):
    """Use TimescaleDB for samples where the server has it; plain PostgreSQL still works."""

    dependencies = [("plant", "0002_roles")]

    operations = [migrations.RunPython(use_timescale_when_available, migrations.RunPython.noop)]
