"""The alarm engine inside the ingest worker, on the real broker and database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import paho.mqtt.publish as publish
import pytest
from django.conf import settings
from django.utils import timezone

from ingest.alarm_engine import AlarmEngine
from ingest.batch import Decoded, Row
from ingest.mqtt import parse_url
from ingest.worker import Worker
from plant.models import (
    Alarm,
    AlarmDefinition,
    AlarmJournalEntry,
    LatestValue,
    Plant,
    SetpointWrite,
    Tag,
)
from plant.quality import Quality
from tests.devices import connected_worker, recording, running_simulator
from tests.waiting import run_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = connected_worker(topic_root)
    run_until(worker.writer.client.is_connected, worker.run_once)
    yield worker
    worker.close()


def tag(key: str) -> Tag:
    return Tag.objects.get(key=key)


def send(key: str, value: float) -> None:
    address = parse_url(settings.MQTT_URL)
    publish.single(tag(key).topic, json.dumps({"v": value}), qos=1, hostname=address.host,
                   port=address.port)  # fmt: skip


def evaluated(key: str, value: float) -> bool:
    """The worker has taken `value` as the tag's latest: the batch that brought it committed,
    and the alarm engine evaluated it right after, in the same turn (this thread runs the
    turns, so the turn that committed it has finished)."""
    return LatestValue.objects.filter(tag__key=key, value=value).exists()


def alarm(key: str, kind: str) -> Alarm:
    return Alarm.objects.get(definition__tag__key=key, definition__kind=kind)


def test_methane_above_its_limits_raises_both_alarms_and_the_emergency_writes(
    worker: Worker, topic_root: str
) -> None:
    with recording(topic_root) as recorder:
        send("methane", 45.0)
        run_until(lambda: alarm("methane", "hh").state == "unack", worker.run_once)
        run_until(lambda: len(recorder.seen()) >= 2, worker.run_once)
    assert alarm("methane", "h").state == "unack"
    entry = AlarmJournalEntry.objects.get(alarm=alarm("methane", "hh"))
    assert (entry.event, entry.value, entry.user) == ("activate", 45.0, None)
    seen = {topic: command.value for topic, command in recorder.seen()}
    assert seen == {f"{tag('fan').topic}/set": True, f"{tag('valve_open').topic}/set": False}
    assert set(SetpointWrite.objects.values_list("user", flat=True)) == {None}  # the system


def test_the_gas_leak_is_answered_and_the_simulator_confirms_the_writes(
    worker: Worker, demo_plant: Plant
) -> None:
    with running_simulator(demo_plant.slug, faults=["gas_leak"]):
        run_until(lambda: alarm("methane", "hh").state == "unack", worker.run_once, timeout=30)
        run_until(
            lambda: SetpointWrite.objects.filter(state="confirmed").count() == 2,
            worker.run_once, timeout=10,
        )  # fmt: skip
    writes = {w.tag.key: w for w in SetpointWrite.objects.select_related("tag")}
    assert (writes["fan"].readback, writes["valve_open"].readback) == (1.0, 0.0)
    assert writes["fan"].reason.startswith("emergency: Methane high-high")


def test_a_value_within_the_deadband_does_not_clear_and_one_below_does(worker: Worker) -> None:
    send("vibration_rms", 3.2)  # zone C of the pump's class (group 2, rigid: 2.8 to 4.5)
    # The zone alarms have an on-delay of 5 s: it waits for the condition to last.
    run_until(lambda: alarm("vibration_rms", "h").state == "unack", worker.run_once, timeout=10)
    send("vibration_rms", 2.7)  # 2.8 - 0.14 deadband = 2.66
    run_until(lambda: evaluated("vibration_rms", 2.7), worker.run_once)
    assert alarm("vibration_rms", "h").state == "unack"
    send("vibration_rms", 2.5)
    run_until(lambda: alarm("vibration_rms", "h").state == "rtn_unack", worker.run_once)


def test_a_changed_definition_applies_without_a_restart(worker: Worker) -> None:
    definition = AlarmDefinition.objects.get(tag__key="h2s", kind="hh")
    definition.enabled = False
    definition.save()
    run_until(lambda: alarm("h2s", "hh").state == "suppressed", worker.run_once, timeout=6)
    send("h2s", 30.0)
    run_until(lambda: evaluated("h2s", 30.0), worker.run_once)
    assert alarm("h2s", "hh").state == "suppressed"  # out of service: no annunciation
    definition.enabled = True
    definition.save()
    # Back in service with its condition active: it returns unacknowledged.
    run_until(lambda: alarm("h2s", "hh").state == "unack", worker.run_once, timeout=6)


def test_the_state_survives_a_restart_and_communication_loss_is_timed(demo_plant: Plant) -> None:
    engine = AlarmEngine()
    engine.reload()
    now = timezone.now()
    comm = alarm("methane", "comm_loss")
    engine.tick(now + timedelta(seconds=10))
    assert alarm("methane", "comm_loss").state == "normal"
    engine.tick(now + timedelta(seconds=16))
    assert alarm("methane", "comm_loss").state == "unack"
    restarted = AlarmEngine()
    restarted.reload()
    (rule,) = [r for r in restarted.rules[comm.definition.tag_id] if r.alarm_id == comm.pk]
    assert rule.status.active  # loaded from the database, so it is not raised a second time
    assert AlarmJournalEntry.objects.filter(alarm=comm).count() == 1


def sample(key: str, value: float, at: datetime) -> Decoded:
    """One committed sample of a tag, as the worker hands a batch to the engine."""
    row = Row(tag(key).pk, at, value, None, Quality.GOOD)
    return Decoded(rows=[row], latest={row.tag_id: row})


def test_an_on_delay_that_was_counting_resumes_after_a_restart_instead_of_starting_over(
    demo_plant: Plant,
) -> None:
    AlarmDefinition.objects.filter(tag__key="vibration_rms", kind="h").update(on_delay_s=60.0)
    now = timezone.now()
    started = now - timedelta(seconds=50)
    engine = AlarmEngine()
    engine.reload(started)
    for second in range(0, 50, 10):  # the pump has vibrated for 50 s of the 60 s delay
        at = started + timedelta(seconds=second)
        engine.evaluate(sample("vibration_rms", 8.0, at), now=at)
    assert alarm("vibration_rms", "h").pending_since == started  # written once, when it started
    restarted = AlarmEngine()  # the worker restarts: a fresh engine, with nothing in memory
    restarted.reload(now)
    restarted.evaluate(sample("vibration_rms", 8.0, now), now=now)
    restarted.tick(now + timedelta(seconds=9))
    assert alarm("vibration_rms", "h").state == "normal"  # not early either
    restarted.tick(now + timedelta(seconds=11))
    assert alarm("vibration_rms", "h").state == "unack"  # after 60 s in all, not 110 s
    assert alarm("vibration_rms", "h").pending_since is None  # no delay counts any more


def test_an_off_delay_that_was_counting_resumes_after_a_restart(demo_plant: Plant) -> None:
    AlarmDefinition.objects.filter(tag__key="vibration_rms", kind="h").update(off_delay_s=30.0)
    now = timezone.now()
    engine = AlarmEngine()
    engine.reload(now)
    engine.evaluate(sample("vibration_rms", 8.0, now), now=now)
    engine.tick(now + timedelta(seconds=6))  # past the 5 s on-delay: in alarm
    cleared = now + timedelta(seconds=8)
    engine.evaluate(sample("vibration_rms", 2.0, cleared), now=cleared)
    restarted = AlarmEngine()
    restarted.reload(cleared + timedelta(seconds=25))
    restarted.tick(cleared + timedelta(seconds=31))
    assert alarm("vibration_rms", "h").state == "rtn_unack"
