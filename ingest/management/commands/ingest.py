"""Subscribe to plant telemetry on MQTT and write it to the historian."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from prometheus_client import start_http_server

from ingest.worker import Worker


class Command(BaseCommand):
    help = "Subscribe to plant telemetry on MQTT and write it to the historian."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--client-id",
            default="scada-ingest",
            help="MQTT client id. Keep it fixed: the broker keeps our session, and so our "
            "unacknowledged messages, under this id across restarts.",
        )
        parser.add_argument(
            "--share-group",
            default="",
            help="Join the MQTT 5 shared subscription $share/<group>/… so several workers "
            "(each with its own --client-id) split the load.",
        )
        parser.add_argument("--batch-size", type=int, default=10_000)
        parser.add_argument(
            "--metrics-port", type=int, default=9108, help="Prometheus /metrics port; 0: off."
        )
        parser.add_argument("--metrics-addr", default="127.0.0.1")
        parser.add_argument(
            "--watchdog",
            type=float,
            default=120.0,
            help="Exit (to be restarted by `manage.py run` or the container) when the main loop "
            "has not turned for this many seconds; 0: off.",
        )

    def handle(self, *args: Any, client_id: str, share_group: str, batch_size: int,
               metrics_port: int, metrics_addr: str, watchdog: float,
               **options: Any) -> None:  # fmt: skip
        logging.getLogger("ingest").setLevel(logging.INFO)
        # The network, live-push and writer threads mostly wait on sockets; a shorter GIL
        # switch interval than the default 5 ms lets them answer while the main thread is
        # busy decoding and storing (the live push makes a few hundred Redis round trips a
        # second, each waiting up to one interval for the GIL).
        sys.setswitchinterval(0.0005)
        worker = Worker(
            client_id=client_id,
            topic_root=settings.MQTT_TOPIC_ROOT,
            share_group=share_group,
            batch_size=batch_size,
            watchdog_s=watchdog,
        )
        signal.signal(signal.SIGTERM, lambda *_: worker.stop())
        signal.signal(signal.SIGINT, lambda *_: worker.stop())
        if metrics_port:
            start_http_server(metrics_port, addr=metrics_addr)
        metrics_at = f", metrics on http://{metrics_addr}:{metrics_port}/metrics"
        host = worker.sparkplug
        sparkplug = f", Sparkplug host {host.host_id} on spBv1.0/#" if host else ""
        self.stdout.write(
            f"ingest: {worker.subscription} on {worker.address.host}:{worker.address.port} "
            f"as {client_id}{sparkplug}{metrics_at if metrics_port else ''}"
        )
        worker.run()
        self.stdout.write("ingest: stopped after committing the batch in hand")
