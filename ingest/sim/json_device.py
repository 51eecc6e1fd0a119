"""The demo plant as JSON devices on MQTT: the reference device of the README's MQTT contract.

`Simulator` moves the pure `PlantModel` (ingest/sim/plant_model.py) in real time: it publishes
every tag of the demo plant (plant/demo.py) on the tag's own topic, obeys setpoint writes on
`<tag topic>/set` with an immediate readback that echoes the write's id, and takes fault
commands (ingest/sim/faults.py) on `<MQTT_TOPIC_ROOT>_sim/<plant slug>/fault`.
"""

from __future__ import annotations

import logging
import posixpath
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from django.conf import settings

from ingest.mqtt import make_client, set_topic
from ingest.payloads import PayloadError, Scalar, coerce, decode_setpoint, encode_value, utcnow
from ingest.sim.device_loop import OneClientLoop
from ingest.sim.faults import (
    REJECT_WRITES,
    SILENT,
    ScheduledFault,
    check_target,
    decode_fault,
    fault_topic,
)
from ingest.sim.plant_model import START_KWH, PlantModel
from plant.models import Tag

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0  # tags published on change are also repeated this often


class Sent(NamedTuple):
    """What a tag last published, and when (monotonic seconds)."""

    value: Scalar
    at: float


@dataclass(frozen=True)
class SimTag:
    """What the simulator needs to know of one tag of the plant."""

    key: str
    machine: str
    topic: str
    data_type: str
    writable: bool
    line: str = ""  # the Sparkplug device's edge node (a line), its units and ranges
    unit: str = ""
    range_min: float | None = None
    range_max: float | None = None
    stored: float | None = None  # the tag's newest stored numeric value, if it has one


def load_tags(plant_slug: str) -> list[SimTag]:
    # Derived tags (plant.derived) are the worker's to compute, not a device's to publish.
    tags = Tag.objects.filter(machine__line__plant__slug=plant_slug, derived__isnull=True)
    tags = tags.select_related("machine__line", "latest")
    return [
        SimTag(
            t.key,
            t.machine.slug,
            t.topic,
            t.data_type,
            t.writable,
            t.machine.line.slug,
            t.unit,
            t.range_min,
            t.range_max,
            _stored(t),
        )
        for t in tags.order_by("machine__line__position", "machine__position", "pk")
    ]


def _stored(tag: Tag) -> float | None:
    latest = getattr(tag, "latest", None)
    return None if latest is None else latest.value


def meter_start_kwh(tags: Iterable[SimTag]) -> float:
    """Where the energy meter carries on from: its newest stored reading, as a real meter's
    register survives a restart (starting again at START_KWH would read as a meter reset)."""
    stored = [t.stored for t in tags if t.key == "energy" and t.stored is not None]
    return max(stored) if stored else START_KWH


def as_tag_value(value: Scalar, data_type: str) -> Scalar:
    """A written value in the tag's own type; PayloadError if it does not fit the type."""
    stored = coerce(value, data_type)
    if data_type == "bool":
        return bool(stored)
    return int(stored) if data_type == "int" else stored


def differing(held: Scalar, requested: Scalar) -> Scalar:
    """What a device refusing a write reads back: its held value, or if equal, something else."""
    if held != requested:
        return held
    if isinstance(requested, bool):
        return not requested
    return requested + 1 if isinstance(requested, int | float) else f"{requested}?"


class Simulator(OneClientLoop):
    """The demo plant's devices on MQTT: telemetry, setpoint readbacks and injectable faults.

    paho's network thread only fills `inbox`; one loop steps the model, publishes and handles
    commands, so the model is never touched by two threads.
    """

    def __init__(self, tags: list[SimTag], *, plant_slug: str, rate: float = 1.0,
                 seed: int | None = None, schedule: Iterable[ScheduledFault] = (),
                 url: str | None = None) -> None:  # fmt: skip
        self.model = PlantModel(seed, meter_kwh=meter_start_kwh(tags))
        self.tags = [t for t in tags if t.key in self.model.values]
        self.unmodelled = sorted(t.key for t in tags if t.key not in self.model.values)
        self.by_set_topic = {set_topic(t.topic): t for t in self.tags if t.writable}
        self.plant_slug, self.interval = plant_slug, 1.0 / rate
        self.fault_topic = fault_topic(settings.MQTT_TOPIC_ROOT, plant_slug)
        schedule = list(schedule)
        for fault in schedule:
            self.check_target(fault.name)
        self.model.schedule(schedule)
        # A device of its own on the broker (SIMULATOR_MQTT_URL), not the worker's identity.
        self.client, self.address = make_client(url=url or settings.SIMULATOR_MQTT_URL or None)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client.on_message = lambda _client, _userdata, message: self.inbox.put(message)
        self.subscribed = threading.Event()  # set by paho's thread once our topics are granted
        self.stopping = False
        self.last_sent: dict[str, Sent] = {}  # by tag key
        self.last_step = self.next_tick = time.monotonic()

    def describe(self) -> str:
        """The start line: what is published, where, and where commands are taken."""
        prefix = posixpath.commonpath([t.topic for t in self.tags]) if self.tags else ""
        skipped = f"; not modelled: {', '.join(self.unmodelled)}" if self.unmodelled else ""
        return (
            f"simulate: {len(self.tags)} tags of plant {self.plant_slug!r} to "
            f"{'mqtts' if self.address.tls else 'mqtt'}://{self.address.host}:"
            f"{self.address.port} under {prefix}/# at "
            f"{1 / self.interval:g}/s, writes on <tag topic>/set, faults on {self.fault_topic}"
            f"{skipped}"
        )

    def tick(self, now: float) -> None:
        """Step the model by the real time elapsed and publish every tag that is due."""
        before = dict(self.model.faults)
        self.model.step(now - self.last_step)
        self.last_step = now
        self._log_fault_changes(before)
        self.next_tick += self.interval
        if self.next_tick < now:  # fell behind (a stalled machine): skip, never burst
            self.next_tick = now + self.interval
        for tag in self.tags:
            if self._due(tag, now) and not self.model.active(SILENT + tag.machine):
                self._publish(tag, self.model.values[tag.key])

    def handle(self, message: mqtt.MQTTMessage) -> None:
        if message.topic == self.fault_topic:
            self._on_fault_command(message.payload)
        elif tag := self.by_set_topic.get(message.topic):
            self._on_setpoint(tag, message.payload)

    def check_target(self, name: str) -> None:
        """Raise PayloadError if a silent:/reject_writes: fault names no machine/writable tag."""
        writable = [t.key for t in self.by_set_topic.values()]
        check_target(name, self.plant_slug, [t.machine for t in self.tags], writable)

    def _due(self, tag: SimTag, now: float) -> bool:
        # Analogue measurements go out every tick; setpoints, bools, strings and counters on
        # change, and at least every HEARTBEAT_S so the HMI can tell a quiet tag from a dead one.
        last = self.last_sent.get(tag.key)
        if last is None or (tag.data_type == "float" and not tag.writable):
            return True
        return last.value != self.model.values[tag.key] or now - last.at >= HEARTBEAT_S

    def _publish(self, tag: SimTag, value: Scalar, write_id: str | None = None) -> None:
        # Live telemetry only: while the broker is away nothing queues up to flood it later.
        if self.client.is_connected():
            payload = encode_value(value, utcnow(), write_id=write_id)
            self.client.publish(tag.topic, payload, qos=1)
            self.last_sent[tag.key] = Sent(value, time.monotonic())

    def _on_fault_command(self, payload: bytes) -> None:
        try:
            name, duration_s = decode_fault(payload)
            self.check_target(name)
        except PayloadError as exc:
            log.warning("simulate: ignored fault command %r: %s", payload[:80], exc)
            return
        before = dict(self.model.faults)
        self.model.inject(name, duration_s)
        self._log_fault_changes(before)

    def _on_setpoint(self, tag: SimTag, payload: bytes) -> None:
        now = utcnow()
        try:
            command = decode_setpoint(payload, now)
            value = as_tag_value(command.value, tag.data_type)
        except PayloadError as exc:
            log.warning("simulate: ignored write to %s: %s", tag.topic, exc)
            return
        if command.expires <= now:
            log.warning("simulate: ignored write %s to %s: expired", command.id, tag.topic)
            return
        if self.model.active(SILENT + tag.machine):
            log.info("simulate: ignored write %s to %s: machine is silent", command.id, tag.key)
            return
        # The readback names the write it answers, refused or applied, as the contract asks
        # of a device that echoes: only then can nobody else's value confirm it.
        if self.model.active(REJECT_WRITES + tag.key):
            self._publish(tag, differing(self.model.values[tag.key], value), command.id)
            return
        self.model.write(tag.key, value)
        self._publish(tag, value, command.id)  # the readback the setpoint writer waits for

    def _log_fault_changes(self, before: dict[str, float]) -> None:
        for name, end in self.model.faults.items():
            if before.get(name) != end:
                log.info("simulate: fault %s active for %gs", name, end - self.model.t)
        for name in before.keys() - self.model.faults.keys():
            log.info("simulate: fault %s ended", name)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason_code: Any, properties: Any) -> None:  # fmt: skip
        if reason_code.is_failure:
            log.warning("simulate: broker refused the connection: %s", reason_code)
            return
        topics = [self.fault_topic, *self.by_set_topic]
        client.subscribe([(topic, 1) for topic in topics])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: list[Any], properties: Any) -> None:  # fmt: skip
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            log.warning("simulate: broker refused our subscriptions: %s", refused)
        else:
            self.subscribed.set()
