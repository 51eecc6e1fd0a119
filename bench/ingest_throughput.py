"""Ingest throughput: publish a fixed number of messages, count the rows that arrive.

    python bench/ingest_throughput.py --messages 2400000 --mode live
    python bench/ingest_throughput.py --messages 200000 --batch 50

It starts a private Mosquitto (with the shipped queue limits) and a fresh database, creates
`--tags` tags, starts `manage.py ingest` (`--workers` of them on a shared subscription), and
publishes with `--publishers` fast QoS 1 publisher processes. Every message carries its own
timestamp, so the expected row count is exact: it prints samples/s, the samples lost, and the
redeliveries the workers recognised and skipped (a duplicate row cannot exist: the primary key
refuses it, so "duplicated" would always read 0). Modes: `live` publishes while the workers run;
`backlog` queues everything in the broker first, then measures how fast the workers drain it.

Progress is read from the workers' own counters (/metrics), not by counting rows: a `count(*)`
over millions of rows every 0.2 s loads the database being measured. Rows are counted once, at
the end. Before anything is published, each worker must have stored a probe value (so it is
connected and subscribed: a slow start is not counted as loss), and CPU is counted from then on.
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


def start_workers(
    n: int, env: dict[str, str], root: str, port: int = 9300
) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(n):
        cmd = [
            sys.executable,
            "manage.py",
            "ingest",
            "--client-id",
            f"bench-{i}",
            "--metrics-port",
            str(port + i),
        ]
        if n > 1:
            cmd += ["--share-group", "bench"]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL))
    return procs


def metric(ports: list[int], name: str) -> float:
    """The sum over the workers of one unlabelled metric (0 while a worker does not answer)."""
    total = 0.0
    for port in ports:
        try:
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
        except OSError:
            continue
        for line in page.decode().splitlines():
            if line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
    return total


def handled(ports: list[int]) -> float:
    """Samples the workers have committed or recognised as already stored."""
    return metric(ports, "scada_ingest_samples_stored_total") + metric(
        ports, "scada_ingest_deduplicated_total"
    )


def wait_handled(ports: list[int], expected: float, timeout: float) -> tuple[float, float]:
    deadline = time.monotonic() + timeout
    done = 0.0
    while time.monotonic() < deadline:
        done = handled(ports)
        if done >= expected:
            break
        time.sleep(0.2)
    return done, time.monotonic()


def probe(root: str, broker_port: int, ports: list[int], timeout: float = 60) -> float:
    """Publish a value now and then until each worker has stored one: then it is connected and
    its subscription is in place, so nothing published from now on can be missed (a new
    session gets nothing published before it subscribed). Returns the samples the workers have
    handled so far, probes only; probe values are stamped before the measured ones, so the
    final count leaves them out exactly."""
    deadline = time.monotonic() + timeout
    sent = 0
    while min(metric([p], "scada_ingest_samples_stored_total") for p in ports) < 1:
        if time.monotonic() > deadline:
            raise SystemExit("a worker did not store its probe value: is it running?")
        message = (f"{root}m0/t0", b'{"v":%d,"ts":%d}' % (sent, BASE_TS_MS - 1 - sent))
        FastPublisher(broker_port, f"bench-probe-{sent}").publish_all([message])
        sent += 1
        time.sleep(0.5)
    time.sleep(1)  # a probe still on its way is handled by now
    return handled(ports)


def count_measured(dsn: str) -> int:
    """Rows of the measured samples, leaving out the probes (stamped before BASE_TS_MS)."""
    with psycopg.connect(dsn) as conn:
        query = "SELECT count(*) FROM plant_sample WHERE time >= to_timestamp(%s / 1000.0)"
        return conn.execute(query, [BASE_TS_MS]).fetchone()[0]


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of processes, from /proc."""
    return sum(cpu_of(pids).values())


def cpu_of(pids: list[int]) -> dict[int, float]:
    """Each live process's user plus system CPU seconds (one that has exited is left out)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def backend_cpu(dsn: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving the bench database (the workers'
    pool): what storing costs the database, rollups included, beside the workers' own CPU."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
    return cpu_of([pid for (pid,) in rows])


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two snapshots; a backend that appeared meanwhile counts whole."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def latency_p99(ports: list[int]) -> str:
    """The bucket holding the 99th percentile of the workers' per-batch commit latency.

    The worker observes, per batch, commit time minus the batch's oldest sample: the worst
    message of the batch. So this is an upper bound of the per-message p99, to a bucket bound.
    """
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
            return (
                f"p99 of per-batch worst cases <= {bound * 1000:.0f} ms "
                f"over {total:.0f} batches (an upper bound of the per-message p99)"
            )
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
    parser.add_argument(
        "--database",
        default="scada_bench",
        help="name of the bench database on DATABASE_URL's server (dropped and made afresh)",
    )
    parser.add_argument(
        "--metrics-port", type=int, default=9300, help="the first worker's metrics port"
    )
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
    dsn = fresh_database(args.database, args.timescaledb)
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
    ports = [args.metrics_port + i for i in range(args.workers)]
    try:
        workers = start_workers(args.workers, env, root, args.metrics_port)
        probes = probe(root, broker.port, ports)
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
        db_before = backend_cpu(dsn)
        with multiprocessing.Pool(args.publishers) as pool:
            publish_s = max(pool.map(publish, jobs))
        print(
            f"published {args.messages} messages ({expected} samples) in {publish_s:.1f}s "
            f"= {expected / publish_s:,.0f} samples/s offered"
        )
        goal = expected + probes
        if args.mode == "backlog":
            # The restarted workers' counters start at 0; their start-up (Django, the tag
            # cache) is not the drain: time and CPU count from their first connection.
            workers = start_workers(args.workers, env, root, args.metrics_port)
            goal = expected
            while metric(ports, "scada_ingest_broker_connected") < args.workers:
                time.sleep(0.05)
            started = time.monotonic()
            cpu_before = cpu_seconds([w.pid for w in workers])
            db_before = backend_cpu(dsn)
        done, finished = wait_handled(ports, goal, timeout=600)
        elapsed = finished - started
        cpu = cpu_seconds([w.pid for w in workers]) - cpu_before
        db_cpu = cpu_since(db_before, backend_cpu(dsn))
        redelivered = metric(ports, "scada_ingest_deduplicated_total")
        time.sleep(2)
        final = count_measured(dsn)
        print(
            f"mode={args.mode} workers={args.workers} batch={args.batch} rate={args.rate:.0f} "
            f"timescaledb={args.timescaledb} tags={args.tags}"
        )
        rate = (done - (goal - expected)) / elapsed
        print(
            f"stored {final} of {expected} samples in {elapsed:.1f}s = {rate:,.0f} samples/s; "
            f"lost {max(0, expected - final)}; "
            f"redeliveries recognised and skipped {redelivered:.0f}"
        )
        # Only paced runs stamp messages with the time of publishing; the others carry fixed
        # past times (so that a redelivery is recognisable), which say nothing of latency.
        latency = latency_p99(ports) if args.rate else "n/a"
        print(
            f"ingest CPU: {cpu / elapsed:.2f} cores, its PostgreSQL backends "
            f"{db_cpu / elapsed:.2f} cores; publish-to-commit {latency}"
        )
    finally:
        for w in workers:
            w.terminate()
            w.wait(30)
        broker.close()


if __name__ == "__main__":
    main()
