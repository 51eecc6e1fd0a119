"""EMQX Neuron gateways end to end on the real broker and database: uploads in both formats,
error codes, refusals, discovery, setpoint writes with the gateway's response, driver status.

The payloads are copies of the documented examples of Neuron's MQTT north app
(https://docs.emqx.com/en/neuron/v2.10/configuration/north-apps/mqtt/api.html, the same text
as en_US/configuration/north-apps/mqtt/api.md in github.com/emqx/neuron-docs): node "modbus",
group "grp", tags "tag0" and "tag1", error 2014, the write request and response, the status
report. Only the uploads' timestamps are now, so that each is the tag's latest value.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import paho.mqtt.publish as publish
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from ingest.mqtt import parse_url
from ingest.worker import Worker
from plant import discovery, neuron
from plant.actions.setpoints import do_request_setpoint
from plant.models import (
    ConfigChange,
    DiscoveredSignal,
    LatestValue,
    Line,
    Machine,
    NeuronDevice,
    NeuronGateway,
    NeuronTag,
    Plant,
    RejectedMessage,
    Sample,
    SetpointWrite,
    Tag,
)
from plant.quality import Quality
from tests.waiting import run_until

# On this xdist worker's own broker: /neuron/# cannot be kept apart by a topic root.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("neuron_broker")]


def now_ms() -> int:
    return int(time.time() * 1000)


def tags_format(ts: int) -> dict[str, Any]:
    """The documented tags-format example."""
    return {"timestamp": ts, "node": "modbus", "group": "grp",
            "tags": [{"name": "tag0", "value": 123}, {"name": "tag1", "error": 2014}]}  # fmt: skip


def values_format(ts: int) -> dict[str, Any]:
    """The documented values-format example."""
    return {"timestamp": ts, "node": "modbus", "group": "grp",
            "values": {"tag0": 123}, "errors": {"tag1": 2014}}  # fmt: skip


STATUS = {  # the documented driver status report
    "timestamp": 1658134132237,
    "states": [{"node": "modbus-tcp", "link": 1, "running": 3},
               {"node": "modbus-rtu", "link": 1, "running": 3}],
}  # fmt: skip


@pytest.fixture
def app() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def gateway(app: str) -> NeuronGateway:
    plant = Plant.objects.create(name=f"Neuron {app}", slug=app[:50])
    return NeuronGateway.objects.create(app=app, plant=plant)


@pytest.fixture
def worker(topic_root: str) -> Iterator[Worker]:
    worker = Worker(client_id=f"test-{uuid.uuid4().hex[:8]}", topic_root=topic_root,
                    session_expiry_s=120, sparkplug_host_id="")  # fmt: skip
    worker.connect()
    assert worker.subscribed.wait(5), "the worker did not subscribe"
    yield worker
    worker.close()


def send(topic: str, body: dict[str, Any] | bytes) -> None:
    address = parse_url(settings.MQTT_URL)
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    publish.single(topic, payload, qos=1, hostname=address.host, port=address.port)


def upload_topic(app: str) -> str:
    return neuron.UPLOAD_TOPIC.format(app=app, driver="modbus", group="grp")


def mapped(gateway: NeuronGateway, name: str, **fields: Any) -> Tag:
    """Our tag for (modbus, grp, name), made by accepting it as an admin would."""
    machine = Machine.objects.filter(line__plant=gateway.plant).first()
    if machine is None:
        line = Line.objects.create(plant=gateway.plant, name="gw", slug="gw")
        machine = Machine.objects.create(line=line, name="modbus", slug="modbus")
    tag = Tag.objects.create(machine=machine, key=name, topic=f"{gateway.app}/gw/modbus/{name}",
                             expected_interval_s=60, **fields)  # fmt: skip
    NeuronTag.objects.create(gateway=gateway, node="modbus", group="grp", name=name, tag=tag)
    return tag


def rejected(topic: str) -> list[str]:
    return list(RejectedMessage.objects.filter(topic=topic).values_list("reason", flat=True))


@pytest.mark.parametrize("body", [tags_format, values_format])
def test_an_upload_in_either_format_stores_values_and_an_error_code_as_bad_with_the_code(
    worker: Worker, gateway: NeuronGateway, body: Any
) -> None:
    tag0, tag1 = mapped(gateway, "tag0"), mapped(gateway, "tag1")
    send(upload_topic(gateway.app), body(now_ms()))
    run_until(lambda: Sample.objects.filter(tag=tag1).exists(), worker.run_once)
    assert list(Sample.objects.filter(tag=tag0).values_list("value", "quality")) == [
        (123.0, Quality.GOOD)
    ]
    assert list(Sample.objects.filter(tag=tag1).values_list("value", "text", "quality")) == [
        (None, "2014 node not allow map", Quality.BAD)
    ]
    assert rejected(upload_topic(gateway.app)) == []


def test_a_tag_in_error_shows_its_code_on_the_machine_screen(
    worker: Worker, gateway: NeuronGateway, client: Any
) -> None:
    tag = mapped(gateway, "tag0")
    send(upload_topic(gateway.app), {"timestamp": now_ms(), "node": "modbus", "group": "grp",
                                     "values": {}, "errors": {"tag0": 3002}})  # fmt: skip
    worker.latest_due = 0.0
    run_until(lambda: LatestValue.objects.filter(tag=tag).exists(), worker.run_once)
    client.force_login(User.objects.create_superuser("neuron-viewer", password="x"))
    page = client.get(f"/machines/{tag.machine_id}/").content.decode()
    element = page.split(f'id="tag-{tag.pk}"', 1)[1].split("</div>", 1)[0]
    assert "is-bad" in element
    assert '<span class="reading-value">3002 plugin disconnected</span>' in element


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "Neuron upload is not JSON"),
        (b'["a"]', "must be a JSON object"),
        (b'{"node": "modbus", "group": "grp"}', "neither 'tags' (tags-format)"),
        (b'{"timestamp": "soon", "node": "modbus", "group": "grp", "values": {}}',
         "timestamp must be epoch milliseconds"),
    ],
)  # fmt: skip
def test_a_malformed_upload_is_kept_as_rejected_with_its_reason(
    worker: Worker, gateway: NeuronGateway, payload: bytes, reason: str
) -> None:
    topic = upload_topic(gateway.app)
    send(topic, payload)
    run_until(lambda: rejected(topic), worker.run_once)
    assert reason in rejected(topic)[0]
    assert bytes(RejectedMessage.objects.get(topic=topic).payload) == payload  # nothing lost


def test_a_values_entry_that_is_not_a_number_is_refused_alone(
    worker: Worker, gateway: NeuronGateway
) -> None:
    tag0, tag1 = mapped(gateway, "tag0"), mapped(gateway, "tag1")
    topic = upload_topic(gateway.app)
    send(topic, {"timestamp": now_ms(), "node": "modbus", "group": "grp",
                 "values": {"tag0": 7.5, "tag1": "hello!"}})  # fmt: skip
    run_until(lambda: rejected(topic), worker.run_once)
    assert list(Sample.objects.filter(tag=tag0).values_list("value", flat=True)) == [7.5]
    assert not Sample.objects.filter(tag=tag1).exists()
    assert "'tag1'" in rejected(topic)[0] and "hello!" in rejected(topic)[0]


def test_an_upload_of_an_unknown_gateway_is_rejected_with_its_reason(worker: Worker) -> None:
    topic = upload_topic(f"nobody-{uuid.uuid4().hex[:8]}")
    send(topic, values_format(now_ms()))
    run_until(lambda: rejected(topic), worker.run_once)
    assert "unknown Neuron gateway" in rejected(topic)[0]


def test_unmapped_tags_are_listed_for_review_and_bulk_accept_creates_them(
    worker: Worker, gateway: NeuronGateway
) -> None:
    topic = upload_topic(gateway.app)
    send(topic, values_format(now_ms()))
    key = discovery.neuron_key(gateway.app, "modbus", "grp", "tag0")
    run_until(lambda: DiscoveredSignal.objects.filter(key=key).exists(), worker.run_once)
    assert "2 tags not mapped" in rejected(topic)[0]
    seen = DiscoveredSignal.objects.filter(kind="neuron", plant=gateway.plant).order_by("key")
    assert [(s.key.rsplit("/", 1)[1], s.data_type, s.last_value, s.status) for s in seen] == [
        ("tag0", "int", "123", "new"), ("tag1", "", "2014 node not allow map", "new"),
    ]  # fmt: skip
    admin = User.objects.create_superuser("neuron-admin", password="x")
    created = discovery.do_accept(list(seen), by=admin)
    assert [t.key for t in created] == ["grp_tag0", "grp_tag1"]
    assert Machine.objects.get(line__plant=gateway.plant).name == "modbus"
    journal = ConfigChange.objects.filter(actor=admin.username)
    assert journal.filter(model="plant.tag", action="create").count() == 2
    assert journal.filter(model="plant.neurontag", action="create").count() == 2
    assert journal.filter(model="plant.discoveredsignal", action="update").count() == 2
    send(topic, values_format(now_ms()))
    run_until(lambda: Sample.objects.filter(tag=created[0]).exists(), worker.run_once)
    assert Sample.objects.get(tag=created[0]).value == 123.0


def test_mapping_a_discovered_tag_attaches_an_existing_tag(
    worker: Worker, gateway: NeuronGateway
) -> None:
    existing = mapped(gateway, "tag1")  # an existing tag, mapped from another Neuron name
    NeuronTag.objects.filter(tag=existing).delete()
    topic = upload_topic(gateway.app)
    send(topic, values_format(now_ms()))
    key = discovery.neuron_key(gateway.app, "modbus", "grp", "tag0")
    run_until(lambda: DiscoveredSignal.objects.filter(key=key).exists(), worker.run_once)
    signal = DiscoveredSignal.objects.get(key=key)
    discovery.do_map(signal, existing, by="neuron-admin")
    signal.refresh_from_db()
    assert (signal.status, signal.tag_id) == ("mapped", existing.pk)
    send(topic, values_format(now_ms()))
    run_until(lambda: Sample.objects.filter(tag=existing).exists(), worker.run_once)
    assert Sample.objects.get(tag=existing).value == 123.0


def test_ignoring_signals_in_bulk_marks_them_ignored(gateway: NeuronGateway) -> None:
    seen = {"a": (1, "1"), "b": (2.5, "2.5")}
    discovery.do_see_neuron(gateway, "modbus", "grp", seen, timezone.now())
    signals = list(DiscoveredSignal.objects.filter(plant=gateway.plant))
    assert discovery.do_ignore(signals, by="neuron-admin") == 2
    assert set(DiscoveredSignal.objects.filter(plant=gateway.plant).values_list(
        "status", flat=True)) == {"ignored"}  # fmt: skip


class GatewayClient:
    """Plays the Neuron gateway's side of a write: receives requests, answers them."""

    def __init__(self, gateway: NeuronGateway) -> None:
        self.requests: list[dict[str, Any]] = []
        address = parse_url(settings.MQTT_URL)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda c, u, m: self.requests.append(json.loads(m.payload))
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        info = self.client.subscribe(gateway.topic("write_request"), qos=1)
        assert info[0] == mqtt.MQTT_ERR_SUCCESS

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def neuron_side(gateway: NeuronGateway) -> Iterator[GatewayClient]:
    side = GatewayClient(gateway)
    yield side
    side.close()


def writable(gateway: NeuronGateway) -> Tag:
    return mapped(gateway, "tag0", writable=True, setpoint_min=0, setpoint_max=2000,
                  readback_tolerance=0.5)  # fmt: skip


def test_a_setpoint_write_goes_out_as_a_write_request_and_is_accepted_then_confirmed(
    worker: Worker, gateway: NeuronGateway, neuron_side: GatewayClient
) -> None:
    tag = writable(gateway)
    admin = User.objects.create_superuser("neuron-writer", password="x")
    run_until(worker.writer.client.is_connected, worker.run_once)
    write = do_request_setpoint(tag, 1234, by=admin)
    run_until(lambda: neuron_side.requests, worker.run_once)
    assert neuron_side.requests == [{"uuid": str(write.command_id), "node": "modbus",
                                     "group": "grp", "tag": "tag0", "value": 1234.0}]  # fmt: skip
    send(gateway.topic("write_response"), {"uuid": str(write.command_id), "error": 0})
    run_until(lambda: "accepted" in state_of(write)[1], worker.run_once)
    assert state_of(write)[0] in (SetpointWrite.State.PENDING, SetpointWrite.State.SENT)
    send(upload_topic(gateway.app), {"timestamp": now_ms(), "node": "modbus", "group": "grp",
                                     "values": {"tag0": 1234}})  # fmt: skip
    run_until(lambda: state_of(write)[0] == SetpointWrite.State.CONFIRMED, worker.run_once)


def test_an_error_response_fails_the_write_with_the_code_named(
    worker: Worker, gateway: NeuronGateway, neuron_side: GatewayClient
) -> None:
    tag = writable(gateway)
    admin = User.objects.create_superuser("neuron-writer", password="x")
    run_until(worker.writer.client.is_connected, worker.run_once)
    write = do_request_setpoint(tag, 99, by=admin)
    run_until(lambda: neuron_side.requests, worker.run_once)
    send(gateway.topic("write_response"), {"uuid": str(write.command_id), "error": 3004})
    run_until(lambda: state_of(write)[0] == SetpointWrite.State.FAILED, worker.run_once)
    assert "3004 plugin tag not allow write" in state_of(write)[1]


def state_of(write: SetpointWrite) -> tuple[str, str]:
    write.refresh_from_db()
    return write.state, write.detail


def test_the_driver_status_report_sets_each_south_nodes_link_state(
    worker: Worker, gateway: NeuronGateway
) -> None:
    send(gateway.topic("status"), STATUS)
    run_until(lambda: NeuronDevice.objects.filter(gateway=gateway).count() == 2, worker.run_once)
    down = {**STATUS, "states": [{"node": "modbus-rtu", "link": 0, "running": 3}]}
    send(gateway.topic("status"), down)
    run_until(
        lambda: NeuronDevice.objects.get(gateway=gateway, node="modbus-rtu").link == 0,
        worker.run_once,
    )
    links = {d.node: d.link_label for d in NeuronDevice.objects.filter(gateway=gateway)}
    assert links == {"modbus-tcp": "connected", "modbus-rtu": "disconnected"}


def test_the_machine_screen_shows_its_south_nodes_link(
    worker: Worker, gateway: NeuronGateway, client: Any
) -> None:
    tag = mapped(gateway, "tag0")  # the machine of the south node "modbus"
    send(gateway.topic("status"), {"timestamp": 1, "states": [{"node": "modbus", "link": 0}]})
    run_until(lambda: NeuronDevice.objects.filter(node="modbus").exists(), worker.run_once)
    client.force_login(User.objects.create_superuser("link-viewer", password="x"))
    page = client.get(f"/machines/{tag.machine_id}/").content.decode()
    assert "modbus: disconnected" in page
    send(gateway.topic("status"), {"timestamp": 2, "states": [{"node": "modbus", "link": 1}]})
    run_until(lambda: NeuronDevice.objects.filter(node="modbus", link=1).exists(),
              worker.run_once)  # fmt: skip
    assert "modbus: connected" in client.get(f"/machines/{tag.machine_id}/").content.decode()


def test_a_malformed_status_report_is_rejected_with_its_reason(
    worker: Worker, gateway: NeuronGateway
) -> None:
    send(gateway.topic("status"), {"timestamp": 1, "states": [{"node": "x"}]})
    run_until(lambda: rejected(gateway.topic("status")), worker.run_once)
    assert "without an integer 'link'" in rejected(gateway.topic("status"))[0]
