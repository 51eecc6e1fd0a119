"""paho-mqtt 2.2.0 internals, quarantined: the ingest worker's fast receive path.

At tens of thousands of messages a second, paho's per-message work (three reads, objects,
logging and callbacks per packet; one socket write per acknowledgement) was most of the
worker's time. The speed-ups below reach past paho's public API, so they live here alone,
are used by the ingest worker's own client alone (`make_client(fast=True)`), and are written
for exactly the paho version in `PAHO_VERSION`: on any other version `fast_client_class()`
says so loudly and hands back stock paho, which is slower but correct. The private names
used: `Client._create_socket`, `_sock`, `_in_packet`, `_protocol`, `_msgtime_mutex`,
`_last_bytes_received` and `_packet_queue`. tests/test_architecture.py keeps every other
module away from library-private names.
"""

from __future__ import annotations

import logging
import ssl
import struct
from collections.abc import Callable
from typing import Any, cast

import paho.mqtt
import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

PAHO_VERSION = "2.2.0"  # the one version these internals were read from (requirements.txt)
READ_BYTES = 256 * 1024  # one recv() takes up to this much: thousands of small messages

# (topic, payload, packet id) of a QoS 1 PUBLISH, as the fast path hands them over
Publish = tuple[str, bytes, int]
PublishBatch = Callable[[list[Publish]], None]


def fast_client_class() -> type[mqtt.Client]:
    """FastClient on the paho version it was written for; stock paho (loudly) on any other."""
    if paho.mqtt.__version__ == PAHO_VERSION:
        return FastClient
    log.warning(
        "paho-mqtt %s is installed, but the ingest worker's fast receive path was written for "
        "%s: using stock paho (correct, but about a third as fast)",
        paho.mqtt.__version__, PAHO_VERSION,
    )  # fmt: skip
    return mqtt.Client


class BufferedSocket:
    """A socket that reads 64 KiB or more at a time and hands paho the few bytes it asks for.

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

    def fill(self) -> bool:
        """Append what the socket holds now, without waiting; False if it is closed or broken.

        On False nothing is consumed: paho's own next read meets the same end and handles it.
        """
        try:
            chunk = self._sock.recv(READ_BYTES)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return True
        except OSError:
            return False
        if not chunk:
            return False
        rest = self._buffer[self._at :] if self._at < len(self._buffer) else b""
        self._buffer = rest + chunk if rest else chunk
        self._at = 0
        return True

    def take_publishes(self, mqtt5: bool) -> list[Publish]:
        """Cut every whole QoS 1 PUBLISH off the front of the buffer, as (topic, payload, id).

        Stops at the first packet that is incomplete or of another kind (acks, pings, QoS 0/2,
        a topic that is not UTF-8) and leaves it, and all after it, to paho. MQTT 5 properties
        are skipped: we never allow topic aliases (paho's default), and the worker uses none.
        """
        buf, at, end_of_data = self._buffer, self._at, len(self._buffer)
        out: list[Publish] = []
        while at + 2 <= end_of_data and buf[at] & 0xF6 == 0x32:  # PUBLISH, QoS 1, any DUP/RETAIN
            length, pos = _varint(buf, at + 1, end_of_data)
            if length < 0 or pos + length > end_of_data:
                break  # incomplete (or malformed: paho reports it)
            end = pos + length
            topic_end = pos + 2 + (buf[pos] << 8 | buf[pos + 1]) if length >= 2 else end + 1
            if topic_end + 2 > end:
                break  # a topic longer than its packet: malformed, paho reports it
            try:
                topic = buf[pos + 2 : topic_end].decode()
            except UnicodeDecodeError:
                break
            mid = buf[topic_end] << 8 | buf[topic_end + 1]
            pos = topic_end + 2
            if mqtt5:
                properties, pos = _varint(buf, pos, end)
                pos += properties
                if properties < 0 or pos > end:
                    break  # properties longer than their packet: malformed, as above
            out.append((topic, buf[pos:end], mid))
            at = end
        self._at = at
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """MQTT's variable byte integer at `pos`: (value, position after it), or (-1, pos) if cut."""
    value = shift = 0
    while pos < end and shift < 28:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return -1, pos


class FastClient(mqtt.Client):
    """paho's client with buffered reads and, optionally, a fast path for QoS 1 PUBLISH.

    With `on_publish_batch` set, whole QoS 1 PUBLISH packets are cut from the read buffer in
    one tight loop and handed over as a list, skipping paho's per-message objects, logging
    and callbacks (about 16 of paho's 23 µs a message). Everything else (CONNACK, SUBACK,
    PINGRESP, acks of our own publishes, QoS 0 and 2, packets split across reads) still goes
    through paho. Acknowledging stays the caller's job, as with `manual_ack`.
    """

    on_publish_batch: PublishBatch | None = None

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        # The socket _create_socket made (paho's stubs type `_sock` as any of its sockets).
        sock = cast("BufferedSocket | None", self._sock)
        batch = self.on_publish_batch
        mqtt5 = self._protocol == mqtt.MQTTv5
        for _ in range(10_000):
            if sock is None or self._sock is not sock:
                return mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
            if batch is not None and self._in_packet["command"] == 0:
                alive = sock.fill()
                publishes = sock.take_publishes(mqtt5)
                if publishes:
                    with self._msgtime_mutex:
                        self._last_bytes_received = mqtt.time_func()
                    batch(publishes)
                if alive and not sock.pending():
                    return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
            # One packet the fast path leaves (or, without it, every packet): paho's own way.
            rc = super().loop_read(max_packets)
            if rc or self._sock is not sock or not sock.pending():
                return rc
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS


PUBACK = struct.Struct("!BBH")


def ack_all(client: mqtt.Client, mids: list[int]) -> None:
    """Acknowledge QoS 1 messages with one write for the whole batch.

    paho's `ack()` queues one packet, wakes its network thread and makes one socket write per
    message: a third of the worker's time at 40,000 messages/s. A run of PUBACK packets is a
    valid byte stream, so a FastClient queues them as one (`_packet_queue`, which is what
    `ack()` calls); any other client acknowledges one at a time, slower but correct.
    """
    if not mids:
        return
    if not isinstance(client, FastClient):
        for mid in mids:
            client.ack(mid, 1)
        return
    packets = b"".join([PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
    client._packet_queue(mqtt.PUBACK, packets, 0, 0)
