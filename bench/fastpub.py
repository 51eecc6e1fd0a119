"""A minimal MQTT 3.1.1 QoS 1 publisher on a raw socket, for benchmarks only.

paho's publisher tops out near 15,000 QoS 1 messages/s on this machine, below what the worker
must prove it can take; this one writes pre-encoded PUBLISH packets in bulk and counts
PUBACKs on a reader thread, with a bounded window of unacknowledged messages.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterable


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _remaining_length(len(body)) + body


class FastPublisher:
    """Publish (topic, payload) pairs at QoS 1 and return once every one is acknowledged."""

    def __init__(self, port: int, client_id: str, window: int = 20_000) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connect = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + _utf8(client_id)
        self.sock.sendall(_packet(0x10, connect))
        if self.sock.recv(4)[:1] != b"\x20":
            raise RuntimeError("broker refused the connection")
        self.window = threading.Semaphore(window)
        self.acked = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return
            buffer += chunk
            whole = len(buffer) // 4 * 4  # every PUBACK is 4 bytes: 0x40 0x02 id id
            n = whole // 4
            buffer = buffer[whole:]
            self.acked += n
            for _ in range(n):
                self.window.release()

    def publish_all(self, messages: Iterable[tuple[str, bytes]], rate: float = 0) -> int:
        """Publish everything; with `rate`, pace to that many messages a second."""
        out = bytearray()
        sent = 0
        started = time.monotonic()
        for topic, payload in messages:
            if rate and sent % 100 == 0:
                self.sock.sendall(out)
                out.clear()
                delay = started + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if not self.window.acquire(blocking=False):
                self.sock.sendall(out)  # the window is full: send what we hold, then wait
                out.clear()
                self.window.acquire()
            sent += 1
            packet_id = sent % 65535 + 1
            out += _packet(0x32, _utf8(topic) + struct.pack("!H", packet_id) + payload)
            if len(out) > 65536:
                self.sock.sendall(out)
                out.clear()
        self.sock.sendall(out)
        while self.acked < sent:
            threading.Event().wait(0.01)
        self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()
        return sent
