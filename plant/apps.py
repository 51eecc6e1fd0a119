from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.creation import TEST_DATABASE_PREFIX
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class PlantConfig(AppConfig):
    """The core domain: the asset tree, the historian tables, roles and the live contract."""

    name = "plant"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported for what they register: admin pages, checks and signal receivers.
        from plant import (  # noqa: F401
            access_signals,
            alarm_admin,
            checks,
            config_history,
            notification_admin,
            spc_admin,
            vibration_admin,
        )

        post_migrate.connect(apply_historian_policies, sender=self)
        config_history.connect()
        access_signals.connect()
        connection_created.connect(allow_truncate_in_test_database)


def apply_historian_policies(using: str, **kwargs: Any) -> None:
    """After every migrate, set the samples' compression and retention from the settings."""
    from plant.timescale import apply_storage_policies

    apply_storage_policies(
        connections[using], settings.HISTORIAN_COMPRESS_AFTER, settings.HISTORIAN_RETENTION
    )


def allow_truncate_in_test_database(connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """In a test database (Django names them test_*), let TRUNCATE pass the journals' triggers.

    Between transactional tests Django empties every table with one TRUNCATE, journals and
    the configuration history too, which their BEFORE TRUNCATE triggers refuse unless the
    session sets scada.allow_truncate (migration 0012). Anywhere else the triggers stand; and
    the application's own role (manage.py create_app_role) holds no TRUNCATE right at all.
    """
    if connection.vendor == "postgresql" and str(connection.settings_dict["NAME"]).startswith(
        TEST_DATABASE_PREFIX
    ):
        with connection.cursor() as cursor:
            cursor.execute("SET scada.allow_truncate = on")
