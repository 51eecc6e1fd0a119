from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db import connections
from django.db.models.signals import post_migrate


class PlantConfig(AppConfig):
    """The core domain: the asset tree, the historian tables, roles and the live contract."""

    name = "plant"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from plant import alarm_admin, checks  # noqa: F401  (registers admin pages, checks)

        post_migrate.connect(apply_historian_policies, sender=self)


def apply_historian_policies(using: str, **kwargs: Any) -> None:
    """After every migrate, set the samples' compression and retention from the settings."""
    from plant.timescale import apply_storage_policies

    apply_storage_policies(
        connections[using], settings.HISTORIAN_COMPRESS_AFTER, settings.HISTORIAN_RETENTION
    )
