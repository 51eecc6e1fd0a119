"""The demo plant as Sparkplug B 3.0 edge nodes: each line an edge node, each machine a device.

`SparkplugPlant` moves the same `PlantModel` as the JSON device (ingest/sim/json_device.py) and
speaks what an Ignition or Tahu edge node speaks, encoded by the product's own codec
(ingest/sparkplug/codec.py), so the demo and the tests exercise the real format:
- each edge node has its own MQTT session, whose will is its NDEATH with the session's bdSeq;
- on connect: NBIRTH (bdSeq, Node Control/Rebirth) and a DBIRTH per machine, every metric with
  its alias, datatype, value and the tag's unit and range as properties engUnit/engLow/engHigh;
- then DDATA by alias: analogue measurements every tick, the rest when they change; every
  message of a node counts in its seq, 0..255, starting at 0 with the NBIRTH;
- NCMD `Node Control/Rebirth` → a new birth; DCMD to a metric (by name or alias) → applied as
  the JSON device applies a `…/set`, and its new value reported in a DDATA at once;
- fault commands as the JSON device takes them (ingest/sim/faults.py).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from django.conf import settings

from ingest.mqtt import make_client
from ingest.payloads import PayloadError, Scalar
from ingest.sim.faults import (
    REJECT_WRITES,
    SILENT,
    ScheduledFault,
    check_target,
    decode_fault,
    fault_topic,
)
from ingest.sim.json_device import SimTag, as_tag_value, differing, meter_start_kwh
from ingest.sim.plant_model import PlantModel
from ingest.sparkplug import codec
from ingest.sparkplug.codec import D, PropertyValue
from ingest.sparkplug.host import NAMESPACE, REBIRTH

log = logging.getLogger(__name__)

DATATYPES = {"float": D.Double, "int": D.Int64, "bool": D.Boolean, "string": D.String}
Event = tuple[str, str, "mqtt.MQTTMessage | None"]  # (what, edge node, message)


def now_ms() -> int:
    return int(time.time() * 1000)


def metric_properties(tag: SimTag) -> dict[str, PropertyValue]:
    """A tag's unit and range as the properties a host reads them from (Ignition's names)."""
    props = {"engUnit": PropertyValue(D.String, tag.unit)} if tag.unit else {}
    if tag.range_min is not None and tag.range_max is not None:
        props["engLow"] = PropertyValue(D.Double, float(tag.range_min))
        props["engHigh"] = PropertyValue(D.Double, float(tag.range_max))
    return props


def node_birth(bd_seq: int, timestamp: int) -> bytes:
    """An NBIRTH: seq 0, the session's bdSeq, and the rebirth control a host may write."""
    metrics = (
        codec.Metric(name="bdSeq", datatype=int(D.Int64), value=bd_seq),
        codec.Metric(name=REBIRTH, datatype=int(D.Boolean), value=False),
    )
    return codec.encode(codec.Payload(timestamp=timestamp, seq=0, metrics=metrics))


def node_death(bd_seq: int) -> bytes:
    """An NDEATH (the will): only the bdSeq of the session it ends; no seq."""
    metric = codec.Metric(name="bdSeq", datatype=int(D.Int64), value=bd_seq)
    return codec.encode(codec.Payload(timestamp=now_ms(), metrics=(metric,)))


def device_birth(
    tags: Iterable[SimTag], values: dict[str, Scalar], aliases: dict[str, int], seq: int,
    timestamp: int,
) -> bytes:  # fmt: skip
    """A DBIRTH: every metric of one machine by name, with alias, datatype, value, properties."""
    metrics = tuple(
        codec.Metric(
            name=t.key,
            alias=aliases[t.key],
            datatype=int(DATATYPES[t.data_type]),
            value=values[t.key],
            properties=metric_properties(t),
        )
        for t in tags
    )
    return codec.encode(codec.Payload(timestamp=timestamp, seq=seq, metrics=metrics))


@dataclass
class Device:
    """One machine of an edge node: its tags, their aliases, what it last reported."""

    name: str
    tags: list[SimTag]
    aliases: dict[str, int]
    reported: dict[str, Scalar] = field(default_factory=dict)


@dataclass
class EdgeNode:
    """One line: an MQTT session of its own, its bdSeq, seq and devices."""

    name: str
    devices: dict[str, Device]
    client: mqtt.Client
    bd_seq: int = 0
    seq: int = 0
    born: bool = False
    sessions: int = 0  # connects so far: each after the first starts a new bdSeq

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq


class SparkplugPlant:
    """The demo plant's lines as Sparkplug edge nodes of group `group` on MQTT.

    paho's threads (one per edge node) only fill `inbox`; one loop steps the model, publishes
    and handles commands, so the model is never touched by two threads.
    """

    def __init__(self, tags: list[SimTag], *, plant_slug: str, group: str = "",
                 rate: float = 1.0, seed: int | None = None,
                 schedule: Iterable[ScheduledFault] = (), url: str | None = None,
                 host_id: str | None = None) -> None:  # fmt: skip
        self.model = PlantModel(seed, meter_kwh=meter_start_kwh(tags))
        self.tags = [t for t in tags if t.key in self.model.values and t.data_type in DATATYPES]
        self.plant_slug, self.group, self.interval = plant_slug, group or plant_slug, 1.0 / rate
        self.fault_topic = fault_topic(settings.MQTT_TOPIC_ROOT, plant_slug)
        # The primary host whose STATE we watch (SPARKPLUG_HOST_ID, the product's worker).
        self.host_id = settings.SPARKPLUG_HOST_ID if host_id is None else host_id
        self.url = url or settings.SIMULATOR_MQTT_URL or None
        self.inbox: queue.Queue[Event] = queue.Queue()
        self.nodes = {line: self._node(line) for line in dict.fromkeys(t.line for t in self.tags)}
        self.address = make_client(url=self.url)[1]
        schedule = list(schedule)
        for fault in schedule:
            self.check_target(fault.name)
        self.model.schedule(schedule)
        self.subscribed = threading.Event()  # set once every node's subscriptions are granted
        self.granted: set[str] = set()
        self.host_online: bool | None = None
        self.stopping = False
        self.last_step = self.next_tick = time.monotonic()

    def _node(self, line: str) -> EdgeNode:
        devices: dict[str, Device] = {}
        for tag in (t for t in self.tags if t.line == line):
            device = devices.setdefault(tag.machine, Device(tag.machine, [], {}))
            device.tags.append(tag)
        alias = 0
        for device in devices.values():
            for tag in device.tags:
                alias += 1  # unique in the edge node, as the spec asks
                device.aliases[tag.key] = alias
        client = make_client(f"sim-{self.group}-{line}"[:64], url=self.url)[0]
        node = EdgeNode(line, devices, client)
        client.will_set(self.topic("NDEATH", line), node_death(0), qos=1)
        client.on_connect = lambda c, u, f, rc, p: self._on_connect(node, rc)
        client.on_disconnect = lambda c, u, f, rc, p: self._on_disconnect(node)
        client.on_subscribe = lambda c, u, mid, codes, p: self._on_subscribe(node, codes)
        client.on_message = lambda c, u, message: self.inbox.put(("message", line, message))
        return node

    def topic(self, kind: str, node: str, device: str = "") -> str:
        return f"{NAMESPACE}/{self.group}/{kind}/{node}" + (f"/{device}" if device else "")

    def describe(self) -> str:
        """The start line: which edge nodes, where, and where commands are taken."""
        return (
            f"simulate: plant {self.plant_slug!r} as Sparkplug B group {self.group!r}, edge "
            f"nodes {', '.join(self.nodes)} ({len(self.tags)} metrics) on "
            f"{'mqtts' if self.address.tls else 'mqtt'}://{self.address.host}:"
            f"{self.address.port} at {1 / self.interval:g}/s; commands on NCMD/DCMD, faults "
            f"on {self.fault_topic}"
        )

    def connect(self) -> None:
        """Connect every edge node and start paho's threads; OSError if the broker is away."""
        for node in self.nodes.values():
            node.client.connect(self.address.host, self.address.port)
            node.client.loop_start()

    def run(self) -> None:
        """Publish and obey commands until stop(); call connect() first. A clean stop sends
        each node's NDEATH itself (the broker sends a will only on a lost connection)."""
        self.last_step = self.next_tick = time.monotonic()
        try:
            while not self.stopping:
                self.run_once()
        finally:
            for node in self.nodes.values():
                if node.client.is_connected():
                    info = node.client.publish(
                        self.topic("NDEATH", node.name), node_death(node.bd_seq), qos=1
                    )
                    info.wait_for_publish(2.0)
                node.client.disconnect()
                node.client.loop_stop()

    def stop(self) -> None:
        """Ask run() to return; safe from a signal handler (it only sets a flag)."""
        self.stopping = True

    def run_once(self, max_wait: float = 0.2) -> None:
        """Tick if due, then handle an event that arrives before the next tick (if any)."""
        now = time.monotonic()
        if now >= self.next_tick:
            self.tick(now)
        wait = min(max_wait, max(0.0, self.next_tick - time.monotonic()))
        try:
            what, line, message = self.inbox.get(timeout=wait)
        except queue.Empty:
            return
        if what == "connected":
            self.birth(self.nodes[line])
        elif message is not None:
            self.handle(self.nodes[line], message)

    def tick(self, now: float) -> None:
        """Step the model by the real time elapsed and report what changed, by alias."""
        self.model.step(now - self.last_step)
        self.last_step = now
        self.next_tick += self.interval
        if self.next_tick < now:  # fell behind (a stalled machine): skip, never burst
            self.next_tick = now + self.interval
        for node in self.nodes.values():
            for device in node.devices.values():
                due = [t for t in device.tags if self._due(device, t)]
                if due:
                    self._data(node, device, due)

    def birth(self, node: EdgeNode) -> None:
        """NBIRTH then every DBIRTH, seq restarting at 0 (on connect and on a rebirth)."""
        if not node.client.is_connected():
            return
        stamp = now_ms()
        node.client.publish(self.topic("NBIRTH", node.name), node_birth(node.bd_seq, stamp), 0)
        node.seq = 0
        for device in node.devices.values():
            values = {t.key: self.model.values[t.key] for t in device.tags}
            payload = device_birth(device.tags, values, device.aliases, node.next_seq(), stamp)
            node.client.publish(self.topic("DBIRTH", node.name, device.name), payload, 0)
            device.reported = values
        node.born = True
        log.info("simulate: edge node %s/%s born (bdSeq %d)", self.group, node.name, node.bd_seq)

    def handle(self, node: EdgeNode, message: mqtt.MQTTMessage) -> None:
        parts = message.topic.split("/")
        if message.topic == self.fault_topic:
            self._on_fault_command(message.payload)
        elif parts[1:2] == ["STATE"]:
            self._on_state(message.payload)
        elif parts[2:3] == ["NCMD"]:
            self._on_node_command(node, message.payload)
        elif parts[2:3] == ["DCMD"] and len(parts) == 5 and parts[4] in node.devices:
            self._on_device_command(node, node.devices[parts[4]], message.payload)

    def _due(self, device: Device, tag: SimTag) -> bool:
        # Report by exception, as Sparkplug asks; analogue measurements move every tick.
        if self.model.active(SILENT + tag.machine):
            return False
        changed = device.reported.get(tag.key) != self.model.values[tag.key]
        return changed or (tag.data_type == "float" and not tag.writable)

    def _data(self, node: EdgeNode, device: Device, tags: list[SimTag],
              overrides: dict[str, Scalar] | None = None) -> None:  # fmt: skip
        # Live data only: while a node is away (or not yet born) nothing queues up.
        if not (node.born and node.client.is_connected()):
            return
        values = {t.key: self.model.values[t.key] for t in tags} | (overrides or {})
        metrics: list[tuple[int, int, Any, int | None]] = [
            (device.aliases[t.key], int(DATATYPES[t.data_type]), values[t.key], None) for t in tags
        ]
        payload = codec.encode_data(now_ms(), node.next_seq(), metrics)
        node.client.publish(self.topic("DDATA", node.name, device.name), payload, 0)
        device.reported.update(values)

    def _on_node_command(self, node: EdgeNode, payload: bytes) -> None:
        try:
            metrics = codec.decode(payload).metrics
        except PayloadError as exc:
            log.warning("simulate: ignored NCMD to %s: %s", node.name, exc)
            return
        if any(m.name == REBIRTH and m.value is True for m in metrics):
            self.birth(node)

    def _on_device_command(self, node: EdgeNode, device: Device, payload: bytes) -> None:
        try:
            metrics = codec.decode(payload).metrics
        except PayloadError as exc:
            log.warning("simulate: ignored DCMD to %s: %s", device.name, exc)
            return
        if self.model.active(SILENT + device.name):
            log.info("simulate: ignored DCMD to %s: machine is silent", device.name)
            return
        by_alias = {alias: key for key, alias in device.aliases.items()}
        by_key = {t.key: t for t in device.tags}
        for m in metrics:
            tag = by_key.get(m.name or by_alias.get(m.alias or -1, ""))
            if tag is None or not tag.writable:
                log.warning("simulate: ignored DCMD to %s: %s is no writable metric",
                            device.name, m.name or m.alias)  # fmt: skip
                continue
            try:
                value = as_tag_value(m.value, tag.data_type)
            except PayloadError as exc:
                log.warning("simulate: ignored DCMD to %s.%s: %s", device.name, tag.key, exc)
                continue
            if self.model.active(REJECT_WRITES + tag.key):
                held = differing(self.model.values[tag.key], value)
                self._data(node, device, [tag], {tag.key: held})
                continue
            self.model.write(tag.key, value)
            self._data(node, device, [tag])  # the report that confirms the write

    def _on_state(self, payload: bytes) -> None:
        # The primary host coming back online may have missed our births: give them again.
        try:
            online = json.loads(payload).get("online") is True
        except (ValueError, AttributeError):
            return
        if online and self.host_online is False:
            for node in self.nodes.values():
                self.birth(node)
        self.host_online = online

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

    def _on_connect(self, node: EdgeNode, reason_code: Any) -> None:
        if reason_code.is_failure:
            log.warning("simulate: broker refused edge node %s: %s", node.name, reason_code)
            return
        topics = [self.topic("NCMD", node.name), self.topic("DCMD", node.name, "+")]
        if node.name == next(iter(self.nodes)):  # the plant's topics, heard once
            topics.append(self.fault_topic)
            if self.host_id:
                topics.append(f"{NAMESPACE}/STATE/{self.host_id}")
        node.client.subscribe([(topic, 1) for topic in topics])
        self.inbox.put(("connected", node.name, None))

    def _on_disconnect(self, node: EdgeNode) -> None:
        # The broker sent (or will send) this session's NDEATH: the next session, a new bdSeq,
        # and a will that carries it (paho sends the will it holds at its next CONNECT).
        node.born = False
        node.bd_seq = (node.bd_seq + 1) % 256
        node.client.will_set(self.topic("NDEATH", node.name), node_death(node.bd_seq), qos=1)

    def _on_subscribe(self, node: EdgeNode, reason_codes: list[Any]) -> None:
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            log.warning("simulate: broker refused %s's subscriptions: %s", node.name, refused)
            return
        self.granted.add(node.name)
        if self.granted == self.nodes.keys():
            self.subscribed.set()
