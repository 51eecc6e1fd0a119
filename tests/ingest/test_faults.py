"""Nothing is lost when the worker, the database or the broker goes down under load.

These start their own PostgreSQL cluster and Mosquitto broker on spare ports, so stopping them
disturbs nothing else, and run `manage.py ingest` as a real process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import psycopg
import pytest

from bench.fastpub import FastPublisher
from tests.services import ROOT, Broker, Postgres
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

    def __init__(self, postgres: Postgres, broker: Broker) -> None:
        self.env = {**os.environ, "DATABASE_URL": postgres.url, "MQTT_URL": broker.url,
                    "MQTT_TOPIC_ROOT": TOPIC_ROOT}  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "ingest", "--client-id", "fault-test",
             "--metrics-port", "0"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

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
def worker(postgres: Postgres, broker: Broker) -> Iterator[WorkerProcess]:
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("TRUNCATE plant_sample, plant_rejectedmessage")
    process = WorkerProcess(postgres, broker)
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
    publisher = publish_in_background(broker, 30_000)
    run_until(lambda: count_rows(postgres) > 3_000, timeout=120)
    postgres.stop("immediate")
    publisher.join(120)  # the broker takes all of it meanwhile
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


def test_sigterm_commits_the_batch_in_hand_and_exits(
    postgres: Postgres, broker: Broker, worker: WorkerProcess
) -> None:
    FastPublisher(broker.port, "load").publish_all(load(5_000))
    run_until(lambda: count_rows(postgres) > 0, timeout=120)
    worker.kill(signal.SIGTERM)
    assert worker.proc is not None and worker.proc.returncode == 0
    stored = count_rows(postgres)
    worker.start()
    run_until(lambda: count_rows(postgres) >= 5_000, timeout=120)
    assert count_rows(postgres) == 5_000 and stored >= 1
