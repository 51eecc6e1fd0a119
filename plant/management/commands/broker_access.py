"""Write Mosquitto's password and ACL files for the product's identities and every device's.

    manage.py broker_access --dir /mosquitto/auth                        # once (compose's migrate)
    manage.py broker_access --dir /mosquitto/auth --watch 5 --reload-pid 1   # keep them current

With --watch it rewrites them every so many seconds, and when they changed (an identity added,
disabled or given a new password; a tag added) sends SIGHUP to --reload-pid, on which
Mosquitto reads both files again: a change takes effect without restarting anything. No
password is printed; only their hashes reach the files, mode 0600.
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

    def handle(self, *args: Any, dir: Path, owner: str | None, watch: float,
               reload_pid: int | None, **options: Any) -> None:  # fmt: skip
        if watch < 0:
            raise CommandError("--watch must be 0 (once) or a number of seconds")
        self.write_once(dir, owner, reload_pid)
        stopping: list[int] = []
        signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
        while watch and not stopping:
            time.sleep(watch)
            try:
                self.write_once(dir, owner, reload_pid)
            except DatabaseError as error:  # the database away: the files stand as they are
                self.stderr.write(f"broker_access: cannot read the identities ({error})")
                close_old_connections()

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
