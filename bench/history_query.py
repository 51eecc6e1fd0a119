"""History query speed: 30 days of 1 Hz data for one tag, with and without TimescaleDB.

    python bench/history_query.py              # 30 days (2.6 M rows), median of 7 runs
    python bench/history_query.py --days 7 --runs 3

For each path (TimescaleDB where the server has the extension, then TIMESCALEDB=off) it makes
a fresh database, loads one tag's samples at 1 Hz with COPY, and prepares it as production's
policies would: chunks older than HISTORIAN_COMPRESS_AFTER (7 days) compressed, aggregates
refreshed, tables analysed. On plain PostgreSQL the rollups' trigger runs as the COPY
commits (the load time includes it), and their pending partials are folded as the worker
would. Then it times each case through the history API (Django's test client with a bearer
token: authentication, query and JSON) and the query alone, and prints the median.
Targets: the whole range under 300 ms, an hour of raw values under 100 ms.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from plant.rollups import FOLD_SQL
from tests.services import ROOT, database_url, fresh_database

DAY_S = 86400
CASES = [  # name, start and end as seconds before now, what to ask for
    ("whole range, 1000 points", "DAYS", 0, {"points": 1000}),
    ("last 7 days, 1000 points", 7 * DAY_S, 0, {"points": 1000}),
    ("last hour, raw", 3600, 0, {"points": 5000}),
    ("an hour 20 days ago, raw", 20 * DAY_S, 20 * DAY_S - 3600, {"points": 5000}),
]


def load(url: str, days: int, now: datetime) -> int:
    """One plant, line, machine and tag, and `days` of its samples at 1 Hz; the tag's id."""
    with psycopg.connect(url, autocommit=True) as conn:
        tag_id = conn.execute(
            """WITH p AS (INSERT INTO plant_plant (name, slug, time_zone, description)
                          VALUES ('Bench', 'bench', 'UTC', '') RETURNING id),
                    l AS (INSERT INTO plant_line (plant_id, name, slug, position, description)
                          SELECT id, 'L', 'l', 0, '' FROM p RETURNING id),
                    m AS (INSERT INTO plant_machine (line_id, name, slug, position, description)
                          SELECT id, 'M', 'm', 0, '' FROM l RETURNING id)
               INSERT INTO plant_tag (machine_id, key, description, data_type, unit, precision,
                   true_label, false_label, topic, expected_interval_s, deadband, heartbeat_s,
                   writable, readback_tolerance)
               SELECT id, 'level', '', 'float', 'ml', 1, '', '', 'bench/l/m/level', 10, 0, 300,
                   false, 0 FROM m RETURNING id"""
        ).fetchone()[0]
        first = int((now - timedelta(days=days)).timestamp())
        sql = "COPY plant_sample (tag_id, time, value, quality) FROM STDIN"
        with conn.cursor().copy(sql) as copy:
            for day in range(days):
                copy.write(day_of_samples(tag_id, first + day * DAY_S))
    return int(tag_id)


def day_of_samples(tag_id: int, first: int) -> str:
    """COPY text for one day at 1 Hz: a slow wave, and a spike every 10 000 s."""
    lines = []
    for t in range(first, first + DAY_S):
        value = 500 + 5 * math.sin(t / 600) + (t % 7) / 10 + (50 if t % 10_000 == 0 else 0)
        stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S+00")
        lines.append(f"{tag_id}\t{stamp}\t{value:.3f}\t0\n")
    return "".join(lines)


def prepare(url: str) -> str:
    """Compress and refresh as the policies would (TimescaleDB), or fold the rollups as the
    worker would (plain PostgreSQL); analyse. The path's name."""
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
        timescale = found.fetchone() is not None
        if timescale:
            conn.execute(
                "SELECT count(compress_chunk(c, if_not_compressed => true)) "
                "FROM show_chunks('plant_sample', older_than => interval '7 days') c"
            )
            for view in ("sample_1m", "sample_1h"):
                conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, now())")
        else:  # the ingest worker folds the rollups' pending partials every 10 s
            conn.execute(FOLD_SQL)
        conn.execute("VACUUM ANALYZE")
        return "TimescaleDB" if timescale else "plain PostgreSQL"


def measure(days: int, runs: int) -> None:
    """Run inside Django (a child process with DATABASE_URL set): print one JSON line a case."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    from plant.historian import history
    from plant.models import ApiToken, Tag

    tag = Tag.objects.get()
    _, secret = ApiToken.issue(User.objects.create_superuser("bench"), "bench")
    client = Client(HTTP_HOST="127.0.0.1", headers={"Authorization": f"Bearer {secret}"})
    for name, ago, until, ask in CASES:
        now = timezone.now()
        start = now - timedelta(seconds=days * DAY_S if ago == "DAYS" else int(ago))
        end = now - timedelta(seconds=until)
        query = {"tag": tag.pk, "start": start.isoformat(), "end": end.isoformat(), **ask}
        series = api_series(client, query)
        result = {
            "case": name,
            "source": series["source"],
            "bucket_s": series["bucket_s"],
            "points": len(series["time"]),
            "query_ms": median_ms(partial(history, tag, start, end, points=ask["points"]), runs),
            "api_ms": median_ms(partial(api_series, client, query), runs),
        }
        print(json.dumps(result), flush=True)


def api_series(client: Any, query: dict[str, object]) -> dict[str, Any]:
    response = client.get("/api/history/", query)
    assert response.status_code == 200, response.content
    return response.json()["series"][0]


def median_ms(call: Callable[[], object], runs: int) -> float:
    call()  # warm: plan cache, buffers
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def run_path(mode: str, days: int, runs: int, keep: bool) -> list[dict[str, object]]:
    name = f"scada_bench_history_{mode}"
    url = fresh_database(name, timescaledb=mode)
    started = time.perf_counter()
    load(url, days, datetime.now(UTC).replace(microsecond=0))
    loaded_s = time.perf_counter() - started
    path = prepare(url)
    env = {**os.environ, "DATABASE_URL": url, "TIMESCALEDB": mode}
    out = subprocess.run(
        [sys.executable, __file__, "--measure", "--days", str(days), "--runs", str(runs)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    if not keep:
        drop(name)
    print(f"{path}: loaded {days * DAY_S:,} rows in {loaded_s:.1f} s", flush=True)
    return [{"path": path, **json.loads(line)} for line in out.stdout.splitlines()]


def drop(name: str) -> None:
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timescale_available() -> bool:
    """True when `CREATE EXTENSION timescaledb` can work here (installed and preloaded)."""
    with psycopg.connect(database_url("postgres")) as conn:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        found = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        return found.fetchone() is not None and "timescaledb" in preload


def machine() -> str:
    with psycopg.connect(database_url("postgres")) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        ts = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return f"{cpu}, {os.cpu_count()} CPUs; PostgreSQL {version}" + (
        f", TimescaleDB {ts[0]}" if ts else ", no TimescaleDB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (median)")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.days, args.runs)
        return
    print(f"history_query: {args.days} days at 1 Hz, median of {args.runs}; {machine()}")
    modes = ["auto", "off"] if timescale_available() else ["off"]
    rows = [row for mode in modes for row in run_path(mode, args.days, args.runs, args.keep)]
    print(f"{'path':<17} {'case':<26} {'source':<15} {'bucket':>6} {'points':>6} "
          f"{'query ms':>8} {'API ms':>7}")  # fmt: skip
    for r in rows:
        print(f"{r['path']:<17} {r['case']:<26} {r['source']:<15} {r['bucket_s'] or 'raw':>6} "
              f"{r['points']:>6} {r['query_ms']:>8} {r['api_ms']:>7}")  # fmt: skip


if __name__ == "__main__":
    main()
