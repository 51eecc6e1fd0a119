"""Real devices and listeners for setpoint tests: the simulator in a thread, the ingest worker
in a thread, a recorder of every setpoint write that reaches the broker, and a device of the
test's own making that answers writes as it is told."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
from django.db import connection
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.mqtt import SET_SUFFIX, make_client
from ingest.payloads import SetpointCommand, decode_setpoint, utcnow
from ingest.sim.faults import ScheduledFault
from ingest.sim.json_device import Simulator, load_tags
from ingest.worker import Worker


class SetRecorder:
    """Subscribes to everything under a topic root and keeps the setpoint writes it sees.

    With `session_expiry_s`, the broker keeps its subscription while it is away (or while the
    broker restarts), so it also receives what was published in between.
    """

    def __init__(self, topic_root: str, *, url: str | None = None, session_expiry_s: int = 0):
        self.topic_filter = f"{topic_root}#"
        self.client, self.address = make_client(f"rec-{uuid.uuid4().hex[:8]}", url=url)
        self.session_expiry_s = session_expiry_s
        self.writes: list[tuple[str, SetpointCommand]] = []
        self.subscribed = threading.Event()
        self.lock = threading.Lock()
        self.client.on_connect = lambda c, *_: c.subscribe(self.topic_filter, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith(SET_SUFFIX):
            with self.lock:
                self.writes.append((msg.topic, decode_setpoint(msg.payload, utcnow())))

    def start(self) -> SetRecorder:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.session_expiry_s
        self.client.connect_async(self.address.host, self.address.port, clean_start=False,
                                  properties=properties)  # fmt: skip
        self.client.loop_start()
        assert self.subscribed.wait(10), "the recorder did not subscribe"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def seen(self) -> list[tuple[str, SetpointCommand]]:
        with self.lock:
            return list(self.writes)


@contextmanager
def recording(topic_root: str, **options: object) -> Iterator[SetRecorder]:
    recorder = SetRecorder(topic_root, **options).start()  # type: ignore[arg-type]
    try:
        yield recorder
    finally:
        recorder.stop()


class Device:
    """One tag's device on the real broker: it answers each write on `<topic>/set` with the
    payload `answer(command)` returns on the tag's topic (None: no answer), and publishes what
    a test tells it to. `answer` may be changed while it runs."""

    def __init__(self, topic: str, answer: Callable[[SetpointCommand], bytes | None]) -> None:
        self.topic, self.answer = topic, answer
        self.client, self.address = make_client(f"dev-{uuid.uuid4().hex[:8]}")
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(f"{topic}{SET_SUFFIX}", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        payload = self.answer(decode_setpoint(msg.payload, utcnow()))
        if payload is not None:
            client.publish(self.topic, payload, qos=1)

    def publish(self, payload: bytes) -> None:
        """Publish on the tag's topic, and return once the broker has it."""
        self.client.publish(self.topic, payload, qos=1).wait_for_publish(timeout=5)


@contextmanager
def device(topic: str, answer: Callable[[SetpointCommand], bytes | None]) -> Iterator[Device]:
    dev = Device(topic, answer)
    dev.client.connect(dev.address.host, dev.address.port)
    dev.client.loop_start()
    try:
        assert dev.subscribed.wait(10), "the device did not subscribe"
        yield dev
    finally:
        dev.client.disconnect()
        dev.client.loop_stop()


@contextmanager
def running_simulator(plant_slug: str, faults: Iterable[str] = ()) -> Iterator[Simulator]:
    """The demo plant's devices, publishing five times a second, with faults active from 0 s."""
    schedule = [ScheduledFault(name, 0.0, 3600.0) for name in faults]
    simulator = Simulator(load_tags(plant_slug), plant_slug=plant_slug, rate=5, seed=1,
                          schedule=schedule)  # fmt: skip
    simulator.connect()
    thread = threading.Thread(target=simulator.run, name="simulator", daemon=True)
    thread.start()
    try:
        assert simulator.subscribed.wait(5), "the simulator did not subscribe"
        yield simulator
    finally:
        simulator.stop()
        thread.join(timeout=5)


def connected_worker(topic_root: str, url: str | None = None) -> Worker:
    """An ingest worker (with its setpoint writer) subscribed under `topic_root`."""
    worker = Worker(url, client_id=f"test-{uuid.uuid4().hex[:8]}", topic_root=topic_root,
                    session_expiry_s=60)  # fmt: skip
    worker.connect()
    assert worker.subscribed.wait(10), "the worker did not subscribe"
    return worker


@contextmanager
def worker_in_thread(topic_root: str) -> Iterator[Worker]:
    """The worker running on its own (for browser tests, whose waits block this thread)."""
    worker = connected_worker(topic_root)

    def serve() -> None:
        try:
            while not worker.stopping:
                worker.run_once()
        finally:
            connection.close()  # this thread's connection; the test database is dropped later

    thread = threading.Thread(target=serve, name="worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=10)
        worker.close()
