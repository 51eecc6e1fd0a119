"""The demo plant as an EMQX Neuron gateway: one MQTT north app, each machine a south node.

`NeuronGateway` moves the same `PlantModel` as the JSON device (ingest/sim/json_device.py) and
speaks Neuron's documented MQTT API on the default topics of plant/neuron.py (sources there):
- each machine is a south node ("driver") with two groups, `measurements` (its read-only tags)
  and `setpoints` (its writable ones); every tick each group is uploaded in values-format on
  /neuron/{app}/{driver}/{group}: {"timestamp", "node", "group", "values", "errors"};
- a silent machine (fault silent:<machine>) is a lost device link: its uploads carry error
  3002 (plugin disconnected) for every tag instead of values, and the driver status report
  (/neuron/{app}/state/update, every STATUS_S and at each change) says link 0;
- write requests on /neuron/{app}/write/req, single-tag {"uuid", "node", "group", "tag",
  "value"} or several {"uuid", "node", "group", "tags": [{"tag", "value"}]}, are applied and
  answered {"uuid", "error"} on /neuron/{app}/write/resp, 0 or the first failure's Neuron code,
  and the written group is uploaded at once (the value read back);
- fault commands as the JSON device takes them (ingest/sim/faults.py).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from django.conf import settings

from ingest.mqtt import make_client
from ingest.payloads import PayloadError, Scalar
from ingest.sim.device_loop import OneClientLoop
from ingest.sim.faults import (
    REJECT_WRITES,
    SILENT,
    ScheduledFault,
    check_target,
    decode_fault,
    fault_topic,
)
from ingest.sim.json_device import SimTag, as_tag_value, meter_start_kwh
from ingest.sim.plant_model import PlantModel
from plant import neuron

log = logging.getLogger(__name__)

MEASUREMENTS, SETPOINTS = "measurements", "setpoints"
STATUS_S = 5.0
RUNNING = 3  # neu_node_running_state_e: running
# Neuron's codes for what a write can meet (neuron's include/neuron/errcodes.h).
NODE_NOT_EXIST, TAG_NOT_EXIST = 2003, 2201
WRITE_FAILURE, DISCONNECTED, NOT_WRITABLE, TYPE_MISMATCH = 3001, 3002, 3004, 3007


def now_ms() -> int:
    return int(time.time() * 1000)


def encode_upload(node: str, group: str, timestamp: int, values: dict[str, Scalar],
                  errors: dict[str, int]) -> bytes:  # fmt: skip
    """A values-format upload of one group."""
    body = {"timestamp": timestamp, "node": node, "group": group, "values": values,
            "errors": errors}  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


def encode_status(timestamp: int, links: dict[str, int]) -> bytes:
    """A driver status report: each south node's link (1 connected, 0 not), running."""
    states = [{"node": node, "link": link, "running": RUNNING} for node, link in links.items()]
    return json.dumps({"timestamp": timestamp, "states": states}, separators=(",", ":")).encode()


def encode_write_response(uuid: str, error: int) -> bytes:
    return json.dumps({"uuid": uuid, "error": error}, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """A decoded write request: its uuid, south node, group and (tag, value) pairs."""

    uuid: str
    node: str
    group: str
    writes: list[tuple[str, Any]]


def decode_write_request(payload: bytes) -> WriteRequest:
    """A single- or multi-tag write request; PayloadError if it cannot be answered at all
    (no uuid to answer to), or names no node, group or tag."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise PayloadError("a Neuron write request is JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("uuid"), str) or not data["uuid"]:
        raise PayloadError("a Neuron write request needs a string 'uuid'")
    node, group = data.get("node"), data.get("group")
    if not isinstance(node, str) or not isinstance(group, str):
        raise PayloadError("a Neuron write request needs string 'node' and 'group'")
    if "tags" in data:
        tags = data["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
            raise PayloadError("a Neuron write request's 'tags' is a list of {tag, value}")
        writes = [(t.get("tag"), t.get("value")) for t in tags]
    else:
        writes = [(data.get("tag"), data.get("value"))]
    if not writes or not all(isinstance(tag, str) for tag, _ in writes):
        raise PayloadError("a Neuron write request names each tag as a string")
    return WriteRequest(data["uuid"], node, group, writes)


def group_of(tag: SimTag) -> str:
    return SETPOINTS if tag.writable else MEASUREMENTS


class NeuronGateway(OneClientLoop):
    """The demo plant's machines as the south nodes of one Neuron north app `app` on MQTT.

    paho's network thread only fills `inbox`; one loop steps the model, publishes and handles
    commands, so the model is never touched by two threads.
    """

    def __init__(self, tags: list[SimTag], *, plant_slug: str, app: str = "",
                 rate: float = 1.0, seed: int | None = None,
                 schedule: Iterable[ScheduledFault] = (),
                 url: str | None = None) -> None:  # fmt: skip
        self.model = PlantModel(seed, meter_kwh=meter_start_kwh(tags))
        self.tags = [t for t in tags if t.key in self.model.values]
        self.plant_slug, self.app, self.interval = plant_slug, app or plant_slug, 1.0 / rate
        self.groups: dict[tuple[str, str], list[SimTag]] = {}
        for tag in self.tags:
            self.groups.setdefault((tag.machine, group_of(tag)), []).append(tag)
        self.topics = neuron.topics(self.app)
        self.fault_topic = fault_topic(settings.MQTT_TOPIC_ROOT, plant_slug)
        schedule = list(schedule)
        for fault in schedule:
            self.check_target(fault.name)
        self.model.schedule(schedule)
        self.client, self.address = make_client(url=url or settings.SIMULATOR_MQTT_URL or None)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client.on_message = lambda _client, _userdata, message: self.inbox.put(message)
        self.subscribed = threading.Event()
        self.stopping = False
        self.links: dict[str, int] = {}
        self.status_at = 0.0
        self.last_step = self.next_tick = time.monotonic()

    def upload_topic(self, driver: str, group: str) -> str:
        return neuron.UPLOAD_TOPIC.format(app=self.app, driver=driver, group=group)

    def describe(self) -> str:
        """The start line: what is uploaded, where, and where commands are taken."""
        drivers = sorted({machine for machine, _ in self.groups})
        return (
            f"simulate: plant {self.plant_slug!r} as Neuron north app {self.app!r}, south "
            f"nodes {', '.join(drivers)} ({len(self.tags)} tags) on "
            f"{'mqtts' if self.address.tls else 'mqtt'}://{self.address.host}:"
            f"{self.address.port}: uploads on /neuron/{self.app}/<node>/<group> at "
            f"{1 / self.interval:g}/s, writes on {self.topics['write_request']}, faults on "
            f"{self.fault_topic}"
        )

    def tick(self, now: float) -> None:
        """Step the model by the real time elapsed, upload every group, report links."""
        self.model.step(now - self.last_step)
        self.last_step = now
        self.next_tick += self.interval
        if self.next_tick < now:  # fell behind (a stalled machine): skip, never burst
            self.next_tick = now + self.interval
        for driver, group in self.groups:
            self._upload(driver, group)
        links = {driver: int(not self.model.active(SILENT + driver)) for driver, _ in self.groups}
        if links != self.links or now - self.status_at >= STATUS_S:
            self._publish(self.topics["status"], encode_status(now_ms(), links))
            self.links, self.status_at = links, now

    def handle(self, message: mqtt.MQTTMessage) -> None:
        if message.topic == self.fault_topic:
            self._on_fault_command(message.payload)
        elif message.topic == self.topics["write_request"]:
            self._on_write_request(message.payload)

    def _upload(self, driver: str, group: str) -> None:
        tags = self.groups[(driver, group)]
        if self.model.active(SILENT + driver):  # the device's link is down: codes, no values
            values, errors = {}, dict.fromkeys((t.key for t in tags), DISCONNECTED)
        else:
            values, errors = {t.key: self.model.values[t.key] for t in tags}, {}
        payload = encode_upload(driver, group, now_ms(), values, errors)
        self._publish(self.upload_topic(driver, group), payload)

    def _publish(self, topic: str, payload: bytes) -> None:
        # Live data only: while the broker is away nothing queues up to flood it later.
        if self.client.is_connected():
            self.client.publish(topic, payload, qos=1)

    def _on_write_request(self, payload: bytes) -> None:
        try:
            request = decode_write_request(payload)
        except PayloadError as exc:
            log.warning("simulate: ignored Neuron write request %r: %s", payload[:80], exc)
            return
        error = 0
        for key, value in request.writes:
            error = error or self._write(request, key, value)
        self._publish(self.topics["write_response"], encode_write_response(request.uuid, error))
        if (request.node, request.group) in self.groups:
            self._upload(request.node, request.group)  # the value read back

    def _write(self, request: WriteRequest, key: str, value: Any) -> int:
        """Apply one write; 0 or the Neuron error code that refused it."""
        tags = self.groups.get((request.node, request.group))
        if tags is None:
            return NODE_NOT_EXIST
        tag = next((t for t in tags if t.key == key), None)
        if tag is None:
            return TAG_NOT_EXIST
        if not tag.writable:
            return NOT_WRITABLE
        if self.model.active(SILENT + tag.machine):
            return DISCONNECTED
        if self.model.active(REJECT_WRITES + tag.key):
            return WRITE_FAILURE
        try:
            self.model.write(tag.key, as_tag_value(value, tag.data_type))
        except PayloadError:
            return TYPE_MISMATCH
        return 0

    def check_target(self, name: str) -> None:
        """Raise PayloadError if a silent:/reject_writes: fault names no machine/writable tag."""
        writable = [t.key for t in self.tags if t.writable]
        check_target(name, self.plant_slug, [t.machine for t in self.tags], writable)

    def _on_fault_command(self, payload: bytes) -> None:
        try:
            name, duration_s = decode_fault(payload)
            self.check_target(name)
        except PayloadError as exc:
            log.warning("simulate: ignored fault command %r: %s", payload[:80], exc)
            return
        self.model.inject(name, duration_s)
        log.info("simulate: fault %s active for %gs", name, duration_s)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason_code: Any, properties: Any) -> None:  # fmt: skip
        if reason_code.is_failure:
            log.warning("simulate: broker refused the connection: %s", reason_code)
            return
        client.subscribe([(self.topics["write_request"], 1), (self.fault_topic, 1)])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: list[Any], properties: Any) -> None:  # fmt: skip
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            log.warning("simulate: broker refused our subscriptions: %s", refused)
        else:
            self.subscribed.set()
