"""MQTT client factory (paho-mqtt 2, MQTT 5) configured from MQTT_URL, and topic helpers."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.conf import settings

from ingest.paho_fast import fast_client_class

SET_SUFFIX = "/set"


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_url(url: str) -> BrokerAddress:
    """Split mqtt://user:pass@host:port or mqtts://… into what paho needs."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"MQTT_URL must start with mqtt:// or mqtts://, not {url!r}")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def make_client(
    client_id: str = "", *, url: str | None = None, manual_ack: bool = False, fast: bool = False
) -> tuple[mqtt.Client, BrokerAddress]:
    """A paho client speaking MQTT 5, with credentials and TLS from the URL (not yet connected).

    `fast` gives the ingest worker's receive path (ingest.paho_fast), for its own client only.
    """
    address = parse_url(url or settings.MQTT_URL)
    client_class = fast_client_class() if fast else mqtt.Client
    client = client_class(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        # A private CA (MQTT_CA_FILE) or the system's; the host name is checked either way.
        client.tls_set_context(ssl.create_default_context(cafile=settings.MQTT_CA_FILE or None))
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client, address


def set_topic(tag_topic: str) -> str:
    """Where setpoint writes to a tag are published."""
    return tag_topic + SET_SUFFIX
