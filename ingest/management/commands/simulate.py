"""Run the demo plant's simulated devices, or send a fault to a running simulator."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.mqtt import make_client
from ingest.payloads import PayloadError
from ingest.sim.faults import (
    DEFAULT_FAULT_S,
    check_fault_name,
    encode_fault,
    fault_topic,
    parse_fault_spec,
)
from ingest.sim.json_device import Simulator, load_tags
from ingest.sim.neuron_device import NeuronGateway
from ingest.sim.sparkplug_device import SparkplugPlant
from plant.demo import PLANT_SLUG

PROTOCOLS = ("json", "sparkplug", "neuron")
Device = Simulator | SparkplugPlant | NeuronGateway


class Command(BaseCommand):
    help = "Publish the demo plant's device values on MQTT and obey setpoint writes and faults."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--plant", default=PLANT_SLUG, help="Slug of the plant to simulate.")
        parser.add_argument(
            "--protocol",
            choices=PROTOCOLS,
            default="json",
            help="json: a device per tag topic, the README's MQTT contract (the default); "
            "sparkplug: each line a Sparkplug B edge node, each machine a device; "
            "neuron: an EMQX Neuron gateway, each machine a south node.",
        )
        parser.add_argument(
            "--group",
            default="",
            help="The Sparkplug group id (default: the plant's slug); with --protocol sparkplug.",
        )
        parser.add_argument(
            "--app",
            default="",
            help="The Neuron north app's name (default: the plant's slug); with --protocol neuron.",
        )
        parser.add_argument(
            "--rate",
            type=float,
            default=1.0,
            help="Publishes per second per analogue tag (others: on change).",
        )
        parser.add_argument(
            "--fault",
            action="append",
            default=[],
            metavar="NAME@SECONDS[:DURATION]",
            help="Schedule a fault after the start, e.g. gas_leak@30:60, "
            "silent:detector@10, reject_writes:fan@0. Repeatable.",
        )
        parser.add_argument("--seed", type=int, default=None, help="Seed for repeatable noise.")
        parser.add_argument(
            "--inject",
            metavar="FAULT",
            help="Send this fault (or 'clear') to a running simulator and exit.",
        )
        parser.add_argument(
            "--duration",
            type=float,
            default=DEFAULT_FAULT_S,
            help="Seconds the injected fault lasts.",
        )

    def handle(self, *args: Any, plant: str, protocol: str, group: str, app: str, rate: float,
               fault: list[str], seed: int | None, inject: str | None, duration: float,
               **options: Any) -> None:  # fmt: skip
        if inject:
            self.inject(plant, inject, duration)
            return
        if not 0 < rate <= 100:
            raise CommandError("--rate must be above 0 and at most 100 publishes per second")
        tags = load_tags(plant)
        if not tags:
            raise CommandError(f"plant {plant!r} has no tags: run `manage.py load_demo` first")
        try:
            schedule = [parse_fault_spec(spec) for spec in fault]
            simulator: Device
            if protocol == "sparkplug":
                simulator = SparkplugPlant(tags, plant_slug=plant, group=group, rate=rate,
                                           seed=seed, schedule=schedule)  # fmt: skip
            elif protocol == "neuron":
                simulator = NeuronGateway(tags, plant_slug=plant, app=app, rate=rate, seed=seed,
                                          schedule=schedule)  # fmt: skip
            else:
                simulator = Simulator(tags, plant_slug=plant, rate=rate, seed=seed,
                                      schedule=schedule)  # fmt: skip
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        signal.signal(signal.SIGTERM, lambda *_: simulator.stop())
        signal.signal(signal.SIGINT, lambda *_: simulator.stop())
        self._connect(simulator.connect, simulator.address.host, simulator.address.port)
        self.stdout.write(simulator.describe())
        simulator.run()  # returns after stop()

    def inject(self, plant: str, name: str, duration: float) -> None:
        """Publish one fault command (QoS 1) to the simulator of `plant` and wait for the ack."""
        try:
            payload = encode_fault(check_fault_name(name), duration)
        except PayloadError as exc:
            raise CommandError(str(exc)) from None
        topic = fault_topic(settings.MQTT_TOPIC_ROOT, plant)
        # As the simulator itself: its identity may write its control topics.
        client, address = make_client(url=settings.SIMULATOR_MQTT_URL or None)
        self._connect(lambda: client.connect(address.host, address.port), address.host,
                      address.port)  # fmt: skip
        client.loop_start()
        try:
            info = client.publish(topic, payload, qos=1)
            info.wait_for_publish(timeout=10)
        finally:
            client.disconnect()
            client.loop_stop()
        if not info.is_published():
            raise CommandError(f"the broker did not acknowledge the fault command on {topic}")
        self.stdout.write(f"simulate: sent {payload.decode()} to {topic}")

    @staticmethod
    def _connect(connect: Callable[[], object], host: str, port: int) -> None:
        try:
            connect()
        except OSError as exc:
            raise CommandError(
                f"MQTT broker at {host}:{port} is not reachable ({exc}): start it with "
                "`systemctl start mosquitto` or `docker compose up -d mqtt`, or set MQTT_URL"
            ) from None
