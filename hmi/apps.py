from django.apps import AppConfig


class HmiConfig(AppConfig):
    """Everything a browser touches: pages, fragments, forms and websockets."""

    name = "hmi"

    def ready(self) -> None:
        from hmi import login_security, theme  # noqa: F401  (their signal receivers)
