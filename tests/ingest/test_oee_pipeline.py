"""OEE end to end: a filler's states and counters over MQTT, through the real broker and ingest
worker into the historian, to the OEE API's figures (the issue's worked check)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.publish as publish
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from ingest.mqtt import parse_url
from ingest.worker import Worker
from plant.models import OeeMachine, Plant, Sample, Tag
from tests.waiting import run_until

pytestmark = pytest.mark.django_db
SHIFT_START = datetime(2026, 12, 2, 5, tzinfo=UTC)  # the Early shift: 06:00 in Berlin
# The filler's states as a device sends them, on change only (minutes into the shift).
STATES = [(-1, "running"), (60, "fault"), (90, "running"), (240, "break"), (270, "running"),
          (400, "starved"), (415, "running"), (479.5, "running")]  # fmt: skip
# The bottle counter wraps at 1,000,000: 72,900 bottles in all.
FILLED = [(-1, 990_000), (100, 999_000), (200, 20_000), (479.5, 62_900)]
REJECTED = [(-1, 100), (479.5, 1_558)]


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = Worker(client_id=f"test-oee-{uuid.uuid4().hex[:8]}", topic_root=topic_root,
                    session_expiry_s=120)  # fmt: skip
    worker.connect()
    assert worker.subscribed.wait(5), "the worker did not subscribe"
    yield worker
    worker.close()


def stamp(minutes: float) -> str:
    return (SHIFT_START + timedelta(minutes=minutes)).isoformat()


def test_states_and_counters_sent_over_mqtt_give_the_worked_examples_oee(
    worker: Worker, demo_plant: Plant, users_by_role: dict[str, User]
) -> None:
    config = OeeMachine.objects.get(machine__line__plant=demo_plant)
    # A device that sends its state on change only: a state holds for up to a shift.
    Tag.objects.filter(pk=config.state_tag_id).update(expected_interval_s=8 * 3600)
    Tag.objects.filter(pk=config.produced_tag_id).update(counter_rollover=1_000_000)
    messages = [(config.state_tag.topic, json.dumps({"v": v, "ts": stamp(m)})) for m, v in STATES]
    messages += [(config.produced_tag.topic, json.dumps({"v": v, "ts": stamp(m)}))
                 for m, v in FILLED]  # fmt: skip
    messages += [(config.rejected_tag.topic, json.dumps({"v": v, "ts": stamp(m)}))  # type: ignore[union-attr]
                 for m, v in REJECTED]  # fmt: skip
    address = parse_url(settings.MQTT_URL)
    publish.multiple([(t, p, 1, False) for t, p in messages], hostname=address.host,
                     port=address.port)  # fmt: skip
    # The devices' samples (the worker's derived jobs write values of their own as well).
    sent = Sample.objects.filter(tag__derived__isnull=True)
    run_until(lambda: sent.count() == len(messages), worker.run_once)

    client = Client()
    client.force_login(users_by_role["viewer"])
    response = client.get("/api/oee/", {"machine": config.machine_id, "period": "shift",
                                        "date": "2026-12-02", "shift": "Early"})  # fmt: skip
    assert response.status_code == 200
    figures = response.json()["oee"]
    assert [round(figures[k], 3) for k in ("availability", "performance", "quality", "oee")] == [
        0.9, 0.9, 0.98, 0.794]  # fmt: skip
    assert (figures["produced"], figures["good"]) == (72_900, 71_442)
    assert (figures["planned_busy_s"], figures["run_s"]) == (450 * 60, 405 * 60)
