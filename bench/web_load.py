"""Concurrent users on the web process: requests/s, latency and errors, and PostgreSQL backends.

    python bench/web_load.py                               # 32, 64 and 128 connections, 20 s each
    python bench/web_load.py --connections 32 --seconds 5

It makes a private database (see below) with the demo plant and an hour of 1 Hz fill-level
samples, starts one daphne with production settings (DEBUG=false, a
SECRET_KEY, ALLOWED_HOSTS), logs in as the demo viewer through the login form for a real
session cookie, then runs wrk (Debian package `wrk`) at each number of connections on the plant
overview (`/`) and on `/api/history/?tag=<fill level>`. For each run it prints requests/s,
latency p50/p99, the responses that were not 2xx/3xx plus socket errors, and the peak number of
PostgreSQL backends on the bench database (pg_stat_activity, sampled every 0.1 s) beside the
peak of client backends on the whole server.

The database pool of the web process is sized by DB_POOL_MAX (config/settings.py). The
database lives in a private cluster (tests/services.py `Postgres`, max_connections 100), or
with --shared-server on the machine's PostgreSQL (`fresh_database`): a set-up that exhausts
the server must not fail everyone else's connections.
To measure an older set-up, point DJANGO_SETTINGS_MODULE at a copy of its settings.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.services import ROOT, Postgres, free_port, fresh_database, wait_port

DB_NAME = "scada_bench_web"
PASSWORD = f"bench-{uuid.uuid4().hex[:12]}"


@dataclass
class Result:
    """What one wrk run measured."""

    path: str
    connections: int
    requests_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    peak_bench: int
    peak_server: int


def environment(dsn: str) -> dict[str, str]:
    """Production-like settings for daphne and the set-up commands."""
    return {
        **os.environ,
        "DATABASE_URL": dsn,
        "DEBUG": "false",
        "SECRET_KEY": f"bench-{uuid.uuid4().hex}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_COOKIES": "false",  # wrk and urllib speak plain HTTP
        "DEMO_PASSWORD": PASSWORD,
        "MQTT_TOPIC_ROOT": "bench-web/",
        "CHANNEL_LAYER_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
    }


def prepare(env: dict[str, str]) -> int:
    """Demo plant, users and an hour of samples in the fresh database; the fill level's id."""
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "load_demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        tag_id = conn.execute("SELECT id FROM plant_tag WHERE key = 'fill_level'").fetchone()[0]
        conn.execute(
            """INSERT INTO plant_sample (tag_id, time, value, quality)
               SELECT %s, now() - s * interval '1 second', 500 + sin(s / 60.0), 0
               FROM generate_series(1, 3600) AS s""",
            [tag_id],
        )
    return int(tag_id)


def login(base: str) -> str:
    """Log in as the demo viewer through the login form; the Cookie header of that session."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/accounts/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token, "no CSRF token on the login page"
    fields = {"username": "viewer", "password": PASSWORD, "csrfmiddlewaretoken": token[1]}
    opener.open(f"{base}/accounts/login/", urllib.parse.urlencode(fields).encode(), timeout=10)
    cookies = {cookie.name: cookie.value for cookie in jar}
    assert "sessionid" in cookies, "the viewer's login did not give a session"
    page = opener.open(f"{base}/", timeout=10)
    assert page.status == 200 and "/accounts/login/" not in page.url, "session not accepted"
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


class BackendSampler:
    """Samples pg_stat_activity in a thread and keeps the peaks, for the bench db and in all.

    Its connection is opened before daphne starts and kept: a server that is full refuses new
    connections, the sampler's included.
    """

    SQL = """SELECT count(*) FILTER (WHERE datname = %s AND pid <> pg_backend_pid()),
                    count(*) FILTER (WHERE backend_type = 'client backend') - 1
             FROM pg_stat_activity"""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.peak_bench = self.peak_server = 0
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> BackendSampler:
        self.peak_bench = self.peak_server = 0
        self.done.clear()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()  # type: ignore[union-attr]

    def _run(self) -> None:
        while not self.done.wait(0.1):
            bench, server = self.conn.execute(self.SQL, [DB_NAME]).fetchone()  # type: ignore[misc]
            self.peak_bench = max(self.peak_bench, bench)
            self.peak_server = max(self.peak_server, server)


def wrk(url: str, cookie: str, connections: int, seconds: int) -> str:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
            "-H", f"Cookie: {cookie}", url]  # fmt: skip
    output = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    if os.environ.get("BENCH_SHOW_WRK"):
        print(output)
    return output


def milliseconds(text: str) -> float:
    """wrk's '12.34ms', '1.20s' or '850.00us' in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse(output: str) -> tuple[float, float, float, int]:
    """Requests/s, p50 and p99 in ms, and the failures (non-2xx/3xx and socket errors)."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    # The lines of the latency distribution ("    50%  12.34ms"), not "68.50%" of the stats.
    p50, p99 = (re.search(rf"^[ \t]+{share}%[ \t]+(\S+)", output, re.M) for share in (50, 99))
    if not (p50 and p99):  # no request finished at all: wrk prints no distribution
        return rate, float("nan"), float("nan"), -1
    p50, p99 = milliseconds(p50[1]), milliseconds(p99[1])
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(non_2xx[1]) if non_2xx else 0
    errors += sum(int(n) for n in sockets.groups()) if sockets else 0
    return rate, p50, p99, errors


def measure(
    base: str, paths: list[str], cookie: str, args: argparse.Namespace, sampler: BackendSampler
) -> list[Result]:
    results = []
    for connections in args.connections:
        for path in paths:
            with sampler:
                output = wrk(base + path, cookie, connections, args.seconds)
            rate, p50, p99, errors = parse(output)
            results.append(
                Result(path, connections, rate, p50, p99, errors,
                       sampler.peak_bench, sampler.peak_server)
            )  # fmt: skip
            print(row(results[-1]), flush=True)
    return results


def row(r: Result) -> str:
    return (
        f"{r.path[:32]:<32} {r.connections:>5} {r.requests_s:>8.1f} {r.p50_ms:>8.1f} "
        f"{r.p99_ms:>8.1f} {r.errors:>7} {r.peak_bench:>9} {r.peak_server:>10}"
    )


def stop(daphne: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL: daphne may wait long on the threads of stuck requests."""
    daphne.terminate()
    try:
        daphne.wait(15)
    except subprocess.TimeoutExpired:
        daphne.kill()
        daphne.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument(
        "--shared-server",
        action="store_true",
        help="Use the machine's PostgreSQL on 5432 instead of a private cluster. Careful: the old "
        "set-up takes every connection of the server, and other users' connections then fail.",
    )
    args = parser.parse_args()
    args.admin_dsn = "postgres://postgres@127.0.0.1:5432/postgres"
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    # A `timeout` or kill of this script must not leave daphne behind.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    cluster = None
    if not args.shared_server:
        cluster = Postgres()
        cluster.start()
        args.admin_dsn = cluster.url
    try:
        run(args, cluster)
    finally:
        if cluster:
            cluster.close()


def private_database(cluster: Postgres) -> str:
    """A migrated database in the private cluster (max_connections 100, as a default server)."""
    dsn = cluster.url.rsplit("/", 1)[0] + f"/{DB_NAME}"
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    env = {**os.environ, "DATABASE_URL": dsn}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return dsn


def run(args: argparse.Namespace, cluster: Postgres | None) -> None:
    env = environment(private_database(cluster) if cluster else fresh_database(DB_NAME))
    tag_id = prepare(env)
    sampler = BackendSampler(args.admin_dsn)
    port = free_port()
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
            "config.asgi:application"]  # fmt: skip
    log = ROOT / "var" / "bench-web-daphne.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("wb") as out:
        daphne = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(port, timeout=30)
        base = f"http://127.0.0.1:{port}"
        cookie = login(base)
        pool = os.environ.get("DB_POOL_MAX", "default")
        module = os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings")
        print(f"one daphne ({module}, DB_POOL_MAX {pool}), {args.seconds} s a run, as viewer")
        print(f"{'path':<32} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'errors':>7} {'db peak':>9} {'all peak':>10}")  # fmt: skip
        measure(base, ["/", f"/api/history/?tag={tag_id}"], cookie, args, sampler)
    finally:
        stop(daphne)


if __name__ == "__main__":
    main()
