"""Each part of the ingest worker fails alone, and the worker says how it is: on the real
broker, database and (a dead or a private) Redis."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.publish as publish
import pytest
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from django.conf import settings
from prometheus_client import REGISTRY, generate_latest

from bench.fastpub import _packet, _utf8
from ingest import part_guard
from ingest.mqtt import parse_url
from ingest.worker import Worker
from plant.models import (
    Alarm,
    Plant,
    RejectedMessage,
    Sample,
    SetpointWrite,
    SystemAlarm,
    Tag,
    WorkerHeartbeat,
)
from tests.services import ROOT, Broker, free_port
from tests.waiting import run_until

pytestmark = pytest.mark.django_db


def tag(key: str) -> Tag:
    return Tag.objects.get(key=key)


def send(key: str, value: float, url: str | None = None) -> None:
    address = parse_url(url or settings.MQTT_URL)
    publish.single(tag(key).topic, json.dumps({"v": value}), qos=1, hostname=address.host,
                   port=address.port)  # fmt: skip


def stored(key: str) -> list[float | None]:
    return list(
        Sample.objects.filter(tag=tag(key)).order_by("time").values_list("value", flat=True)
    )


def make_worker(topic_root: str, url: str | None = None, client_id: str = "") -> Worker:
    worker = Worker(url, client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
                    topic_root=topic_root, session_expiry_s=120)  # fmt: skip
    worker.connect()
    assert worker.subscribed.wait(10), "the worker did not subscribe"
    return worker


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = make_worker(topic_root)
    yield worker
    worker.close()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def dead_redis(settings: Any) -> Iterator[None]:
    """The channel layer points at a port where no Redis listens: every push fails."""
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    saved = config["hosts"]
    config["hosts"] = [{"address": f"redis://127.0.0.1:{free_port()}/0", "socket_timeout": 1}]
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    yield
    config["hosts"] = saved
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)


def test_a_gas_alarm_with_redis_down_still_runs_the_emergency_and_storage_goes_on(
    worker: Worker, dead_redis: None
) -> None:
    send("methane", 45.0)
    hh = Alarm.objects.filter(definition__tag__key="methane", definition__kind="hh")
    run_until(lambda: hh.get().state == "unack", worker.run_once)
    run_until(lambda: SetpointWrite.objects.count() == 2, worker.run_once)
    send("h2s", 1.5)
    run_until(lambda: stored("h2s") == [1.5], worker.run_once)
    assert not SystemAlarm.objects.filter(key="ingest.alarms").exists()  # nothing raised


def test_a_failing_part_is_alarmed_and_counted_while_the_others_go_on(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("a bug in the alarm engine")

    before = metric("scada_ingest_part_failures_total", part="alarms")
    healthy_step = worker.alarms.step
    monkeypatch.setattr(worker.alarms, "step", broken)
    send("tank_level", 61.0)
    run_until(lambda: stored("tank_level") == [61.0], worker.run_once)
    worker.next_beat = 0  # the heartbeat writes the system alarms
    worker.run_once(timeout=0)
    alarm = SystemAlarm.objects.get(key="ingest.alarms")
    assert alarm.active and "alarm engine" in alarm.message
    assert "RuntimeError: a bug in the alarm engine" in alarm.detail
    assert metric("scada_ingest_part_failures_total", part="alarms") > before
    # Working again for long enough clears it.
    monkeypatch.setattr(worker.alarms, "step", healthy_step)
    monkeypatch.setattr(part_guard, "CLEAR_AFTER_S", 0.2)
    worker.run_once(timeout=0)
    run_until(lambda: not SystemAlarm.objects.get(key="ingest.alarms").active,
              lambda: (setattr(worker, "next_beat", 0), worker.run_once(timeout=0.05)))  # fmt: skip


def test_the_network_thread_survives_an_exception_and_nothing_is_lost(worker: Worker) -> None:
    receive = worker.client.on_publish_batch
    calls = []

    def fails_once(publishes: list[Any]) -> None:
        calls.append(len(publishes))
        if len(calls) == 1:
            raise RuntimeError("a bug in the network thread")
        receive(publishes)

    worker.client.on_publish_batch = fails_once
    before = metric("scada_ingest_network_restarts_total")
    send("flow_rate", 48.5)
    # The message died with the failing call, unacknowledged: the broker sends it again.
    run_until(lambda: stored("flow_rate") == [48.5], worker.run_once, timeout=20)
    assert metric("scada_ingest_network_restarts_total") == before + 1
    assert worker.network.is_alive() and worker.healthy()


def test_the_heartbeat_and_health_gauge_say_the_worker_is_alive(worker: Worker) -> None:
    run_until(worker.client.is_connected, worker.run_once)
    worker.next_beat = 0
    worker.run_once(timeout=0)
    beat = WorkerHeartbeat.objects.get(name=worker.client_id)
    assert beat.broker_connected and beat.buffered == 0 and beat.lag_s == 0.0
    assert b"scada_ingest_healthy 1.0" in generate_latest(REGISTRY)
    worker.turned_at -= 60  # as if the main loop had stalled for a minute
    assert b"scada_ingest_healthy 0.0" in generate_latest(REGISTRY)


def test_messages_the_broker_drops_raise_a_system_alarm(
    demo_plant: Plant, topic_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = Broker(limits="max_queued_messages 5\n")
    broker.start()
    try:
        client_id = f"test-{uuid.uuid4().hex[:8]}"
        make_worker(topic_root, broker.url, client_id).close()  # leaves its session behind
        address = parse_url(broker.url)
        publish.multiple([(tag("tank_level").topic, str(i), 1, False) for i in range(50)],
                         hostname=address.host, port=address.port)  # fmt: skip
        worker = make_worker(topic_root, broker.url, client_id)
        try:
            run_until(lambda: SystemAlarm.objects.filter(key="broker.dropped", active=True),
                      worker.run_once, timeout=20)  # fmt: skip
        finally:
            worker.close()
    finally:
        broker.close()
    alarm = SystemAlarm.objects.get(key="broker.dropped")
    assert "dropped" in alarm.message and metric("scada_broker_dropped_messages") >= 45


def test_a_stalled_main_loop_makes_the_worker_exit_to_be_restarted(topic_root: str) -> None:
    script = (
        "import django, threading; django.setup()\n"
        "from ingest.worker import Worker\n"
        f"w = Worker(client_id='stall-{uuid.uuid4().hex[:6]}', topic_root={topic_root!r}, "
        "watchdog_s=1.0)\n"
        "w.connect()\n"
        "threading.Event().wait(30)  # the main loop never turns\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, timeout=60,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 3, done.stderr[-2000:]
    assert "main loop stalled" in done.stderr


def closed_by_peer(sock: socket.socket, data: bytes) -> bool:
    """Send, then True if the other end closes or resets the connection."""
    try:
        sock.sendall(data)
        return sock.recv(4) == b""
    except ConnectionResetError:
        return True


def test_a_publish_over_the_maximum_packet_size_is_refused_by_the_broker_as_shipped(
    demo_plant: Plant, topic_root: str
) -> None:
    """The shipped broker refuses what the worker would never be sent (its Maximum Packet
    Size), so the device learns it at once, instead of the broker accepting the message and
    then dropping it for the worker without a trace."""
    broker = Broker()  # the shipped limits, max_packet_size included
    broker.start()
    try:
        worker = make_worker(topic_root, broker.url)
        try:
            with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as device:
                device.sendall(_packet(0x10, _utf8("MQTT") + bytes([4, 2, 0, 60]) + _utf8("dev")))
                assert device.recv(4)[:1] == b"\x20"  # CONNACK
                body = _utf8(tag("state").topic) + b"\x00\x01" + b'"' + b"x" * 200_000 + b'"'
                assert closed_by_peer(device, _packet(0x32, body))  # refused at the door
            send("tank_level", 62.5, broker.url)
            run_until(lambda: stored("tank_level") == [62.5], worker.run_once)
        finally:
            worker.close()
    finally:
        broker.close()
    assert worker.network.is_alive() or worker.stopping
    assert not RejectedMessage.objects.filter(topic=tag("state").topic).exists()
