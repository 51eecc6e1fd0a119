from django.apps import AppConfig


class HmiConfig(AppConfig):
    """Everything a browser touches: pages, fragments, forms and websockets."""

    name = "hmi"

    def ready(self) -> None:
        from hmi import login_security  # noqa: F401  (its signal receivers)
