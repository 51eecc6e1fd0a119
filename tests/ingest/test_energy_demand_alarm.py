"""The alarm before the contracted peak, end to end: meter readings published on the real
broker, the worker's demand job writing the predicted demand as a derived value, and the
alarm engine raising the demo's ordinary alarm definitions on it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import paho.mqtt.publish as publish
import pytest
from django.conf import settings
from django.utils import timezone

from ingest.mqtt import parse_url
from ingest.worker import Worker
from plant.models import Alarm, EnergyMeter, LatestValue, Plant, PlantEnergy, Sample
from tests.waiting import run_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = Worker(client_id=f"test-{uuid.uuid4().hex[:8]}", topic_root=topic_root,
                    session_expiry_s=120)  # fmt: skip
    worker.connect()
    assert worker.subscribed.wait(5), "the worker did not subscribe"
    yield worker
    worker.close()


def publish_load(meter: EnergyMeter, kw: float, seconds: int, step_s: int = 5) -> int:
    """The meter's readings at `kw` over the last `seconds`, a batch every `step_s`."""
    now = timezone.now()
    topic = meter.energy_tag.topic.rpartition("/")[0]
    messages = []
    for i in range(seconds, -1, -step_s):
        at = now - timedelta(seconds=i)
        kwh = 80_000 + kw * (seconds - i) / 3600
        payload = {"ts": int(at.timestamp() * 1000), "values": {"energy": kwh, "power": kw}}
        messages.append((topic, json.dumps(payload), 1, False))
    address = parse_url(settings.MQTT_URL)
    publish.multiple(messages, hostname=address.host, port=address.port)
    return len(messages)


def test_a_load_over_the_contracted_peak_raises_the_demand_alarms(
    worker: Worker, demo_plant: Plant
) -> None:
    meter = EnergyMeter.objects.select_related("energy_tag").get(plant=demo_plant)
    contract = PlantEnergy.objects.get(plant=demo_plant)
    predicted = contract.predicted_demand_tag
    assert predicted is not None and predicted.unit == "kW"
    alarms = Alarm.objects.filter(definition__tag=predicted)
    assert sorted(alarms.values_list("definition__kind", "definition__limit")) == [
        ("h", pytest.approx(204.25)), ("hh", 215.0)]  # fmt: skip
    sent = publish_load(meter, 300.0, 16 * 60)  # 300 kW for 16 minutes, up to now
    run_until(lambda: Sample.objects.filter(tag=meter.energy_tag).count() == sent,
              worker.run_once, timeout=30)  # fmt: skip
    # The job runs every 10 s: its next run after the readings predicts 300 kW.
    run_until(lambda: alarms.filter(active=True).count() == 2, worker.run_once, timeout=60)
    latest = LatestValue.objects.get(tag=predicted)
    assert latest.value is not None and latest.value >= 215.0
    assert alarms.get(definition__kind="hh").state == "unack"


def test_a_load_under_the_warning_raises_nothing(worker: Worker, demo_plant: Plant) -> None:
    meter = EnergyMeter.objects.select_related("energy_tag").get(plant=demo_plant)
    predicted = PlantEnergy.objects.get(plant=demo_plant).predicted_demand_tag
    sent = publish_load(meter, 150.0, 16 * 60)
    run_until(lambda: Sample.objects.filter(tag=meter.energy_tag).count() == sent,
              worker.run_once, timeout=30)  # fmt: skip
    # Wait for a prediction made after the readings were stored. The job runs every 10 s and
    # the readings stop at publication, so it sees them up to ~10 s old: its recent power over
    # the last minute reads 150 x (60 - 10) / 60 = 125 kW at least (before them it reads 0).
    run_until(lambda: Sample.objects.filter(tag=predicted, value__gt=120).exists(),
              worker.run_once, timeout=60)  # fmt: skip
    assert not Alarm.objects.filter(definition__tag=predicted, active=True).exists()
