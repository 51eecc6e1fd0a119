"""The worker's writes reach the rollups of plain PostgreSQL: once each, whatever the broker
re-sends, and the worker folds them into the minute and hour rollups."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum

from ingest.batch import Deadband, Message
from ingest.tagcache import TagCache
from ingest.worker import Worker, _store_one_by_one
from plant.historian import buckets
from plant.models import (
    HourRollup,
    MinuteRollup,
    PendingRollup,
    Plant,
    RejectedMessage,
    Sample,
    Tag,
)
from plant.rollups import fold
from plant.timescale import extension_installed
from tests.ingest.test_worker import make_worker, send
from tests.waiting import run_until

pytestmark = pytest.mark.django_db
BASE = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _plain_postgresql() -> None:
    if extension_installed():
        pytest.skip(
            "this test database runs TimescaleDB, whose continuous aggregates replace the "
            "rollups (tests/plant/test_historian_paths.py compares both on a plain database)"
        )


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = make_worker(topic_root, f"test-{uuid.uuid4().hex[:8]}")
    yield worker
    worker.close()


def reading(value: float, at: datetime) -> str:
    return json.dumps({"v": value, "ts": at.isoformat()})


def test_values_a_device_sends_twice_are_rolled_up_once(worker: Worker) -> None:
    level = Tag.objects.get(key="tank_level")
    first = [(level.topic, reading(10.0 * i, BASE + timedelta(seconds=20 * i))) for i in range(9)]
    send(*first)
    run_until(lambda: Sample.objects.filter(tag=level).count() == 9, worker.run_once)
    # The device resends all of it (it never saw the PUBACKs), then one new value: once
    # that one is stored, the repeats have been through the worker too.
    send(*first, (level.topic, reading(5.0, BASE + timedelta(hours=1))))
    run_until(lambda: Sample.objects.filter(tag=level).count() == 10, worker.run_once)
    start, end = BASE, BASE + timedelta(hours=2)
    assert buckets(level.pk, start, end, 60, source="rollup_1m") == buckets(
        level.pk, start, end, 60, source="samples"
    )
    worker.next_fold = 0.0  # the worker folds every few seconds: now
    worker.run_once()
    assert not PendingRollup.objects.exists()
    minutes = MinuteRollup.objects.filter(tag=level)
    assert list(minutes.order_by("bucket").values_list("count", flat=True)) == [3, 3, 3, 1]
    assert minutes.aggregate(total=Sum("sum"))["total"] == sum(10.0 * i for i in range(9)) + 5
    hours = HourRollup.objects.filter(tag=level).order_by("bucket")
    assert [(h.bucket, h.count, h.max) for h in hours] == [
        (BASE, 9, 80.0),
        (BASE + timedelta(hours=1), 1, 5.0),
    ]
    assert buckets(level.pk, start, end, 60, source="rollup_1m") == buckets(
        level.pk, start, end, 60, source="samples"
    )


def test_the_largest_values_ingest_accepts_add_up_without_overflow(demo_plant: Plant) -> None:
    # The decoder refuses magnitudes above 1e300 (ingest.payloads), so a bucket's float8 sum
    # would need some 1.8e8 such values to overflow (which fails the insert: test_rollups).
    tags = TagCache()
    tags.refresh()
    level = Tag.objects.get(key="tank_level")
    payloads = [b"1e300", b"-1e300", b"1e300", b"1.1e300", b"9e299"]
    batch = [Message(level.topic, p, 1_790_000_000.0 + i) for i, p in enumerate(payloads)]
    result = _store_one_by_one(batch, tags, Deadband())
    assert (result.inserted, result.rejected) == (4, 1)
    assert RejectedMessage.objects.get().reason == "value is out of the range of a double"
    fold()
    minute = MinuteRollup.objects.get(tag=level)
    assert (minute.min, minute.max, minute.count) == (-1e300, 1e300, 4)
    assert minute.sum == pytest.approx(1.9e300)
