"""Sparkplug B DDATA ingest: births, then DDATA of 50 metrics a message by alias, rows counted.

    python bench/sparkplug_ingest.py --messages 20000 --devices 20
    python bench/ingest_throughput.py --messages 20000 --batch 50 --tags 1000   # the JSON path

It starts a private Mosquitto and a fresh database, starts `manage.py ingest` (the Sparkplug
host on), publishes an NBIRTH and one DBIRTH per device (`--devices`, 50 Double metrics each:
discovery creates the tags), waits for the tags, then publishes `--messages` DDATA messages
(each device in turn, 50 metrics by alias, each metric with its own timestamp, seq in order)
at QoS 1 with `--publishers` processes, one edge node each. It prints the metrics stored per
second and the metrics lost. Every metric carries its own timestamp, so the expected row count
is exact. Compare with bench/ingest_throughput.py --batch 50, the JSON machine batch of the
same size.
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
from bench.ingest_throughput import BASE_TS_MS, cpu_seconds, handled, metric, wait_handled
from ingest.sparkplug import codec
from ingest.sparkplug.codec import D
from tests.services import ROOT, Broker, fresh_database

GROUP = "bench"
METRICS = 50
PORT = 9300


def births(edge: str, devices: int) -> list[tuple[str, bytes]]:
    now = int(time.time() * 1000)
    bd_seq = codec.Metric(name="bdSeq", datatype=int(D.UInt64), value=0)
    out = [(f"spBv1.0/{GROUP}/NBIRTH/{edge}", codec.encode(codec.Payload(now, (bd_seq,), seq=0)))]
    for d in range(devices):
        metrics = tuple(
            codec.Metric(name=f"m{k}", alias=k, datatype=int(D.Double), value=0.0)
            for k in range(METRICS)
        )
        payload = codec.encode(codec.Payload(now, metrics, seq=(d + 1) % 256))
        out.append((f"spBv1.0/{GROUP}/DBIRTH/{edge}/d{d}", payload))
    return out


def data(edge: str, devices: int, count: int) -> Iterator[tuple[str, bytes]]:
    """DDATA n: device n % devices, each of its metrics by alias, stamped BASE + n // devices
    ms, so every (tag, time) is new."""
    for n in range(count):
        device, round_ = n % devices, n // devices
        stamp = BASE_TS_MS + round_
        values = [(k, int(D.Double), (n + k) % 1000 + 0.25, stamp) for k in range(METRICS)]
        seq = (devices + 1 + n) % 256
        yield (f"spBv1.0/{GROUP}/DDATA/{edge}/d{device}", codec.encode_data(stamp, seq, values))


Job = tuple[int, str, int, int]


def publish(job: Job) -> float:
    port, edge, devices, count = job
    publisher = FastPublisher(port, f"bench-{edge}")
    started = time.perf_counter()
    publisher.publish_all(data(edge, devices, count))
    return time.perf_counter() - started


def tag_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM plant_tag").fetchone()[0]


def count_measured(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        # The births' values are stamped now, long after the measured window.
        query = ("SELECT count(*) FROM plant_sample WHERE time >= to_timestamp(%s / 1000.0) "
                 "AND time < to_timestamp(%s / 1000.0)")  # fmt: skip
        return conn.execute(query, [BASE_TS_MS, BASE_TS_MS + 10**9]).fetchone()[0]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="DDATA messages in all")
    parser.add_argument("--devices", type=int, default=20, help="devices per edge node")
    parser.add_argument("--publishers", type=int, default=2, help="edge nodes (processes)")
    parser.add_argument("--timescaledb", choices=["auto", "off"], default="auto")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the clean-up below
    broker = Broker()
    broker.start()
    dsn = fresh_database("scada_bench", args.timescaledb)
    env = {**os.environ, "DATABASE_URL": dsn, "MQTT_URL": broker.url, "MQTT_TOPIC_ROOT": "bench/",
           "SPARKPLUG_HOST_ID": "bench-host", "DEBUG": "false", "SECRET_KEY": "bench-only",
           "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
           "ALLOWED_HOSTS": "127.0.0.1"}  # fmt: skip
    cmd = [sys.executable, "manage.py", "ingest", "--client-id", "bench-0",
           "--metrics-port", str(PORT)]  # fmt: skip
    worker = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    edges = [f"edge{i}" for i in range(args.publishers)]
    try:
        while metric([PORT], "scada_ingest_broker_connected") < 1:
            time.sleep(0.1)
        time.sleep(0.5)  # its subscription follows the connection
        for edge in edges:
            FastPublisher(broker.port, f"birth-{edge}").publish_all(births(edge, args.devices))
        want = args.publishers * args.devices * METRICS
        deadline = time.monotonic() + 120
        while tag_count(dsn) < want:
            if time.monotonic() > deadline:
                raise SystemExit(f"discovery made {tag_count(dsn)} of {want} tags in 120 s")
            time.sleep(0.2)
        time.sleep(2.5)  # the worker's tag table refresh (2 s) has the new tags
        before = handled([PORT])
        share = args.messages // args.publishers
        jobs = [(broker.port, edge, args.devices, share) for edge in edges]
        expected = share * args.publishers * METRICS
        started = time.monotonic()
        cpu_before = cpu_seconds([worker.pid])
        with multiprocessing.Pool(args.publishers) as pool:
            publish_s = max(pool.map(publish, jobs))
        print(f"published {share * args.publishers} DDATA ({expected} metrics) in "
              f"{publish_s:.1f}s = {expected / publish_s:,.0f} metrics/s offered")  # fmt: skip
        done, finished = wait_handled([PORT], before + expected, timeout=600)
        elapsed = finished - started
        cpu = cpu_seconds([worker.pid]) - cpu_before
        time.sleep(1)
        final = count_measured(dsn)
        print(f"devices={args.devices}x{args.publishers} metrics/message={METRICS} "
              f"timescaledb={args.timescaledb} tags={want}")  # fmt: skip
        print(f"stored {final} of {expected} metrics in {elapsed:.1f}s = "
              f"{(done - before) / elapsed:,.0f} metrics/s; lost {max(0, expected - final)}; "
              f"ingest CPU {cpu / elapsed:.2f} cores")  # fmt: skip
    finally:
        worker.terminate()
        worker.wait(30)
        broker.close()


if __name__ == "__main__":
    main()
