"""Ingest throughput: publish a fixed number of messages, count the rows that arrive.

    python bench/ingest_throughput.py --messages 2400000 --mode live
    python bench/ingest_throughput.py --messages 200000 --batch 50

It starts a private Mosquitto (with the shipped queue limits) and a fresh database, creates
`--tags` tags, starts `manage.py ingest` (`--workers` of them on a shared subscription), and
publishes with `--publishers` fast QoS 1 publisher processes. Every message carries its own
timestamp, so the expected row count is exact: it prints samples/s, lost and duplicated.
Modes: `live` publishes while the workers run; `backlog` queues everything in the broker
first, then measures how fast the workers drain it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fastpub import FastPublisher
from tests.services import ROOT, Broker, fresh_database

BASE_TS_MS = 1_790_000_000_000  # a fixed past instant; sample i of a tag is BASE + i ms


def create_tags(dsn: str, count: int, root: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO plant_plant (name, slug, time_zone, description) "
            "VALUES ('Bench', 'bench', 'UTC', '')"
        )
        conn.execute(
            "INSERT INTO plant_line (plant_id, name, slug, position, description) "
            "SELECT id, 'L', 'l', 0, '' FROM plant_plant"
        )
        machines = max(1, count // 50)
        for m in range(machines):
            conn.execute(
                "INSERT INTO plant_machine (line_id, name, slug, position, description) "
                "SELECT id, %s, %s, 0, '' FROM plant_line",
                [f"m{m}", f"m{m}"],
            )
        conn.execute(
            """INSERT INTO plant_tag (machine_id, key, description, data_type, unit, precision,
               true_label, false_label, topic, expected_interval_s, deadband, heartbeat_s,
               writable, readback_tolerance)
               SELECT m.id, 't' || g, '', 'float', '', 2, '', '', %s || m.slug || '/t' || g,
                      30, 0, 300, false, 0
               FROM plant_machine m, generate_series(0, 49) g""",
            [root],
        )


def messages(
    root: str,
    first: int,
    last: int,
    tags: int,
    per_msg: int,
    machines: int,
    stamp_now: tuple[int, int] | None,
) -> Iterator[tuple[str, bytes]]:
    """Message n: one value of tag n % tags, or a batch of 50 values of machine n % machines.

    With `stamp_now` = (publisher, publishers), each value carries the time of publishing, so
    the worker's latency metric is real, and each publisher has tags of its own, so that two
    publishers never stamp one tag with the same millisecond.
    """
    for n in range(first, last):
        if per_msg == 1 and stamp_now:
            index, count = stamp_now
            tag = n % (tags // count) * count + index
            yield (
                f"{root}m{tag // 50}/t{tag % 50}",
                b'{"v":%d.5,"ts":%d}' % (n % 1000, time.time() * 1000),
            )
        elif per_msg == 1:
            tag = n % tags
            yield (
                f"{root}m{tag // 50}/t{tag % 50}",
                b'{"v":%d.5,"ts":%d}' % (n % 1000, BASE_TS_MS + n // tags),
            )
        else:
            values = ",".join(f'"t{k}":{(n + k) % 1000}.25' for k in range(per_msg))
            yield (
                f"{root}m{n % machines}",
                b'{"ts":%d,"values":{%s}}' % (BASE_TS_MS + n // machines, values.encode()),
            )


Job = tuple[str, int, int, int, int, int, int, float, int, int]


def publish(job: Job) -> float:
    """One publisher process: its share of the messages, as fast as QoS 1 allows or paced."""
    root, port, first, last, tags, per_msg, machines, rate, index, count = job
    publisher = FastPublisher(port, f"bench-pub-{first}")
    stamp = (index, count) if rate else None
    started = time.perf_counter()
    publisher.publish_all(messages(root, first, last, tags, per_msg, machines, stamp), rate)
    return time.perf_counter() - started


def start_workers(n: int, env: dict[str, str], root: str) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(n):
        cmd = [
            sys.executable,
            "manage.py",
            "ingest",
            "--client-id",
            f"bench-{i}",
            "--metrics-port",
            str(9300 + i),
        ]
        if n > 1:
            cmd += ["--share-group", "bench"]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL))
    return procs


def count_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM plant_sample").fetchone()[0]


def wait_rows(dsn: str, expected: int, timeout: float) -> tuple[int, float]:
    deadline = time.monotonic() + timeout
    rows = 0
    while time.monotonic() < deadline:
        rows = count_rows(dsn)
        if rows >= expected:
            break
        time.sleep(0.2)
    return rows, time.monotonic()


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of processes, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def latency_p99(ports: list[int]) -> str:
    """The bucket holding the 99th percentile of the workers' per-batch commit latency."""
    buckets: dict[float, float] = {}
    for port in ports:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        for line in text.splitlines():
            if line.startswith("scada_ingest_commit_latency_seconds_bucket"):
                bound = line.split('le="')[1].split('"')[0]
                key = float("inf") if bound == "+Inf" else float(bound)
                buckets[key] = buckets.get(key, 0) + float(line.rsplit(" ", 1)[1])
    total = buckets.get(float("inf"), 0)
    for bound in sorted(buckets):
        if total and buckets[bound] >= 0.99 * total:
            return f"p99 <= {bound * 1000:.0f} ms over {total:.0f} batches"
    return "no batches"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600_000)
    parser.add_argument("--batch", type=int, default=1, help="values per message (1 or 50)")
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--publishers", type=int, default=0, help="publisher processes (default 2; paced: 1)"
    )
    parser.add_argument("--mode", choices=["live", "backlog"], default="live")
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="steady messages/s in all (shared by the publishers, each value stamped with "
        "its publish time); 0: as fast as possible",
    )
    parser.add_argument("--timescaledb", choices=["auto", "off"], default="auto")
    args = parser.parse_args()
    if args.rate:
        args.mode = "live"
    args.publishers = args.publishers or (1 if args.rate else 2)
    return args


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the clean-up below
    broker = Broker()
    broker.start()
    dsn = fresh_database("scada_bench", args.timescaledb)
    root = "bench/bench/l/"
    create_tags(dsn, args.tags, root)
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "MQTT_URL": broker.url,
        "MQTT_TOPIC_ROOT": "bench/",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    machines = max(1, args.tags // 50)
    expected = args.messages * args.batch
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers = start_workers(args.workers, env, root)
        time.sleep(2)  # let each worker connect and subscribe (a persistent session)
        if args.mode == "backlog":
            for w in workers:
                w.terminate()
                w.wait()
        share = args.messages // args.publishers
        jobs = [
            (
                root,
                broker.port,
                i * share,
                (i + 1) * share if i < args.publishers - 1 else args.messages,
                args.tags,
                args.batch,
                machines,
                args.rate / args.publishers,
                i,
                args.publishers,
            )
            for i in range(args.publishers)
        ]
        started = time.monotonic()
        cpu_before = cpu_seconds([w.pid for w in workers]) if args.mode == "live" else 0.0
        with multiprocessing.Pool(args.publishers) as pool:
            publish_s = max(pool.map(publish, jobs))
        print(
            f"published {args.messages} messages ({expected} samples) in {publish_s:.1f}s "
            f"= {expected / publish_s:,.0f} samples/s offered"
        )
        if args.mode == "backlog":
            started = time.monotonic()
            workers = start_workers(args.workers, env, root)
        rows, finished = wait_rows(dsn, expected, timeout=600)
        elapsed = finished - started
        cpu = cpu_seconds([w.pid for w in workers]) - cpu_before
        time.sleep(2)
        final = count_rows(dsn)
        print(
            f"mode={args.mode} workers={args.workers} batch={args.batch} rate={args.rate:.0f} "
            f"timescaledb={args.timescaledb} tags={args.tags}"
        )
        print(
            f"stored {final} of {expected} samples in {elapsed:.1f}s = "
            f"{rows / elapsed:,.0f} samples/s; lost {max(0, expected - final)}, "
            f"duplicated {max(0, final - expected)}"
        )
        # Only paced runs stamp messages with the time of publishing; the others carry fixed
        # past times (so that a redelivery is recognisable), which say nothing of latency.
        latency = latency_p99([9300 + i for i in range(args.workers)]) if args.rate else "n/a"
        print(f"ingest CPU: {cpu / elapsed:.2f} cores; publish-to-commit {latency}")
    finally:
        for w in workers:
            w.terminate()
            w.wait(30)
        broker.close()


if __name__ == "__main__":
    main()
