"""Every MQTT identity x every topic class, on a real Mosquitto run from the SHIPPED configuration
with the passwd and acl that broker_access wrote from the database.

Each publish is judged twice: by the broker's MQTT 5 PUBACK (0x87 Not authorized for a refused
one) and by an observer that may read everything under the topic root, Sparkplug and $SYS,
which must receive exactly the allowed ones. A reader is judged by what reaches it. Nothing is
timed: a SUBACK on the same connection comes after every message the broker sent it before, so
once an observer's or reader's own SUBACK arrives, whatever was not delivered never will be.
"""

from __future__ import annotations

import json
import os
import queue
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

from plant.broker_access import write_broker_files
from plant.demo import load_demo_plant
from plant.models import (
    ConfigChange,
    DeviceIdentity,
    Machine,
    NeuronDevice,
    NeuronGateway,
    Plant,
    Tag,
)
from plant.mosquitto_auth import check_password, hash_password
from tests.services import SecuredBroker

PASSWORDS = {"ingest": "ingest-pw-0123456789", "simulator": "sim-pw-0123456789",
             "dev-filler": "filler-pw-0123456789", "dev-detector": "detector-pw-0123456789",
             "gateway": "gateway-pw-0123456789", "dev-off": "off-pw-0123456789",
             "neuron-gw": "neuron-pw-0123456789"}  # fmt: skip
ROOT_DIR = Path(__file__).resolve().parent.parent.parent
REFUSED = "Not authorized"  # MQTT 5 reason code 0x87
ROOT = f"test/acl-{uuid.uuid4().hex[:8]}/"


def url(user: str, port: int = 1) -> str:
    return f"mqtt://{user}:{PASSWORDS[user]}@127.0.0.1:{port}"


SETTINGS = {"MQTT_URL": url("ingest"), "SIMULATOR_MQTT_URL": url("simulator"),
            "MQTT_TOPIC_ROOT": ROOT}  # fmt: skip


@pytest.fixture(scope="module")
def broker(django_db_setup: None, django_db_blocker: object) -> Iterator[SecuredBroker]:
    """The demo plant, two machine devices, a Sparkplug gateway and a disabled device; the
    files broker_access writes from them; the broker reading them."""
    broker = SecuredBroker()
    with django_db_blocker.unblock(), override_settings(**SETTINGS), transaction.atomic():  # type: ignore[attr-defined]
        plant = load_demo_plant(topic_root=ROOT)
        for name, prefix, enabled in [("dev-filler", "bottling/filling/filler", True),
                                      ("dev-detector", "bottling/gas/detector", True),
                                      ("dev-off", "bottling/filling/filler", False)]:  # fmt: skip
            device = DeviceIdentity(plant=plant, username=name, topic_prefix=ROOT + prefix,
                                    enabled=enabled)  # fmt: skip
            device.set_password(PASSWORDS[name])
            device.full_clean()
            device.save()
        gateway = DeviceIdentity(plant=plant, username="gateway", sparkplug_group="bottling",
                                 sparkplug_node="edge1")  # fmt: skip
        gateway.set_password(PASSWORDS["gateway"])
        gateway.full_clean()
        gateway.save()
        # An EMQX Neuron north app "gw1" whose status report named the south node "modbus".
        neuron_gw = DeviceIdentity(plant=plant, username="neuron-gw", neuron_app="gw1")
        neuron_gw.set_password(PASSWORDS["neuron-gw"])
        neuron_gw.full_clean()
        neuron_gw.save()
        app = NeuronGateway.objects.create(app="gw1", plant=plant)
        NeuronDevice.objects.create(gateway=app, node="modbus")
        changed, warnings = write_broker_files(broker.auth_dir, owner=broker.owner)
        assert changed and warnings == []
        broker.start()
        try:
            yield broker
        finally:
            broker.close()
            transaction.set_rollback(True)


@dataclass
class Probe:
    """One MQTT 5 client; what it was answered, and what reached it."""

    port: int
    user: str | None = None
    password: str | None = None
    client: mqtt.Client = field(init=False)
    answers: queue.Queue = field(default_factory=queue.Queue)
    received: list[tuple[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        client_id = f"probe-{self.user}-{uuid.uuid4().hex[:6]}"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id=client_id
        )
        if self.user:
            self.client.username_pw_set(self.user, self.password)
        self.client.on_connect = lambda c, u, f, reason, p: self.answers.put(("connack", reason))
        self.client.on_publish = lambda c, u, mid, reason, p: self.answers.put((mid, reason))
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.answers.put((mid, codes))
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, m.payload))
        self.client.on_disconnect = lambda c, u, f, reason, p: self.answers.put(("gone", reason))

    def answer(self, key: object, timeout: float = 10) -> object:
        pending = []
        try:
            while True:
                got, value = self.answers.get(timeout=timeout)
                if got == key:
                    return value
                pending.append((got, value))
        except queue.Empty:
            raise AssertionError(f"{self.user}: no answer {key!r}") from None
        finally:
            for item in pending:
                self.answers.put(item)

    def connect(self) -> str:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        reason = str(self.answer("connack"))
        if reason != "Success":
            self.close()
        return reason

    def publish(self, topic: str, payload: bytes) -> str:
        info = self.client.publish(topic, payload, qos=1)
        return str(self.answer(info.mid))

    def subscribe(self, topics: list[str]) -> list[str]:
        _, mid = self.client.subscribe([(topic, 1) for topic in topics])
        return [str(code) for code in self.answer(mid)]  # type: ignore[attr-defined]

    def sync(self) -> None:
        """Return once everything the broker sent before now has reached on_message."""
        self.subscribe([f"{ROOT}sync/{uuid.uuid4().hex}"])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connected(broker: SecuredBroker, user: str | None, port: int | None = None) -> Probe:
    probe = Probe(port or broker.port, user, PASSWORDS.get(user or ""))
    assert probe.connect() == "Success", user
    return probe


# --- who may connect --------------------------------------------------------------------------

LOGINS = [
    ("ingest", PASSWORDS["ingest"], "Success"),
    ("simulator", PASSWORDS["simulator"], "Success"),
    ("dev-filler", PASSWORDS["dev-filler"], "Success"),
    ("gateway", PASSWORDS["gateway"], "Success"),
    (None, None, "Not authorized"),  # anonymous
    ("dev-filler", "wrong-password", "Not authorized"),
    ("dev-filler", "", "Not authorized"),
    ("nobody-known", "whatever", "Not authorized"),
    ("dev-off", PASSWORDS["dev-off"], "Not authorized"),  # disabled
    ("ingest", PASSWORDS["simulator"], "Not authorized"),  # another identity's password
]


@pytest.mark.parametrize(("user", "password", "expected"), LOGINS,
                         ids=[f"{u}-{e}" for u, _, e in LOGINS])  # fmt: skip
def test_only_enabled_identities_with_their_own_password_connect_to_the_plant_listener(
    broker: SecuredBroker, user: str | None, password: str | None, expected: str
) -> None:
    probe = Probe(broker.port, user, password)
    assert probe.connect() == expected
    probe.close()


def test_the_health_listener_lets_anonymous_clients_read_sys_and_nothing_else(
    broker: SecuredBroker,
) -> None:
    observer = connected(broker, "ingest")
    observer.subscribe([f"{ROOT}#"])
    anonymous = connected(broker, None, port=broker.health_port)
    anonymous.subscribe(["$SYS/broker/uptime", f"{ROOT}#"])
    assert anonymous.publish(f"{ROOT}bottling/gas/detector/methane", b"99") == "Not authorized"
    assert anonymous.publish(f"{ROOT}bottling/gas/ventilation/fan/set", b"{}") == "Not authorized"
    simulator = connected(broker, "simulator")
    assert simulator.publish(f"{ROOT}bottling/gas/detector/h2s", b"1.5") == "Success"
    anonymous.sync()
    observer.sync()
    assert [t for t, _ in anonymous.received] == ["$SYS/broker/uptime"]  # retained, at once
    assert [t for t, _ in observer.received] == [f"{ROOT}bottling/gas/detector/h2s"]
    wrong = Probe(broker.health_port, "ingest", "wrong")
    assert wrong.connect() == "Not authorized"  # a name given must be proved there too
    for probe in (anonymous, observer, simulator):
        probe.close()


# --- who may publish what ---------------------------------------------------------------------

# Topic classes, relative to the topic root (or absolute when starting with "/").
TOPICS = {
    "own telemetry": "bottling/filling/filler/fill_level",
    "own machine batch": "bottling/filling/filler",
    "own writable tag's value": "bottling/filling/filler/fill_level_sp",
    "other machine's telemetry": "bottling/utilities/pump/vibration_rms",
    "methane": "bottling/gas/detector/methane",
    "readback of another device": "bottling/gas/ventilation/fan",
    "write to own tag": "bottling/filling/filler/fill_level_sp/set",
    "write to another tag": "bottling/gas/ventilation/fan/set",
    "write to a read-only tag": "bottling/gas/detector/methane/set",
    "simulator control": "_sim/bottling/fault",
    "unknown topic under the plant": "bottling/filling/filler/new_sensor",
    "outside the topic root": "/elsewhere/plant/x",
    "$SYS": "/$SYS/broker/forged",
    "sparkplug NDATA of edge1": "/spBv1.0/bottling/NDATA/edge1",
    "sparkplug DDATA of edge1": "/spBv1.0/bottling/DDATA/edge1/pump",
    "sparkplug NDATA of edge2": "/spBv1.0/bottling/NDATA/edge2",
    "sparkplug NCMD to edge1": "/spBv1.0/bottling/NCMD/edge1",
    "sparkplug DCMD to edge1": "/spBv1.0/bottling/DCMD/edge1/pump",
    "sparkplug STATE": "/spBv1.0/STATE/scada-host",
    "sparkplug NBIRTH of line filling": "/spBv1.0/bottling/NBIRTH/filling",
    "sparkplug DDATA of line filling": "/spBv1.0/bottling/DDATA/filling/filler",
    "sparkplug NDEATH of line gas": "/spBv1.0/bottling/NDEATH/gas",
    "sparkplug DDATA of filling elsewhere": "/spBv1.0/other-plant/DDATA/filling/filler",
    "sparkplug NCMD to line filling": "/spBv1.0/bottling/NCMD/filling",
    "sparkplug DCMD to line filling": "/spBv1.0/bottling/DCMD/filling/filler",
    "neuron upload of gw1's node": "//neuron/gw1/modbus/grp",
    "neuron upload of gw1's unknown node": "//neuron/gw1/other/grp",
    "neuron upload of gw2": "//neuron/gw2/modbus/grp",
    "neuron write request to gw1": "//neuron/gw1/write/req",
    "neuron write response of gw1": "//neuron/gw1/write/resp",
    "neuron status of gw1": "//neuron/gw1/state/update",
    "neuron upload of the demo filler": "//neuron/bottling/filler/measurements",
    "neuron write response of bottling": "//neuron/bottling/write/resp",
    "neuron upload of an unknown machine": "//neuron/bottling/mixer/measurements",
}
# Who may publish each class: y allowed, . refused. Columns: ingest, simulator, dev-filler
# (owns the filler), dev-detector (owns the gas detector: methane, h2s), gateway (Sparkplug
# edge node edge1 of group bottling; the simulator's Sparkplug edge nodes are the demo plant's
# lines of group bottling), neuron-gw (Neuron north app gw1, south node modbus). Written out,
# not computed: this is the specification.
PUBLISHERS = ["ingest", "simulator", "dev-filler", "dev-detector", "gateway", "neuron-gw"]
# fmt: off
MAY_PUBLISH = {
    "own telemetry":                        ". y y . . .",
    "own machine batch":                    ". y y . . .",
    "own writable tag's value":             ". y y . . .",
    "other machine's telemetry":            ". y . . . .",
    "methane":                              ". y . y . .",
    "readback of another device":           ". y . . . .",
    "write to own tag":                     "y . . . . .",
    "write to another tag":                 "y . . . . .",
    "write to a read-only tag":             ". . . . . .",
    "simulator control":                    ". y . . . .",
    "unknown topic under the plant":        ". . . . . .",
    "outside the topic root":               ". . . . . .",
    "$SYS":                                 ". . . . . .",
    "sparkplug NDATA of edge1":             ". . . . y .",
    "sparkplug DDATA of edge1":             ". . . . y .",
    "sparkplug NDATA of edge2":             ". . . . . .",
    "sparkplug NCMD to edge1":              "y . . . . .",
    "sparkplug DCMD to edge1":              "y . . . . .",
    "sparkplug STATE":                      "y . . . . .",
    "sparkplug NBIRTH of line filling":     ". y . . . .",
    "sparkplug DDATA of line filling":      ". y . . . .",
    "sparkplug NDEATH of line gas":         ". y . . . .",
    "sparkplug DDATA of filling elsewhere": ". . . . . .",
    "sparkplug NCMD to line filling":       "y . . . . .",
    "sparkplug DCMD to line filling":       "y . . . . .",
    "neuron upload of gw1's node":          ". . . . . y",
    "neuron upload of gw1's unknown node":  ". . . . . .",
    "neuron upload of gw2":                 ". . . . . .",
    "neuron write request to gw1":          "y . . . . .",
    "neuron write response of gw1":         ". . . . . y",
    "neuron status of gw1":                 ". . . . . y",
    "neuron upload of the demo filler":     ". y . . . .",
    "neuron write response of bottling":    ". y . . . .",
    "neuron upload of an unknown machine":  ". . . . . .",
}
# fmt: on


def topic_of(name: str) -> str:
    relative = TOPICS[name]
    return relative[1:] if relative.startswith("/") else ROOT + relative


def payload_of(name: str, publisher: str) -> bytes:
    if name == "readback of another device":  # a forged confirmation of a write
        return json.dumps({"v": True, "id": str(uuid.uuid4()), "by": publisher}).encode()
    return json.dumps({"v": 1.0, "by": publisher, "n": uuid.uuid4().hex}).encode()


@pytest.mark.parametrize("publisher", PUBLISHERS)
def test_each_identity_publishes_only_what_the_matrix_allows(
    broker: SecuredBroker, publisher: str
) -> None:
    observer = connected(broker, "ingest")
    assert observer.subscribe(
        [f"{ROOT}#", "spBv1.0/#", "$SYS/broker/forged", "elsewhere/#", "/neuron/#"]
    )
    probe = connected(broker, publisher)
    column = PUBLISHERS.index(publisher)
    answers, sent, sent_qos0 = {}, {}, {}
    for name in TOPICS:
        sent[name] = payload_of(name, publisher)
        answers[name] = probe.publish(topic_of(name), sent[name])
        # At QoS 0 the broker answers nothing: only the observer can tell.
        sent_qos0[name] = payload_of(name, publisher)
        probe.client.publish(topic_of(name), sent_qos0[name], qos=0)
    probe.sync()  # every QoS 0 publish above has been handled before this SUBSCRIBE
    observer.sync()
    delivered = {payload for _, payload in observer.received}
    got = {name: ("y" if answers[name] == "Success" else ".") for name in TOPICS}
    expected = {name: row.split()[column] for name, row in MAY_PUBLISH.items()}
    assert got == expected, f"PUBACKs of {publisher}"
    for name in TOPICS:
        if expected[name] == ".":
            assert answers[name] == "Not authorized", name  # 0x87, not a silent drop
            assert sent[name] not in delivered, f"{publisher} reached subscribers on {name}"
            assert sent_qos0[name] not in delivered, f"{publisher}, QoS 0, on {name}"
        elif not topic_of(name).startswith("elsewhere/"):
            assert sent[name] in delivered, f"{publisher}'s allowed {name} went nowhere"
            assert sent_qos0[name] in delivered, f"{publisher}'s allowed {name} at QoS 0"
    probe.close()
    observer.close()


def test_refused_identities_publish_nothing_on_the_plant_listener(broker: SecuredBroker) -> None:
    for user, password in [
        (None, None),
        ("dev-filler", "wrong"),
        ("dev-off", PASSWORDS["dev-off"]),
    ]:
        probe = Probe(broker.port, user, password)
        assert probe.connect() == "Not authorized"
        with pytest.raises(AssertionError):  # no session: a publish is never acknowledged
            probe.client.publish(topic_of("methane"), b"99", qos=1)
            probe.answer(1, timeout=2)  # a broker on 127.0.0.1 answers in milliseconds


# --- who may read what ------------------------------------------------------------------------

READ_TOPICS = {
    "own writes": ("ingest", "bottling/filling/filler/fill_level_sp/set"),
    "another device's writes": ("ingest", "bottling/gas/ventilation/fan/set"),
    "other machine's telemetry": ("simulator", "bottling/utilities/pump/vibration_rms"),
    "simulator control": ("simulator", "_sim/bottling/fault"),
    "sparkplug NCMD to edge1": ("ingest", "/spBv1.0/bottling/NCMD/edge1"),
    "sparkplug NCMD to edge2": ("ingest", "/spBv1.0/bottling/NCMD/edge2"),
    "sparkplug STATE": ("ingest", "/spBv1.0/STATE/scada-host"),
    "sparkplug NCMD to line filling": ("ingest", "/spBv1.0/bottling/NCMD/filling"),
    "sparkplug DCMD to line filling": ("ingest", "/spBv1.0/bottling/DCMD/filling/filler"),
    "$SYS": ("broker", "/$SYS/broker/uptime"),
    "neuron write request to gw1": ("ingest", "//neuron/gw1/write/req"),
}
# fmt: off
MAY_READ = {  # columns: simulator, dev-filler, dev-detector, gateway, neuron-gw
    "own writes":                     ("y y . . ."),
    "another device's writes":        ("y . . . ."),
    "other machine's telemetry":      (". . . . ."),
    "simulator control":              ("y . . . ."),
    "sparkplug NCMD to edge1":        (". . . y ."),
    "sparkplug NCMD to edge2":        (". . . . ."),
    "sparkplug STATE":                ("y . . y ."),
    "sparkplug NCMD to line filling": ("y . . . ."),
    "sparkplug DCMD to line filling": ("y . . . ."),
    "$SYS":                           (". . . . ."),
    "neuron write request to gw1":    (". . . . y"),
}
# fmt: on
READERS = ["simulator", "dev-filler", "dev-detector", "gateway", "neuron-gw"]


def read_topic(name: str) -> str:
    relative = READ_TOPICS[name][1]
    return relative[1:] if relative.startswith("/") else ROOT + relative


def test_each_device_receives_only_what_the_matrix_allows(broker: SecuredBroker) -> None:
    readers = {user: connected(broker, user) for user in READERS}
    for reader in readers.values():
        # Every topic asked for by name, and the wildcards a curious device would try.
        reader.subscribe([read_topic(name) for name in READ_TOPICS])
        reader.subscribe([f"{ROOT}#", "spBv1.0/#", "$SYS/#", "/neuron/#"])
    publishers = {user: connected(broker, user) for user in ("ingest", "simulator")}
    sent = {}
    for name, (publisher, _) in READ_TOPICS.items():
        if publisher == "broker":
            continue  # retained: $SYS/broker/uptime reaches a subscriber that may read it
        sent[name] = f"{name}|{uuid.uuid4().hex}".encode()
        assert publishers[publisher].publish(read_topic(name), sent[name]) == "Success", name
    for column, (user, reader) in enumerate(readers.items()):
        reader.sync()
        got_topics = {topic for topic, _ in reader.received}
        got = {name: "y" if read_topic(name) in got_topics else "." for name in READ_TOPICS}
        expected = {name: row.split()[column] for name, row in MAY_READ.items()}
        assert got == expected, f"what reached {user}"
        foreign = {t for t in got_topics if not any(t == read_topic(n) for n in READ_TOPICS)}
        allowed_extra = {t for t in foreign if user == "simulator" and t.endswith("/set")}
        assert foreign - allowed_extra == set(), f"{user} received other messages"
    for probe in (*readers.values(), *publishers.values()):
        probe.close()


# --- the files, and changes that take effect without a restart --------------------------------


def test_the_files_are_the_brokers_alone_and_hold_no_password(broker: SecuredBroker) -> None:
    for name in ("passwd", "acl"):
        path = broker.auth_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        for password in PASSWORDS.values():
            assert password not in text
    users = [line.split(":", 1)[0] for line in (broker.auth_dir / "passwd").read_text().split()]
    assert users == ["dev-detector", "dev-filler", "gateway", "ingest", "neuron-gw", "simulator"]


@pytest.mark.django_db
@override_settings(**SETTINGS)
def test_rewriting_unchanged_rights_changes_no_file(tmp_path: Path, demo_plant: Plant) -> None:
    assert write_broker_files(tmp_path)[0]
    before = {name: (tmp_path / name).read_text() for name in ("passwd", "acl")}
    assert write_broker_files(tmp_path) == (False, [])
    assert before == {name: (tmp_path / name).read_text() for name in ("passwd", "acl")}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the groups survive
def test_a_device_added_disabled_or_given_a_tag_takes_effect_on_a_reload(tmp_path: Path) -> None:
    broker = SecuredBroker()
    root = f"test/reload-{uuid.uuid4().hex[:8]}/"
    try:
        with override_settings(**(SETTINGS | {"MQTT_TOPIC_ROOT": root})):
            plant = load_demo_plant(topic_root=root)
            write_broker_files(broker.auth_dir, owner=broker.owner)
            broker.start()
            newcomer = Probe(broker.port, "newcomer", "newcomer-pw-0123456789")
            assert newcomer.connect() == "Not authorized"
            device = DeviceIdentity(plant=plant, username="newcomer",
                                    topic_prefix=f"{root}bottling/utilities/pump")  # fmt: skip
            device.set_password("newcomer-pw-0123456789")
            device.save()
            assert write_broker_files(broker.auth_dir, owner=broker.owner)[0]
            broker.reload()
            probe = Probe(broker.port, "newcomer", "newcomer-pw-0123456789")
            assert _eventually_connects(probe)
            new_topic = f"{root}bottling/utilities/pump/oil_temp"
            assert probe.publish(f"{root}bottling/utilities/pump/vibration_rms", b"2") != REFUSED
            assert probe.publish(new_topic, b"40") == REFUSED  # no such tag yet
            pump = Machine.objects.get(line__plant=plant, slug="pump")
            Tag.objects.create(machine=pump, key="oil_temp", topic=new_topic)
            assert write_broker_files(broker.auth_dir, owner=broker.owner)[0]
            broker.reload()
            probe.sync()  # the reload is handled before this SUBSCRIBE (one thread, in order)
            assert probe.publish(new_topic, b"40") != REFUSED  # (no subscriber: 0x10, a success)
            DeviceIdentity.objects.filter(pk=device.pk).update(enabled=False)
            assert write_broker_files(broker.auth_dir, owner=broker.owner)[0]
            broker.reload()
            # Mosquitto 2.0 checks the connected clients against the new files on a reload and
            # disconnects those that no longer log in ...
            probe.answer("gone")
            probe.close()
            # ... and they cannot log in again.
            assert Probe(broker.port, "newcomer", "newcomer-pw-0123456789").connect() == REFUSED
    finally:
        broker.close()


def _eventually_connects(probe: Probe) -> bool:
    """Mosquitto reloads on SIGHUP between two passes of its loop; the connect after the
    signal may be handled before it. A few tries, each a full CONNECT/CONNACK round trip."""
    for _ in range(20):
        if probe.connect() == "Success":
            return True
        probe = Probe(probe.port, probe.user, probe.password)
    return False


@pytest.mark.django_db
@override_settings(**SETTINGS)
def test_the_command_writes_the_files_and_prints_no_password(
    tmp_path: Path, demo_plant: Plant
) -> None:
    out = StringIO()
    call_command("broker_access", "--dir", str(tmp_path), stdout=out)
    assert "wrote" in out.getvalue()
    for password in PASSWORDS.values():
        assert password not in out.getvalue()
    assert (tmp_path / "passwd").read_text().startswith("ingest:$7$")
    out = StringIO()
    call_command("broker_access", "--dir", str(tmp_path), stdout=out)
    assert out.getvalue() == ""  # nothing changed, nothing said


@pytest.mark.django_db
@override_settings(MQTT_URL="mqtt://127.0.0.1:1883")
def test_the_command_refuses_a_worker_url_without_a_user_name(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="MQTT_URL has no user name"):
        call_command("broker_access", "--dir", str(tmp_path))
    assert not (tmp_path / "passwd").exists()


@pytest.mark.django_db
@override_settings(MQTT_URL="mqtt://ingest@127.0.0.1:1883")
def test_the_command_refuses_a_user_name_without_a_password(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="MQTT_PASSWORD_FILE"):
        call_command("broker_access", "--dir", str(tmp_path))


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["ingest", "simulator", "has space", "a:b"])
def test_a_device_cannot_take_a_product_name_or_one_the_files_cannot_hold(
    demo_plant: Plant, name: str
) -> None:
    device = DeviceIdentity(plant=demo_plant, username=name,
                            topic_prefix=f"{django_settings.MQTT_TOPIC_ROOT}bottling")  # fmt: skip
    device.set_password("p" * 20)
    with pytest.raises(ValidationError) as error:
        device.full_clean()
    assert "username" in error.value.message_dict


@pytest.mark.django_db
def test_a_device_owns_topics_only_under_its_own_plant(demo_plant: Plant) -> None:
    other = Plant.objects.create(name="Other", slug="other")
    prefix = f"{django_settings.MQTT_TOPIC_ROOT}bottling/gas"  # the demo plant's
    device = DeviceIdentity(plant=other, username="sneaky", topic_prefix=prefix)
    device.set_password("p" * 20)
    with pytest.raises(ValidationError) as error:
        device.full_clean()
    assert "topic_prefix" in error.value.message_dict


@pytest.mark.django_db
def test_a_device_without_topics_or_sparkplug_node_or_with_half_a_node_is_refused(
    demo_plant: Plant,
) -> None:
    for fields in ({}, {"sparkplug_group": "g"}, {"sparkplug_group": "g/h", "sparkplug_node": "n"}):
        device = DeviceIdentity(plant=demo_plant, username="half", **fields)
        device.set_password("p" * 20)
        with pytest.raises(ValidationError):
            device.full_clean()


@pytest.mark.django_db
def test_the_configuration_history_records_a_new_password_but_never_its_hash(
    demo_plant: Plant,
) -> None:
    device = DeviceIdentity(plant=demo_plant, username="historic",
                            topic_prefix=f"{django_settings.MQTT_TOPIC_ROOT}bottling")  # fmt: skip
    device.set_password("first-password-0123")
    device.save()
    device.set_password("second-password-0123")
    device.save()
    changes = list(ConfigChange.objects.filter(model="plant.deviceidentity").order_by("pk"))
    assert [c.action for c in changes] == ["create", "update"]
    assert changes[1].changes == {"password_hash": {"old": None, "new": "password changed"}}
    assert changes[0].plant_id == demo_plant.pk
    text = json.dumps([c.changes for c in changes])
    assert "$7$" not in text and device.password_hash not in text


def test_the_files_are_written_atomically_into_place(tmp_path: Path) -> None:
    from plant.broker_access import write_file

    path = tmp_path / "acl"
    assert write_file(path, "one\n")
    assert not write_file(path, "one\n")
    assert write_file(path, "two\n")
    assert path.read_text() == "two\n"
    assert sorted(os.listdir(tmp_path)) == ["acl"]  # no scratch file left behind


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the groups survive
def test_the_watching_command_reloads_the_broker_when_an_identity_is_added() -> None:
    """compose's broker-access service: `broker_access --watch S --reload-pid PID`."""
    from django.db import connection

    root = f"test/watch-{uuid.uuid4().hex[:8]}/"
    broker = SecuredBroker()
    database = f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}"
    env = {**os.environ, "MQTT_TOPIC_ROOT": root, "MQTT_URL": url("ingest"),
           "SIMULATOR_MQTT_URL": url("simulator"), "LOG_LEVEL": "WARNING",
           "DATABASE_URL": database}  # fmt: skip
    argv = [sys.executable, "manage.py", "broker_access", "--dir", str(broker.auth_dir)]
    argv += ["--owner", broker.owner] if broker.owner else []
    with override_settings(MQTT_TOPIC_ROOT=root):
        plant = load_demo_plant(topic_root=root)
    subprocess.run(argv, cwd=ROOT_DIR, env=env, check=True, stdout=subprocess.DEVNULL)
    broker.start()
    assert broker.proc is not None
    watch = [*argv, "--watch", "0.5", "--reload-pid", str(broker.proc.pid)]
    watcher = subprocess.Popen(watch, cwd=ROOT_DIR, env=env, stdout=subprocess.PIPE, text=True)
    try:
        with override_settings(MQTT_TOPIC_ROOT=root):
            device = DeviceIdentity(plant=plant, username="watched", topic_prefix=f"{root}bottling")
            device.set_password("watched-password-0123")
            device.save()
        assert watcher.stdout is not None
        assert "wrote" in watcher.stdout.readline()  # the rewrite, then the SIGHUP
        probe = Probe(broker.port, "watched", "watched-password-0123")
        assert _eventually_connects(probe)
        probe.close()
    finally:
        watcher.terminate()
        watcher.wait(10)
        broker.close()
    assert watcher.returncode == 0  # SIGTERM ends the watch cleanly


@pytest.mark.django_db
@override_settings(**(SETTINGS | {"MQTT_URL": "mqtt://scada:worker-pw-0123456789@127.0.0.1:1"}))
def test_a_device_named_like_the_worker_is_left_out_with_a_warning_and_the_rest_written(
    tmp_path: Path, demo_plant: Plant
) -> None:
    prefix = f"{django_settings.MQTT_TOPIC_ROOT}bottling"
    for name in ("scada", "honest"):
        device = DeviceIdentity(plant=demo_plant, username=name, topic_prefix=prefix)
        device.set_password(f"{name}-password-0123")
        device.save()
    out, err = StringIO(), StringIO()
    call_command("broker_access", "--dir", str(tmp_path), stdout=out, stderr=err)
    assert "device identity 'scada' left out: the product's name" in err.getvalue()
    passwd = (tmp_path / "passwd").read_text()
    assert [line.split(":")[0] for line in passwd.split()] == ["honest", "scada", "simulator"]
    scada = passwd.split("scada:", 1)[1].split()[0]
    assert check_password("worker-pw-0123456789", scada)  # the worker's, not the device's


@pytest.mark.django_db
@override_settings(**SETTINGS)
@pytest.mark.parametrize("change", ["writable", "topic", "device", "password", "plant slug"])
def test_any_change_the_files_depend_on_is_seen_by_the_next_pass(
    tmp_path: Path, demo_plant: Plant, change: str
) -> None:
    """The pass that skips unchanged rights (its SQL summary) misses no change, even one made
    by an UPDATE that no signal sees."""
    fan = Tag.objects.get(machine__line__plant=demo_plant, key="fan")
    prefix = fan.topic.rpartition("/")[0]
    device = DeviceIdentity(plant=demo_plant, username="fan-box", topic_prefix=prefix)
    device.set_password("fan-box-password-0123")
    device.save()
    write_broker_files(tmp_path)
    before = (tmp_path / "acl").read_text() + (tmp_path / "passwd").read_text()
    if change == "writable":
        Tag.objects.filter(pk=fan.pk).update(writable=False)
    elif change == "topic":
        Tag.objects.filter(pk=fan.pk).update(topic=f"{prefix}/fan2")
    elif change == "device":
        DeviceIdentity.objects.filter(pk=device.pk).update(enabled=False)
    elif change == "password":
        DeviceIdentity.objects.filter(pk=device.pk).update(password_hash=hash_password("x" * 20))
    else:  # the simulator is a device of the plant called bottling: no longer of this one
        Plant.objects.filter(pk=demo_plant.pk).update(slug="renamed")
    assert write_broker_files(tmp_path)[0]
    after = (tmp_path / "acl").read_text() + (tmp_path / "passwd").read_text()
    assert after != before
