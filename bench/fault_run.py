"""Fault run: steady load while the worker, the broker, PostgreSQL and Redis fail, twice each.

    python bench/fault_run.py                       # 20,000 samples/s, 2 rounds (about 5 min)
    python bench/fault_run.py --rate 5000 --rounds 1

Everything is private and on 127.0.0.1: a PostgreSQL cluster, a Mosquitto with the shipped
configuration, a Redis, one `manage.py ingest` and one daphne (production settings), and the
demo plant. Devices are played by a QoS 1 publisher that behaves as real ones must: it keeps
every message until the broker acknowledges it and sends it again after a reconnect. Every
message carries its own time, unique per tag, so the count of stored rows says exactly what
was lost (fewer) or duplicated (more). A websocket client watches the filler's machine screen
through every fault and reconnects like the browser does. The plant is `--tags` float tags,
10 per machine (bench/live_latency.py builds it).

Each round: SIGKILL the worker (restarted 3 s later), restart the broker, restart PostgreSQL
(fast shutdown), stop Redis for 30 s; with `--settle` seconds of steady load after each. At
the end it prints, per fault, how long until the screen showed current values again, and the
totals: published, stored, lost, duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import psycopg
import websockets

from bench.fastpub import _packet, _utf8
from bench.live_latency import Screens, setup_django
from tests.services import ROOT, Broker, Postgres, Redis, free_port, wait_port

TOPIC_ROOT = "bench/"  # the topics bench/live_latency.py gives its plant
TS_RE = re.compile(rb'data-ts="(\d+)"')
SECRET = f"bench-{uuid.uuid4().hex}"
CURRENT_MS = 2_000  # a pushed value at most this old is "current"


class ReconnectingPublisher:
    """QoS 1 devices on one raw MQTT 3.1.1 connection that survives broker restarts.

    A message stays in `in_flight` until its PUBACK; after a reconnect all of them are sent
    again (DUP), which is what the MQTT contract asks of a device. The window bounds them.
    """

    def __init__(self, port: int, topics: list[str], window: int = 20_000) -> None:
        self.port, self.topics, self.window = port, topics, window
        self.in_flight: dict[int, bytes] = {}  # packet id -> PUBLISH packet
        self.lock = threading.Condition()
        self.sock: socket.socket | None = None
        self.published = 0
        self.reconnects = 0
        self.last_ts: dict[int, int] = {}
        self.stopping = False

    def _connect(self) -> None:
        while not self.stopping:
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                body = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60)
                sock.sendall(_packet(0x10, body + _utf8(f"fault-pub-{uuid.uuid4().hex[:6]}")))
                if sock.recv(4)[:1] == b"\x20":
                    sock.settimeout(None)
                    self.sock = sock
                    threading.Thread(target=self._read, args=(sock,), daemon=True).start()
                    with self.lock:
                        again = [b"\x3a" + p[1:] for p in self.in_flight.values()]  # DUP
                    sock.sendall(b"".join(again))
                    return
                sock.close()
            except OSError:
                pass
            time.sleep(0.1)

    def _read(self, sock: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                return
            buffer += chunk
            whole = len(buffer) // 4 * 4  # every PUBACK is 4 bytes: 0x40 0x02 id id
            with self.lock:
                for at in range(0, whole, 4):
                    self.in_flight.pop(buffer[at + 2] << 8 | buffer[at + 3], None)
                self.lock.notify_all()
            buffer = buffer[whole:]

    def _message(self, n: int) -> tuple[int, bytes]:
        tag = n % len(self.topics)
        ts = max(int(time.time() * 1000), self.last_ts.get(tag, 0) + 1)  # unique per tag
        self.last_ts[tag] = ts
        packet_id = n % 65535 + 1
        body = _utf8(self.topics[tag]) + struct.pack("!H", packet_id)
        return packet_id, _packet(0x32, body + b'{"v":%d.5,"ts":%d}' % (n % 997, ts))

    def run(self, rate: float, duration: float) -> None:
        """Publish at `rate` for `duration` seconds, then wait for every PUBACK."""
        self._connect()
        started, n, out = time.monotonic(), 0, []
        while time.monotonic() - started < duration:
            due = int((time.monotonic() - started) * rate)
            while n < due:
                with self.lock:
                    while len(self.in_flight) >= self.window:
                        self.lock.wait(0.1)
                    packet_id, packet = self._message(n)
                    self.in_flight[packet_id] = packet
                out.append(packet)
                n += 1
                if len(out) >= 200:
                    self._send(b"".join(out))
                    out.clear()
            self._send(b"".join(out))
            out.clear()
            time.sleep(0.005)
        self.published = n
        self._drain()

    def _send(self, data: bytes) -> None:
        if not data:
            return
        try:
            assert self.sock is not None
            self.sock.sendall(data)
        except OSError:
            self.reconnects += 1
            self._connect()  # resends everything unacknowledged, this data included

    def _drain(self) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with self.lock:
                if not self.in_flight:
                    return
                self.lock.wait(1.0)
            if self.sock is None or self.sock.fileno() < 0:
                self._connect()
        raise RuntimeError(f"{len(self.in_flight)} messages never acknowledged by the broker")


@dataclass
class Screen:
    """What the websocket client saw: (arrival epoch ms, newest data-ts in the frame)."""

    frames: list[tuple[float, int]] = field(default_factory=list)
    connects: int = 0

    def current_after(self, at_ms: float) -> float | None:
        """Seconds from `at_ms` to the first frame whose newest value was current."""
        for arrived, newest in self.frames:
            if arrived >= at_ms and arrived - newest <= CURRENT_MS:
                return (arrived - at_ms) / 1000
        return None


async def watch(url: str, cookie: str, origin: str, screen: Screen, stop: asyncio.Event) -> None:
    """Keep a machine screen open like a browser tab does: reconnect, resync, listen."""
    while not stop.is_set():
        try:
            async with websockets.connect(url, additional_headers={"Cookie": cookie,
                                          "Origin": origin}, open_timeout=10, max_size=None,
                                          ping_interval=None) as ws:  # fmt: skip
                screen.connects += 1
                while not stop.is_set():
                    try:
                        message = await asyncio.wait_for(ws.recv(), timeout=0.5)
                    except TimeoutError:
                        continue
                    data = message.encode() if isinstance(message, str) else message
                    stamps = [int(ts) for ts in TS_RE.findall(data)]
                    if stamps:
                        screen.frames.append((time.time() * 1000, max(stamps)))
        except (OSError, websockets.WebSocketException, TimeoutError):
            await asyncio.sleep(0.5)


class Plant:
    """The product's processes on private services, each restartable."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.pg, self.broker, self.redis = Postgres(), Broker(), Redis()
        self.web_port = free_port()
        self.logs = Path(ROOT) / "var"
        self.logs.mkdir(exist_ok=True)
        self.worker: subprocess.Popen[bytes] | None = None
        self.web: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}
        self.tags = args.tags
        self.screens: Screens = ([], "", [], "")

    def start(self) -> None:
        for service in (self.pg, self.broker, self.redis):
            service.start()
        self.env = {
            **os.environ, "DATABASE_URL": self.pg.url, "MQTT_URL": self.broker.url,
            "REDIS_URL": self.redis.url, "MQTT_TOPIC_ROOT": TOPIC_ROOT, "DEBUG": "false",
            "SECRET_KEY": SECRET, "SECURE_COOKIES": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
            "CHANNEL_LAYER_PREFIX": f"fault-{uuid.uuid4().hex[:8]}",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }  # fmt: skip
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env,
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        self.screens = setup_django(self.env, self.tags, "machine")
        self.start_worker()
        daphne = Path(sys.executable).parent / "daphne"
        self.web = self._spawn([str(daphne), "-b", "127.0.0.1", "-p", str(self.web_port),
                                "config.asgi:application"], "fault-daphne.log")  # fmt: skip
        wait_port(self.web_port, timeout=30)

    def _spawn(self, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.logs / log).open("ab") as output:
            return subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=output,
                                    stderr=subprocess.STDOUT)  # fmt: skip

    def start_worker(self) -> None:
        self.worker = self._spawn(
            [
                sys.executable,
                "manage.py",
                "ingest",
                "--client-id",
                "fault-run",
                "--metrics-port",
                "0",
            ],
            "fault-ingest.log",
        )

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(30)
        time.sleep(3)
        self.start_worker()

    def restart_broker(self) -> None:
        self.broker.stop()
        self.broker.start()

    def restart_postgres(self) -> None:
        self.pg.stop("fast")
        self.pg.start()

    def stop_redis(self, seconds: float) -> None:
        self.redis.stop()
        time.sleep(seconds)
        self.redis.start()

    def query(self, sql: str) -> list[tuple[object, ...]]:
        for _ in range(60):
            try:
                with psycopg.connect(self.pg.url, connect_timeout=2) as conn:
                    return conn.execute(sql).fetchall()
            except psycopg.OperationalError:
                time.sleep(1)
        raise RuntimeError("the private PostgreSQL does not answer")

    def close(self) -> None:
        for process in (self.worker, self.web):
            if process and process.poll() is None:
                process.terminate()
                process.wait(30)
        for service in (self.redis, self.broker, self.pg):
            service.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20_000, help="samples/s published")
    parser.add_argument("--rounds", type=int, default=2, help="each fault this many times")
    parser.add_argument("--settle", type=float, default=20, help="seconds of load between faults")
    parser.add_argument("--redis-down", type=float, default=30, help="seconds Redis stays down")
    parser.add_argument("--tags", type=int, default=1000)
    return parser.parse_args()


def faults(plant: Plant, args: argparse.Namespace) -> list[tuple[str, Callable[[], None]]]:
    one_round = [
        ("SIGKILL the worker", plant.kill_worker),
        ("restart the broker", plant.restart_broker),
        ("restart PostgreSQL", plant.restart_postgres),
        (f"stop Redis for {args.redis_down:.0f} s", lambda: plant.stop_redis(args.redis_down)),
    ]
    return one_round * args.rounds


def drive(plant: Plant, args: argparse.Namespace, log: list[tuple[str, float]]) -> None:
    """Run the faults one after another, each followed by steady load (the publisher's)."""
    time.sleep(args.settle)
    for name, fault in faults(plant, args):
        print(f"{time.strftime('%H:%M:%S')} fault: {name}", flush=True)
        fault()
        log.append((name, time.time() * 1000))  # when the fault ended
        time.sleep(args.settle)


Outcome = tuple[ReconnectingPublisher, Screen, list[tuple[str, float]]]


async def run(plant: Plant, args: argparse.Namespace) -> Outcome:
    targets, cookie, topics, _ = plant.screens
    publisher = ReconnectingPublisher(plant.broker.port, topics)
    duration = args.settle * (1 + 4 * args.rounds) + args.redis_down * args.rounds + 30
    log: list[tuple[str, float]] = []
    screen, stop = Screen(), asyncio.Event()
    origin = f"http://127.0.0.1:{plant.web_port}"
    url = f"ws://127.0.0.1:{plant.web_port}{targets[0]}"
    watcher = asyncio.create_task(watch(url, cookie, origin, screen, stop))
    publishing = asyncio.to_thread(publisher.run, args.rate, duration)
    driving = asyncio.to_thread(drive, plant, args, log)
    await asyncio.gather(publishing, driving)
    stop.set()
    await watcher
    return publisher, screen, log


def wait_stored(plant: Plant, expected: int, timeout: float = 300) -> int:
    deadline, stored = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        stored = plant.query("SELECT count(*) FROM plant_sample")[0][0]
        if stored >= expected:
            break
        time.sleep(2)
    return stored


def main() -> None:
    args = parse_args()
    plant = Plant(args)
    try:
        plant.start()
        time.sleep(3)  # the worker connects and subscribes (its persistent session)
        began = time.monotonic()
        publisher, screen, log = asyncio.run(run(plant, args))
        stored = wait_stored(plant, publisher.published)
        elapsed = time.monotonic() - began
        distinct = plant.query("SELECT count(*) FROM (SELECT DISTINCT tag_id, time "
                               "FROM plant_sample) s")[0][0]  # fmt: skip
        rejected = plant.query("SELECT count(*) FROM plant_rejectedmessage")[0][0]
        print(
            f"\nrate {args.rate:,.0f}/s, {args.rounds} rounds, {elapsed:.0f} s in all; "
            f"publisher reconnects: {publisher.reconnects}; screen connects: {screen.connects}"
        )
        for name, at in log:
            after = screen.current_after(at)
            shown = f"{after:.1f} s" if after is not None else "never"
            print(f"  {name:<24} screen current again after {shown}")
        print(
            f"published {publisher.published:,} (all acknowledged), stored {stored:,} "
            f"(distinct {distinct:,}), lost {max(0, publisher.published - stored):,}, "
            f"duplicated {stored - distinct:,}, extra {max(0, stored - publisher.published):,},"
            f" rejected {rejected:,}"
        )
    finally:
        plant.close()


if __name__ == "__main__":
    main()
