"""Maintenance list speed: the demo plant with 30 days of 1 Hz vibration history.

    python bench/maintenance_query.py              # 30 days at 1 Hz, median of 7 runs
    python bench/maintenance_query.py --days 7 --runs 3

For each path (TimescaleDB where the server has the extension, then TIMESCALEDB=off) it makes
a fresh database, loads the demo plant and writes `days` of the pump's vibration and bearing
temperature at 1 Hz (plant.demo_vibration.backfill_vibration, COPY: 2 x 2.6 M rows), then
prepares it as production's policies would: chunks older than 7 days compressed, aggregates
refreshed, tables analysed. It times the maintenance list's computation (plant.maintenance:
a month of hourly buckets per monitor, the drift chart and the remaining-life fit) and the
maintenance API through Django's test client with a bearer token, and prints the median.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.history_query import drop, machine, median_ms, prepare, timescale_available
from tests.services import ROOT, fresh_database


def django_setup() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()


def load(days: int) -> None:
    """In a child with DATABASE_URL set: the demo plant and its vibration history."""
    django_setup()
    from plant.demo import load_demo_plant
    from plant.demo_vibration import backfill_vibration

    started = time.perf_counter()
    rows = backfill_vibration(load_demo_plant(), days=days, step_s=1.0)
    print(json.dumps({"rows": rows, "load_s": round(time.perf_counter() - started, 1)}))


def measure(runs: int) -> None:
    """In a child with DATABASE_URL set: one JSON line with the medians."""
    django_setup()
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    from plant.maintenance import plant_health
    from plant.models import ApiToken, Plant

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench")
    _, secret = ApiToken.issue(user, "bench")
    client = Client(HTTP_HOST="127.0.0.1", headers={"Authorization": f"Bearer {secret}"})
    cards = plant_health(Plant.objects.all(), timezone.now())
    (health,) = cards[0].monitors
    print(json.dumps({
        "machines": len(cards), "hours": health.drift.points if health.drift else 0,
        "days": health.life.points, "zone_c": health.to_c_text(),
        "query_ms": median_ms(lambda: plant_health(Plant.objects.all(), timezone.now()), runs),
        "api_ms": median_ms(partial(api, client), runs),
    }))  # fmt: skip


def api(client: Any) -> None:
    response = client.get("/api/maintenance/")
    assert response.status_code == 200, response.content


def child(mode: str, url: str, *args: str) -> dict[str, Any]:
    # No statement timeout: the figure is how long the list takes, even past the web's 5 s.
    env = {**os.environ, "DATABASE_URL": url, "TIMESCALEDB": mode, "WEB_STATEMENT_TIMEOUT_MS": "0"}
    out = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=env,
                         capture_output=True, text=True)  # fmt: skip
    if out.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.splitlines()[-1]))


def run_path(mode: str, days: int, runs: int, keep: bool) -> dict[str, Any]:
    name = f"scada_bench_maintenance_{mode}"
    url = fresh_database(name, timescaledb=mode)
    loaded = child(mode, url, "--load", "--days", str(days))
    path = prepare(url)
    result = child(mode, url, "--measure", "--runs", str(runs))
    if not keep:
        drop(name)
    return {"path": path, **loaded, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=7, help="timed runs (median)")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load(args.days)
        return
    if args.measure:
        measure(args.runs)
        return
    print(f"maintenance_query: {args.days} days at 1 Hz, median of {args.runs}; {machine()}")
    modes = ["auto", "off"] if timescale_available() else ["off"]
    print(f"{'path':<17} {'rows':>10} {'load s':>7} {'hours':>5} {'days':>4} {'zone C':<14} "
          f"{'query ms':>8} {'API ms':>7}")  # fmt: skip
    for mode in modes:
        r = run_path(mode, args.days, args.runs, args.keep)
        print(f"{r['path']:<17} {r['rows']:>10,} {r['load_s']:>7} {r['hours']:>5} {r['days']:>4} "
              f"{r['zone_c']:<14} {r['query_ms']:>8} {r['api_ms']:>7}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
