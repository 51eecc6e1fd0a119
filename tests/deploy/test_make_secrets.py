"""config/make_secrets.py: compose's secrets and .env, written once; the broker's private CA
serves a real mqtts:// connection."""

from __future__ import annotations

import os
import shutil
import ssl
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.deploy.compose_file import make_secrets
from tests.services import free_port, wait_port

SECRETS = [
    "secret_key",
    "db_owner_password",
    "db_app_password",
    "admin_password",
    "demo_password",
    "mqtt_ingest_password",
    "mqtt_simulator_password",
]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("compose")
    make_secrets(
        folder,
        "--hmi-host",
        "hmi.example.com",
        "--mqtt-host",
        "broker.example.com",
        "--mqtt-host",
        "10.1.2.3",
    )
    return folder


def test_secrets_are_random_long_and_reachable_only_by_the_owner(made: Path) -> None:
    folder = made / "secrets"
    assert mode(folder) == 0o700
    values = [(folder / name).read_text() for name in SECRETS]
    assert len(set(values)) == len(values)
    assert len((folder / "secret_key").read_text()) >= 50  # check --deploy's security.W009
    assert all(len(value) >= 40 for value in values)
    assert mode(folder / "mqtt-ca.key") == 0o600  # signs certificates: no container gets it
    assert {mode(folder / name) for name in SECRETS} == {0o644}  # inside the 0700 folder


def test_the_env_file_names_the_hmi_host(made: Path) -> None:
    env = (made / ".env").read_text()
    assert "HMI_HOST=hmi.example.com\n" in env
    assert "HMI_TLS=internal\n" in env
    assert "PASSWORD" not in env and "SECRET" not in env


def test_a_second_run_keeps_every_file(made: Path) -> None:
    files = sorted(p for p in made.rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}
    output = make_secrets(made, "--hmi-host", "other.example.com").stdout
    assert "created" not in output
    assert {p: p.read_bytes() for p in files} == before
    assert sorted(p for p in made.rglob("*") if p.is_file()) == files


def test_a_lost_ca_is_not_replaced_behind_the_devices_back(tmp_path: Path) -> None:
    make_secrets(tmp_path)
    (tmp_path / "secrets" / "mqtt-ca.crt").unlink()
    with pytest.raises(subprocess.CalledProcessError) as failure:
        make_secrets(tmp_path)
    assert "remove them all" in failure.value.stderr


def test_the_broker_certificate_is_signed_by_the_ca_for_every_name(made: Path) -> None:
    folder = made / "secrets"
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", folder / "mqtt-ca.crt", folder / "mqtt-server.crt"],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
    names = subprocess.run(
        ["openssl", "x509", "-in", folder / "mqtt-server.crt", "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
    ).stdout
    for name in (
        "DNS:mqtt",
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "DNS:broker.example.com",
        "IP Address:10.1.2.3",
    ):
        assert name in names


@pytest.fixture(scope="module")
def tls_broker(made: Path) -> Iterator[int]:
    """Mosquitto with a TLS listener and the certificates make_secrets wrote, as in compose."""
    folder = Path(tempfile.mkdtemp(prefix="scada-tls-"))
    for name in ("mqtt-ca.crt", "mqtt-server.crt", "mqtt-server.key"):
        shutil.copy(made / "secrets" / name, folder / name)
    if os.geteuid() == 0:  # mosquitto drops to its own user before it reads them, as in compose
        shutil.chown(folder, "mosquitto")
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        f"cafile {folder}/mqtt-ca.crt\ncertfile {folder}/mqtt-server.crt\n"
        f"keyfile {folder}/mqtt-server.key\n"
    )
    broker = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(port)
        yield port
    finally:
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def connect(port: int, context: ssl.SSLContext) -> mqtt.ReasonCode | Exception:
    """One MQTT 5 connection over TLS; the broker's answer, or the TLS error."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.tls_set_context(context)
    answered = threading.Event()
    result: list[mqtt.ReasonCode] = []

    def on_connect(
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason: mqtt.ReasonCode,
        properties: object,
    ) -> None:
        result.append(reason)
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect("localhost", port)
    except ssl.SSLError as error:
        return error
    client.loop_start()
    try:
        assert answered.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0]


def test_a_client_that_trusts_the_private_ca_connects_over_tls(made: Path, tls_broker: int) -> None:
    context = ssl.create_default_context(cafile=str(made / "secrets" / "mqtt-ca.crt"))
    answer = connect(tls_broker, context)
    assert isinstance(answer, mqtt.ReasonCode) and not answer.is_failure


def test_a_client_without_the_private_ca_refuses_the_broker(tls_broker: int) -> None:
    answer = connect(tls_broker, ssl.create_default_context())
    assert isinstance(answer, ssl.SSLCertVerificationError)
