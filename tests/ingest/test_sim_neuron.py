"""The simulator as an EMQX Neuron gateway: its payloads against the documented examples
(plant/neuron.py names the pages), then the gateway on the real broker, heard by a plain
subscriber. (The product's Neuron ingest is not on main yet: an end-to-end test through the
worker belongs beside it when it lands.)"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator

import pytest
from pytest_django import Settings

from ingest.payloads import PayloadError
from ingest.sim.faults import encode_fault
from ingest.sim.json_device import load_tags
from ingest.sim.neuron_device import (
    DISCONNECTED,
    MEASUREMENTS,
    NOT_WRITABLE,
    SETPOINTS,
    TAG_NOT_EXIST,
    WRITE_FAILURE,
    NeuronGateway,
    decode_write_request,
    encode_status,
    encode_upload,
    encode_write_response,
)
from plant import neuron
from plant.models import Plant
from tests.ingest.test_simulator import Recorder

# --- the documented examples ------------------------------------------------------------------


def test_an_upload_has_the_documented_values_format() -> None:
    documented = {"node": "modbus", "group": "grp", "timestamp": 1650006388943,
                  "values": {"tag0": 123}, "errors": {"tag1": 2014}}  # fmt: skip
    payload = encode_upload("modbus", "grp", 1650006388943, {"tag0": 123}, {"tag1": 2014})
    assert json.loads(payload) == documented


def test_the_documented_single_tag_write_request_is_understood() -> None:
    documented = {"uuid": "cd32be1b-c8b1-3257-94af-77f847b1ed3e", "node": "modbus",
                  "group": "grp", "tag": "tag0", "value": 1234}  # fmt: skip
    request = decode_write_request(json.dumps(documented).encode())
    assert (request.uuid, request.node, request.group) == (documented["uuid"], "modbus", "grp")
    assert request.writes == [("tag0", 1234)]


def test_the_documented_multi_tag_write_request_is_understood() -> None:
    documented = {"uuid": "cd32be1b-c8b1-3257-94af-77f847b1ed3e", "node": "modbus",
                  "group": "grp", "tags": [{"tag": "tag0", "value": 1234},
                                           {"tag": "tag1", "value": 5678}]}  # fmt: skip
    assert decode_write_request(json.dumps(documented).encode()).writes == [
        ("tag0", 1234), ("tag1", 5678),
    ]  # fmt: skip


@pytest.mark.parametrize(("payload", "reason"), [
    (b"not json", "is JSON"),
    (b'{"node": "filler", "group": "setpoints", "tag": "x", "value": 1}', "'uuid'"),
    (b'{"uuid": "u", "group": "setpoints", "tag": "x", "value": 1}', "'node' and 'group'"),
    (b'{"uuid": "u", "node": "filler", "group": "setpoints", "value": 1}', "each tag"),
    (b'{"uuid": "u", "node": "filler", "group": "setpoints", "tags": 3}', "list of"),
])  # fmt: skip
def test_a_write_request_that_cannot_be_answered_is_refused_with_its_reason(
    payload: bytes, reason: str
) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode_write_request(payload)


def test_the_write_response_and_driver_status_have_the_documented_shapes() -> None:
    assert json.loads(encode_write_response("cd32be1b", 0)) == {"uuid": "cd32be1b", "error": 0}
    status = json.loads(encode_status(1658134132237, {"filler": 1, "detector": 0}))
    assert status == {"timestamp": 1658134132237, "states": [
        {"node": "filler", "link": neuron.LINK_CONNECTED, "running": 3},
        {"node": "detector", "link": neuron.LINK_DISCONNECTED, "running": 3},
    ]}  # fmt: skip


# --- on the real broker -----------------------------------------------------------------------


@pytest.fixture
def app() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def recorder(app: str) -> Iterator[Recorder]:
    recorder = Recorder(f"/neuron/{app}/#")
    recorder.client.connect(recorder.address.host, recorder.address.port)
    recorder.client.loop_start()
    try:
        assert recorder.subscribed.wait(5)
        yield recorder
    finally:
        recorder.client.disconnect()
        recorder.client.loop_stop()


@pytest.fixture
def gateway(
    demo_plant: Plant, recorder: Recorder, app: str, topic_root: str, settings: Settings
) -> Iterator[NeuronGateway]:
    settings.MQTT_TOPIC_ROOT = topic_root  # its fault topic under this test's root
    gateway = NeuronGateway(load_tags(demo_plant.slug), plant_slug=demo_plant.slug, app=app,
                            rate=5, seed=1)  # fmt: skip
    gateway.connect()
    thread = threading.Thread(target=gateway.run, name="neuron-sim", daemon=True)
    thread.start()
    try:
        assert gateway.subscribed.wait(5)
        yield gateway
    finally:
        gateway.stop()
        thread.join(timeout=5)
        assert not thread.is_alive()


def uploads(recorder: Recorder, app: str, driver: str, group: str, since: int = 0) -> list[dict]:
    topic = neuron.UPLOAD_TOPIC.format(app=app, driver=driver, group=group)
    with recorder.changed:
        return [json.loads(p) for t, p in recorder.messages[since:] if t == topic]


def responses(recorder: Recorder, app: str) -> dict[str, int]:
    topic = neuron.WRITE_RESPONSE_TOPIC.format(app=app)
    with recorder.changed:
        return {json.loads(p)["uuid"]: json.loads(p)["error"]
                for t, p in recorder.messages if t == topic}  # fmt: skip


def request(recorder: Recorder, app: str, node: str, group: str, tag: str, value: object) -> str:
    write_id = str(uuid.uuid4())
    body = {"uuid": write_id, "node": node, "group": group, "tag": tag, "value": value}
    recorder.publish(neuron.WRITE_REQUEST_TOPIC.format(app=app), json.dumps(body).encode())
    return write_id


@pytest.mark.django_db
def test_every_machine_uploads_its_groups_on_the_documented_topics(
    demo_plant: Plant, recorder: Recorder, gateway: NeuronGateway, app: str
) -> None:
    assert recorder.wait_for(lambda: uploads(recorder, app, "filler", SETPOINTS))
    assert recorder.wait_for(lambda: uploads(recorder, app, "detector", MEASUREMENTS))
    filler = uploads(recorder, app, "filler", MEASUREMENTS)[-1]
    assert (filler["node"], filler["group"], filler["errors"]) == ("filler", MEASUREMENTS, {})
    assert set(filler["values"]) == {"fill_level", "flow_rate", "tank_level", "bottles_filled",
                                     "bottles_rejected", "state"}  # fmt: skip
    assert 440 < filler["values"]["fill_level"] < 560
    assert uploads(recorder, app, "filler", SETPOINTS)[-1]["values"] == {
        "fill_level_sp": 500.0, "flow_rate_sp": 50.0,
    }  # fmt: skip
    status_topic = neuron.STATUS_TOPIC.format(app=app)
    assert recorder.wait_for(lambda: status_topic in recorder.topics())


@pytest.mark.django_db
def test_a_write_request_is_applied_answered_with_its_uuid_and_read_back(
    demo_plant: Plant, recorder: Recorder, gateway: NeuronGateway, app: str
) -> None:
    since = recorder.mark()
    write_id = request(recorder, app, "filler", SETPOINTS, "fill_level_sp", 510)
    assert recorder.wait_for(lambda: write_id in responses(recorder, app))
    assert responses(recorder, app)[write_id] == neuron.WRITE_OK

    def read_back() -> bool:
        sent = uploads(recorder, app, "filler", SETPOINTS, since)
        return any(u["values"].get("fill_level_sp") == 510.0 for u in sent)

    assert recorder.wait_for(read_back)
    assert gateway.model.values["fill_level_sp"] == 510.0


@pytest.mark.django_db
def test_refused_writes_are_answered_with_neurons_error_codes_and_change_nothing(
    demo_plant: Plant, recorder: Recorder, gateway: NeuronGateway, app: str
) -> None:
    read_only = request(recorder, app, "filler", MEASUREMENTS, "fill_level", 1)
    unknown = request(recorder, app, "filler", SETPOINTS, "no_such_tag", 1)
    recorder.publish(gateway.fault_topic, encode_fault("reject_writes:fill_level_sp", 30))
    recorder.publish(neuron.WRITE_REQUEST_TOPIC.format(app=app), b"{not json")  # ignored
    refused = request(recorder, app, "filler", SETPOINTS, "fill_level_sp", 520)
    assert recorder.wait_for(lambda: refused in responses(recorder, app))
    assert responses(recorder, app) == {
        read_only: NOT_WRITABLE, unknown: TAG_NOT_EXIST, refused: WRITE_FAILURE,
    }  # fmt: skip
    assert gateway.model.values["fill_level_sp"] == 500.0


@pytest.mark.django_db
def test_a_silent_machine_uploads_error_codes_and_its_link_goes_down(
    demo_plant: Plant, recorder: Recorder, gateway: NeuronGateway, app: str
) -> None:
    since = recorder.mark()
    recorder.publish(gateway.fault_topic, encode_fault("silent:detector", 30))
    assert recorder.wait_for(
        lambda: any(u["errors"] for u in uploads(recorder, app, "detector", MEASUREMENTS, since))
    )
    upload = next(u for u in uploads(recorder, app, "detector", MEASUREMENTS, since)
                  if u["errors"])  # fmt: skip
    assert upload["values"] == {}
    assert upload["errors"] == {"methane": DISCONNECTED, "h2s": DISCONNECTED}
    assert neuron.error_name(DISCONNECTED) == "3002 plugin disconnected"
    status_topic = neuron.STATUS_TOPIC.format(app=app)

    def detector_link() -> int | None:
        with recorder.changed:
            reports = [json.loads(p) for t, p in recorder.messages[since:] if t == status_topic]
        links = [s["link"] for r in reports for s in r["states"] if s["node"] == "detector"]
        return links[-1] if links else None

    assert recorder.wait_for(lambda: detector_link() == neuron.LINK_DISCONNECTED)
    # The other machines go on uploading values.
    assert uploads(recorder, app, "filler", MEASUREMENTS, since)[-1]["errors"] == {}
