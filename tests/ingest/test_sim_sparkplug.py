"""The simulator as Sparkplug B edge nodes: its payloads decoded by the product's codec, then
the demo plant discovered, stored and written to by the product's host on the real broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from hypothesis import given
from hypothesis import strategies as st
from pytest_django import Settings

from ingest.sim.faults import encode_fault
from ingest.sim.json_device import SimTag, load_tags
from ingest.sim.sparkplug_device import (
    DATATYPES,
    EdgeNode,
    SparkplugPlant,
    device_birth,
    node_birth,
    node_death,
)
from ingest.sparkplug import codec
from ingest.sparkplug.codec import D
from ingest.sparkplug.host import REBIRTH
from ingest.worker import Worker
from plant.actions.setpoints import do_request_setpoint
from plant.demo import load_demo_plant
from plant.models import (
    LatestValue,
    Line,
    Machine,
    Plant,
    Quality,
    Sample,
    SetpointWrite,
    SparkplugNode,
    Tag,
)
from plant.sparkplug import STATUS_KEY
from tests.ingest.test_simulator import ROOT, Recorder
from tests.waiting import run_until

# On this xdist worker's own broker: spBv1.0/# cannot be kept apart by a topic root.
pytestmark = pytest.mark.usefixtures("sparkplug_broker")

LEVEL = SimTag("fill_level", "filler", "x/fill_level", "float", False, "filling", "ml", 450, 550)
COUNT = SimTag("bottles_filled", "filler", "x/bottles", "int", False, "filling", "bottles")


# --- the payloads, without a broker ------------------------------------------------------------


def test_the_node_birth_carries_seq_0_its_bdseq_and_the_rebirth_control() -> None:
    payload = codec.decode(node_birth(7, 1_700_000_000_000))
    assert payload.seq == 0 and payload.timestamp == 1_700_000_000_000
    assert {m.name: (m.datatype, m.value) for m in payload.metrics} == {
        "bdSeq": (D.Int64, 7),
        REBIRTH: (D.Boolean, False),
    }


def test_the_node_death_carries_the_bdseq_of_the_session_it_ends_and_no_seq() -> None:
    payload = codec.decode(node_death(42))
    assert payload.seq is None
    assert [(m.name, m.value) for m in payload.metrics] == [("bdSeq", 42)]


def test_a_device_birth_gives_alias_datatype_value_unit_and_range_of_each_metric() -> None:
    raw = device_birth([LEVEL, COUNT], {"fill_level": 501.25, "bottles_filled": 12},
                       {"fill_level": 1, "bottles_filled": 2}, 3, 1_700_000_000_000)  # fmt: skip
    payload = codec.decode(raw)
    assert payload.seq == 3
    level, count = payload.metrics
    assert (level.name, level.alias, level.datatype, level.value) == ("fill_level", 1, D.Double,
                                                                      501.25)  # fmt: skip
    assert {k: p.value for k, p in level.properties.items()} == {
        "engUnit": "ml", "engLow": 450.0, "engHigh": 550.0,
    }  # fmt: skip
    assert (count.alias, count.datatype, count.value) == (2, D.Int64, 12)
    assert {k: p.value for k, p in count.properties.items()} == {"engUnit": "bottles"}


@given(st.integers(min_value=0, max_value=255), st.integers(min_value=1, max_value=600))
def test_seq_counts_up_and_wraps_from_255_to_0(start: int, steps: int) -> None:
    node = EdgeNode("filling", {}, client=None, seq=start)  # type: ignore[arg-type]
    seen = [node.next_seq() for _ in range(steps)]
    assert seen == [(start + n) % 256 for n in range(1, steps + 1)]


def test_every_tag_type_of_the_demo_plant_has_a_sparkplug_datatype() -> None:
    assert {Tag.DataType(k) for k in DATATYPES} == set(Tag.DataType)


# --- on the real broker, with the product's host ---------------------------------------------


@pytest.fixture
def group() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def host_id() -> str:
    return f"test-host-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def worker(topic_root: str, host_id: str) -> Iterator[Worker]:
    worker = Worker(client_id=f"test-{uuid.uuid4().hex[:8]}", topic_root=topic_root,
                    session_expiry_s=120, sparkplug_host_id=host_id)  # fmt: skip
    worker.connect()
    assert worker.subscribed.wait(5), "the worker did not subscribe"
    yield worker
    worker.close()
    worker.client.publish(f"spBv1.0/STATE/{host_id}", b"", retain=True)


@pytest.fixture
def edge_nodes(
    demo_plant: Plant, group: str, worker: Worker, host_id: str
) -> Iterator[SparkplugPlant]:
    plant = SparkplugPlant(load_tags(demo_plant.slug), plant_slug=demo_plant.slug, group=group,
                           rate=5, seed=1, host_id=host_id)  # fmt: skip
    plant.connect()
    thread = threading.Thread(target=plant.run, name="sparkplug-sim", daemon=True)
    thread.start()
    try:
        assert plant.subscribed.wait(5), "the edge nodes did not subscribe"
        yield plant
    finally:
        plant.stop()
        thread.join(timeout=5)


def discovered(group: str, demo_plant: Plant) -> bool:
    """Every demo device tag has its metric's tag (the host adds a status tag per node and
    device; the demo's derived tags are the worker's, never a device's metrics)."""
    count = Tag.objects.filter(machine__line__plant__name=group).exclude(key=STATUS_KEY).count()
    devices = Tag.objects.filter(machine__line__plant=demo_plant, derived__isnull=True)
    return count == devices.count()


def tag_of(group: str, machine: str, key: str) -> Tag:
    return Tag.objects.get(machine__line__plant__name=group, machine__name=machine, key=key)


@pytest.mark.django_db
def test_discovery_creates_the_plants_lines_machines_and_tags_and_values_arrive(
    demo_plant: Plant, group: str, worker: Worker, edge_nodes: SparkplugPlant
) -> None:
    run_until(lambda: discovered(group, demo_plant), worker.run_once)
    plant = Plant.objects.get(name=group)
    lines = Line.objects.filter(plant=plant).order_by("name").values_list("name", flat=True)
    assert list(lines) == ["filling", "gas", "utilities"]
    machines = Machine.objects.filter(line__plant=plant).values_list("line__name", "name")
    demo = Machine.objects.filter(line__plant=demo_plant).values_list("line__slug", "slug")
    # Each machine a device; the host files the edge node's own metrics (here only the
    # session's bdSeq and rebirth control, no tag) under a machine named after the node.
    assert set(machines) == set(demo) | {(line, line) for line in lines}
    # Every node and device has its status tag; an edge node's machine holds only that.
    run_until(lambda: Tag.objects.filter(machine__line__plant=plant, key=STATUS_KEY).count()
              == len(machines), worker.run_once)  # fmt: skip
    node_machine = tag_of(group, "filling", STATUS_KEY).machine
    assert list(node_machine.tags.values_list("key", flat=True)) == [STATUS_KEY]
    level = tag_of(group, "filler", "fill_level")
    assert (level.data_type, level.unit, level.range_min, level.range_max) == (
        "float", "ml", 450, 550,
    )  # fmt: skip
    assert tag_of(group, "ventilation", "fan").data_type == "bool"
    assert tag_of(group, "filler", "bottles_filled").data_type == "int"
    assert tag_of(group, "filler", "state").data_type == "string"
    # The births' values, then the DDATA by alias after them.
    run_until(lambda: Sample.objects.filter(tag=level).count() >= 3, worker.run_once)
    assert all(
        440 < v < 560 for v in Sample.objects.filter(tag=level).values_list("value", flat=True)
    )
    assert Sample.objects.get(tag=tag_of(group, "filler", "state")).text == "running"


@pytest.mark.django_db
def test_a_setpoint_write_goes_out_as_dcmd_and_the_next_ddata_confirms_it(
    demo_plant: Plant, group: str, worker: Worker, edge_nodes: SparkplugPlant
) -> None:
    run_until(lambda: discovered(group, demo_plant), worker.run_once)
    sp = tag_of(group, "filler", "fill_level_sp")
    Tag.objects.filter(pk=sp.pk).update(writable=True, setpoint_min=450, setpoint_max=550,
                                        readback_tolerance=0.01)  # fmt: skip
    sp.refresh_from_db()
    admin = User.objects.create_superuser("sparkplug-sim-writer", password="x")
    run_until(worker.writer.client.is_connected, worker.run_once)
    write = do_request_setpoint(sp, 510.0, by=admin)
    run_until(lambda: state_of(write) == SetpointWrite.State.CONFIRMED, worker.run_once)
    assert write.readback == 510.0
    assert edge_nodes.model.values["fill_level_sp"] == 510.0  # the plant model took it


@pytest.mark.django_db
def test_a_write_the_device_refuses_is_not_confirmed_by_its_report(
    demo_plant: Plant, group: str, worker: Worker, edge_nodes: SparkplugPlant
) -> None:
    run_until(lambda: discovered(group, demo_plant), worker.run_once)
    edge_nodes.model.inject("reject_writes:fill_level_sp", 600)
    sp = tag_of(group, "filler", "fill_level_sp")
    Tag.objects.filter(pk=sp.pk).update(writable=True, setpoint_min=450, setpoint_max=550,
                                        readback_tolerance=0.01)  # fmt: skip
    sp.refresh_from_db()
    admin = User.objects.create_superuser("sparkplug-sim-writer", password="x")
    run_until(worker.writer.client.is_connected, worker.run_once)
    write = do_request_setpoint(sp, 505.0, by=admin)
    run_until(lambda: Sample.objects.filter(tag=sp, value=500.0).count() >= 2, worker.run_once)
    assert state_of(write) != SetpointWrite.State.CONFIRMED
    assert edge_nodes.model.values["fill_level_sp"] == 500.0


@pytest.mark.django_db
def test_a_rebirth_request_brings_a_new_birth_and_a_clean_stop_makes_the_tags_bad(
    demo_plant: Plant, group: str, worker: Worker, edge_nodes: SparkplugPlant
) -> None:
    run_until(lambda: discovered(group, demo_plant), worker.run_once)
    node = SparkplugNode.objects.get(group__group_id=group, edge_node_id="filling", device_id="")
    assert node.bd_seq == 0 and node.online
    first_birth = node.birth_at
    request = codec.Payload(
        metrics=(codec.Metric(name=REBIRTH, datatype=int(D.Boolean), value=True),)
    )
    worker.client.publish(f"spBv1.0/{group}/NCMD/filling", codec.encode(request), qos=1)
    run_until(lambda: birth_at(node) != first_birth, worker.run_once)

    level = tag_of(group, "filler", "fill_level")
    edge_nodes.stop()  # the run loop sends each node's NDEATH before it disconnects
    online = SparkplugNode.objects.filter(group__group_id=group, online=True)
    # Every node's NDEATH handled, and the filler's level stored again as bad.
    run_until(lambda: not online.exists() and quality(level) == Quality.BAD, worker.run_once)
    status = tag_of(group, "filler", STATUS_KEY)
    run_until(lambda: latest(status) == 0.0, worker.run_once)  # the filler's comm loss


@pytest.mark.django_db
def test_the_primary_host_coming_back_online_gets_new_births(
    demo_plant: Plant, group: str, worker: Worker, edge_nodes: SparkplugPlant, host_id: str
) -> None:
    run_until(lambda: discovered(group, demo_plant), worker.run_once)
    node = SparkplugNode.objects.get(group__group_id=group, edge_node_id="gas", device_id="")
    first_birth = node.birth_at
    # A STATE saying the host is offline (as its will would): the worker answers online at
    # once, and the edge nodes, having seen it go, are born again for it.
    state = json.dumps({"online": False, "timestamp": 1}).encode()
    worker.client.publish(f"spBv1.0/STATE/{host_id}", state, qos=1)
    run_until(lambda: birth_at(node) != first_birth, worker.run_once)
    assert edge_nodes.host_online is True


@pytest.mark.django_db
def test_malformed_and_refused_commands_change_nothing_and_the_next_write_still_works(
    demo_plant: Plant, group: str, worker: Worker, edge_nodes: SparkplugPlant,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    run_until(lambda: discovered(group, demo_plant), worker.run_once)
    to_level = codec.Metric(name="fill_level", datatype=int(D.Double), value=1.0)  # read-only
    to_unknown = codec.Metric(name="no_such_metric", datatype=int(D.Double), value=1.0)
    for topic, payload in [
        (f"spBv1.0/{group}/NCMD/filling", b"not protobuf"),
        (f"spBv1.0/{group}/DCMD/filling/filler", b"not protobuf"),
        (f"spBv1.0/{group}/DCMD/filling/filler",
         codec.encode(codec.Payload(metrics=(to_level, to_unknown)))),
        (edge_nodes.fault_topic, encode_fault("silent:nowhere")),
    ]:  # fmt: skip
        # Acknowledged by the broker before the write below is even queued: handled first.
        worker.client.publish(topic, payload, qos=1).wait_for_publish(5)
    sp = tag_of(group, "filler", "fill_level_sp")
    Tag.objects.filter(pk=sp.pk).update(writable=True, setpoint_min=450, setpoint_max=550,
                                        readback_tolerance=0.01)  # fmt: skip
    sp.refresh_from_db()
    admin = User.objects.create_superuser("sparkplug-sim-writer", password="x")
    run_until(worker.writer.client.is_connected, worker.run_once)
    write = do_request_setpoint(sp, 495.0, by=admin)
    run_until(lambda: state_of(write) == SetpointWrite.State.CONFIRMED, worker.run_once)
    assert caplog.text.count("simulate: ignored NCMD") == 1
    assert caplog.text.count("simulate: ignored DCMD") == 3  # garbage, read-only, unknown
    assert "no machine 'nowhere'" in caplog.text
    assert 440 < float(edge_nodes.model.values["fill_level"]) < 560
    assert not edge_nodes.model.faults


def state_of(write: SetpointWrite) -> str:
    write.refresh_from_db()
    return write.state


def birth_at(node: SparkplugNode) -> object:
    node.refresh_from_db()
    return node.birth_at


def latest(tag: Tag) -> float | None:
    row = LatestValue.objects.filter(tag=tag).first()
    return row.value if row is not None else None


def quality(tag: Tag) -> int | None:
    row = LatestValue.objects.filter(tag=tag).first()
    return row.quality if row is not None else None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_simulate_command_runs_the_sparkplug_plant_and_its_sigterm_sends_the_deaths(
    topic_root: str, group: str, settings: Settings
) -> None:
    load_demo_plant(topic_root=topic_root)  # committed: the child process reads it
    recorder = Recorder(f"spBv1.0/{group}/#")
    recorder.client.connect(recorder.address.host, recorder.address.port)
    recorder.client.loop_start()
    db = settings.DATABASES["default"]
    credentials = f"{db['USER']}:{db['PASSWORD']}" if db.get("PASSWORD") else db["USER"]
    url = f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    # This worker's own broker (sparkplug_broker), as the recorder's.
    env = {**os.environ, "MQTT_TOPIC_ROOT": topic_root, "DATABASE_URL": url,
           "SPARKPLUG_HOST_ID": "", "MQTT_URL": settings.MQTT_URL,
           "SIMULATOR_MQTT_URL": ""}  # fmt: skip
    command = [sys.executable, "manage.py", "simulate", "--protocol", "sparkplug", "--group",
               group, "--rate", "5"]  # fmt: skip
    nodes = {f"spBv1.0/{group}/{kind}/{line}" for kind in ("NBIRTH", "NDEATH")
             for line in ("filling", "gas", "utilities")}  # fmt: skip
    try:
        assert recorder.subscribed.wait(5)
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        try:
            ddata = f"spBv1.0/{group}/DDATA/filling/filler"
            assert recorder.wait_for(lambda: ddata in recorder.topics(), timeout=20)
            child.send_signal(signal.SIGTERM)
            out, _ = child.communicate(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert recorder.wait_for(lambda: nodes <= recorder.topics())
    finally:
        recorder.client.disconnect()
        recorder.client.loop_stop()
    assert child.returncode == 0
    assert out.startswith(f"simulate: plant 'bottling' as Sparkplug B group {group!r}")
