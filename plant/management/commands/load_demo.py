"""Create or update the demo bottling plant and its demo users."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from plant.demo import demo_passwords, load_demo_plant, load_demo_users
from plant.demo_history import backfill_demo_history


class Command(BaseCommand):
    help = "Create or update the demo bottling plant (idempotent) and one user per role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--topic-root", default=settings.MQTT_TOPIC_ROOT,
                            help="Prefix of every demo topic, e.g. 'site1/'.")  # fmt: skip
        parser.add_argument("--no-users", action="store_true", help="Skip the demo users.")
        parser.add_argument(
            "--history-days", type=int, default=0,
            help="Also write this many past days of the analytics' tags "
                 "(plant/demo_history.py; only before their first value).",
        )  # fmt: skip
        parser.add_argument(
            "--passwords-file",
            default=os.environ.get("DEMO_PASSWORDS_FILE", str(settings.BASE_DIR / "var" /
                                                              "demo-logins.txt")),
            help="Where the generated demo passwords are kept (DEMO_PASSWORD overrides).",
        )  # fmt: skip

    def handle(self, *args: Any, topic_root: str, no_users: bool, passwords_file: str,
               history_days: int, **options: Any) -> None:  # fmt: skip
        if topic_root and not topic_root.endswith("/"):
            raise CommandError("--topic-root must end with '/'")
        if not 0 <= history_days <= 366:
            raise CommandError("--history-days must be between 0 and 366")
        plant = load_demo_plant(topic_root=topic_root)
        self.stdout.write(f"demo plant {plant.name!r} loaded ({plant.lines.count()} lines)")
        if history_days:
            written = backfill_demo_history(plant, history_days)
            parts = ", ".join(f"{name} {rows:,} values" for name, rows in written.items())
            self.stdout.write(f"  history of the last {history_days} days: {parts}")
        if no_users:
            return
        # DEMO_PASSWORD_FILE (settings) or, as tests and scripts set it, DEMO_PASSWORD.
        fixed = os.environ.get("DEMO_PASSWORD") or settings.DEMO_PASSWORD
        if not settings.DEBUG and not fixed:
            raise CommandError("Refusing to create demo users with DEBUG=false: set "
                               "DEMO_PASSWORD, or pass --no-users.")  # fmt: skip
        passwords = demo_passwords(Path(passwords_file), fixed)
        load_demo_users(plant, passwords)
        for role, password in passwords.items():
            # A password the operator chose is not repeated into logs; generated ones are
            # shown on a dev box, since nothing else tells them.
            shown = "as set in DEMO_PASSWORD(_FILE)" if fixed else password
            self.stdout.write(f"  login: {role:<10} password: {shown}")
