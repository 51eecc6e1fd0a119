"""Write Mosquitto's password and ACL files for the product's identities and every device's.

    manage.py broker_access --dir /mosquitto/auth                        # once (compose's migrate)
    manage.py broker_access --dir /mosquitto/auth --watch 5 --reload-pid 1   # keep them current
    manage.py broker_access --dir /mosquitto/auth --watch 5 --reload-pid 1 \
        --follow-log /mosquitto/log/mosquitto.log --rotate-bytes 10485760  # compose's service

With --watch it rewrites them every so many seconds, and when they changed (an identity added,
disabled or given a new password; a tag added) sends SIGHUP to --reload-pid, on which
Mosquitto reads both files again: a change takes effect without restarting anything. No
password is printed; only their hashes reach the files, mode 0600.

With --follow-log each pass also reads what the broker's log file gained and records every
login it refused as a security event (plant.broker_log); with --rotate-bytes the file is
renamed to <name>.1 once it is over that size and the broker sent SIGHUP to reopen it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections

from plant.broker_access import write_broker_files
from plant.broker_log import LogFollower, RefusalRecorder, rotate_if_over


class Command(BaseCommand):
    help = "Write the broker's passwd and acl files from MQTT_URL, SIMULATOR_MQTT_URL and the "
    help += "device identities; with --watch, keep them current and reload the broker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", required=True, type=Path, help="Where passwd and acl go.")
        parser.add_argument(
            "--owner", default=None, help="Give the files to this user (a broker started as root)."
        )
        parser.add_argument(
            "--watch", type=float, default=0.0, metavar="SECONDS",
            help="Rewrite the files this often, until stopped (0: once).",
        )  # fmt: skip
        parser.add_argument(
            "--reload-pid", type=int, default=None,
            help="Send SIGHUP to this process (the broker) whenever the files changed.",
        )  # fmt: skip
        parser.add_argument(
            "--follow-log", type=Path, default=None, metavar="PATH",
            help="With --watch: the broker's log file, whose refused logins each pass records "
                 "as security events (read from its end at start).",
        )  # fmt: skip
        parser.add_argument(
            "--rotate-bytes", type=int, default=0, metavar="N",
            help="With --follow-log and --reload-pid: rename the log to <name>.1 once it is "
                 "over N bytes and send the broker SIGHUP to reopen it (0: never).",
        )  # fmt: skip

    def handle(self, *args: Any, dir: Path, owner: str | None, watch: float,
               reload_pid: int | None, follow_log: Path | None, rotate_bytes: int,
               **options: Any) -> None:  # fmt: skip
        if watch < 0:
            raise CommandError("--watch must be 0 (once) or a number of seconds")
        check_log_options(watch, reload_pid, follow_log, rotate_bytes)
        self.write_once(dir, owner, reload_pid)
        recorder = None
        if follow_log is not None:
            recorder = RefusalRecorder(LogFollower(follow_log), source=f"broker log {follow_log}")
            self.stdout.write(f"broker_access: following {follow_log} for refused logins")
        stopping: list[int] = []
        signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
        while watch and not stopping:
            time.sleep(watch)
            try:
                self.write_once(dir, owner, reload_pid)
            except DatabaseError as error:  # the database away: the files stand as they are
                self.stderr.write(f"broker_access: cannot read the identities ({error})")
                close_old_connections()
            if recorder is not None:
                self.follow(recorder, rotate_bytes, reload_pid)

    def follow(self, recorder: RefusalRecorder, rotate_bytes: int, reload_pid: int | None) -> None:
        """Record the refused logins the log gained; rotate it when it has grown too big."""
        recorder.run_once()
        if recorder.waiting:
            self.stderr.write(f"broker_access: {len(recorder.waiting)} refused logins not yet "
                              "recorded (the database?); trying again")  # fmt: skip
            close_old_connections()
        if rotate_bytes and reload_pid:
            try:
                rotate_if_over(recorder.follower.path, rotate_bytes, reload_pid)
            except ProcessLookupError:
                self.stderr.write(f"broker_access: no process {reload_pid} to reopen its log")
            except OSError as error:
                self.stderr.write(f"broker_access: cannot rotate the log ({error})")

    def write_once(self, folder: Path, owner: str | None, reload_pid: int | None) -> None:
        try:
            changed, warnings = write_broker_files(folder, owner=owner)
        except (ImproperlyConfigured, OSError) as error:
            raise CommandError(f"broker_access: {error}") from None
        for warning in warnings:
            self.stderr.write(f"broker_access: {warning}")
        if not changed:
            return
        self.stdout.write(f"broker_access: wrote {folder / 'passwd'} and {folder / 'acl'}")
        if reload_pid:
            try:
                os.kill(reload_pid, signal.SIGHUP)
            except ProcessLookupError:
                self.stderr.write(f"broker_access: no process {reload_pid} to reload")


def check_log_options(watch: float, reload_pid: int | None, follow_log: Path | None,
                      rotate_bytes: int) -> None:  # fmt: skip
    if follow_log is not None and not watch:
        raise CommandError("--follow-log needs --watch: the log is followed by each pass")
    if rotate_bytes < 0:
        raise CommandError("--rotate-bytes must be 0 (never) or a number of bytes")
    if rotate_bytes and (follow_log is None or not reload_pid):
        raise CommandError("--rotate-bytes needs --follow-log and --reload-pid: the broker "
                           "must be told to reopen the log it rotated")  # fmt: skip
