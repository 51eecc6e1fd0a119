"""The product against the simulator's Neuron gateway (ingest/sim/neuron_device.py, written to
Neuron's documented API independently of ingest/neuron): the demo plant's machines upload as
south nodes, the review list finds every tag, mapping them onto the demo plant's tags stores
their values, a setpoint write goes out as a write request and comes back confirmed, and a
silent machine's error code 3002 reaches its tags as bad, its link as disconnected."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pytest_django import Settings

from ingest.sim.faults import encode_fault
from ingest.sim.json_device import load_tags
from ingest.sim.neuron_device import NeuronGateway as SimGateway
from ingest.worker import Worker
from plant import discovery
from plant.actions.setpoints import do_request_setpoint
from plant.models import (
    DiscoveredSignal,
    LatestValue,
    NeuronDevice,
    NeuronGateway,
    Plant,
    SetpointWrite,
    Tag,
)
from plant.quality import Quality
from tests.ingest.test_neuron import send
from tests.waiting import run_until

# On this xdist worker's own broker: /neuron/# cannot be kept apart by a topic root.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("neuron_broker")]


@pytest.fixture
def app() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def sim(demo_plant: Plant, app: str, topic_root: str, settings: Settings) -> Iterator[SimGateway]:
    settings.MQTT_TOPIC_ROOT = topic_root  # its fault topic under this test's root
    gateway = SimGateway(load_tags(demo_plant.slug), plant_slug=demo_plant.slug, app=app,
                         rate=5, seed=1)  # fmt: skip
    gateway.connect()
    thread = threading.Thread(target=gateway.run, name="neuron-sim", daemon=True)
    thread.start()
    try:
        assert gateway.subscribed.wait(5)
        yield gateway
    finally:
        gateway.stop()
        thread.join(timeout=5)


@pytest.fixture
def worker(topic_root: str) -> Iterator[Worker]:
    worker = Worker(client_id=f"test-{uuid.uuid4().hex[:8]}", topic_root=topic_root,
                    session_expiry_s=120, sparkplug_host_id="")  # fmt: skip
    worker.connect()
    assert worker.subscribed.wait(5), "the worker did not subscribe"
    yield worker
    worker.close()


def test_the_simulated_gateway_is_discovered_mapped_stored_and_written_to(
    demo_plant: Plant, app: str, worker: Worker, sim: SimGateway
) -> None:
    NeuronGateway.objects.create(app=app, plant=demo_plant)
    signals = DiscoveredSignal.objects.filter(kind="neuron", key__startswith=f"{app}/")
    run_until(lambda: signals.count() == len(sim.tags), worker.run_once, timeout=20)
    for signal in signals:
        tag = Tag.objects.get(machine__line__plant=demo_plant, machine__slug=signal.detail["node"],
                              key=signal.detail["name"])  # fmt: skip
        discovery.do_map(signal, tag, by="test-admin")
    level = Tag.objects.get(machine__line__plant=demo_plant, key="fill_level")
    run_until(lambda: LatestValue.objects.filter(tag=level, quality=Quality.GOOD).exists(),
              worker.run_once)  # fmt: skip
    setpoint = Tag.objects.get(machine__line__plant=demo_plant, key="fill_level_sp")
    # A bounded step is checked against the setpoint's present value: wait for it as well.
    run_until(lambda: LatestValue.objects.filter(tag=setpoint, quality=Quality.GOOD).exists(),
              worker.run_once)  # fmt: skip
    admin = User.objects.create_superuser("neuron-e2e", password="x")
    run_until(worker.writer.client.is_connected, worker.run_once)
    write = do_request_setpoint(setpoint, 505, by=admin)  # max_step 5 ml

    def state() -> str:
        write.refresh_from_db()
        return write.state

    run_until(lambda: state() == SetpointWrite.State.CONFIRMED, worker.run_once, timeout=20)
    assert write.readback == 505.0


def test_a_silent_machine_turns_its_tags_bad_with_the_code_and_its_link_down(
    demo_plant: Plant, app: str, worker: Worker, sim: SimGateway, topic_root: str
) -> None:
    gateway = NeuronGateway.objects.create(app=app, plant=demo_plant)
    level = Tag.objects.get(machine__line__plant=demo_plant, key="fill_level")
    discovery.do_see_neuron(gateway, "filler", "measurements", {"fill_level": (0.0, "0")},
                            timezone.now())  # fmt: skip
    discovery.do_map(DiscoveredSignal.objects.get(key__startswith=f"{app}/filler/"), level,
                     by="test-admin")  # fmt: skip
    run_until(lambda: NeuronDevice.objects.filter(gateway=gateway, node="filler", link=1).exists(),
              worker.run_once, timeout=20)  # fmt: skip
    send(sim.fault_topic, encode_fault("silent:filler"))
    run_until(lambda: LatestValue.objects.filter(tag=level, quality=Quality.BAD).exists(),
              worker.run_once, timeout=20)  # fmt: skip
    assert LatestValue.objects.get(tag=level).text == "3002 plugin disconnected"
    run_until(lambda: NeuronDevice.objects.filter(gateway=gateway, node="filler", link=0).exists(),
              worker.run_once, timeout=20)  # fmt: skip
