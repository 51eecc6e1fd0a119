"""MQTT client factory (paho-mqtt 2, MQTT 5) configured from MQTT_URL, and topic helpers."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt._packet as paho_packet
import paho.mqtt.client as mqtt
from django.conf import settings
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

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


class LazyPublishProperties:
    """MQTT 5 properties of a received PUBLISH, parsed only when the message has any.

    paho builds a full `Properties` object (a dozen tables) for every message it receives:
    40% of its time per message in our profile, and devices rarely send properties.
    """

    def __init__(self, packet_type: int) -> None:
        self._real: Properties | None = None
        self._packet_type = packet_type

    def unpack(self, buffer: bytes | bytearray) -> tuple[Any, int]:
        if buffer[:1] == b"\x00":  # a property length of zero
            return self, 1
        self._real = Properties(self._packet_type)
        _, length = self._real.unpack(buffer)
        return self, length

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or self.__dict__.get("_real") is None:
            raise AttributeError(name)
        return getattr(self._real, name)


def _publish_properties(packet_type: int) -> Any:
    if packet_type == PacketTypes.PUBLISH:
        return LazyPublishProperties(packet_type)
    return Properties(packet_type)


def speed_up_paho() -> None:
    """Make paho (pinned at 2.2.0) parse PUBLISH properties lazily; idempotent."""
    paho_packet.Properties = _publish_properties  # type: ignore[attr-defined]


class BufferedSocket:
    """A socket that reads 64 KiB at a time and hands paho the few bytes it asks for.

    paho reads each packet with three or more recv() calls (type, length, body), one system
    call each; at tens of thousands of messages a second that was a third of the worker's
    network thread. paho already asks a socket for `pending()` bytes (it does so for TLS) and
    then reads without waiting in select(), so buffering here is invisible to it.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._at = 0  # read position: slicing from an offset copies only what is returned

    def recv(self, bufsize: int) -> bytes:
        if self._at >= len(self._buffer):
            self._buffer = self._sock.recv(max(bufsize, 65536))  # raises as the socket would
            self._at = 0
        at = self._at
        self._at = at + bufsize
        return self._buffer[at : at + bufsize]

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buffer) - self._at + inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class FastClient(mqtt.Client):
    """paho's client with buffered reads and many packets handled per wake-up."""

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        # paho handles one incoming packet per select(); drain what is already buffered.
        rc = super().loop_read(max_packets)
        for _ in range(10_000):
            sock = self._sock
            if rc or sock is None or not sock.pending():
                break
            rc = super().loop_read(max_packets)
        return rc


def make_client(
    client_id: str = "", *, url: str | None = None, manual_ack: bool = False
) -> tuple[mqtt.Client, BrokerAddress]:
    """A paho client speaking MQTT 5, with credentials and TLS from the URL (not yet connected)."""
    address = parse_url(url or settings.MQTT_URL)
    speed_up_paho()
    client = FastClient(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set_context(ssl.create_default_context())
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client, address


def set_topic(tag_topic: str) -> str:
    """Where setpoint writes to a tag are published."""
    return tag_topic + SET_SUFFIX
