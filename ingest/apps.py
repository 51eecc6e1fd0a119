from django.apps import AppConfig


class IngestConfig(AppConfig):
    """Everything that speaks MQTT: the ingest worker, the setpoint writer and the simulator."""

    name = "ingest"
