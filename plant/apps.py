from django.apps import AppConfig


class PlantConfig(AppConfig):
    """The core domain: the asset tree, the historian tables, roles and the live contract."""

    name = "plant"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from plant import checks  # noqa: F401  (registers the service checks)
