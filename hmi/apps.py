from django.apps import AppConfig


class HmiConfig(AppConfig):
    """Everything a browser touches: pages, fragments, forms and websockets."""

    name = "hmi"
