"""End to end on the real broker, worker and database: a month of the pump's history, then a
rising vibration published over MQTT raises its zone C and D alarms through the alarm engine
after their on-delay, and the maintenance API says the zone, the drift and the days left."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import paho.mqtt.publish as publish
import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from ingest.mqtt import parse_url
from ingest.worker import Worker
from plant.demo_vibration import backfill_vibration
from plant.models import Alarm, LatestValue, Plant, Sample, Tag, VibrationMonitor
from tests.devices import connected_worker
from tests.waiting import run_until

ON_DELAY_S = 5.0  # the demo pump's (plant/demo.py DEMO_VIBRATION)


@pytest.fixture
def worker(committed_db: None, demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = connected_worker(topic_root)
    run_until(worker.writer.client.is_connected, worker.run_once)
    yield worker
    worker.close()


def pump(plant: Plant, key: str) -> Tag:
    return Tag.objects.get(machine__line__plant=plant, key=key)


def send(tag: Tag, value: float) -> None:
    address = parse_url(settings.MQTT_URL)
    publish.single(tag.topic, json.dumps({"v": value}), qos=1, hostname=address.host,
                   port=address.port)  # fmt: skip


def stored(worker: Worker, tag: Tag, value: float) -> None:
    """Publish until the worker has taken `value` as the tag's latest (then the alarm engine
    has evaluated it too: it runs in the same turn, on this thread)."""
    send(tag, value)
    run_until(lambda: LatestValue.objects.filter(tag=tag, value=value).exists(), worker.run_once)


def alarm(tag: Tag, kind: str) -> Alarm:
    return Alarm.objects.get(definition__tag=tag, definition__kind=kind)


def pump_card(client: Client, plant: Plant) -> dict[str, Any]:
    response = client.get("/api/maintenance/", {"plant": plant.pk})
    assert response.status_code == 200, response.content
    (machine,) = response.json()["machines"]
    assert machine["name"] == "Transfer pump"
    (monitor,) = machine["monitors"]
    return {"urgency": machine["urgency"], **monitor}


def test_a_rising_vibration_raises_zone_c_then_d_after_the_on_delay_and_the_api_follows(
    worker: Worker, demo_plant: Plant
) -> None:
    vibration, bearing = pump(demo_plant, "vibration_rms"), pump(demo_plant, "bearing_temp")
    assert VibrationMonitor.objects.get(tag=vibration).on_delay_s == ON_DELAY_S
    # Ten days: enough for both estimates (7 days, 60 hours), and on TimescaleDB the refresh of
    # the aggregates over them stays well inside the test's time limit on a loaded box.
    assert backfill_vibration(demo_plant, days=10, step_s=600) == 2 * 10 * 144
    viewer = User.objects.create_user("viewer-of-the-pump")
    viewer.groups.add(Group.objects.get(name="viewer"))
    demo_plant.members.add(viewer)
    client = Client()
    client.force_login(viewer)

    stored(worker, vibration, 2.1)  # zone B, where the month's slow rise has brought it
    stored(worker, bearing, 45.5)
    card = pump_card(client, demo_plant)
    assert (card["zone"], card["value"], card["alarms"]) == ("B", 2.1, [])
    assert card["class"] == {"group": 2, "foundation": "rigid"}
    assert card["bearing_temperature"]["value"] == 45.5
    life = card["remaining_life"]
    assert life["shown"] and life["fit"] == "exponential" and life["r2"] > 0.9
    assert 3 < life["days_to_zone_c"] < 12  # 1.2 to 2.0 mm/s in ten days: about 7 days more
    assert life["zone_c"].startswith("about ")
    assert card["drift"]["flagged"]  # risen from about 1.3 in the first two days
    assert card["urgency"] == 2  # a known number of days to zone C

    stored(worker, vibration, 3.2)  # zone C: its alarm waits out the on-delay
    entered = Sample.objects.filter(tag=vibration, value=3.2).values_list("time", flat=True).get()
    run_until(lambda: alarm(vibration, "h").state == "unack", worker.run_once, timeout=20)
    high = alarm(vibration, "h")
    assert high.activated_at is not None
    assert high.activated_at - entered >= timedelta(seconds=ON_DELAY_S)
    assert alarm(vibration, "hh").state == "normal"
    card = pump_card(client, demo_plant)
    assert (card["zone"], card["urgency"]) == ("C", 1)
    assert card["remaining_life"]["days_to_zone_c"] == 0.0
    assert card["remaining_life"]["zone_c"] == "now"
    assert [(a["kind"], a["state"]) for a in card["alarms"]] == [("h", "unack")]

    stored(worker, vibration, 5.0)  # zone D
    run_until(lambda: alarm(vibration, "hh").state == "unack", worker.run_once, timeout=20)
    card = pump_card(client, demo_plant)
    assert (card["zone"], card["urgency"]) == ("D", 0)
    assert {(a["kind"], a["state"]) for a in card["alarms"]} == {("h", "unack"), ("hh", "unack")}


def test_a_start_up_spike_shorter_than_the_on_delay_raises_no_alarm(
    worker: Worker, demo_plant: Plant
) -> None:
    vibration, later = pump(demo_plant, "vibration_rms"), pump(demo_plant, "methane")
    start = timezone.now()
    # The spike of a start, in zone D for one second by the device's clock, then zone B.
    spike = [
        (vibration.topic, json.dumps({"v": v, "ts": (start + timedelta(seconds=s)).isoformat()}),
         1, False) for s, v in ((0, 6.0), (1, 2.0))
    ]  # fmt: skip
    address = parse_url(settings.MQTT_URL)
    publish.multiple(spike, hostname=address.host, port=address.port)
    run_until(lambda: LatestValue.objects.filter(tag=vibration, value=2.0).exists(),
              worker.run_once)  # fmt: skip
    # A marker that must come later: another tag's value stored after the delay had run out.
    marker = Sample.objects.filter(tag=later, time__gte=start + timedelta(seconds=ON_DELAY_S + 1))
    values = itertools.cycle([1.0, 2.0])  # each a move past the tag's deadband: each stored
    run_until(marker.exists, lambda: (send(later, next(values)), worker.run_once()), timeout=20)
    assert alarm(vibration, "h").state == "normal"
    assert alarm(vibration, "hh").state == "normal"
