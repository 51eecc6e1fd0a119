"""Mosquitto's log, read for the logins it refused: each one becomes a security event.

Both brokers the product runs say whom they turned away only in their log. `manage.py run`
reads its own broker's output line by line; in compose the broker writes its log to a file on
a volume it shares with the broker-access service, which follows that file (`LogFollower`),
records each refused login (`record_refused_login`) and keeps the file small
(`rotate_if_over`). The parsing of a line is `plant.mosquitto_auth.parse_refusal`'s.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from plant.mosquitto_auth import parse_refusal

# At most this much is read per pass, so a burst (or a huge file) cannot stall the caller's
# other work; the rest is read by the next passes.
READ_LIMIT = 1 << 20
# A "line" longer than this without its end is taken as complete: Mosquitto's lines are short,
# and the unfinished rest must not grow without bound.
LONGEST_LINE = 64 << 10


class RefusalNotRecorded(RuntimeError):
    """The line reports a refused login, but the event could not be stored (the database
    away): the caller keeps the line and tries again."""


def refused_login_detail(line: str) -> str | None:
    """The security event's detail for a line reporting a refused login, else None."""
    refusal = parse_refusal(line)
    if refusal is None or refusal.kind != "login":
        return None
    # Mosquitto 2.0 names neither the client nor the user name it refused.
    return ("the broker refused a login (wrong or unknown name or password, or a disabled "
            f"identity): {line.strip()}")  # fmt: skip


def record_refused_login(line: str, source: str) -> bool:
    """Record the login a line of the broker's log reports refused, as a security event.

    True when it reported one (now stored), False when it reports none; raises
    RefusalNotRecorded when it reported one that could not be stored.
    """
    detail = refused_login_detail(line)
    if detail is None:
        return False
    from plant.security_events import Kind, record  # models: only once Django is set up

    if record(Kind.MQTT_IDENTITY_REFUSED, source=source, detail=detail) is None:
        raise RefusalNotRecorded(line)
    return True


@dataclass
class LogFollower:
    """Follows a log file as `tail -F` does, a pass at a time: `read_lines()` returns the
    complete lines written since the last pass.

    A file that exists when the follower starts is read from its end (what it held was seen
    before a restart); a file that appears later is read from its start. A missing file is
    tried again at each pass. When the file is renamed away (rotation: a new inode at the
    path) the old one is read to its end first, so nothing written before the broker reopened
    its log is lost; a file that shrank (truncated) is read again from its start. A last line
    without its line end waits for the pass that completes it.
    """

    path: Path
    read_limit: int = READ_LIMIT
    file: BinaryIO | None = field(default=None, init=False, repr=False)
    inode: tuple[int, int] | None = field(default=None, init=False)
    partial: bytes = field(default=b"", init=False, repr=False)

    def __post_init__(self) -> None:
        if self.open():
            assert self.file is not None
            self.file.seek(0, os.SEEK_END)

    def open(self) -> bool:
        try:
            file = self.path.open("rb")
        except FileNotFoundError:
            return False
        stat = os.fstat(file.fileno())
        self.file, self.inode, self.partial = file, (stat.st_dev, stat.st_ino), b""
        return True

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.file = None

    def read_lines(self) -> list[str]:
        """The complete lines written since the last pass (at most `read_limit` bytes)."""
        if self.file is None and not self.open():
            return []
        assert self.file is not None
        data = self.file.read(self.read_limit)
        lines = self.split(data)
        if len(data) < self.read_limit:  # at the end of what we hold: has the path moved on?
            lines += self.switch_if_replaced(self.read_limit - len(data))
        return lines

    def switch_if_replaced(self, budget: int) -> list[str]:
        """After rotation, the new file at the path; after truncation, the file from its start."""
        assert self.file is not None
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return []  # renamed, the new one not yet made: keep reading the old one
        if (stat.st_dev, stat.st_ino) != self.inode:
            # The broker has reopened its log, so the old file is complete: an unfinished last
            # line there is all there will be of it.
            ended = [self.partial.decode("utf-8", "replace")] if self.partial else []
            self.close()
            if not self.open():
                return ended
            assert self.file is not None
            return ended + self.split(self.file.read(budget))
        if stat.st_size < self.file.tell():
            self.file.seek(0)
            self.partial = b""  # its rest was cut away with the file
            return self.split(self.file.read(budget))
        return []

    def split(self, data: bytes) -> list[str]:
        *lines, self.partial = (self.partial + data).split(b"\n")
        if len(self.partial) > LONGEST_LINE:
            lines.append(self.partial)
            self.partial = b""
        return [line.decode("utf-8", "replace") for line in lines]


@dataclass
class RefusalRecorder:
    """Follows the broker's log and records each refused login in it; a line whose event
    could not be stored is tried again at the next pass (at most `keep` of them)."""

    follower: LogFollower
    source: str
    keep: int = 10_000
    waiting: list[str] = field(default_factory=list)

    def run_once(self) -> int:
        """Read what the log gained and record its refused logins; how many were recorded."""
        lines, self.waiting = [*self.waiting, *self.follower.read_lines()], []
        recorded = 0
        for line in lines:
            try:
                recorded += record_refused_login(line, self.source)
            except RefusalNotRecorded:
                self.waiting.append(line)
        del self.waiting[: -self.keep or None]
        return recorded


def rotate_if_over(path: Path, max_bytes: int, pid: int) -> bool:
    """Rename the log to `<name>.1` (replacing an older one) once it is over `max_bytes`, and
    send SIGHUP to the broker `pid`, on which Mosquitto reopens its log at the path. True when
    it rotated. A follower keeps reading the renamed file until the new one appears."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > max_bytes:
            os.replace(path, path.with_name(f"{path.name}.1"))
            os.kill(pid, signal.SIGHUP)
            return True
    return False
