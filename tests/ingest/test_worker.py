"""The ingest worker on the real broker and database: what it stores, refuses and recovers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.publish as publish
import pytest
from django.conf import settings

from ingest.mqtt import parse_url
from ingest.worker import Worker
from plant.models import LatestValue, Plant, RejectedMessage, Sample, Tag, UnknownTopic
from tests.waiting import run_until

pytestmark = pytest.mark.django_db


TWO_S = timedelta(seconds=2)


def send(*messages: tuple[str, bytes | str]) -> None:
    """Publish at QoS 1: when this returns, the broker has every message."""
    address = parse_url(settings.MQTT_URL)
    publish.multiple(
        [(topic, payload, 1, False) for topic, payload in messages],
        hostname=address.host,
        port=address.port,
    )


def make_worker(topic_root: str, client_id: str) -> Worker:
    worker = Worker(client_id=client_id, topic_root=topic_root, session_expiry_s=120)
    worker.connect()
    assert worker.subscribed.wait(5), "the worker did not subscribe"
    return worker


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = make_worker(topic_root, f"test-{uuid.uuid4().hex[:8]}")
    yield worker
    worker.close()


def tag(key: str) -> Tag:
    return Tag.objects.get(key=key)


def samples(key: str) -> list[Sample]:
    return list(Sample.objects.filter(tag=tag(key)).order_by("time"))


def test_a_bare_number_is_stored_with_the_time_of_receipt(worker: Worker) -> None:
    before = datetime.now(UTC)
    send((tag("fill_level").topic, "501.25"))
    run_until(lambda: samples("fill_level"), worker.run_once)
    (sample,) = samples("fill_level")
    assert sample.value == 501.25 and sample.quality == 0
    assert before <= sample.time <= datetime.now(UTC)


def test_an_object_keeps_its_own_time_and_quality(worker: Worker) -> None:
    iso = "2026-11-24T08:00:00+01:00"
    send(
        (tag("methane").topic, json.dumps({"v": 3.5, "ts": iso, "q": "uncertain"})),
        (tag("h2s").topic, json.dumps({"v": 1, "ts": 1_790_000_000_123})),
    )
    run_until(lambda: samples("methane") and samples("h2s"), worker.run_once)
    methane, h2s = samples("methane")[0], samples("h2s")[0]
    assert (methane.value, methane.quality) == (3.5, 1)
    assert methane.time == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert h2s.time == datetime.fromtimestamp(1_790_000_000.123, UTC)


def test_booleans_and_states_are_stored_by_data_type(worker: Worker) -> None:
    send((tag("fan").topic, "true"), (tag("state").topic, '"running"'))
    run_until(lambda: samples("fan") and samples("state"), worker.run_once)
    assert samples("fan")[0].value == 1.0
    assert samples("state")[0].text == "running"


def test_a_machine_batch_stores_every_value_under_its_tag(worker: Worker) -> None:
    filler = tag("fill_level").machine
    topic = tag("fill_level").topic.rpartition("/")[0]
    ts = 1_790_000_000_000
    send(
        (
            topic,
            json.dumps(
                {
                    "ts": ts,
                    "values": {
                        "tank_level": 55.5,
                        "bottles_filled": 10,
                        "fill_level": {"v": 499.0, "q": "bad"},
                    },
                }
            ),
        )
    )
    run_until(lambda: Sample.objects.filter(tag__machine=filler).count() == 3, worker.run_once)
    assert samples("tank_level")[0].value == 55.5
    assert samples("fill_level")[0].quality == 2
    assert {s.time for s in Sample.objects.filter(tag__machine=filler)} == {
        datetime.fromtimestamp(ts / 1000, UTC)
    }


def test_the_latest_value_follows_the_newest_sample(worker: Worker) -> None:
    topic = tag("tank_level").topic
    send(
        (topic, json.dumps({"v": 40, "ts": 1_790_000_002_000})),
        (topic, json.dumps({"v": 30, "ts": 1_790_000_001_000})),
    )
    run_until(lambda: len(samples("tank_level")) == 2, worker.run_once)
    latest = LatestValue.objects.get(tag=tag("tank_level"))
    assert latest.value == 40  # the older message arrived later; it does not win


BAD_INPUTS = [
    (b"\xff\xfe", "not UTF-8"),
    (b'{"v": 1', "not JSON"),
    (b"NaN", "NaN is not a valid value"),
    (b'{"v": "full"}', "float tag got a string"),
    (b"x" * (70 * 1024), "exceeds"),
    (
        json.dumps({"v": 1, "ts": (datetime.now(UTC) + timedelta(days=2)).isoformat()}).encode(),
        "in the future",
    ),
]


# Named by reason: the payload of the last one holds a time of collection, which would make
# each collection (each xdist worker's) name it differently.
@pytest.mark.parametrize(("payload", "reason"), BAD_INPUTS, ids=[r for _, r in BAD_INPUTS])
def test_bad_input_is_kept_with_its_reason_while_good_messages_around_it_are_stored(
    worker: Worker, payload: bytes, reason: str
) -> None:
    topic = tag("fill_level").topic
    send((topic, "500.0"), (topic, payload), (tag("tank_level").topic, "50.0"))
    run_until(lambda: RejectedMessage.objects.exists() and samples("tank_level"), worker.run_once)
    rejected = RejectedMessage.objects.get()
    assert reason in rejected.reason
    assert rejected.topic == topic and rejected.payload_size == len(payload)
    assert len(bytes(rejected.payload)) <= 1024
    assert [s.value for s in samples("fill_level")] == [500.0]


def test_an_unknown_topic_is_listed_for_the_admin(worker: Worker, topic_root: str) -> None:
    topic = f"{topic_root}bottling/filling/filler/pressure"
    send((topic, "2.5"), (topic, "2.6"))
    run_until(lambda: RejectedMessage.objects.count() == 2, worker.run_once)
    unknown = UnknownTopic.objects.get(topic=topic)
    assert unknown.message_count == 2
    assert bytes(unknown.last_payload) == b"2.6"


@pytest.mark.parametrize("change", ["new tag", "changed topic"])
def test_a_new_or_changed_tag_is_picked_up_within_two_seconds(
    worker: Worker, topic_root: str, change: str
) -> None:
    topic = f"{topic_root}bottling/filling/filler/pressure"
    send((topic, "2.5"))
    run_until(lambda: RejectedMessage.objects.exists(), worker.run_once)
    if change == "new tag":
        Tag.objects.create(machine=tag("fill_level").machine, key="pressure", topic=topic,
                           unit="bar")  # fmt: skip
        key = "pressure"
    else:
        Tag.objects.filter(key="tank_level").update(topic=topic)
        key = "tank_level"
    changed_at = datetime.now(UTC)
    # The worker keeps its own timer (nothing here resets it); a value goes out every turn,
    # stamped with its time of receipt, until one is stored under the tag.
    run_until(lambda: samples(key), lambda: (send((topic, "2.7")), worker.run_once()), timeout=20)
    # A message refused as an unknown topic was decoded in a turn whose tag table predates
    # the change, and a turn reloads a table older than two seconds before it decodes: so it
    # arrived within two seconds of the change, however slowly the turns came.
    refused = RejectedMessage.objects.filter(topic=topic, received_at__gt=changed_at)
    late = [r.received_at - changed_at for r in refused if r.received_at - changed_at >= TWO_S]
    assert late == []
    assert samples(key)[0].value == 2.7


def test_the_deadband_keeps_history_sparse_but_the_live_value_current(worker: Worker) -> None:
    level = tag("tank_level")
    Tag.objects.filter(pk=level.pk).update(deadband=1.0, heartbeat_s=3600)
    worker.next_refresh = 0
    base = 1_790_000_000_000
    values = [50.0, 50.4, 50.9, 51.2, 51.5]  # stored: 50.0, 51.2 (moved > 1.0 from 50.0)
    send(*[(level.topic, json.dumps({"v": v, "ts": base + i})) for i, v in enumerate(values)])
    run_until(lambda: LatestValue.objects.filter(tag=level, value=51.5).exists(), worker.run_once)
    assert [s.value for s in samples("tank_level")] == [50.0, 51.2]


def test_a_worker_that_dies_before_acknowledging_gets_the_messages_again(
    demo_plant: Plant, topic_root: str
) -> None:
    client_id = f"test-{uuid.uuid4().hex[:8]}"
    first = make_worker(topic_root, client_id)
    topic = tag("tank_level").topic
    send(*[(topic, json.dumps({"v": i, "ts": 1_790_000_000_000 + i})) for i in range(20)])
    run_until(lambda: len(first.inbox) == 20, timeout=5)
    first.client.loop_stop()  # a crash: received, never stored, never acknowledged
    first.client.socket().close()
    second = make_worker(topic_root, client_id)
    try:
        run_until(lambda: len(samples("tank_level")) == 20, second.run_once)
        assert [s.value for s in samples("tank_level")] == list(range(20))
    finally:
        second.close()


def test_committed_messages_are_acknowledged_and_never_come_back(
    demo_plant: Plant, topic_root: str
) -> None:
    client_id = f"test-{uuid.uuid4().hex[:8]}"
    first = make_worker(topic_root, client_id)
    topic = tag("tank_level").topic
    send(*[(topic, str(i)) for i in range(30)])  # bare values: a redelivery would add rows
    run_until(lambda: len(samples("tank_level")) == 30, first.run_once)
    run_until(lambda: not first.client._out_packet)  # the acknowledgements left the socket
    first.client.loop_stop()  # a crash right after the commit and the acknowledgement
    first.client.socket().close()
    second = make_worker(topic_root, client_id)
    try:
        marker = tag("h2s").topic
        send((marker, "1"))  # arrives after anything the broker would have re-sent
        run_until(lambda: samples("h2s"), second.run_once)
        assert len(samples("tank_level")) == 30
    finally:
        second.close()


def test_workers_on_a_shared_subscription_split_the_load(
    demo_plant: Plant, topic_root: str
) -> None:
    group = uuid.uuid4().hex[:8]
    workers = [
        Worker(
            client_id=f"test-{group}-{i}",
            topic_root=topic_root,
            share_group=group,
            session_expiry_s=120,
        )
        for i in range(2)
    ]
    for worker in workers:
        worker.connect()
        assert worker.subscribed.wait(5)
    assert workers[0].subscription == f"$share/{group}/{topic_root}#"
    try:
        topic = tag("tank_level").topic
        send(*[(topic, json.dumps({"v": i, "ts": 1_790_000_000_000 + i})) for i in range(100)])
        counts = [0, 0]

        def step() -> None:
            for i, worker in enumerate(workers):
                counts[i] += worker.run_once(timeout=0.02)

        run_until(lambda: len(samples("tank_level")) == 100, step)
        assert all(counts) and sum(counts) == 100  # each took a share, none twice
    finally:
        for worker in workers:
            worker.close()


def test_the_worker_stores_on_while_redis_is_down(
    demo_plant: Plant, topic_root: str, settings: Any
) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},  # nothing listens there
        }
    }
    worker = make_worker(topic_root, f"test-{uuid.uuid4().hex[:8]}")
    try:
        topic = tag("tank_level").topic
        for i in range(3):  # several batches, each handed to the (failing) live push
            send((topic, json.dumps({"v": i, "ts": 1_790_000_000_000 + i})))
            run_until(lambda i=i: len(samples("tank_level")) == i + 1, worker.run_once)
        run_until(lambda: worker.live.failing, timeout=10)  # the push noticed, the worker did not
    finally:
        worker.close()
