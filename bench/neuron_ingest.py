"""EMQX Neuron values-format ingest: uploads of 50 tags a message, rows counted.

    python bench/neuron_ingest.py --messages 20000 --nodes 20
    python bench/ingest_throughput.py --messages 20000 --batch 50 --tags 1000   # the JSON path
    python bench/sparkplug_ingest.py --messages 20000 --devices 20              # Sparkplug B

It starts a private Mosquitto and a fresh database, makes `--nodes` machines of 50 tags each
and maps them onto one Neuron gateway (app "bench", south node m<i>, group "grp", the tag's key
as Neuron's tag name), starts `manage.py ingest`, then publishes `--messages` values-format
uploads (https://docs.emqx.com/en/neuron/v2.10/configuration/north-apps/mqtt/api.html) on
/neuron/bench/m<i>/grp, each node in turn, every upload stamped a new millisecond, at QoS 1
with `--publishers` processes. It prints the values stored per second and the values lost:
every (tag, timestamp) is new, so the expected row count is exact. Compare with the JSON
machine batch of the same size (bench/ingest_throughput.py --batch 50) and Sparkplug's DDATA.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fastpub import FastPublisher
from bench.ingest_throughput import (
    BASE_TS_MS,
    count_measured,
    cpu_seconds,
    create_tags,
    handled,
    metric,
    wait_handled,
)
from ingest.neuron.codec import encode_upload_values
from tests.services import ROOT, Broker, fresh_database

APP = "bench"
TAGS = 50
PORT = 9310


def map_tags(dsn: str) -> None:
    """One gateway; each machine a south node, each tag a Neuron tag of group grp."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO plant_neurongateway (app, plant_id, write_request_topic, "
            "write_response_topic, status_topic) SELECT %s, id, '', '', '' FROM plant_plant",
            [APP],
        )
        conn.execute(
            """INSERT INTO plant_neurontag (gateway_id, node, "group", name, tag_id)
               SELECT g.id, m.slug, 'grp', t.key, t.id
               FROM plant_tag t JOIN plant_machine m ON m.id = t.machine_id
               CROSS JOIN plant_neurongateway g"""
        )


def uploads(start: int, nodes: int, count: int) -> Iterator[tuple[str, bytes]]:
    """Upload n (from `start`): node n % nodes, its 50 tags, stamped BASE + n // nodes ms."""
    for n in range(start, start + count):
        node, round_ = n % nodes, n // nodes
        values: dict[str, float | int | bool | str] = {
            f"t{k}": (n + k) % 1000 + 0.25 for k in range(TAGS)
        }
        payload = encode_upload_values(f"m{node}", "grp", BASE_TS_MS + round_, values, {})
        yield f"/neuron/{APP}/m{node}/grp", payload


Job = tuple[int, int, int, int]


def publish(job: Job) -> float:
    port, start, nodes, count = job
    publisher = FastPublisher(port, f"bench-neuron-{start}")
    started = time.perf_counter()
    publisher.publish_all(uploads(start, nodes, count))
    return time.perf_counter() - started


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="uploads in all")
    parser.add_argument("--nodes", type=int, default=20, help="south nodes (50 tags each)")
    parser.add_argument("--publishers", type=int, default=2, help="publishing processes")
    parser.add_argument("--timescaledb", choices=["auto", "off"], default="auto")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the clean-up below
    broker = Broker()
    broker.start()
    dsn = fresh_database("scada_bench_neuron", args.timescaledb)  # not the other benches'
    create_tags(dsn, args.nodes * TAGS, "bench/")
    map_tags(dsn)
    env = {**os.environ, "DATABASE_URL": dsn, "MQTT_URL": broker.url, "MQTT_TOPIC_ROOT": "bench/",
           "DEBUG": "false", "SECRET_KEY": "bench-only", "ALLOWED_HOSTS": "127.0.0.1",
           "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")}  # fmt: skip
    cmd = [sys.executable, "manage.py", "ingest", "--client-id", "bench-0",
           "--metrics-port", str(PORT)]  # fmt: skip
    worker = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        while metric([PORT], "scada_ingest_broker_connected") < 1:
            time.sleep(0.1)
        time.sleep(0.5)  # its subscription follows the connection
        before = handled([PORT])
        share = args.messages // args.publishers
        # Each publisher a contiguous run of rounds: every (node, round) once in all.
        jobs = [(broker.port, p * share, args.nodes, share) for p in range(args.publishers)]
        expected = share * args.publishers * TAGS
        started = time.monotonic()
        cpu_before = cpu_seconds([worker.pid])
        with multiprocessing.Pool(args.publishers) as pool:
            publish_s = max(pool.map(publish, jobs))
        print(f"published {share * args.publishers} uploads ({expected} values) in "
              f"{publish_s:.1f}s = {expected / publish_s:,.0f} values/s offered")  # fmt: skip
        done, finished = wait_handled([PORT], before + expected, timeout=600)
        elapsed = finished - started
        cpu = cpu_seconds([worker.pid]) - cpu_before
        time.sleep(1)
        final = count_measured(dsn)
        print(f"nodes={args.nodes} values/message={TAGS} timescaledb={args.timescaledb} "
              f"tags={args.nodes * TAGS}")  # fmt: skip
        print(f"stored {final} of {expected} values in {elapsed:.1f}s = "
              f"{(done - before) / elapsed:,.0f} values/s; lost {max(0, expected - final)}; "
              f"ingest CPU {cpu / elapsed:.2f} cores")  # fmt: skip
    finally:
        worker.terminate()
        worker.wait(30)
        broker.close()


if __name__ == "__main__":
    main()
