"""Live-push latency: from the MQTT publish to the value in a websocket client's page.

    python bench/live_latency.py                          # 50 sockets, 10,000 samples/s, 30 s
    python bench/live_latency.py --clients 50 --rate 10000 --screen line
    python bench/live_latency.py --mode sockets --clients 500 --rate 1000

It starts a private Mosquitto (the shipped queue limits), a fresh database with one plant of
`--tags` tags (10 per machine, 10 machines per line), a real `manage.py ingest` worker and one
real daphne, then `--clients` websocket clients logged in with a session cookie, each on a
machine (or line, or plant) screen, spread round-robin. A paced QoS 1 publisher sends `--rate`
samples/s, each stamped with its publish time (`ts`, epoch ms). Every pushed value carries that
time (a compact frame's row, or a fragment's `data-ts`), so each client measures publish →
receive for the values it is shown.

Mode `latency` prints p50/p95/p99 over the run (after a warm-up) and what a delivered value
cost on the wire (the bytes of the pushes over the values they carried); mode `sockets` checks
that every socket stays open and keeps receiving for the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import websockets

from bench.fastpub import FastPublisher
from tests.services import ROOT, Broker, free_port, fresh_database, wait_port

DB_NAME = f"scada_bench_live_{os.getpid()}"  # two runs never share (or drop) one
ROOT_TOPIC = "bench/"
TAGS_PER_MACHINE, MACHINES_PER_LINE = 10, 10
TS_RE = re.compile(rb'data-ts="(\d+)"')
SECRET = f"bench-{uuid.uuid4().hex}"


def environment(dsn: str, broker: Broker) -> dict[str, str]:
    """Production-like settings (DEBUG off) shared by this script, daphne and the worker."""
    return {
        **os.environ,
        "DATABASE_URL": dsn,
        "MQTT_URL": broker.url,
        "MQTT_TOPIC_ROOT": ROOT_TOPIC,
        "CHANNEL_LAYER_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "DEBUG": "false",
        "SECRET_KEY": SECRET,
        "SECURE_COOKIES": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


def build_plant(tags: int) -> tuple[list[int], list[int], int]:
    """One plant of `tags` float tags; returns machine ids, line ids and the plant id."""
    from plant.models import Line, Machine, Plant, Tag

    plant = Plant.objects.create(name="Bench", slug="bench")
    machines = max(1, tags // TAGS_PER_MACHINE)
    line_count = max(1, machines // MACHINES_PER_LINE)
    lines = Line.objects.bulk_create(
        Line(plant=plant, name=f"Line {n}", slug=f"l{n}", position=n) for n in range(line_count)
    )
    made = Machine.objects.bulk_create(
        Machine(line=lines[m % line_count], name=f"M{m}", slug=f"m{m}", position=m)
        for m in range(machines)
    )
    Tag.objects.bulk_create(
        Tag(
            machine=machine,
            key=f"t{k}",
            unit="bar",
            range_min=0,
            range_max=1000,
            normal_min=100,
            normal_max=900,
            precision=1,
            topic=topic(m, k),
        )
        for m, machine in enumerate(made)
        for k in range(TAGS_PER_MACHINE)
    )
    return [m.pk for m in made], [line.pk for line in lines], plant.pk


def topic(machine: int, key: int) -> str:
    return f"{ROOT_TOPIC}bench/m{machine}/t{key}"


def session_cookie() -> str:
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_superuser("bench", password=uuid.uuid4().hex))
    return f"sessionid={client.cookies['sessionid'].value}"


def messages(tags: list[str], count: int, offset: int) -> Iterator[tuple[str, bytes]]:
    """`count` samples round-robin over the tags, each stamped with its publish time."""
    for n in range(offset, offset + count):
        yield tags[n % len(tags)], b'{"v":%d.5,"ts":%d}' % (n % 997, time.time() * 1000)


def publish(job: tuple[int, list[str], int, int, float]) -> float:
    port, tags, count, offset, rate = job
    publisher = FastPublisher(port, f"bench-live-pub-{offset}")
    started = time.perf_counter()
    publisher.publish_all(messages(tags, count, offset), rate)
    return time.perf_counter() - started


@dataclass
class Stats:
    """What the clients saw."""

    opened: int = 0
    closed_early: int = 0  # sockets that ended before the run did
    pushes: dict[int, int] = field(default_factory=dict)  # client → pushes received
    latencies_ms: list[float] = field(default_factory=list)
    frame_bytes: int = 0  # what the pushes (not the snapshots) weighed on the wire
    frames: int = 0
    ingest_ms: list[float] = field(default_factory=list)  # publish → commit, from the layer
    layer_ms: list[float] = field(default_factory=list)  # commit → a plain listener on the layer
    measuring: bool = False


async def client(n: int, url: str, cookie: str, origin: str, stats: Stats) -> None:
    headers = {"Cookie": cookie, "Origin": origin}
    async with websockets.connect(
        url,
        additional_headers=headers,
        open_timeout=60,
        max_size=None,
        ping_interval=None,
        compression=None,
    ) as ws:
        stats.opened += 1
        stats.pushes[n] = 0
        await ws.recv()  # the snapshot: values from the database, not pushes
        async for message in ws:
            received_ms = time.time() * 1000
            data = message.encode() if isinstance(message, str) else message
            if stats.measuring:
                stats.pushes[n] += 1
                stats.frames += 1
                stats.frame_bytes += len(data)
                stats.latencies_ms.extend(received_ms - ts for ts in pushed_times(data))


def pushed_times(data: bytes) -> list[int]:
    """The device times (epoch ms) of the values a push carries: a compact frame's rows and
    whole elements (hmi/live_frames.py), or an HTML push's data-ts attributes."""
    if data.startswith(b"{"):
        frame = json.loads(data)
        whole = frame.get("h", "").encode()
        return [row[3] for row in frame.get("v", ())] + [int(ts) for ts in TS_RE.findall(whole)]
    return [int(ts) for ts in TS_RE.findall(data)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["latency", "sockets"], default="latency")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10_000, help="samples/s published")
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--screen", choices=["machine", "line", "plant"], default="machine")
    parser.add_argument("--duration", type=float, default=30, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=5, help="seconds not measured")
    parser.add_argument("--ramp", type=float, default=5, help="seconds to open all sockets")
    return parser.parse_args()


async def tap(group: str, stats: Stats) -> None:
    """Listen on the values' group like a hub: publish → worker commit (`sent`) per value."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    while True:
        message = await layer.receive(channel)
        received_ms = time.time() * 1000
        if stats.measuring:
            stats.ingest_ms.extend((v["sent"] - v["ts"]) * 1000 for v in message["values"])
            stats.layer_ms.extend(received_ms - v["sent"] * 1000 for v in message["values"])


async def run_clients(
    args: argparse.Namespace, port: int, targets: list[str], cookie: str, group: str
) -> Stats:
    stats = Stats()
    origin = f"http://127.0.0.1:{port}"
    tasks = [asyncio.create_task(tap(group, stats))]
    for n in range(args.clients):  # connected over --ramp seconds, as browsers would
        url = f"ws://127.0.0.1:{port}{targets[n % len(targets)]}"
        tasks.append(asyncio.create_task(client(n, url, cookie, origin, stats)))
        await asyncio.sleep(args.ramp / args.clients)
    await asyncio.sleep(args.warmup)
    stats.measuring = True
    await asyncio.sleep(args.duration)
    stats.measuring = False
    still_open = sum(1 for task in tasks[1:] if not task.done())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stats.closed_early = args.clients - still_open
    return stats


def report(args: argparse.Namespace, stats: Stats, cpu: dict[str, float]) -> None:
    lat = stats.latencies_ms
    receiving = sum(1 for n in stats.pushes.values() if n > 0)
    print(
        f"mode={args.mode} screen={args.screen} clients={args.clients} rate={args.rate:,.0f}/s "
        f"tags={args.tags} duration={args.duration:.0f}s (after {args.warmup:.0f}s warm-up)"
    )
    print(
        f"sockets: {stats.opened} opened, {args.clients - stats.closed_early} open at the end, "
        f"{receiving} received pushes while measured"
    )
    if lat:
        print(
            f"publish -> page latency over {len(lat):,} values: p50 {percentile(lat, 50):.0f} ms, "
            f"p95 {percentile(lat, 95):.0f} ms, p99 {percentile(lat, 99):.0f} ms, "
            f"max {max(lat):.0f} ms, mean {statistics.fmean(lat):.0f} ms"
        )
        print(
            f"bytes per delivered value: {stats.frame_bytes / len(lat):,.0f} "
            f"({stats.frame_bytes / max(1, stats.frames):,.0f} bytes a frame over "
            f"{stats.frames:,} frames)"
        )
    ingest = stats.ingest_ms
    if ingest:
        print(
            f"of which publish -> worker commit (ingest): p50 {percentile(ingest, 50):.0f} ms, "
            f"p99 {percentile(ingest, 99):.0f} ms over {len(ingest):,} values"
        )
    if stats.layer_ms:
        layer = stats.layer_ms
        print(
            f"and worker commit -> a listener on the channel layer: p50 "
            f"{percentile(layer, 50):.0f} ms, p99 {percentile(layer, 99):.0f} ms"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("CPU while measured: " + ", ".join(f"{k} {v:.0%}" for k, v in cpu.items()))


def setup_django(
    env: dict[str, str], tags: int, screen: str
) -> tuple[list[str], str, list[str], str]:
    """Build the plant in the fresh database; return socket paths, a cookie and tag topics."""
    for name in (
        "DATABASE_URL",
        "DEBUG",
        "SECRET_KEY",
        "DJANGO_SETTINGS_MODULE",
        "ALLOWED_HOSTS",
        "CHANNEL_LAYER_PREFIX",
    ):
        os.environ[name] = env[name]
    import django

    django.setup()
    from plant import live
    from plant.models import Tag

    machines, lines, plant = build_plant(tags)
    ids = {"machine": machines, "line": lines, "plant": [plant]}[screen]
    topics = list(Tag.objects.order_by("pk").values_list("topic", flat=True))
    # The group the worker pushes values to: every hub's (or, before it, the plant's).
    group = getattr(live, "VALUES_GROUP", f"plant.{plant}")
    return [f"/ws/{screen}/{pk}/" for pk in ids], session_cookie(), topics, group


def start_servers(env: dict[str, str], port: int) -> list[subprocess.Popen[bytes]]:
    """One daphne and one ingest worker, logging into var/."""
    logs = Path(ROOT) / "var"
    logs.mkdir(exist_ok=True)
    daphne = Path(sys.executable).parent / "daphne"
    client_id = f"bench-live-{uuid.uuid4().hex[:6]}"
    return [
        start([str(daphne), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
              env, logs / "bench-daphne.log"),
        start([sys.executable, "manage.py", "ingest", "--client-id", client_id,
               "--metrics-port", "0"], env, logs / "bench-ingest.log"),
    ]  # fmt: skip


Screens = tuple[list[str], str, list[str], str]  # socket paths, cookie, tag topics, values group


def measure(
    args: argparse.Namespace, port: int, broker: Broker, screens: Screens, pids: dict[str, int]
) -> None:
    """Publish at the rate while the clients listen; print what they saw."""
    targets, cookie, topics, group = screens
    total = int(args.rate * (args.ramp + args.warmup + args.duration + 5))
    with multiprocessing.Pool(1) as pool:
        publisher = pool.apply_async(publish, [(broker.port, topics, total, 0, args.rate)])
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        began = time.monotonic()
        stats = asyncio.run(run_clients(args, port, targets, cookie, group))
        elapsed = time.monotonic() - began
        cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / elapsed for name, pid in pids.items()}
        publisher.wait()
    report(args, stats, cpu)


def main() -> None:
    args = parse_args()
    broker = Broker()
    broker.start()
    env = environment(fresh_database(DB_NAME), broker)
    targets, cookie, topics, group = setup_django(env, args.tags, args.screen)
    port = free_port()
    servers = start_servers(env, port)
    try:
        wait_port(port, timeout=30)
        time.sleep(3)  # the worker connects and subscribes (a new persistent session)
        pids = {"daphne": servers[0].pid, "ingest": servers[1].pid, "clients": os.getpid()}
        measure(args, port, broker, (targets, cookie, topics, group), pids)
    finally:
        for process in servers:
            process.terminate()
            process.wait(30)
        broker.close()
        drop_database()


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                    f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'],
                   check=False, stdout=subprocess.DEVNULL)  # fmt: skip


if __name__ == "__main__":
    main()
