"""What the README promises of the ingest worker and its setpoint writer, each on the real
broker and database: batch limits, the Receive Maximum held while nothing is acknowledged,
the metrics endpoint, MQTT 5 message expiry on writes, the writer's default timings and the
loop's write deadband."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F
from django.utils import timezone
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import start_http_server

from bench.fastpub import FastPublisher
from ingest.livepush import LIVE_PUSH_INTERVAL_S
from ingest.management.commands.ingest import Command as IngestCommand
from ingest.mqtt import SET_SUFFIX, parse_url
from ingest.setpoint_writer import FAIL_GRACE_S
from ingest.worker import BATCH_BYTES, Worker
from plant import live
from plant.actions.loops import do_set_loop_mode
from plant.actions.setpoints import do_request_setpoint
from plant.models import ControlLoop, Plant, Sample, SetpointWrite, Tag, WorkerHeartbeat
from plant.setpoints import READBACK_TIMEOUT_S, WRITE_EXPIRY_S
from plant.system_health import HEARTBEAT_S
from tests.builders import demo_tag, record_value
from tests.devices import connected_worker, device
from tests.services import Broker, free_port
from tests.sockets import drained
from tests.waiting import run_until

pytestmark = pytest.mark.django_db
State = SetpointWrite.State


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = connected_worker(topic_root)
    run_until(worker.writer.client.is_connected, worker.run_once)
    yield worker
    worker.close()


def port_of(url: str) -> int:
    return parse_url(url).port


def numbered(topic: str, n: int, size: int = 0) -> list[tuple[str, bytes]]:
    """n messages on one topic, each with its own time (so each is its own row)."""
    pad = b" " * size
    return [(topic, b'{"v":%d,"ts":%d}%s' % (i, 1_790_000_000_000 + i, pad)) for i in range(n)]


# --- storage -----------------------------------------------------------------------------


def test_a_batch_holds_at_most_10000_messages(worker: Worker) -> None:
    topic = Tag.objects.get(key="tank_level").topic
    FastPublisher(port_of(settings.MQTT_URL), f"pub-{uuid.uuid4().hex[:6]}").publish_all(
        numbered(topic, 12_000)
    )
    run_until(lambda: len(worker.inbox) == 12_000, timeout=60)  # all received, none taken
    assert worker.run_once() == 10_000
    assert worker.run_once() == 2_000
    assert Sample.objects.filter(tag__key="tank_level").count() == 12_000


def test_a_batch_ends_once_it_holds_512_kib(worker: Worker) -> None:
    topic = Tag.objects.get(key="tank_level").topic
    messages = numbered(topic, 40, size=16 * 1024)  # 40 messages of 16 KiB: 640 KiB
    FastPublisher(port_of(settings.MQTT_URL), f"pub-{uuid.uuid4().hex[:6]}").publish_all(messages)
    run_until(lambda: len(worker.inbox) == 40, timeout=60)
    first = worker.run_once()
    size = len(messages[0][1])
    # The message that takes a batch past 512 KiB is its last one.
    assert first == math.floor(BATCH_BYTES / size) + 1 < 40
    assert worker.run_once() == 40 - first
    assert BATCH_BYTES == 512 * 1024


@pytest.fixture
def broker() -> Iterator[Broker]:
    broker = Broker()  # the shipped queue limits
    broker.start()
    yield broker
    broker.close()


def test_what_the_worker_has_not_acknowledged_stays_within_its_receive_maximum(
    demo_plant: Plant, topic_root: str, broker: Broker
) -> None:
    """As while the database is down: the worker holds at most Receive Maximum messages
    unacknowledged and the broker queues the rest, sending them as the worker acknowledges."""
    worker = Worker(broker.url, client_id=f"test-{uuid.uuid4().hex[:8]}", topic_root=topic_root,
                    session_expiry_s=60, receive_maximum=100)  # fmt: skip
    worker.connect()
    try:
        assert worker.subscribed.wait(10)
        topic = Tag.objects.get(key="tank_level").topic
        FastPublisher(broker.port, "load").publish_all(numbered(topic, 300))  # all accepted
        run_until(lambda: len(worker.inbox) >= 100, timeout=30)
        # all the broker sent, the worker has read
        run_until(lambda: drained(worker.client.socket().getsockname()[1]), timeout=30)
        assert len(worker.inbox) == 100  # nothing more is on its way
        run_until(lambda: Sample.objects.filter(tag__key="tank_level").count() == 300,
                  worker.run_once, timeout=60)  # fmt: skip
    finally:
        worker.close()


def test_the_worker_announces_a_receive_maximum_of_50000() -> None:
    from ingest.worker import MAX_PACKET_BYTES, RECEIVE_MAXIMUM

    assert (RECEIVE_MAXIMUM, MAX_PACKET_BYTES) == (50_000, 128 * 1024)
    assert Worker("mqtt://127.0.0.1:1", client_id="x").receive_maximum == 50_000


# --- metrics -----------------------------------------------------------------------------

README_METRICS = [  # in the README's order: messages received, samples stored, ...
    "scada_ingest_received_total", "scada_ingest_samples_stored_total",
    "scada_ingest_rejected_total", "scada_ingest_deduplicated_total",
    "scada_ingest_deadband_filtered_total", "scada_ingest_batch_seconds",
    "scada_ingest_batch_messages", "scada_ingest_commit_latency_seconds",
    "scada_ingest_lag_seconds", "scada_ingest_buffer_messages", "scada_ingest_broker_connected",
    "scada_ingest_reconnects_total", "scada_ingest_db_errors_total",
    "scada_ingest_part_failures_total", "scada_ingest_network_restarts_total",
    "scada_broker_dropped_messages", "scada_ingest_unstorable", "scada_ingest_internal_errors",
    "scada_ingest_healthy",
]  # fmt: skip


def scrape(port: int) -> dict[str, float]:
    """Each sample's value by name; each declared metric (# TYPE) as a name with no value, so
    a labelled one that has no sample yet (failures per part, before any) is listed too."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            samples.setdefault(name + ("_total" if kind == "counter" else ""), float("nan"))
        elif line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_the_metrics_endpoint_serves_every_metric_the_readme_lists(worker: Worker) -> None:
    options = IngestCommand().create_parser("manage.py", "ingest").parse_args([])
    assert (options.metrics_port, options.metrics_addr) == (9108, "127.0.0.1")
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1")  # as the command starts it
    try:
        before = scrape(port)
        topic = Tag.objects.get(key="tank_level").topic
        FastPublisher(port_of(settings.MQTT_URL), "metrics").publish_all(numbered(topic, 3))
        run_until(lambda: Sample.objects.filter(tag__key="tank_level").count() == 3,
                  worker.run_once)  # fmt: skip
        after = scrape(port)
    finally:
        server.shutdown()
        thread.join(5)
    names = {name.split("{")[0] for name in after}
    missing = [m for m in README_METRICS if not any(n.startswith(m) for n in names)]
    assert missing == []
    assert after["scada_ingest_received_total"] - before["scada_ingest_received_total"] == 3
    assert after["scada_ingest_healthy"] == 1.0
    assert after["scada_ingest_broker_connected"] == 1.0


# --- setpoint writes ------------------------------------------------------------------------


@pytest.fixture
def fill_level_sp(demo_plant: Plant) -> Tag:
    tag = demo_tag(demo_plant, "fill_level_sp")
    record_value(tag, 500.0)
    return tag


class SetSubscriber:
    """An MQTT 5 client with a persistent session on a tag's `/set` topic, keeping what it
    receives with its properties; it can go away and come back to its queue."""

    def __init__(self, topic: str) -> None:
        self.topic = topic + SET_SUFFIX
        client_id = f"sub-{uuid.uuid4().hex[:8]}"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.got: list[mqtt.MQTTMessage] = []
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = lambda _c, _u, msg: self.got.append(msg)

    def connect(self) -> None:
        address = parse_url(settings.MQTT_URL)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 120
        self.subscribed.clear()
        self.client.connect(address.host, address.port, clean_start=False, properties=properties)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def ids(self) -> list[str]:
        return [json.loads(m.payload).get("id", "") for m in self.got]


def test_a_write_carries_its_expiry_as_the_mqtt5_message_expiry_and_the_broker_drops_it_late(
    worker: Worker, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    subscriber = SetSubscriber(fill_level_sp.topic)
    subscriber.connect()
    operator = users_by_role["operator"]
    try:
        write = do_request_setpoint(fill_level_sp, 504, by=operator)
        run_until(lambda: str(write.command_id) in subscriber.ids(), worker.run_once)
        (message,) = subscriber.got
        payload = json.loads(message.payload)
        assert payload["expires"] == write.expires_at.isoformat().replace("+00:00", "Z") or (
            payload["expires"] == write.expires_at.isoformat()
        )
        expiry = message.properties.MessageExpiryInterval
        assert 0 < expiry <= WRITE_EXPIRY_S
        # Away, the subscriber's queue takes the next write; it expires before it comes back.
        subscriber.disconnect()
        record_value(fill_level_sp, 504.0)
        SetpointWrite.objects.update(requested_at=F("requested_at") - timedelta(seconds=1))
        late = do_request_setpoint(fill_level_sp, 503, by=operator, expires_in_s=1)
        run_until(lambda: SetpointWrite.objects.get(pk=late.pk).sent_at, worker.run_once)
        sent_at = SetpointWrite.objects.get(pk=late.pk).sent_at
        run_until(lambda: timezone.now() > sent_at + timedelta(seconds=2.5), worker.run_once)
        marker = f'{{"v": 1, "id": "marker-{uuid.uuid4().hex}"}}'
        FastPublisher(port_of(settings.MQTT_URL), "marker").publish_all(
            [(subscriber.topic, marker.encode())]
        )
        subscriber.connect()
        run_until(lambda: json.loads(marker)["id"] in subscriber.ids(), timeout=10)
        assert str(late.command_id) not in subscriber.ids()  # the broker dropped it, expired
    finally:
        subscriber.disconnect()


def test_the_default_timings_of_a_write(
    worker: Worker, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    """Expired 10 s after the request, failed when another value is still the latest 1 s
    after sending, timed out when no readback came within 5 s."""
    assert (WRITE_EXPIRY_S, FAIL_GRACE_S, READBACK_TIMEOUT_S) == (10, 1.0, 5)
    assert worker.writer.timeout == timedelta(seconds=5)
    operator = users_by_role["operator"]
    write = do_request_setpoint(fill_level_sp, 504, by=operator)
    assert write.expires_at - write.requested_at == timedelta(seconds=10)
    with device(fill_level_sp.topic, lambda command: None):  # a device that never answers
        run_until(lambda: SetpointWrite.objects.get(pk=write.pk).state == State.TIMED_OUT,
                  worker.run_once, timeout=30)  # fmt: skip
    write.refresh_from_db()
    assert write.finished_at - write.sent_at >= timedelta(seconds=5)
    SetpointWrite.objects.update(requested_at=F("requested_at") - timedelta(seconds=1))
    other = do_request_setpoint(fill_level_sp, 503, by=operator)
    with device(fill_level_sp.topic, lambda command: b'{"v": 500.0}'):  # holds the old value
        run_until(lambda: SetpointWrite.objects.get(pk=other.pk).state == State.FAILED,
                  worker.run_once, timeout=30)  # fmt: skip
    other.refresh_from_db()
    assert other.finished_at - other.sent_at >= timedelta(seconds=1)


# --- the fill-level loop ------------------------------------------------------------------


def test_the_loop_writes_only_output_changes_of_at_least_its_write_deadband(
    demo_plant: Plant, users_by_role: dict[str, User]
) -> None:
    from ingest.loop_runner import LoopRunner

    loop = ControlLoop.objects.select_related("pv_tag", "sp_tag", "output_tag").get(
        output_tag__machine__line__plant=demo_plant
    )
    assert loop.write_deadband == 0.05
    record_value(loop.pv_tag, 499.7)  # 0.3 ml low: the output creeps up 0.005 l/min a second
    record_value(loop.sp_tag, 500.0)
    record_value(loop.output_tag, 50.0)
    do_set_loop_mode(loop, "auto", by=users_by_role["operator"])
    runner = LoopRunner()
    for second in range(40):
        runner.step_loop(ControlLoop.objects.select_related(
            "pv_tag", "sp_tag", "output_tag__machine__line").get(pk=loop.pk),
            timezone.now(), float(second))  # fmt: skip
        # A simulated second passes for the rate limit (one write per tag every 0.5 s) too.
        SetpointWrite.objects.update(requested_at=F("requested_at") - timedelta(seconds=1))
    values = [
        50.0,
        *list(
            SetpointWrite.objects.filter(user=None).order_by("pk").values_list("value", flat=True)
        ),
    ]
    steps = [round(b - a, 6) for a, b in itertools.pairwise(values)]
    assert steps, "the loop wrote nothing"
    assert all(step >= 0.05 for step in steps), steps
    assert len(steps) <= 40 * 0.005 / 0.05 + 1  # about one write per 0.05 l/min gathered


# --- live push and heartbeat ------------------------------------------------------------


async def next_values(channel: str, timeout: float = 15) -> list[live.TagValue]:
    """The next `tag.values` message on a channel (alarm messages may come in between)."""
    layer = get_channel_layer()
    while True:
        message = await asyncio.wait_for(layer.receive(channel), timeout)
        if message["type"] == "tag.values":
            return message["values"]


def test_a_screen_gets_the_newest_value_of_each_changed_tag_not_every_sample(
    worker: Worker,
) -> None:
    assert LIVE_PUSH_INTERVAL_S == 0.15  # about 7 times a second
    layer = get_channel_layer()
    level = Tag.objects.get(key="fill_level")
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(live.VALUES_GROUP, channel)  # as every daphne's hub does
    publisher = FastPublisher(port_of(settings.MQTT_URL), f"pub-{uuid.uuid4().hex[:6]}")
    publisher.publish_all(numbered(level.topic, 200))
    run_until(lambda: len(worker.inbox) == 200, timeout=60)
    derived = set(Tag.objects.filter(derived__isnull=False).values_list("pk", flat=True))
    assert worker.run_once() == 200  # one batch of 200 samples of one tag
    # The newest, once. The worker's derived jobs push their own tags, beside it or, when they
    # ran first in the turn, in a push of their own before it (a CI run met one).
    values: list[live.TagValue] = []
    while not values:
        message = async_to_sync(next_values)(channel)
        values = [v for v in message if v["tag"] not in derived]
    assert [(v["tag"], v["v"]) for v in values] == [(level.pk, 199)]
    # The marker: a later value's message is the next one, so no message per sample came.
    later = b'{"v":777,"ts":%d}' % (1_790_000_000_000 + 1_000)
    FastPublisher(port_of(settings.MQTT_URL), f"pub-{uuid.uuid4().hex[:6]}").publish_all(
        [(level.topic, later)]
    )
    run_until(lambda: worker.inbox, timeout=30)
    worker.run_once()
    values = async_to_sync(next_values)(channel)
    assert [(v["tag"], v["v"]) for v in values] == [(level.pk, 777)]


def test_the_heartbeat_is_written_every_two_seconds(worker: Worker) -> None:
    """Without touching the worker's timer: beats are two seconds apart, never less, and
    never more than two seconds plus the longest pause between two turns."""
    assert HEARTBEAT_S == 2.0
    beats: list[datetime] = []
    longest_turn = 0.0
    while len(beats) < 4:
        started = time.monotonic()
        worker.run_once()
        longest_turn = max(longest_turn, time.monotonic() - started)
        beat = WorkerHeartbeat.objects.filter(name=worker.client_id).first()
        if beat and (not beats or beat.beat_at != beats[-1]):
            beats.append(beat.beat_at)
            assert beat.broker_connected and beat.buffered == 0
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(beats)]
    # (0.05 s either way: a beat's time is taken a little after its turn decides to beat)
    assert all(HEARTBEAT_S - 0.05 <= gap <= HEARTBEAT_S + longest_turn + 0.05 for gap in gaps), gaps
