"""mqtts:// end to end, as compose runs it: the private CA and broker certificate that
config/make_secrets.py makes, the SHIPPED broker configuration with its TLS listener, passwords
and ACL from `manage.py broker_access`, and the product's own processes (`manage.py ingest`,
`manage.py simulate`) logging in over TLS with MQTT_CA_FILE, until the demo plant's values are
stored. A client that does not trust the CA, or names a host the certificate does not, gets no
connection; an anonymous one gets no session.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest

from tests.services import ROOT, SecuredBroker, database_url, fresh_database
from tests.waiting import run_until

TOPIC_ROOT = f"tls-{uuid.uuid4().hex[:6]}/"


@pytest.fixture(scope="module")
def secrets_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="scada-tls-secrets-"))
    subprocess.run([sys.executable, "config/make_secrets.py", "--dir", str(folder)], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    yield folder / "secrets"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    name = f"scada_tls_{uuid.uuid4().hex[:8]}"
    url = fresh_database(name)
    env = {**os.environ, "DATABASE_URL": url, "MQTT_TOPIC_ROOT": TOPIC_ROOT}
    subprocess.run([sys.executable, "manage.py", "load_demo", "--no-users"], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    yield url
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                    f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    assert database_url(name) == url


@pytest.fixture(scope="module")
def broker(secrets_dir: Path, database: str) -> Iterator[tuple[SecuredBroker, dict[str, str]]]:
    """The broker with compose's certificates, and the product's environment for it."""
    certs = Path(tempfile.mkdtemp(prefix="scada-tls-certs-"))
    shutil.copy(secrets_dir / "mqtt-server.crt", certs / "server.crt")
    shutil.copy(secrets_dir / "mqtt-server.key", certs / "server.key")
    broker = SecuredBroker(certs=certs)
    shutil.rmtree(certs)
    env = {**os.environ, "DATABASE_URL": database, "MQTT_TOPIC_ROOT": TOPIC_ROOT,
           "MQTT_URL": f"mqtts://ingest@localhost:{broker.port}",
           "MQTT_PASSWORD_FILE": str(secrets_dir / "mqtt_ingest_password"),
           "SIMULATOR_MQTT_URL": f"mqtts://simulator@localhost:{broker.port}",
           "SIMULATOR_MQTT_PASSWORD_FILE": str(secrets_dir / "mqtt_simulator_password"),
           "MQTT_CA_FILE": str(secrets_dir / "mqtt-ca.crt"), "LOG_LEVEL": "WARNING"}  # fmt: skip
    argv = [sys.executable, "manage.py", "broker_access", "--dir", str(broker.auth_dir)]
    if broker.owner:
        argv += ["--owner", broker.owner]
    subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    broker.start()
    yield broker, env
    broker.close()


def test_ingest_and_the_simulator_speak_mqtts_with_passwords_and_the_values_are_stored(
    broker: tuple[SecuredBroker, dict[str, str]], database: str
) -> None:
    _, env = broker
    children = [
        subprocess.Popen([sys.executable, "manage.py", *argv], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for argv in (["ingest", "--client-id", "tls-test", "--metrics-port", "0"],
                     ["simulate", "--rate", "5"])
    ]  # fmt: skip
    sql = """SELECT count(DISTINCT t.key) FROM plant_sample s JOIN plant_tag t ON t.id = s.tag_id
             WHERE t.topic LIKE %s"""
    try:
        with psycopg.connect(database, autocommit=True) as conn:
            stored = lambda: conn.execute(sql, [f"{TOPIC_ROOT}%"]).fetchone()[0]  # noqa: E731
            run_until(lambda: stored() >= 10, lambda: threading.Event().wait(0.5), timeout=90)
        for child in children:
            assert child.poll() is None, "a product process exited"
    finally:
        for child in children:
            child.terminate()
            child.wait(30)


def tls_client(context: ssl.SSLContext, user: str | None = None,
               password: str | None = None) -> mqtt.Client:  # fmt: skip
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.tls_set_context(context)
    if user:
        client.username_pw_set(user, password)
    return client


def connack(client: mqtt.Client, host: str, port: int) -> str:
    answered, result = threading.Event(), []
    client.on_connect = lambda c, u, f, reason, p: (result.append(str(reason)), answered.set())
    client.connect(host, port)
    client.loop_start()
    try:
        assert answered.wait(10), "no CONNACK"
        return result[0]
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_client_trusting_the_private_ca_logs_in_and_an_anonymous_one_is_refused(
    broker: tuple[SecuredBroker, dict[str, str]], secrets_dir: Path
) -> None:
    server, _ = broker
    context = ssl.create_default_context(cafile=secrets_dir / "mqtt-ca.crt")
    password = (secrets_dir / "mqtt_simulator_password").read_text()
    client = tls_client(context, "simulator", password)
    assert connack(client, "localhost", server.port) == "Success"
    assert connack(tls_client(context), "localhost", server.port) == "Not authorized"


def test_a_client_without_the_ca_or_with_another_host_name_gets_no_connection(
    broker: tuple[SecuredBroker, dict[str, str]], secrets_dir: Path
) -> None:
    server, _ = broker
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        tls_client(ssl.create_default_context()).connect("localhost", server.port)
    trusting = ssl.create_default_context(cafile=secrets_dir / "mqtt-ca.crt")
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"),
    ):
        trusting.wrap_socket(raw, server_hostname="not-the-broker.example.com")


def test_plain_mqtt_on_the_tls_listener_gets_no_session(
    broker: tuple[SecuredBroker, dict[str, str]], secrets_dir: Path
) -> None:
    server, _ = broker
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set("simulator", (secrets_dir / "mqtt_simulator_password").read_text())
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    try:
        client.connect("127.0.0.1", server.port)
        client.loop(timeout=2)
        client.loop(timeout=2)
    except (OSError, ssl.SSLError):
        pass
    assert not connected.is_set()
