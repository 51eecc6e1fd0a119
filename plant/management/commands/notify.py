"""Send alarm notifications: follow the alarm journal, escalate, deliver by e-mail and webhook."""

from __future__ import annotations

import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from plant.notifications.dispatcher import Dispatcher


class Command(BaseCommand):
    help = (
        "Send alarm notifications (e-mail and webhooks) from the alarm journal, with escalation "
        "and retries, until SIGTERM. Several may run at once: none sends a message twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--poll", type=float, default=1.0,
            help="Seconds between looks at the journal and the outbox when idle (default 1).",
        )  # fmt: skip
        parser.add_argument("--name", default="", help="This dispatcher's name in the record.")

    def handle(self, *args: Any, poll: float, name: str, **options: Any) -> None:
        dispatcher = Dispatcher(name)
        signal.signal(signal.SIGTERM, lambda *_: dispatcher.stop())
        signal.signal(signal.SIGINT, lambda *_: dispatcher.stop())
        mail = f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
        self.stdout.write(f"notify: following the alarm journal as {dispatcher.name}; "
                          f"e-mail through {mail}")  # fmt: skip
        self.stdout.flush()
        dispatcher.run(poll_s=poll)
        self.stdout.write("notify: stopped")
