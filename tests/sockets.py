"""What waits in the kernel on TCP connections, read from /proc/net/tcp (no tool needed)."""

from __future__ import annotations

import threading
from pathlib import Path

ESTABLISHED = "01"


def queued(port: int) -> list[tuple[int, int]]:
    """(send queue, receive queue) in bytes of every established IPv4 connection to or from
    `port` on this machine."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
        ports = {int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)}
        if state == ESTABLISHED and port in ports:
            tx, rx = queues.split(":")
            found.append((int(tx, 16), int(rx, 16)))
    return found


def drained(port: int, looks: int = 3, apart_s: float = 0.1) -> bool:
    """Every connection to or from `port` has nothing waiting in either direction, at each of
    a few looks apart: what was sent has been read, and nothing is on its way."""
    for _ in range(looks):
        threading.Event().wait(apart_s)
        connections = queued(port)
        if not connections or any(queues != (0, 0) for queues in connections):
            return False
    return True
