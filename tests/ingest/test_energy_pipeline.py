"""Energy end to end: meter readings and the bottle counter published on the real broker, stored
by the real ingest worker, answered by the energy API as consumption, kWh per 1,000 bottles and
demand blocks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import paho.mqtt.publish as publish
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from ingest.mqtt import parse_url
from ingest.worker import Worker
from plant.models import EnergyMeter, Plant, Sample
from plant.shifts import day_window
from tests.waiting import run_until

pytestmark = pytest.mark.django_db
DAY = date(2026, 6, 4)
STEP_S = 300


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = Worker(client_id=f"test-{uuid.uuid4().hex[:8]}", topic_root=topic_root,
                    session_expiry_s=120)  # fmt: skip
    worker.connect()
    assert worker.subscribed.wait(5), "the worker did not subscribe"
    yield worker
    worker.close()


def test_a_day_published_over_mqtt_is_answered_as_energy_per_bottle(
    worker: Worker, demo_plant: Plant, users_by_role: dict[str, User], client: Client
) -> None:
    meter = EnergyMeter.objects.select_related(
        "energy_tag__machine", "production_tag__machine"
    ).get(plant=demo_plant)
    assert meter.production_tag is not None
    start, end = day_window(demo_plant, DAY)
    # 200 kW and 3 bottles a second, a batch every 5 minutes on each machine's topic, from
    # 5 minutes before the day to its end; the meter rolls past nothing: a plain count.
    messages = []
    seconds = int((end - start).total_seconds())
    for t in range(-STEP_S, seconds + 1, STEP_S):
        ms = int((start + timedelta(seconds=t)).timestamp() * 1000)
        energy = {"ts": ms, "values": {"energy": 50_000 + 200 * t / 3600, "power": 200.0}}
        bottles = {"ts": ms, "values": {"bottles_filled": 3 * (t + STEP_S)}}
        messages += [(meter.energy_tag.topic.rpartition("/")[0], json.dumps(energy), 1, False),
                     (meter.production_tag.topic.rpartition("/")[0], json.dumps(bottles), 1,
                      False)]  # fmt: skip
    address = parse_url(settings.MQTT_URL)
    publish.multiple(messages, hostname=address.host, port=address.port)
    expected = len(messages) // 2
    run_until(
        lambda: (
            Sample.objects.filter(tag=meter.energy_tag).count() == expected
            and Sample.objects.filter(tag=meter.production_tag).count() == expected
        ),
        worker.run_once,
        timeout=30,
    )
    client.force_login(users_by_role["viewer"])
    body = client.get(f"/api/energy/?plant={demo_plant.pk}&first={DAY}").json()
    (day,) = body["scopes"][0]["days"]
    assert day["kwh"] == pytest.approx(200 * 24, rel=1e-9)
    assert day["units"] == pytest.approx(3 * 86400)
    assert day["kwh_per_1000"] == pytest.approx(200 * 24 * 1000 / (3 * 86400))
    demand = client.get(f"/api/energy/demand/?plant={demo_plant.pk}&day={DAY}").json()
    assert len(demand["blocks"]) == 96
    assert {round(b["kw"], 6) for b in demand["blocks"]} == {200.0}
