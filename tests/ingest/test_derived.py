"""The derived-value path (ingest.derived) on the real broker, database and channel layer: a
job's results are history, live values and alarm inputs like MQTT samples, none are lost or
doubled across a failed run or a lease that moved, and no device may publish them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.publish as publish
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from ingest.derived import DerivedRunner, DerivedValue, Output
from ingest.mqtt import parse_url
from ingest.tagcache import TagCache
from ingest.worker import Worker
from plant import live
from plant.actions.alarms import do_create_missing_alarms
from plant.actions.derived import do_lease_derived_job
from plant.derived import ensure_derived_tag
from plant.models import (
    Alarm,
    AlarmDefinition,
    DerivedJob,
    LatestValue,
    Plant,
    RejectedMessage,
    Sample,
    SystemAlarm,
    Tag,
)
from tests.devices import connected_worker
from tests.waiting import run_until

pytestmark = pytest.mark.django_db


class Above:
    """A job of the test's own: for each new sample of `source` (the historian's), whether it
    is above `limit`, at the sample's time; at most `per_run` samples a run. Its cursor is the
    time of the last sample it has accounted for."""

    period_s = 0.0

    def __init__(self, source: Tag, flag: Tag, limit: float, per_run: int = 1000) -> None:
        self.name = "test-above"
        self.source, self.flag, self.limit, self.per_run = source, flag, limit, per_run
        self.fail_after_compute = False
        self.during_run: Any = None  # called in the middle of a run (the lease moves, say)

    def run(self, now: datetime, cursors: Mapping[str, Any]) -> Output:
        samples = Sample.objects.filter(tag_id=self.source.pk, value__isnull=False)
        if "since" in cursors:
            samples = samples.filter(time__gt=datetime.fromisoformat(cursors["since"]))
        rows = list(samples.order_by("time").values_list("time", "value")[: self.per_run])
        values = [DerivedValue(self.flag.pk, at, value > self.limit) for at, value in rows]
        if self.during_run is not None:
            self.during_run()
        if self.fail_after_compute:
            raise RuntimeError("the job broke after computing")
        return Output(values, {"since": rows[-1][0].isoformat()} if rows else dict(cursors))


@pytest.fixture
def level(demo_plant: Plant) -> Tag:
    return Tag.objects.select_related("machine__line__plant").get(key="fill_level")


@pytest.fixture
def flag(level: Tag) -> Tag:
    return ensure_derived_tag(
        level.machine, "fill_level_high", job="test-above", source=level,
        data_type=Tag.DataType.BOOL, description="Fill level above 510 ml",
    )  # fmt: skip


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = connected_worker(topic_root)
    yield worker
    worker.close()


def send(*messages: tuple[str, str]) -> None:
    address = parse_url(settings.MQTT_URL)
    publish.multiple([(t, p, 1, False) for t, p in messages], hostname=address.host,
                     port=address.port)  # fmt: skip


def stored(tag: Tag) -> list[tuple[datetime, float | None]]:
    return list(Sample.objects.filter(tag=tag).order_by("time").values_list("time", "value"))


def add_samples(tag: Tag, values: list[float]) -> list[datetime]:
    start = timezone.now() - timedelta(seconds=len(values) + 10)
    times = [start + timedelta(seconds=i) for i in range(len(values))]
    Sample.objects.bulk_create(
        [Sample(tag=tag, time=t, value=v) for t, v in zip(times, values, strict=True)]
    )
    return times


async def next_values_of(channel: str, tag_id: int, timeout: float = 15) -> list[Any]:
    layer = get_channel_layer()
    while True:
        message = await asyncio.wait_for(layer.receive(channel), timeout)
        if message["type"] == "tag.values":
            mine = [(v["tag"], v["v"]) for v in message["values"] if v["tag"] == tag_id]
            if mine:
                return mine


def test_a_derived_value_is_stored_pushed_and_alarmed_like_an_mqtt_sample(
    worker: Worker, level: Tag, flag: Tag
) -> None:
    """Fill levels over MQTT; the job's flag is history, the latest value, a live push to
    the machine's screen, and raises an ordinary digital alarm, which clears again."""
    definition = AlarmDefinition.objects.create(
        tag=flag, kind=AlarmDefinition.Kind.DIGITAL, limit=1, message="Fill level above 510"
    )
    do_create_missing_alarms([definition])
    worker.derived.jobs = [Above(level, flag, 510.0)]
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(live.VALUES_GROUP, channel)  # what every hub joins
    run_until(lambda: worker.alarms.rules.get(flag.pk), worker.run_once)

    send((level.topic, json.dumps({"v": 501.0})), (level.topic, json.dumps({"v": 520.0})))
    run_until(lambda: len(stored(flag)) == 2, worker.run_once)
    assert [v for _, v in stored(flag)] == [0.0, 1.0]
    assert [t for t, _ in stored(flag)] == [t for t, _ in stored(level)]  # the source's times
    assert LatestValue.objects.get(tag=flag).value == 1.0
    assert async_to_sync(next_values_of)(channel, flag.pk)[-1] == (flag.pk, 1.0)
    alarm = Alarm.objects.get(definition=definition)
    assert alarm.active and alarm.state == "unack"
    assert alarm.journal.filter(event="activate").count() == 1

    send((level.topic, json.dumps({"v": 500.0})))
    run_until(lambda: len(stored(flag)) == 3, worker.run_once)
    alarm.refresh_from_db()
    assert not alarm.active and alarm.state == "rtn_unack"


def test_a_device_cannot_publish_a_derived_tag(worker: Worker, flag: Tag) -> None:
    send((flag.topic, "1"))
    run_until(lambda: RejectedMessage.objects.filter(topic=flag.topic).exists(), worker.run_once)
    rejected = RejectedMessage.objects.get(topic=flag.topic)
    assert "derived tag" in rejected.reason
    assert stored(flag) == []
    assert not LatestValue.objects.filter(tag=flag).exists()


def runner(client_id: str = "test") -> DerivedRunner:
    tags = TagCache()
    tags.refresh()
    return DerivedRunner([], tags, client_id=client_id)


def test_a_failed_run_stores_nothing_and_the_next_recomputes_it(level: Tag, flag: Tag) -> None:
    """Values and cursor commit together: a run that breaks leaves both as they were, its
    system alarm is raised, and the next run computes the same values again, once each."""
    times = add_samples(level, [500.0, 515.0, 499.0, 530.0, 501.0])
    job = Above(level, flag, 510.0, per_run=2)
    derived = runner()
    derived.jobs = [job]
    derived.step()
    assert stored(flag) == [(times[0], 0.0), (times[1], 1.0)]

    job.fail_after_compute = True
    assert derived.step() == []
    assert len(stored(flag)) == 2
    derived.guard.sync()
    assert SystemAlarm.objects.get(key="ingest.derived.test-above").active

    job.fail_after_compute = False
    fresh = Above(level, flag, 510.0, per_run=2)  # a restarted worker: nothing in memory
    derived.jobs = [fresh]
    derived.step()
    derived.step()
    assert stored(flag) == list(zip(times, [0.0, 1.0, 0.0, 1.0, 0.0], strict=True))


def test_a_run_whose_lease_moved_meanwhile_is_dropped_and_the_new_holder_computes_it(
    level: Tag, flag: Tag
) -> None:
    times = add_samples(level, [500.0, 515.0, 520.0])
    first, second = runner("first"), runner("second")
    job = Above(level, flag, 510.0)
    first.jobs = [job]
    second.jobs = [Above(level, flag, 510.0)]
    later = timezone.now() + timedelta(minutes=5)  # past the first's lease

    job.during_run = lambda: do_lease_derived_job(job.name, second.runner, now=later, lease_s=600)
    assert first.step() == []  # its transaction rolled back
    assert stored(flag) == []
    assert second.step(later)  # second holds the lease now
    assert stored(flag) == list(zip(times, [0.0, 1.0, 1.0], strict=True))
    job.during_run = None
    assert first.step() == []  # still the second's
    assert DerivedJob.objects.get(name=job.name).runner == second.runner


def test_a_failing_job_stops_no_other_job(level: Tag, flag: Tag) -> None:
    add_samples(level, [520.0])
    other = ensure_derived_tag(level.machine, "fill_level_high2", job="test-above-2",
                               source=level, data_type=Tag.DataType.BOOL)  # fmt: skip
    broken = Above(level, flag, 510.0)
    broken.fail_after_compute = True
    working = Above(level, other, 510.0)
    working.name = "test-above-2"
    derived = runner()
    derived.jobs = [broken, working]
    assert len(derived.step()) == 1
    assert [v for _, v in stored(other)] == [1.0]
    assert stored(flag) == []


def test_a_derived_tag_never_takes_over_a_devices_tag(level: Tag) -> None:
    add_samples(level, [500.0])
    with pytest.raises(ValueError, match="device's values"):
        ensure_derived_tag(level.machine, "fill_level", job="test-above")
