"""The device simulator: its physics stepped fast without a broker, then its MQTT side against
the real Mosquitto, with the demo plant's topics under this test's own root."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.core.management import CommandError, call_command
from pytest_django import Settings

from ingest.mqtt import make_client, set_topic
from ingest.payloads import (
    DeviceReading,
    PayloadError,
    Scalar,
    SetpointCommand,
    coerce,
    decode,
    encode_setpoint,
    utcnow,
)
from ingest.sim.faults import ScheduledFault, decode_fault, encode_fault, parse_fault_spec
from ingest.sim.json_device import Simulator, differing, load_tags
from ingest.sim.plant_model import PlantModel
from plant.demo import load_demo_plant
from plant.models import Plant, Tag

ROOT = Path(__file__).resolve().parents[2]


def run(model: PlantModel, seconds: float, dt: float = 0.1) -> None:
    for _ in range(round(seconds / dt)):
        model.step(dt)


def trace(model: PlantModel, key: str, seconds: float, dt: float = 0.1) -> list[float]:
    """The values of one tag after each step over `seconds` of simulated time."""
    values = []
    for _ in range(round(seconds / dt)):
        model.step(dt)
        values.append(float(model.values[key]))
    return values


# The plant model, stepped fast: no broker, no clock.


def test_fill_level_follows_a_flow_setpoint_step_with_a_lag() -> None:
    model = PlantModel(seed=1)
    model.write("flow_rate_sp", 55.0)
    after_one_second = trace(model, "fill_level", 1.0)[-1]
    assert 499 < after_one_second < 520  # moving, but far from the new 550 ml
    run(model, 30)
    assert model.values["fill_level"] == pytest.approx(550, abs=2)
    assert model.values["flow_rate"] == pytest.approx(55, abs=0.3)


def test_gas_leak_raises_methane_and_fan_with_closed_valve_clears_it() -> None:
    model = PlantModel(seed=2)
    model.inject("gas_leak", 300)
    assert max(trace(model, "methane", 15)) > 40
    assert model.values["h2s"] > 15
    model.write("fan", True)
    model.write("valve_open", False)
    run(model, 20)
    assert model.active("gas_leak")  # the leak is still there: the emergency response works
    assert model.values["methane"] < 10


def test_fan_alone_does_not_clear_an_open_leak() -> None:
    model = PlantModel(seed=3)
    model.inject("gas_leak", 300)
    model.write("fan", True)
    assert min(trace(model, "methane", 30)[-50:]) > 20


def test_pump_vibration_fault_ramps_vibration_and_warms_the_bearing() -> None:
    model = PlantModel(seed=4)
    assert model.values["vibration_rms"] == pytest.approx(2.0, abs=0.5)
    model.inject("pump_vibration", 300)
    run(model, 60)
    assert 7 < float(model.values["vibration_rms"]) < 9
    run(model, 120)
    assert float(model.values["vibration_rms"]) == pytest.approx(12, abs=0.5)
    assert float(model.values["bearing_temp"]) > 65


def test_fill_drift_lowers_the_fill_level_until_the_flow_is_trimmed() -> None:
    model = PlantModel(seed=5)
    model.inject("fill_drift", 600)
    run(model, 50)
    assert float(model.values["fill_level"]) == pytest.approx(490, abs=1.5)
    run(model, 100)
    assert float(model.values["fill_level"]) == pytest.approx(480, abs=1.5)  # saturated at -20
    model.write("flow_rate_sp", 52.0)  # what the supervisory controller will do
    run(model, 30)
    assert float(model.values["fill_level"]) == pytest.approx(500, abs=1.5)


def test_bottles_are_counted_and_rejected_only_outside_the_band() -> None:
    model = PlantModel(seed=6)
    run(model, 10)
    assert model.values["bottles_filled"] == pytest.approx(30, abs=1)
    assert model.values["bottles_rejected"] == 0
    model.write("fill_level_sp", 520.0)
    run(model, 10)
    assert model.values["bottles_rejected"] == pytest.approx(30, abs=1)
    assert model.values["state"] == "running"


def test_tank_drains_and_refills_between_20_and_90_percent() -> None:
    levels = trace(PlantModel(seed=7), "tank_level", 1500, dt=1.0)
    assert 19 < min(levels) < 21
    assert 89 < max(levels) < 91.5


def test_faults_end_after_their_duration_or_on_clear() -> None:
    model = PlantModel(seed=8)
    model.inject("gas_leak", 5)
    model.inject("silent:detector", 100)
    run(model, 6)
    assert not model.active("gas_leak")
    assert model.active("silent:detector")
    model.inject("clear")
    assert model.faults == {}


def test_a_scheduled_fault_starts_at_its_time() -> None:
    model = PlantModel(seed=9)
    model.schedule([ScheduledFault("pump_vibration", at_s=10, duration_s=5)])
    run(model, 9.5)
    assert not model.active("pump_vibration")
    run(model, 1)
    assert model.active("pump_vibration")
    run(model, 5)
    assert not model.active("pump_vibration")


def test_the_same_seed_gives_the_same_plant() -> None:
    first, second = PlantModel(seed=10), PlantModel(seed=10)
    run(first, 5, dt=0.3)
    run(second, 5, dt=0.3)
    assert first.values == second.values


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("gas_leak@30", ScheduledFault("gas_leak", 30, 60)),
        ("gas_leak@30:90", ScheduledFault("gas_leak", 30, 90)),
        ("silent:detector@0.5:20", ScheduledFault("silent:detector", 0.5, 20)),
        ("reject_writes:fan@0", ScheduledFault("reject_writes:fan", 0, 60)),
    ],
)
def test_fault_specs_are_parsed(spec: str, expected: ScheduledFault) -> None:
    assert parse_fault_spec(spec) == expected


@pytest.mark.parametrize(
    "spec",
    ["gas_leak", "gas_leak@", "gas_leak@-1", "gas_leak@x", "gas_leak@5:0", "fire@5", "silent:@1"],
)
def test_malformed_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r"--fault"):
        parse_fault_spec(spec)


@pytest.mark.parametrize(
    "payload",
    [b"", b"not json", b"[1]", b'{"duration": 5}', b'{"fault": "fire"}',
     b'{"fault": "gas_leak", "duration": -5}', b'{"fault": "gas_leak", "duration": true}'],
)  # fmt: skip
def test_malformed_fault_commands_are_refused(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        decode_fault(payload)


def test_a_refusing_device_reads_back_something_other_than_the_request() -> None:
    assert differing(500.0, 505.0) == 500.0
    assert differing(505.0, 505.0) != 505.0
    assert differing(True, True) is False


# The simulator on the real broker.


class Recorder:
    """A separate test client that keeps, in order, every message under one topic filter."""

    def __init__(self, topic_filter: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.changed = threading.Condition()
        self.subscribed = threading.Event()
        self.client, self.address = make_client()
        self.client.on_connect = lambda client, *_: client.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.changed:
            self.messages.append((message.topic, message.payload))
            self.changed.notify_all()

    def mark(self) -> int:
        with self.changed:
            return len(self.messages)

    def topics(self) -> set[str]:
        with self.changed:
            return {topic for topic, _ in self.messages}

    def values(self, topic: str, since: int = 0) -> list[Scalar]:
        return [reading.value for reading in self.readings(topic, since)]

    def readings(self, topic: str, since: int = 0) -> list[DeviceReading]:
        with self.changed:
            payloads = [p for t, p in self.messages[since:] if t == topic]
        return [decode(payload, utcnow()) for payload in payloads]

    def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> bool:
        """Wait until the predicate holds, re-checking it as each message arrives."""
        with self.changed:
            return bool(self.changed.wait_for(predicate, timeout))

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> bool:
    """Poll a condition that no message announces (say, a log line) until a deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        threading.Event().wait(0.02)
    return True


def write(value: Scalar, *, expires_in_s: float = 30.0, command_id: str = "w-1") -> bytes:
    now = utcnow()
    expires = now + timedelta(seconds=expires_in_s)
    return encode_setpoint(SetpointCommand(value, command_id, now, expires))


@pytest.fixture
def recorder(topic_root: str) -> Iterator[Recorder]:
    recorder = Recorder(f"{topic_root}#")
    recorder.client.connect(recorder.address.host, recorder.address.port)
    recorder.client.loop_start()
    try:
        assert recorder.subscribed.wait(5)
        yield recorder
    finally:
        recorder.client.disconnect()
        recorder.client.loop_stop()


@pytest.fixture
def simulator(
    demo_plant: Plant, recorder: Recorder, topic_root: str, settings: Settings
) -> Iterator[Simulator]:
    """The simulator running in a thread; its fault topic lies under this test's root too."""
    settings.MQTT_TOPIC_ROOT = topic_root
    simulator = Simulator(load_tags(demo_plant.slug), plant_slug=demo_plant.slug, rate=5, seed=1)
    thread = threading.Thread(target=simulator.run, name="simulator", daemon=True)
    simulator.connect()
    thread.start()
    try:
        assert simulator.subscribed.wait(5)
        yield simulator
    finally:
        simulator.stop()
        thread.join(timeout=5)
        assert not thread.is_alive()


@pytest.fixture
def topics(simulator: Simulator) -> dict[str, str]:
    return {tag.key: tag.topic for tag in simulator.tags}


@pytest.mark.django_db
def test_every_tag_of_the_demo_plant_gets_well_formed_values(
    demo_plant: Plant, recorder: Recorder, simulator: Simulator
) -> None:
    # Every device tag: the derived ones (plant.derived) are the worker's, never published.
    tags = Tag.objects.filter(machine__line__plant=demo_plant, derived__isnull=True)
    data_types = {tag.topic: tag.data_type for tag in tags}
    assert simulator.unmodelled == []
    assert recorder.wait_for(lambda: data_types.keys() <= recorder.topics(), timeout=5)
    with recorder.changed:
        received = [(t, p) for t, p in recorder.messages if t in data_types]
    for topic, payload in received:
        reading = decode(payload, utcnow())
        assert reading.ts is not None
        coerce(reading.value, data_types[topic])  # raises PayloadError for a wrong type


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "value"), [("fill_level_sp", 503.5), ("fan", True), ("valve_open", False)]
)
def test_a_setpoint_write_is_read_back_on_the_tags_own_topic_with_its_id(
    recorder: Recorder, simulator: Simulator, topics: dict[str, str], key: str, value: Scalar
) -> None:
    mark = recorder.mark()
    recorder.publish(set_topic(topics[key]), write(value, command_id="w-7"))
    assert recorder.wait_for(
        lambda: (
            (value, "w-7")
            in [(r.value, r.write_id) for r in recorder.readings(topics[key], since=mark)]
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad_write",
    [lambda: write(511.0, expires_in_s=-1), lambda: b"{", lambda: write("511"),
     lambda: b'{"v": 511, "expires": "2100-01-01T00:00:00+00:00"}'],
    ids=["expired", "not-json", "wrong-type", "no-id"],
)  # fmt: skip
def test_an_expired_or_malformed_write_gets_no_readback(
    recorder: Recorder, simulator: Simulator, topics: dict[str, str],
    bad_write: Callable[[], bytes], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    topic = topics["fill_level_sp"]
    mark = recorder.mark()
    recorder.publish(set_topic(topic), bad_write())  # built now, so only "expired" is expired
    recorder.publish(set_topic(topic), write(512.0, command_id="w-2"))
    # Writes are handled in order, so once the second is read back the first was dropped.
    assert recorder.wait_for(lambda: 512.0 in recorder.values(topic, since=mark))
    assert 511.0 not in recorder.values(topic, since=mark)
    assert "simulate: ignored write" in caplog.text


@pytest.mark.django_db
def test_a_silent_machine_stops_publishing_while_the_others_go_on(
    recorder: Recorder, simulator: Simulator, topics: dict[str, str]
) -> None:
    methane, flow_rate = topics["methane"], topics["flow_rate"]
    mark = recorder.mark()
    recorder.publish(simulator.fault_topic, encode_fault("silent:detector", 30))
    assert recorder.wait_for(lambda: len(recorder.values(flow_rate, since=mark)) >= 2)
    quiet = recorder.mark()
    assert recorder.wait_for(lambda: len(recorder.values(flow_rate, since=quiet)) >= 5)
    assert recorder.values(methane, since=quiet) == []
    assert recorder.values(topics["h2s"], since=quiet) == []
    recorder.publish(simulator.fault_topic, encode_fault("clear"))
    assert recorder.wait_for(lambda: recorder.values(methane, since=quiet))


@pytest.mark.django_db
def test_a_gas_leak_injected_by_the_command_raises_methane(
    recorder: Recorder, simulator: Simulator, topics: dict[str, str]
) -> None:
    out = io.StringIO()
    call_command("simulate", "--inject", "gas_leak", "--duration", "30", stdout=out)
    assert simulator.fault_topic in out.getvalue()
    methane = topics["methane"]
    assert recorder.wait_for(
        lambda: any(float(v) > 30 for v in recorder.values(methane)), timeout=10
    )


@pytest.mark.django_db
def test_reject_writes_makes_the_readback_differ_from_the_request(
    recorder: Recorder, simulator: Simulator, topics: dict[str, str]
) -> None:
    topic = topics["fill_level_sp"]
    recorder.publish(simulator.fault_topic, encode_fault("reject_writes:fill_level_sp", 30))
    mark = recorder.mark()
    recorder.publish(set_topic(topic), write(505.0))
    recorder.publish(simulator.fault_topic, encode_fault("clear"))
    recorder.publish(set_topic(topic), write(506.0, command_id="w-2"))
    # Commands are handled in the order sent: the rejected write was answered before 506.
    assert recorder.wait_for(lambda: 506.0 in recorder.values(topic, since=mark))
    assert 505.0 not in recorder.values(topic, since=mark)
    answers = [(r.value, r.write_id) for r in recorder.readings(topic, since=mark) if r.write_id]
    # The device kept, and reported, its previous setpoint, naming the write it refused.
    assert answers == [(500.0, "w-1"), (506.0, "w-2")]


@pytest.mark.django_db
def test_malformed_fault_commands_are_logged_and_ignored(
    recorder: Recorder, simulator: Simulator, topics: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    recorder.publish(simulator.fault_topic, b"gas leak please")
    recorder.publish(simulator.fault_topic, encode_fault("silent:nowhere"))
    assert wait_until(lambda: caplog.text.count("simulate: ignored fault command") == 2)
    assert "no machine 'nowhere'" in caplog.text
    mark = recorder.mark()
    assert recorder.wait_for(lambda: recorder.values(topics["methane"], since=mark))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [(["--fault", "gas_leak"], "NAME@SECONDS"), (["--fault", "silent:nowhere@1"], "no machine"),
     (["--plant", "nowhere"], "no tags"), (["--inject", "fire"], "unknown fault"),
     (["--rate", "0"], "--rate"), (["--protocol", "modbus"], "invalid choice"),
     (["--protocol", "sparkplug", "--fault", "silent:nowhere@1"], "no machine"),
     (["--protocol", "neuron", "--fault", "reject_writes:methane@0"], "no writable tag")],
)  # fmt: skip
def test_simulate_refuses_bad_arguments(demo_plant: Plant, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("simulate", *args)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_simulate_command_publishes_the_plant_and_stops_on_sigterm(
    topic_root: str, recorder: Recorder, settings: Settings
) -> None:
    plant = load_demo_plant(topic_root=topic_root)  # committed: the child process reads it
    expected = {t.topic for t in load_tags(plant.slug)}
    db = settings.DATABASES["default"]
    credentials = f"{db['USER']}:{db['PASSWORD']}" if db.get("PASSWORD") else db["USER"]
    url = f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "MQTT_TOPIC_ROOT": topic_root, "DATABASE_URL": url}
    command = [sys.executable, "manage.py", "simulate", "--rate", "5", "--seed", "1"]
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert recorder.wait_for(lambda: expected <= recorder.topics(), timeout=20)
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0
    assert out.startswith(f"simulate: {len(expected)} tags of plant 'bottling' to mqtt://")
