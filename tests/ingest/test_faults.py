"""Nothing is lost when the worker, the database or the broker goes down under load.

These start their own PostgreSQL cluster and Mosquitto broker on spare ports, so stopping them
disturbs nothing else, and run `manage.py ingest` as a real process.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bench.fastpub import FastPublisher
from tests.services import ROOT, Broker, Postgres
from tests.sockets import drained
from tests.waiting import run_until

# Each test's waits add up to several minutes on a loaded machine: more than the default timeout.
pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]
TOPIC_ROOT = "fault/"
TAGS = ["fill_level", "tank_level", "flow_rate", "methane"]
BASE_TS = 1_790_000_000_000


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    pg = Postgres()
    pg.start()
    env = {**os.environ, "DATABASE_URL": pg.url, "MQTT_TOPIC_ROOT": TOPIC_ROOT}
    for command in (["migrate", "-v0"], ["load_demo", "--no-users"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    yield pg
    pg.close()


@pytest.fixture
def broker() -> Iterator[Broker]:
    broker = Broker()
    broker.start()
    yield broker
    broker.close()


class WorkerProcess:
    """`manage.py ingest` as a child process with a fixed client id."""

    def __init__(self, postgres: Postgres, broker: Broker, log: Path) -> None:
        # DB_POOL_TIMEOUT 1 s, not 10: during an outage each part of a turn waits that long
        # for a connection before it pauses, and a turn at 10 s a part took over a minute.
        self.env = {**os.environ, "DATABASE_URL": postgres.url, "MQTT_URL": broker.url,
                    "MQTT_TOPIC_ROOT": TOPIC_ROOT, "DB_POOL_TIMEOUT": "1"}  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = log

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "ingest", "--client-id", "fault-test",
                 "--metrics-port", "0"],
                cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip

    def logged(self) -> str:
        """What the worker has logged so far (all its starts)."""
        return self.log.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(90)

    def pause(self) -> None:
        """Freeze the worker (SIGSTOP): it takes nothing more until `resume`."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def worker(postgres: Postgres, broker: Broker, tmp_path: Path) -> Iterator[WorkerProcess]:
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("TRUNCATE plant_sample, plant_rejectedmessage")
    process = WorkerProcess(postgres, broker, tmp_path / "ingest.log")
    process.start()
    try:
        # A stored probe proves the worker's session and subscription exist before the load.
        probe = f"{TOPIC_ROOT}bottling/gas/detector/h2s"
        run_until(
            lambda: count_rows(postgres, "h2s") > 0,
            lambda: FastPublisher(broker.port, "probe").publish_all([(probe, b"1")]) and wait(0.2),
            timeout=90,
        )
        yield process
    finally:  # also when the probe failed: no worker may outlive its test
        if process.proc and process.proc.poll() is None:
            process.kill(signal.SIGKILL)  # a stopped (paused) process dies of SIGKILL too


def wait(seconds: float) -> None:
    threading.Event().wait(seconds)


def count_rows(postgres: Postgres, *keys: str) -> int:
    """Stored samples of the load's tags (or of `keys`); -1 while the database is down."""
    try:
        with psycopg.connect(postgres.url, connect_timeout=2) as conn:
            return conn.execute(
                "SELECT count(*) FROM plant_sample s JOIN plant_tag t ON t.id = s.tag_id "
                "WHERE t.key = ANY(%s)",
                [list(keys or TAGS)],
            ).fetchone()[0]
    except psycopg.OperationalError:
        return -1


def load(n: int) -> Iterator[tuple[str, bytes]]:
    """n messages over four tags, each with its own timestamp: the expected rows are exact."""
    for i in range(n):
        tag = TAGS[i % len(TAGS)]
        machine = "detector" if tag == "methane" else "filler"
        line = "gas" if tag == "methane" else "filling"
        topic = f"{TOPIC_ROOT}bottling/{line}/{machine}/{tag}"
        yield topic, b'{"v":%d,"ts":%d}' % (i % 50, BASE_TS + 1 + i // len(TAGS))


def publish_in_background(broker: Broker, n: int) -> threading.Thread:
    thread = threading.Thread(
        target=lambda: FastPublisher(broker.port, "load", window=500).publish_all(load(n))
    )
    thread.start()
    return thread


def test_a_worker_killed_mid_stream_loses_and_duplicates_nothing(
    postgres: Postgres, broker: Broker, worker: WorkerProcess
) -> None:
    publisher = publish_in_background(broker, 30_000)
    run_until(lambda: count_rows(postgres) > 3_000, timeout=120)
    worker.kill(signal.SIGKILL)
    stored_at_kill = count_rows(postgres)
    publisher.join(120)
    worker.start()
    run_until(lambda: count_rows(postgres) >= 30_000, timeout=240)
    assert stored_at_kill < 30_000  # the kill did land mid-stream
    assert count_rows(postgres) == 30_000


def test_the_database_stopped_under_load_loses_nothing(
    postgres: Postgres, broker: Broker, worker: WorkerProcess
) -> None:
    stopped = threading.Event()

    def stream() -> Iterator[tuple[str, bytes]]:
        """The load, whose last 10,000 messages wait for the database to be down."""
        for i, message in enumerate(load(30_000)):
            if i == 20_000:
                stopped.wait(120)
            yield message

    # Paced (5,000 a second), so the worker is taking a stream, not a finished backlog.
    publisher = FastPublisher(broker.port, "load", window=500)
    thread = threading.Thread(target=publisher.publish_all, args=(stream(), 5_000))
    thread.start()
    run_until(lambda: count_rows(postgres) > 3_000, timeout=120)
    postgres.stop("immediate")
    accepted_at_stop = publisher.acked
    stopped.set()
    thread.join(120)  # the broker takes all of it meanwhile
    # Mid-stream: at least 10,000 messages reached the broker only after the database was
    # down, so none of them was stored before it; they must all be there after it.
    assert 3_000 < accepted_at_stop <= 20_000
    assert publisher.acked == 30_000
    # The database stays down until the worker has found it gone with messages in hand (its
    # pool waits DB_POOL_TIMEOUT before it gives up on a connection): the outage reaches the
    # code that holds and retries, not only a connection that waits.
    held = run_until(lambda: holding(worker), timeout=120)
    assert held > 0
    postgres.start()
    run_until(lambda: count_rows(postgres) >= 30_000, timeout=240)
    assert count_rows(postgres) == 30_000
    assert worker.proc is not None and worker.proc.poll() is None  # it rode it out


def test_the_broker_restarted_loses_nothing_it_had_accepted(
    postgres: Postgres, broker: Broker, worker: WorkerProcess
) -> None:
    messages = list(load(20_000))
    FastPublisher(broker.port, "load").publish_all(messages[:2_000])
    run_until(lambda: count_rows(postgres) > 0, timeout=120)  # the worker is taking them
    # Frozen, the worker takes nothing more: whatever its speed, the broker holds a backlog of
    # at least 18,000 accepted messages (and some in flight to the worker) when it restarts.
    worker.pause()
    FastPublisher(broker.port, "load").publish_all(messages[2_000:])  # all accepted (PUBACK)
    stored_before_restart = count_rows(postgres)
    broker.stop()
    broker.start()
    worker.resume()
    run_until(lambda: count_rows(postgres) >= 20_000, timeout=240)
    assert stored_before_restart <= 2_000
    assert count_rows(postgres) == 20_000


def test_sigterm_commits_and_acknowledges_the_batch_in_hand_and_exits(
    postgres: Postgres, broker: Broker, worker: WorkerProcess
) -> None:
    messages = list(load(501))
    with psycopg.connect(postgres.url) as lock:
        # The worker blocks on the samples table, so what the broker sends next waits in the
        # worker's hand, received and not yet stored: its first batch's COPY (one message)
        # waits for the lock, or, if one is due first, a derived job's read of the samples
        # does, and the COPY comes once it is through.
        lock.execute("LOCK TABLE plant_sample IN ACCESS EXCLUSIVE MODE")
        FastPublisher(broker.port, "load").publish_all(messages[:1])
        run_until(lambda: waits_on_lock(postgres), timeout=60)
        FastPublisher(broker.port, "load").publish_all(messages[1:])  # all accepted (PUBACK)
        run_until(lambda: drained(broker.port), timeout=60)
        assert worker.proc is not None
        worker.proc.send_signal(signal.SIGTERM)
    # The lock is gone (rolled back): the blocked batch commits, then the worker stops.
    worker.proc.wait(90)
    assert worker.proc.returncode == 0
    # No worker runs and none will: these rows are what the stopping worker committed, the
    # 500 it held included. A worker that left without them would have stored 1.
    assert count_rows(postgres) == 501
    # ...and acknowledged: its session at the broker holds nothing to send again.
    assert session_backlog(broker, "fault-test") == []


def holding(worker: WorkerProcess) -> int:
    """The most messages the worker said it held unacknowledged while the database was gone."""
    found = re.findall(r"database unavailable .*: holding (\d+) messages", worker.logged())
    return max(map(int, found), default=0)


def waits_on_lock(postgres: Postgres) -> bool:
    """Whether a statement of the worker on the samples table waits for a lock."""
    with psycopg.connect(postgres.url) as conn:
        return bool(conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database() AND query ILIKE '%plant_sample%'"
        ).fetchone()[0])  # fmt: skip


def session_backlog(broker: Broker, client_id: str) -> list[str]:
    """Take over a client's persistent session and return the telemetry the broker sends it
    again before a marker published afterwards (QoS 1 keeps the order)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    marker = f"{TOPIC_ROOT}bottling/gas/detector/h2s"
    got: list[str] = []
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)  # fmt: skip

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == marker and msg.payload == b"marker":
            done.set()
        elif msg.topic.startswith(TOPIC_ROOT) and not msg.topic.endswith("/set"):
            # The load's telemetry only: its own setpoint writes (the gas alarm's emergency
            # writes of the final turn) come back on its subscription after its last read, and
            # its other subscriptions ($SYS, Sparkplug's STATE) are no telemetry of the load.
            got.append(f"{msg.topic} {msg.payload!r}")

    client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 60
    client.connect("127.0.0.1", broker.port, clean_start=False, properties=properties)
    client.loop_start()
    try:
        FastPublisher(broker.port, "marker").publish_all([(marker, b"marker")])
        assert done.wait(30), "the marker never came: the session has no subscription"
    finally:
        client.disconnect()
        client.loop_stop()
    return got
