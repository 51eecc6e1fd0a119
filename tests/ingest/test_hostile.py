"""Hostile input on the real broker: no message stops, slows or corrupts the ingest worker.

Each message of the corpus goes to an in-process worker on the real Mosquitto, followed by a
good value: the good value must be stored (the worker is alive and storing), and the hostile
message must have become a rejection with its reason, or a sample where it is valid.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from django.conf import settings

from hmi.readings import read_latest
from ingest.mqtt import parse_url
from ingest.payloads import MAX_PAYLOAD_BYTES
from ingest.worker import Worker
from plant.models import LatestValue, Plant, RejectedMessage, Sample, Tag
from tests.ingest.test_worker import make_worker, send
from tests.waiting import run_until

pytestmark = pytest.mark.django_db
GOOD = "tank_level"  # the tag that receives the good value after each hostile message


@dataclass(frozen=True)
class Hostile:
    """One message of the corpus: where it goes, what it holds, what must become of it."""

    name: str
    payload: bytes
    reason: str | None  # a part of the rejection's reason; None: stored as a sample
    key: str = "fill_level"  # the tag whose topic it goes to, unless `topic` says otherwise
    topic: Callable[[str], str] | None = None  # from the topic root
    # Mosquitto itself refuses some (a malformed topic), or keeps them from the worker (a
    # packet larger than the worker takes); where a broker passes them on, the reason applies.
    broker_may_refuse: bool = False
    ahead: timedelta | None = None  # the payload is a value stamped this far from sending

    def topic_under(self, root: str) -> str:
        return self.topic(root) if self.topic else tag(self.key).topic

    def body(self) -> bytes:
        if self.ahead is None:
            return self.payload
        return json.dumps({"v": 1.5, "ts": (datetime.now(UTC) + self.ahead).isoformat()}).encode()


def ts_in(delta: timedelta) -> bytes:
    return json.dumps({"v": 1.5, "ts": (datetime.now(UTC) + delta).isoformat()}).encode()


def machine_topic(root: str) -> str:
    return tag("fill_level").topic.rpartition("/")[0]


def unknown_keys(n: int) -> bytes:
    return json.dumps({"values": {f"k{i}": 1 for i in range(n)}}, separators=(",", ":")).encode()


CORPUS = [
    Hostile("5,000 digits", b'{"v": ' + b"9" * 5000 + b"}", "number too long"),
    Hostile("1e400", b"1e400", "not finite"),
    Hostile("-0", b"-0", None),
    Hostile("an int beyond a double", b"1" + b"0" * 400, "out of the range of a double"),
    Hostile("an int beyond int64", str(2**70).encode(), None),
    Hostile("topic of 1,100 characters", b"1", "unknown topic", topic=lambda r: r + "t" * 1100),
    Hostile("topic of 60,000 characters", b"1", "unknown topic", topic=lambda r: r + "t" * 60_000),
    Hostile("unicode topic", b"1", "unknown topic", topic=lambda r: r + "bøttling/☃/ﬁller/⚗"),
    Hostile("topic with spaces", b"1", "unknown topic", topic=lambda r: r + "a b/ c /d "),
    Hostile("machine batch of 10,000 keys", unknown_keys(10_000), "exceeds", topic=machine_topic),
    Hostile(
        "machine batch of 6,000 unknown keys",
        unknown_keys(6000),
        "6000 of 6000 values",
        topic=machine_topic,
    ),
    Hostile("nested 30,000 deep", b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
    Hostile("nested objects", b'{"v":' * 100 + b"1" + b"}" * 100, "value must be"),
    Hostile("bad UTF-8", b"\xff\xfe\xfd", "not UTF-8"),
    Hostile("NUL in the payload", b"1\x00", "not JSON"),
    Hostile("NUL in a string", b'{"v": "a\\u0000b"}', "NUL", key="state"),
    Hostile("a lone surrogate in a string", b'{"v": "a\\ud800"}', "lone surrogate", key="state"),
    Hostile("64 KiB + 1", b" " * (MAX_PAYLOAD_BYTES + 1), "exceeds"),
    Hostile("a string for a number", b'{"v": "full"}', "float tag got a string"),
    Hostile("an array", b"[1, 2]", "an array"),
    Hostile("an object for a value", b'{"v": {"a": 1}}', "an object"),
    Hostile("a number for a string", b"1.5", "string tag got", key="state"),
    Hostile("ts 4 minutes ahead", b"", None, ahead=timedelta(minutes=4)),
    Hostile("ts 10 minutes ahead", b"", "in the future", ahead=timedelta(minutes=10)),
    Hostile("ts of 1970 in ms", b'{"v": 1, "ts": 0}', "not epoch milliseconds"),
    Hostile("ts of 1970", b'{"v": 1, "ts": "1970-01-01T00:00:00Z"}', "outside the years"),
    Hostile("ts of year 9999", b'{"v": 1, "ts": "9999-12-31T23:59:59Z"}', "outside the years"),
    Hostile("ts past year 9999", b'{"v": 1, "ts": "9999-12-31T23:59:59-01:00"}', "not ISO"),
    Hostile("NaN", b"NaN", "not a valid value"),
    Hostile("Infinity", b'{"v": Infinity}', "not a valid value"),
    Hostile("empty payload", b"", "not JSON"),
    Hostile("1 MB", b"1" * 1_000_000, "exceeds", broker_may_refuse=True),
    *(
        Hostile(
            f"topic with {name}",
            b"1",
            "unknown topic",
            topic=lambda r, c=char: f"{r}a{c}b",
            broker_may_refuse=True,
        )
        for name, char in [("SOH", "\x01"), ("TAB", "\t"), ("DEL", "\x7f"), ("NEL", "\x85")]
    ),
]


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = make_worker(topic_root, f"test-{uuid.uuid4().hex[:8]}")
    yield worker
    worker.close()


def tag(key: str) -> Tag:
    return Tag.objects.get(key=key)


def good_value_follows(worker: Worker, value: float) -> None:
    """Send a good value and wait until it is stored: the worker is alive and storing."""
    send((tag(GOOD).topic, json.dumps(value)))
    run_until(lambda: Sample.objects.filter(tag=tag(GOOD), value=value).exists(), worker.run_once)


def publish(topic: str, payload: bytes) -> bool:
    """Publish at QoS 1 with a client of our own; True once the broker has the message."""
    address = parse_url(settings.MQTT_URL)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=2)
        return info.is_published()
    except RuntimeError:  # the broker closed the connection before the publish left
        return False
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("hostile", CORPUS, ids=[h.name for h in CORPUS])
def test_a_hostile_message_is_refused_or_stored_and_the_worker_stores_on(
    worker: Worker, topic_root: str, hostile: Hostile
) -> None:
    topic, payload = hostile.topic_under(topic_root), hostile.body()
    delivered = publish(topic, payload)
    assert delivered or hostile.broker_may_refuse, "the broker refused the message"
    good_value_follows(worker, 42.0)
    if hostile.reason is None:
        assert not RejectedMessage.objects.exists()
        assert Sample.objects.filter(tag=tag(hostile.key)).count() == 1
        return
    if not hostile.broker_may_refuse:
        run_until(RejectedMessage.objects.exists, worker.run_once)
    for rejected in RejectedMessage.objects.all():  # none if the broker kept it from us
        assert hostile.reason in rejected.reason
        assert topic.startswith(rejected.topic) and rejected.payload_size == len(payload)
    assert RejectedMessage.objects.count() <= 1


def test_a_value_stamped_ahead_does_not_freeze_the_live_value(worker: Worker) -> None:
    level = tag(GOOD)
    send((level.topic, ts_in(timedelta(minutes=4))))  # a device clock 4 minutes fast
    run_until(lambda: Sample.objects.filter(tag=level).exists(), worker.run_once)
    for value in (7.0, 8.0):  # then real values, timed on receipt
        send((level.topic, json.dumps(value)))
        run_until(lambda v=value: LatestValue.objects.filter(tag=level, value=v).exists(),
                  worker.run_once)  # fmt: skip
    latest = LatestValue.objects.get(tag=level)
    assert latest.time <= datetime.now(UTC)
    assert Sample.objects.filter(tag=level, time__gt=datetime.now(UTC)).count() == 1  # history
    # The device stops: its value goes stale after the tag's interval, as any other does.
    later = datetime.now(UTC) + timedelta(seconds=level.expected_interval_s + 1)
    assert read_latest(Tag.objects.select_related("latest").get(pk=level.pk), later).status == (
        "stale"
    )


def test_values_keep_being_stored_in_batches_after_a_publishing_tag_is_deleted(
    worker: Worker,
) -> None:
    energy, power = tag("energy"), tag("power")
    machine = energy.topic.rpartition("/")[0]

    def batch(i: int) -> tuple[str, str]:
        return machine, json.dumps(
            {"ts": 1_790_000_000_000 + i, "values": {"energy": i, "power": i}}
        )

    send(batch(0))
    run_until(lambda: LatestValue.objects.filter(tag=energy).exists(), worker.run_once)
    energy_id = energy.pk
    energy.delete()  # while the worker still maps its topic and holds its latest value
    worker.next_refresh = time.monotonic() + 3600  # it reads the tag table again only later
    for i in range(1, 4):
        time.sleep(0.3)  # past the latest-value interval: each batch carries latest values
        send(batch(i))
        run_until(lambda i=i: Sample.objects.filter(tag=power, value=i).exists(), worker.run_once)
    run_until(lambda: LatestValue.objects.filter(tag=power, value=3).exists(), worker.run_once)
    assert not RejectedMessage.objects.filter(reason__contains="database refused").exists()
    assert Sample.objects.filter(tag_id=energy_id).count() == 4  # history of deleted tags is kept
    worker.next_refresh = 0  # now the worker learns the tag is gone
    send(batch(4))
    run_until(lambda: Sample.objects.filter(tag=power, value=4).exists(), worker.run_once)
    assert "'energy': unknown tag key" in RejectedMessage.objects.get().reason
