"""`manage.py run`: a missing service is named without a traceback, a child that dies comes back,
a stop stops them all, and the product's own broker is the lossless one.

The supervisor traps SIGTERM and SIGINT, so each supervisor runs in a Python process of its own;
its children are real processes (Python one-liners, or the product's own).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.services import Broker, free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent.parent

SUPERVISOR = """
import subprocess, sys
from plant.management.commands import run
run.STOP_TIMEOUT_S = 1
{overrides}
supervisor = run.Supervisor(lambda message: print(message, flush=True))
supervisor.install_signal_handlers()
for name, code, last in {children!r}:
    supervisor.start(run.Child(name, [sys.executable, "-c", code], last=last))
print("started", flush=True)
sys.exit(supervisor.wait())
"""
# Each child says who it is and its pid, so a test can kill it and see its successor. Children
# share the supervisor's stdout, so each line goes out in one write: two never interleave.
SLEEPER = "import os, time; os.write(1, b'{name} up %d\\n' % os.getpid()); time.sleep(60)"


def sleeper(name: str) -> str:
    return SLEEPER.format(name=name)


CRASHER = "import sys; sys.exit(3)"
# Says it is ready only once SIGTERM can no longer stop it.
STUBBORN = (
    "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "os.write(1, b'ready\\n'); time.sleep(60)"
)
# Takes half a second to finish after SIGTERM, as the ingest worker commits its batch.
SLOW_TO_STOP = (
    "import os, signal, sys, time\n"
    "def stop(*_):\n    time.sleep(0.5); os.write(1, b'worker done\\n'); sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, stop); os.write(1, b'ready\\n'); time.sleep(60)"
)
BROKER_STANDIN = (
    "import os, signal, sys, time\n"
    "def stop(*_):\n    os.write(1, b'broker got SIGTERM\\n'); sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, stop); os.write(1, b'ready\\n'); time.sleep(60)"
)


class Lines:
    """The output of a process, read by a thread, so a test can wait for a line with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.seen: list[str] = []
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first line from now on that matches `pattern` (a regular expression)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                seen = "\n".join(self.seen)
                raise AssertionError(f"no line {pattern!r} in {timeout} s after:\n{seen}") from None
            assert line is not None, f"output ended before {pattern!r}:\n" + "\n".join(self.seen)
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match

    def rest(self, timeout: float = 30.0) -> str:
        """Everything up to the end of the output, once the process has exited."""
        self.process.wait(timeout)
        while (line := self.lines.get(timeout=timeout)) is not None:
            self.seen.append(line)
        return "\n".join(self.seen)


def start_supervisor(
    children: list[tuple[str, str, bool]], **overrides: float
) -> tuple[subprocess.Popen[str], Lines]:
    """A Supervisor in a process of its own, with module constants of run.py overridden."""
    settings = "\n".join(f"run.{name} = {value!r}" for name, value in overrides.items())
    process = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR.format(children=children, overrides=settings)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, Lines(process)


@pytest.fixture
def broker_dir() -> Iterator[Path]:
    """A folder for run's broker that the 'mosquitto' user can reach (run as root, it reads
    its passwd and acl as that user; pytest's own temporary folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="scada-run-broker-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def stop(process: subprocess.Popen[str], lines: Lines) -> str:
    process.send_signal(signal.SIGTERM)
    return lines.rest()


def test_a_child_killed_with_sigkill_is_started_again_while_the_others_keep_running() -> None:
    process, lines = start_supervisor(
        [("web", sleeper("web"), False), ("ingest", sleeper("ingest"), False)]
    )
    pids = {}
    for _ in range(2):
        name, pid = lines.wait_for(r"^(web|ingest) up (\d+)").groups()
        pids[name] = int(pid)
    os.kill(pids["ingest"], signal.SIGKILL)
    lines.wait_for(r"^run: ingest was killed by SIGKILL after [\d.]+ s; restarting it in 1 s$")
    restarted = int(lines.wait_for(r"^ingest up (\d+)")[1])
    assert restarted != pids["ingest"]
    os.kill(pids["web"], 0)  # the web child never stopped
    output = stop(process, lines)
    assert process.returncode == 0, output
    assert "SIGTERM received, stopping web, ingest" in output


def test_a_child_that_keeps_dying_waits_twice_as_long_each_time_up_to_the_longest_delay() -> None:
    process, lines = start_supervisor(
        [("crasher", CRASHER, False)], RESTART_FIRST_S=0.1, RESTART_LONGEST_S=0.4
    )
    delays = [
        lines.wait_for(r"^run: crasher exited with code 3 after .*; restarting it in (\S+) s$")[1]
        for _ in range(5)
    ]
    assert delays == ["0.1", "0.2", "0.4", "0.4", "0.4"]
    lines.wait_for(r"^run: started crasher \(pid \d+, restart 5\)$")
    output = stop(process, lines)
    assert process.returncode == 0, output


def test_a_child_that_ran_long_enough_is_restarted_after_the_first_delay_again() -> None:
    lives_a_while = "import sys, time; time.sleep(0.5); sys.exit(3)"
    process, lines = start_supervisor(
        [("worker", lives_a_while, False)], RESTART_FIRST_S=0.1, HEALTHY_AFTER_S=0.3
    )
    delays = [
        lines.wait_for(r"^run: worker exited with code 3 after .*; restarting it in (\S+) s$")[1]
        for _ in range(3)
    ]
    assert delays == ["0.1", "0.1", "0.1"]
    output = stop(process, lines)
    assert process.returncode == 0, output


def test_a_stop_while_a_restart_is_pending_stops_at_once_and_restarts_nothing() -> None:
    process, lines = start_supervisor([("crasher", CRASHER, False)], RESTART_FIRST_S=30)
    lines.wait_for(r"restarting it in 30 s$")
    process.send_signal(signal.SIGTERM)
    output = lines.rest(timeout=10)  # well before the restart would be due
    assert process.returncode == 0, output
    assert "restart 1" not in output


def test_sigterm_stops_every_child_and_exits_cleanly() -> None:
    process, lines = start_supervisor(
        [("web", sleeper("web"), False), ("ingest", sleeper("ingest"), False)]
    )
    lines.wait_for("^started$")
    output = stop(process, lines)
    assert process.returncode == 0, output
    assert "SIGTERM received, stopping web, ingest" in output
    assert "restarting" not in output


def test_the_broker_is_stopped_only_after_the_others_have_finished() -> None:
    process, lines = start_supervisor(
        [("broker", BROKER_STANDIN, True), ("ingest", SLOW_TO_STOP, False)]
    )
    for _ in range(2):  # the children may say so before the supervisor says "started"
        lines.wait_for("^ready$")
    output = stop(process, lines)
    assert process.returncode == 0, output
    assert output.index("worker done") < output.index("broker got SIGTERM")


def test_a_child_that_ignores_sigterm_is_killed_after_the_stop_timeout() -> None:
    process, lines = start_supervisor([("stubborn", STUBBORN, False)])
    lines.wait_for("^ready$")
    output = stop(process, lines)
    assert process.returncode == 0, output
    assert "killing stubborn (still running 1 s after SIGTERM)" in output


def test_an_unreachable_redis_is_named_with_how_to_start_it_and_no_traceback(
    broker_dir: Path,
) -> None:
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing listens on port 1
    env.pop("MQTT_URL", None)
    broker_port = free_port()
    result = subprocess.run(
        [sys.executable, "manage.py", "run", "--port", "1", "--broker-port", str(broker_port),
         "--broker-dir", str(broker_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Redis at 127.0.0.1:1 is not reachable" in result.stderr
    assert "Start it with: redis-server" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "started broker (mosquitto)" in result.stdout
    with pytest.raises(RuntimeError):  # the broker started for this run did not outlive it
        wait_port(broker_port, timeout=0.5)


# --- the product's own broker, with the real product around it --------------------------------


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture(scope="module")
def run_database() -> Iterator[str]:
    """A database of this module's own for `manage.py run` to migrate and load the demo into."""
    name = f"scada_run_{uuid.uuid4().hex[:8]}"
    psql(f'CREATE DATABASE "{name}"')
    yield f"postgres://postgres@127.0.0.1:5432/{name}"
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_environment(database: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "DEMO_PASSWORD": "run-test-password",
        "MQTT_TOPIC_ROOT": f"test/run-{uuid.uuid4().hex[:8]}/",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("MQTT_URL", None)
    return env


@pytest.fixture(scope="module")
def product(run_database: str) -> Iterator[dict]:
    """`manage.py run` with its own broker on a spare port, up to its banner."""
    broker_dir = Path(tempfile.mkdtemp(prefix="scada-run-broker-"))
    broker_port = free_port()
    argv = [sys.executable, "manage.py", "run", "--port", str(free_port()),
            "--broker-port", str(broker_port), "--broker-dir", str(broker_dir),
            "--metrics-port", str(free_port())]  # fmt: skip
    env = run_environment(run_database)
    root = env["MQTT_TOPIC_ROOT"]
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = Lines(process)
    try:
        pids = {}
        for _ in range(5):  # the broker, web, ingest, simulate and notify
            name, pid = lines.wait_for(
                r"^run: started (\S+).* \(pid (\d+)\)$", timeout=120
            ).groups()
            pids[name] = int(pid)
        banner = lines.wait_for(r"^  MQTT broker: (.*)$")[1]
        yield {"process": process, "lines": lines, "pids": pids, "banner": banner,
               "port": broker_port, "dir": broker_dir, "root": root}  # fmt: skip
    finally:
        process.send_signal(signal.SIGTERM)
        lines.rest(timeout=60)
        shutil.rmtree(broker_dir, ignore_errors=True)


def test_run_starts_its_own_broker_and_says_so_in_the_banner(product: dict) -> None:
    assert product["banner"].startswith(f"mqtt://127.0.0.1:{product['port']} (the product's own")
    conf = (product["dir"] / "mosquitto.conf").read_text()
    assert f"listener {product['port']} 127.0.0.1\n" in conf
    assert f"persistence_location {product['dir']}/\n" in conf
    assert "max_queued_messages 1000000\n" in conf


def test_the_ingest_worker_and_the_simulator_are_given_the_broker_of_run(product: dict) -> None:
    credentials = product["dir"] / "credentials"
    for name in ("ingest", "simulate"):
        environ = Path(f"/proc/{product['pids'][name]}/environ").read_bytes().split(b"\0")
        assert f"MQTT_URL=mqtt://ingest@127.0.0.1:{product['port']}".encode() in environ
        assert f"MQTT_PASSWORD_FILE={credentials / 'ingest'}".encode() in environ
        assert (
            f"SIMULATOR_MQTT_URL=mqtt://simulator@127.0.0.1:{product['port']}".encode() in environ
        )
        assert not [v for v in environ if v.startswith(b"MQTT_PASSWORD=")]  # files, not values
    for user in ("ingest", "simulator"):
        assert oct((credentials / user).stat().st_mode & 0o777) == "0o600"


def test_the_notification_dispatcher_runs_beside_the_worker(product: dict) -> None:
    argv = Path(f"/proc/{product['pids']['notify']}/cmdline").read_bytes().rstrip(b"\0")
    assert argv.split(b"\0")[-1] == b"notify"
    environ = Path(f"/proc/{product['pids']['notify']}/environ").read_bytes().split(b"\0")
    assert [v for v in environ if v.startswith(b"DATABASE_URL=postgres://scada_app")]


def login(product: dict, user: str) -> tuple[str, str]:
    """The user name and password `manage.py run` made for one of the product's identities."""
    return user, (product["dir"] / "credentials" / user).read_text()


def connack(port: int, credentials: tuple[str, str] | None) -> str:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if credentials:
        client.username_pw_set(*credentials)
    answers: queue.Queue[str] = queue.Queue()
    client.on_connect = lambda c, u, f, reason, p: answers.put(str(reason))
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        return answers.get(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_broker_of_run_refuses_anonymous_clients_and_wrong_passwords(product: dict) -> None:
    assert connack(product["port"], None) == "Not authorized"
    assert connack(product["port"], ("ingest", "guessed")) == "Not authorized"
    assert connack(product["port"], login(product, "simulator")) == "Success"


def test_a_login_the_broker_of_run_refused_is_recorded_as_a_security_event(
    product: dict, run_database: str
) -> None:
    sql = "SELECT count(*) FROM plant_securityevent WHERE kind = 'mqtt_identity_refused'"
    with psycopg.connect(run_database, autocommit=True) as conn:
        before = conn.execute(sql).fetchone()[0]
        assert connack(product["port"], ("simulator", "a-wrong-guess")) == "Not authorized"
        deadline = time.monotonic() + 30  # run records what its broker logged every 2 s
        while conn.execute(sql).fetchone()[0] <= before:
            assert time.monotonic() < deadline, "the refused login was not recorded"
            time.sleep(0.2)
        source, detail = conn.execute(
            "SELECT source, detail FROM plant_securityevent WHERE kind = 'mqtt_identity_refused'"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert source == f"broker 127.0.0.1:{product['port']}"
    assert "not authorised" in detail
    assert "a-wrong-guess" not in detail  # Mosquitto does not log passwords, nor do we


def test_the_demo_flows_through_the_broker_with_its_logins(
    product: dict, run_database: str
) -> None:
    """The simulator (a device's rights) publishes, the worker (ingest) stores: samples of the
    demo plant keep arriving in the database."""
    topic = f"{product['root']}bottling/filling/filler/fill_level"
    sql = """SELECT count(*) FROM plant_sample JOIN plant_tag ON plant_tag.id = tag_id
             WHERE topic = %s AND time > now() - interval '1 hour'"""
    deadline = time.monotonic() + 60
    with psycopg.connect(run_database, autocommit=True) as conn:
        first = conn.execute(sql, [topic]).fetchone()[0]
        while (now := conn.execute(sql, [topic]).fetchone()[0]) <= first + 2:
            assert time.monotonic() < deadline, f"no new samples of {topic} in 60 s"
            time.sleep(0.5)
    assert now > first


def test_a_device_identity_added_while_run_runs_can_log_in_without_a_restart(
    product: dict, run_database: str
) -> None:
    from plant.mosquitto_auth import hash_password

    password = "added-while-running-0123"
    with psycopg.connect(run_database, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO plant_deviceidentity (plant_id, username, password_hash, topic_prefix,
                   sparkplug_group, sparkplug_node, neuron_app, enabled, description)
               SELECT id, 'late-device', %s, %s, '', '', '', true, '' FROM plant_plant
               WHERE slug = 'bottling'""",
            [hash_password(password), f"{product['root']}bottling/utilities/pump"],
        )
    deadline = time.monotonic() + 60  # run rewrites the files every 2 s and reloads the broker
    while connack(product["port"], ("late-device", password)) != "Success":
        assert time.monotonic() < deadline, "the new identity was never let in"
        time.sleep(0.5)
    pid = product["pids"]["broker"]
    assert Path(f"/proc/{pid}").exists(), "the broker was reloaded, not restarted"


def subscriber(
    port: int, client_id: str, received: list[bytes], credentials: tuple[str, str], topic: str
) -> mqtt.Client:
    """An MQTT 5 client with a persistent session (one hour) subscribed at QoS 1."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(*credentials)
    client.on_message = lambda c, userdata, message: received.append(message.payload)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.loop_start()
    client.subscribe(topic, qos=1)
    return client


def test_the_broker_of_run_keeps_more_than_a_thousand_messages_for_an_offline_worker(
    product: dict,
) -> None:
    # Debian's broker keeps 1,000 for an offline session and silently drops the rest. The
    # simulator's control topics: an identity of run's broker may both publish and read them.
    received: list[bytes] = []
    client_id = f"offline-{uuid.uuid4().hex[:6]}"
    simulator = login(product, "simulator")
    topic = f"{product['root']}_sim/lossless-{client_id}"
    client = subscriber(product["port"], client_id, received, simulator, topic)
    time.sleep(0.5)  # the SUBACK; nothing else tells a paho caller the subscription stands
    client.disconnect()
    client.loop_stop()
    publish(product["port"], [(topic, str(n)) for n in range(3000)], simulator)
    client = subscriber(product["port"], client_id, received, simulator, topic)
    deadline = time.monotonic() + 30
    while len(set(received)) < 3000 and time.monotonic() < deadline:
        time.sleep(0.1)
    client.disconnect()
    client.loop_stop()
    assert len(set(received)) == 3000


def publish(port: int, messages: list[tuple[str, str]], credentials: tuple[str, str]) -> None:
    """Publish at QoS 1 and wait for every PUBACK, each of them a success."""
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.username_pw_set(*credentials)
    refused: list[str] = []
    publisher.on_publish = lambda c, u, mid, reason, p: refused.extend(
        [str(reason)] if reason.is_failure else []
    )
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    for info in [publisher.publish(topic, payload, qos=1) for topic, payload in messages]:
        info.wait_for_publish(timeout=30)
    publisher.disconnect()
    publisher.loop_stop()
    assert refused == []


def stored_since(database: str, topic: str, first_ms: int, want: int, wait_s: float = 60) -> int:
    """How many samples of the topic have a time from first_ms on, once `want` or wait_s passed."""
    sql = """SELECT count(*) FROM plant_sample JOIN plant_tag ON plant_tag.id = tag_id
             WHERE topic = %s AND time >= to_timestamp(%s / 1000.0) AND value <= 100"""
    deadline = time.monotonic() + wait_s
    with psycopg.connect(database, autocommit=True) as conn:
        while (stored := conn.execute(sql, [topic, first_ms]).fetchone()[0]) < want:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    return stored


def test_an_ingest_worker_killed_with_sigkill_comes_back_and_stores_all_it_missed(
    product: dict, run_database: str
) -> None:
    lines: Lines = product["lines"]
    topic = f"{product['root']}bottling/utilities/energy/energy"  # the simulator's are > 100
    marker = int(time.time() * 1000) - 3_600_000
    simulator = login(product, "simulator")  # a device of the demo plant may publish it
    # Published until stored, so the worker has its session and subscription (alone, this test
    # once ran before the worker had subscribed: the broker keeps nothing for a session that
    # does not exist yet). The same time each go: stored once.
    deadline = time.monotonic() + 60
    while True:
        publish(product["port"], [(topic, json.dumps({"v": 1, "ts": marker}))], simulator)
        if stored_since(run_database, topic, marker, 1, wait_s=2) == 1:
            break
        assert time.monotonic() < deadline, "the worker stored nothing within 60 s"
    os.kill(product["pids"]["ingest"], signal.SIGKILL)
    lines.wait_for(r"^run: ingest was killed by SIGKILL .*; restarting it in 1 s$")
    # 3,000 values published while the worker is dead: Debian's broker would keep 1,000.
    first = marker + 1
    payloads = [json.dumps({"v": 100 * (n % 2), "ts": first + n}) for n in range(3000)]
    publish(product["port"], [(topic, payload) for payload in payloads], simulator)
    lines.wait_for(r"^run: started ingest \(pid \d+, restart 1\)$")
    stored = stored_since(run_database, topic, first, 3000)
    assert stored == 3000, missing_report(run_database, topic, first, 3000)


def missing_report(database: str, topic: str, first_ms: int, n: int) -> str:
    """Which of the n values (ts first_ms + i) are not stored, and what was rejected: a CI run
    stored 2,999 of 3,000 once, and said no more."""
    with psycopg.connect(database, autocommit=True) as conn:
        times = {row[0] for row in conn.execute(
            "SELECT (extract(epoch FROM time) * 1000)::bigint FROM plant_sample JOIN plant_tag "
            "ON plant_tag.id = tag_id WHERE topic = %s", [topic])}  # fmt: skip
        rejected = conn.execute(
            "SELECT reason, left(payload::text, 80) FROM plant_rejectedmessage "
            "WHERE topic = %s LIMIT 5",
            [topic],
        ).fetchall()
    missing = [first_ms + i for i in range(n) if first_ms + i not in times]
    return f"missing ts (ms): {missing[:10]} of {len(missing)}; rejected: {rejected}"


def test_a_broker_killed_with_sigkill_is_started_again_on_its_port(product: dict) -> None:
    lines: Lines = product["lines"]
    os.kill(product["pids"]["broker"], signal.SIGKILL)
    lines.wait_for(r"^run: broker \(mosquitto\) was killed by SIGKILL .*; restarting it in 1 s$")
    lines.wait_for(r"^run: started broker \(mosquitto\) \(pid \d+, restart 1\)$")
    wait_port(product["port"], timeout=10)


@pytest.fixture
def plant_broker() -> Iterator[Broker]:
    """A broker of the plant's own (private, so no worker here meets another on 1883)."""
    broker = Broker()
    broker.start()
    yield broker
    broker.close()


def test_an_explicit_mqtt_url_starts_no_broker(run_database: str, plant_broker: Broker) -> None:
    env = {**run_environment(run_database), "MQTT_URL": plant_broker.url}
    argv = [sys.executable, "manage.py", "run", "--port", str(free_port()), "--metrics-port",
            str(free_port())]  # fmt: skip
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    lines = Lines(process)
    try:
        banner = lines.wait_for(r"^  MQTT broker: (.*)$", timeout=120)[1]
    finally:
        output = stop(process, lines)
    assert banner == f"{plant_broker.url} (from MQTT_URL; no broker started)"
    assert "started broker" not in output
    assert process.returncode == 0, output
