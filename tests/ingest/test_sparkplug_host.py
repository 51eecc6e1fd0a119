"""The Sparkplug B host application end to end: Eclipse Tahu's JavaScript edge node (not ours)
publishes births, data and deaths to the real broker; the product's worker stores them in
the real database."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import paho.mqtt.publish as publish
import pytest
from django.conf import settings
from django.contrib.auth.models import User

from ingest.mqtt import parse_url
from ingest.sparkplug import codec
from ingest.sparkplug.host import parse_topic
from ingest.worker import Worker
from plant import sparkplug as model
from plant.actions.setpoints import do_request_setpoint
from plant.models import (
    Alarm,
    AlarmDefinition,
    ConfigChange,
    LatestValue,
    Machine,
    RejectedMessage,
    Sample,
    SetpointWrite,
    SparkplugGroup,
    SparkplugMetric,
    SparkplugNode,
    SparkplugPendingBirth,
    Tag,
)
from plant.sparkplug import STATUS_KEY
from tests.sparkplug_tahu import NODE_DIR, node
from tests.waiting import run_until

# On this xdist worker's own broker: spBv1.0/# cannot be kept apart by a topic root.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sparkplug_broker")]
EDGE = "edge1"


class EdgeNode:
    """Tahu's sparkplug-client as a child process (tests/sparkplug_node/edge_node.js)."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.process = subprocess.Popen(
            [node(), "edge_node.js", settings.MQTT_URL, group, EDGE],
            cwd=NODE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("connected")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def expect(self, prefix: str, timeout: float = 10.0) -> str:
        """The next line (after those already seen) that starts with `prefix`."""
        for line in self.seen:
            if line.startswith(prefix):
                self.seen.remove(line)
                return line
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the edge node never printed {prefix!r}") from None
            if line.startswith(prefix):
                return line
            self.seen.append(line)

    def send(self, op: str, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **command}) + "\n")
        self.process.stdin.flush()
        if op != "kill":
            self.expect(f"sent {op}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)


@pytest.fixture
def group() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def host_id() -> str:
    return f"test-host-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def worker(topic_root: str, host_id: str) -> Iterator[Worker]:
    worker = Worker(
        client_id=f"test-{uuid.uuid4().hex[:8]}",
        topic_root=topic_root,
        session_expiry_s=120,
        sparkplug_host_id=host_id,
    )
    worker.connect()
    assert worker.subscribed.wait(5), "the worker did not subscribe"
    yield worker
    worker.close()
    _publish(f"spBv1.0/STATE/{host_id}", b"", retain=True)  # leave no retained state behind


@pytest.fixture
def edge(group: str, worker: Worker) -> Iterator[EdgeNode]:
    edge = EdgeNode(group)
    yield edge
    edge.close()


def _publish(topic: str, payload: bytes, retain: bool = False) -> None:
    address = parse_url(settings.MQTT_URL)
    publish.single(topic, payload, qos=1, retain=retain, hostname=address.host, port=address.port)


def tag_of(group: str, machine: str, key: str) -> Tag:
    return Tag.objects.get(machine__line__plant__name=group, machine__name=machine, key=key)


def born(group: str) -> bool:
    return Tag.objects.filter(machine__line__plant__name=group, machine__name="filler").exists()


def values(tag: Tag) -> list[tuple[float | None, str | None, int]]:
    return list(
        Sample.objects.filter(tag=tag).order_by("time").values_list("value", "text", "quality")
    )


def test_births_of_an_unknown_edge_node_create_its_plant_line_machines_and_tags(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    edge.send("births")
    run_until(lambda: born(group), worker.run_once)
    filler = Machine.objects.get(line__plant__name=group, line__name=EDGE, name="filler")
    own = Machine.objects.get(line__plant__name=group, line__name=EDGE, name=EDGE)
    assert sorted(filler.tags.values_list("key", flat=True)) == [
        "count", "fill_level", "running", "sparkplug_online", "state", "valve_position",
    ]  # fmt: skip
    assert sorted(own.tags.values_list("key", flat=True)) == [
        "properties_hardware", "sparkplug_online", "uptime",
    ]  # fmt: skip
    level = tag_of(group, "filler", "fill_level")
    assert (level.data_type, level.unit, level.range_min, level.range_max) == (
        "float",
        "ml",
        0,
        750,
    )
    kinds = dict(filler.tags.values_list("key", "data_type"))
    assert kinds == {"count": "int", "fill_level": "float", "running": "bool", "state": "string",
                     "valve_position": "float", "sparkplug_online": "bool"}  # fmt: skip
    # Each node's and device's status tag: online from its birth.
    for session in SparkplugNode.objects.filter(group__group_id=group):
        assert session.status_tag is not None and values(session.status_tag) == [(1.0, None, 0)]
    # The DataSet metric is known, but the historian keeps no tag of it.
    recipe = SparkplugMetric.objects.get(
        node__group__group_id=group, node__device_id="filler", name="Recipe"
    )
    assert recipe.tag is None and recipe.datatype == codec.D.DataSet
    # The birth's values are the first samples.
    assert values(level) == [(498.5, None, 0)]
    assert values(tag_of(group, "filler", "count")) == [(-3.0, None, 0)]
    assert values(tag_of(group, "filler", "state")) == [(None, "filling", 0)]
    assert ConfigChange.objects.filter(actor="sparkplug").exists()


def test_device_data_by_alias_is_stored_with_each_metrics_own_timestamp(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    edge.send("births")
    run_until(lambda: born(group), worker.run_once)
    level = tag_of(group, "filler", "fill_level")
    stamp = 1_790_000_000_123
    edge.send("ddata", device="filler", metrics=[
        {"alias": 1, "type": "Double", "value": 501.25, "timestamp": stamp},
        {"alias": 3, "type": "Int32", "value": -7},
        {"alias": 2, "type": "Boolean", "value": False},
    ])  # fmt: skip
    run_until(lambda: len(values(level)) == 2, worker.run_once)
    sample = Sample.objects.get(tag=level, value=501.25)
    assert sample.time == datetime.fromtimestamp(stamp / 1000, UTC)
    run_until(lambda: len(values(tag_of(group, "filler", "count"))) == 2, worker.run_once)
    assert values(tag_of(group, "filler", "count"))[-1] == (-7.0, None, 0)
    assert values(tag_of(group, "filler", "running"))[-1] == (0.0, None, 0)
    assert not RejectedMessage.objects.filter(topic__contains=group).exists()


def test_data_before_any_birth_is_refused_with_its_reason_and_a_rebirth_brings_the_node_in(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    edge.send("ddata", device="filler", metrics=[{"alias": 1, "type": "Double", "value": 1.0}])
    topic = f"spBv1.0/{group}/DDATA/{EDGE}/filler"
    run_until(lambda: RejectedMessage.objects.filter(topic=topic).exists(), worker.run_once)
    rejected = RejectedMessage.objects.get(topic=topic)
    assert "before any birth" in rejected.reason and "rebirth requested" in rejected.reason
    assert bytes(rejected.payload)  # the message itself is kept
    # Tahu's node receives our NCMD Node Control/Rebirth and is born again.
    assert json.loads(edge.expect("ncmd ")[5:]) == [["Node Control/Rebirth", True]]
    edge.expect("sent rebirth")
    run_until(lambda: born(group), worker.run_once)
    edge.send("ddata", device="filler", metrics=[{"alias": 1, "type": "Double", "value": 2.0}])
    level = tag_of(group, "filler", "fill_level")
    run_until(lambda: (2.0, None, 0) in values(level), worker.run_once)


def test_an_alias_the_birth_did_not_define_asks_for_a_rebirth_and_keeps_the_rest(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    edge.send("births")
    run_until(lambda: born(group), worker.run_once)
    edge.send("ddata", device="filler", metrics=[
        {"alias": 1, "type": "Double", "value": 7.5},
        {"alias": 99, "type": "Double", "value": 1.0},
    ])  # fmt: skip
    level = tag_of(group, "filler", "fill_level")
    run_until(lambda: (7.5, None, 0) in values(level), worker.run_once)
    (rejected,) = RejectedMessage.objects.filter(topic__contains=group)
    assert "1 of 2 metrics unknown to the birth (alias 99): rebirth requested" in rejected.reason
    edge.expect("sent rebirth")


def test_the_death_of_the_edge_node_makes_all_its_tags_bad_at_once(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    edge.send("births")
    run_until(lambda: born(group), worker.run_once)
    tags = list(Tag.objects.filter(machine__line__plant__name=group).exclude(key=STATUS_KEY))
    run_until(
        lambda: LatestValue.objects.filter(tag__in=tags).count() == len(tags), worker.run_once
    )
    edge.send("kill")  # the connection drops: the broker publishes the node's NDEATH will
    edge.process.wait(5)
    run_until(
        lambda: (
            set(LatestValue.objects.filter(tag__in=tags).values_list("quality", flat=True)) == {2}
        ),
        worker.run_once,
    )
    # The status tags of the node and its devices say offline (a good 0: the host knows it).
    statuses = Tag.objects.filter(machine__line__plant__name=group, key=STATUS_KEY)
    assert statuses.count() == 2  # the edge node's and its device filler's
    assert {(lv.value, lv.quality) for lv in LatestValue.objects.filter(tag__in=statuses)} == {
        (0.0, 0)
    }
    level = tag_of(group, "filler", "fill_level")
    assert values(level)[-1] == (498.5, None, 2)  # the last value, now bad, in the history too
    assert not SparkplugNode.objects.filter(group__group_id=group, online=True).exists()


def test_a_device_death_makes_only_that_devices_tags_bad(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    edge.send("births")
    run_until(lambda: born(group), worker.run_once)
    level, uptime = tag_of(group, "filler", "fill_level"), tag_of(group, EDGE, "uptime")
    run_until(
        lambda: LatestValue.objects.filter(tag__in=[level, uptime]).count() == 2, worker.run_once
    )
    edge.send("ddeath", device="filler")
    run_until(lambda: LatestValue.objects.get(tag=level).quality == 2, worker.run_once)
    assert LatestValue.objects.get(tag=uptime).quality == 0
    # Data of the dead device is refused until it is born again.
    edge.send("ddata", device="filler", metrics=[{"alias": 1, "type": "Double", "value": 3.0}])
    run_until(
        lambda: RejectedMessage.objects.filter(topic__endswith="/DDATA/edge1/filler").exists(),
        worker.run_once,
    )


def test_an_ndeath_of_an_older_session_changes_nothing(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    edge.send("births")
    run_until(lambda: born(group), worker.run_once)
    level = tag_of(group, "filler", "fill_level")
    run_until(lambda: LatestValue.objects.filter(tag=level).exists(), worker.run_once)
    stale = codec.Payload(
        timestamp=1, metrics=(codec.Metric(name="bdSeq", datatype=int(codec.D.UInt64), value=41),)
    )
    _publish(f"spBv1.0/{group}/NDEATH/{EDGE}", codec.encode(stale))
    edge.send("ddata", device="filler", metrics=[{"alias": 1, "type": "Double", "value": 9.0}])
    run_until(lambda: (9.0, None, 0) in values(level), worker.run_once)
    assert LatestValue.objects.get(tag=level).quality == 0
    assert SparkplugNode.objects.get(group__group_id=group, edge_node_id=EDGE, device_id="").online


def test_a_known_metric_keeps_what_an_admin_configured_through_a_rebirth(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    edge.send("births")
    run_until(lambda: born(group), worker.run_once)
    level = tag_of(group, "filler", "fill_level")
    Tag.objects.filter(pk=level.pk).update(unit="mL", range_min=400, range_max=600, deadband=0.5)
    count = Tag.objects.count()
    edge.send("births")
    run_until(lambda: len(values(level)) >= 2, worker.run_once)
    level.refresh_from_db()
    assert (level.unit, level.range_min, level.range_max, level.deadband) == ("mL", 400, 600, 0.5)
    assert Tag.objects.count() == count


def test_with_discovery_off_a_birth_waits_for_approval_and_its_data_is_refused_until_then(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    SparkplugGroup.objects.create(group_id=group, discovery=False)
    edge.send("births")
    run_until(
        lambda: SparkplugPendingBirth.objects.filter(group__group_id=group).count() == 2,
        worker.run_once,
    )
    assert not Tag.objects.filter(machine__line__plant__name=group).exists()
    edge.send("ddata", device="filler", metrics=[{"alias": 1, "type": "Double", "value": 4.0}])
    topic = f"spBv1.0/{group}/DDATA/{EDGE}/filler"
    run_until(lambda: RejectedMessage.objects.filter(topic=topic).exists(), worker.run_once)
    assert "awaiting approval" in RejectedMessage.objects.get(topic=topic).reason
    admin = User.objects.create_superuser("sparkplug-admin", password="x")
    for pending in SparkplugPendingBirth.objects.filter(group__group_id=group).order_by(
        "device_id"
    ):
        model.do_approve(pending, admin)
    level = tag_of(group, "filler", "fill_level")
    assert ConfigChange.objects.filter(actor="sparkplug-admin", object_id=str(level.pk)).exists()
    edge.send("ddata", device="filler", metrics=[{"alias": 1, "type": "Double", "value": 5.0}])
    run_until(lambda: (5.0, None, 0) in values(level), worker.run_once)


def _ddata(group: str, seq: int, value: float, ms: int) -> None:
    payload = codec.encode_data(ms, seq, [(1, int(codec.D.Double), value, None)])
    _publish(f"spBv1.0/{group}/DDATA/{EDGE}/filler", payload)


def test_a_gap_in_seq_asks_for_a_rebirth_and_keeps_the_values(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    edge.send("births")
    run_until(lambda: born(group), worker.run_once)
    level = tag_of(group, "filler", "fill_level")
    # Tahu's node has sent seq 0 (NBIRTH) and 1 (DBIRTH): 77 says messages went missing.
    _ddata(group, 77, 3.25, 1_790_000_000_000)
    run_until(lambda: (3.25, None, 0) in values(level), worker.run_once)
    assert json.loads(edge.expect("ncmd ")[5:]) == [["Node Control/Rebirth", True]]
    edge.expect("sent rebirth")


def test_a_message_ahead_of_its_seq_waits_until_the_missing_one_comes_and_both_are_stored(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    """[tck-id-operational-behavior-host-reordering-success]: seq 0, 1 (births), 3, then 2."""
    assert worker.sparkplug is not None
    edge.send("births")
    run_until(lambda: born(group), worker.run_once)
    level = tag_of(group, "filler", "fill_level")
    _ddata(group, 3, 30.0, 1_790_000_000_300)
    run_until(lambda: worker.sparkplug.reorder.holding() == 1, worker.run_once)  # type: ignore[union-attr]
    assert (30.0, None, 0) not in values(level)  # held, and not acknowledged
    _ddata(group, 2, 20.0, 1_790_000_000_200)
    run_until(lambda: {(20.0, None, 0), (30.0, None, 0)} <= set(values(level)), worker.run_once)
    assert worker.sparkplug.reorder.holding() == 0 and worker.sparkplug.reorder.since == {}
    assert (group, EDGE) not in worker.sparkplug.rebirth_at  # no rebirth was ever asked for


def test_a_gap_the_reorder_timeout_does_not_close_stores_the_held_data_and_asks_for_a_rebirth(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    """[tck-id-operational-behavior-host-reordering-rebirth]: seq 0, 1 (births), 3, nothing."""
    assert worker.sparkplug is not None
    worker.sparkplug.reorder.timeout_s = 0.5
    edge.send("births")
    run_until(lambda: born(group), worker.run_once)
    level = tag_of(group, "filler", "fill_level")
    _ddata(group, 3, 30.0, 1_790_000_000_300)
    run_until(lambda: worker.sparkplug.reorder.holding() == 1, worker.run_once)  # type: ignore[union-attr]
    assert (30.0, None, 0) not in values(level)
    run_until(lambda: (30.0, None, 0) in values(level), worker.run_once)  # after the timeout
    assert json.loads(edge.expect("ncmd ")[5:]) == [["Node Control/Rebirth", True]]
    edge.expect("sent rebirth")


def test_a_setpoint_write_goes_out_as_a_dcmd_and_the_devices_next_ddata_confirms_it(
    worker: Worker, edge: EdgeNode, group: str
) -> None:
    edge.send("births")
    run_until(lambda: born(group), worker.run_once)
    level = tag_of(group, "filler", "fill_level")
    Tag.objects.filter(pk=level.pk).update(
        writable=True, setpoint_min=400, setpoint_max=600, readback_tolerance=0.01
    )
    level.refresh_from_db()
    admin = User.objects.create_superuser("sparkplug-writer", password="x")
    run_until(worker.writer.client.is_connected, worker.run_once)
    write = do_request_setpoint(level, 505.5, by=admin)
    run_until(lambda: state_of(write) != SetpointWrite.State.PENDING, worker.run_once)
    # Tahu's node receives the DCMD, applies it and reports the value in its next DDATA.
    assert edge.expect("dcmd ") == 'dcmd filler [["Fill Level",505.5]]'
    # Node → broker → worker → historian → the writer's readback check: on a CI box loaded by
    # the other xdist worker's browser tests, once more than the default 10 s.
    run_until(lambda: state_of(write) == SetpointWrite.State.CONFIRMED, worker.run_once, timeout=30)
    assert write.readback == 505.5
    assert (505.5, None, 0) in values(level)


def state_of(write: SetpointWrite) -> str:
    write.refresh_from_db()
    return write.state


def test_the_host_keeps_a_retained_online_state_and_its_will_says_offline(
    worker: Worker, host_id: str
) -> None:
    address = parse_url(settings.MQTT_URL)
    seen: queue.Queue[dict[str, Any]] = queue.Queue()
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    watcher.on_message = lambda c, u, m: m.payload and seen.put(json.loads(m.payload))
    watcher.connect(address.host, address.port)
    watcher.subscribe(f"spBv1.0/STATE/{host_id}", qos=1)
    watcher.loop_start()
    try:
        first = seen.get(timeout=5)
        assert first["online"] is True and isinstance(first["timestamp"], int)
        # The worker's connection breaks without a DISCONNECT: the broker sends its will.
        worker.client.socket().shutdown(2)
        will = seen.get(timeout=10)
        assert will == {"online": False, "timestamp": first["timestamp"]}
        assert seen.get(timeout=15)["online"] is True  # paho reconnected: online again
    finally:
        watcher.loop_stop()
        watcher.disconnect()


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("spBv1.0/g/NDATA", "not a Sparkplug B topic"),
        ("spBv1.0/g/BOGUS/e", "not a Sparkplug B topic"),
        ("spBv1.0/g/DDATA/e", "DDATA needs device id"),
        ("spBv1.0/g/NDATA/e/d", "NDATA takes no device id"),
    ],
)
def test_malformed_sparkplug_topics_are_refused_with_a_reason(topic: str, reason: str) -> None:
    with pytest.raises(codec.SparkplugError, match=reason):
        parse_topic(topic)


def test_a_payload_that_is_not_sparkplug_is_stored_as_rejected(worker: Worker, group: str) -> None:
    topic = f"spBv1.0/{group}/NBIRTH/{EDGE}"
    _publish(topic, b"\xff\xff\xff not protobuf")
    run_until(lambda: RejectedMessage.objects.filter(topic=topic).exists(), worker.run_once)
    assert "not a Sparkplug B protobuf" in RejectedMessage.objects.get(topic=topic).reason


def test_a_comm_loss_alarm_on_a_nodes_status_tag_is_raised_at_its_death_and_clears_at_birth(
    worker: Worker, edge: EdgeNode, group: str, admin_client: Any
) -> None:
    """An admin defines the edge node's comm-loss alarm: a digital alarm (limit 0) on its
    status tag. Its will (the node lost) raises it, on the alarm summary as any other; the
    next birth returns it to normal; both are journaled."""
    edge.send("births")
    run_until(lambda: born(group), worker.run_once)
    status = SparkplugNode.objects.get(group__group_id=group, edge_node_id=EDGE, device_id="")
    assert status.status_tag is not None
    definition = AlarmDefinition.objects.create(
        tag=status.status_tag, kind=AlarmDefinition.Kind.DIGITAL, limit=0,
        priority=AlarmDefinition.Priority.HIGH, message=f"Edge node {group} lost",
    )  # fmt: skip
    run_until(lambda: Alarm.objects.filter(definition=definition).exists(), worker.run_once)
    run_until(lambda: worker.alarms.rules.get(status.status_tag_id), worker.run_once)
    edge.send("kill")  # the broker publishes its NDEATH will
    edge.process.wait(5)
    run_until(lambda: Alarm.objects.get(definition=definition).active, worker.run_once)
    page = admin_client.get("/alarms/")
    assert page.status_code == 200 and f"Edge node {group} lost" in page.content.decode()
    reborn = EdgeNode(group)
    try:
        reborn.send("births")
        run_until(lambda: not Alarm.objects.get(definition=definition).active, worker.run_once)
    finally:
        reborn.close()
    alarm = Alarm.objects.get(definition=definition)
    events = list(alarm.journal.order_by("at", "id").values_list("event", "value"))
    assert events[0] == ("activate", 0.0)
    assert events[-1][1] == 1.0  # returned to normal at the birth's 1
