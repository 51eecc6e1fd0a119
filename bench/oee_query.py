"""OEE query speed: a shift, a day and a week of the demo filler over 30 days of 1 Hz data.

    python bench/oee_query.py              # 30 days, median of 7 runs
    python bench/oee_query.py --days 7 --runs 3

For each path (TimescaleDB where the server has the extension, then TIMESCALEDB=off) it makes
a fresh database with the demo plant (its shift calendar and OEE configuration), loads the
filler's state, produced and rejected counters at 1 Hz with COPY (the state changes every few
minutes: short stops, a longer one now and then; the counter rolls over at 1,000,000), and
prepares it as production's policies would (chunks older than 7 days compressed; analysed).
Then it times each case as the query alone (plant.oee_queries.machine_oee) and through the
OEE API with a bearer token, and prints the median. Targets: a shift under 300 ms on
TimescaleDB, under 1 s on plain PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.history_query import drop, machine, median_ms, prepare, timescale_available
from tests.services import ROOT, fresh_database

DAY_S = 86400
ROLLOVER = 1_000_000
CASES = [  # name, the API's period parameters (relative to the plant's today)
    ("current shift (live)", {"period": "shift"}),
    ("a shift 20 days ago", {"period": "shift", "days_ago": 20, "shift": "Early"}),
    ("yesterday (3 shifts)", {"period": "day", "days_ago": 1}),
    ("last week (21 shifts)", {"period": "week", "days_ago": 7}),
]


def load(url: str, days: int, now: datetime) -> None:
    """The demo plant, and `days` of the filler's state and counters at 1 Hz."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "load_demo", "--no-users"], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        ids = dict(conn.execute(
            "SELECT key, id FROM plant_tag WHERE key IN ('state', 'bottles_filled', "
            "'bottles_rejected')").fetchall())  # fmt: skip
        conn.execute("UPDATE plant_tag SET counter_rollover = %s WHERE key LIKE 'bottles_%%'",
                     [ROLLOVER])  # fmt: skip
        first = int((now - timedelta(days=days)).timestamp())
        sql = "COPY plant_sample (tag_id, time, value, text, quality) FROM STDIN"
        rng = random.Random(7)
        machine_state = State(rng)
        with conn.cursor().copy(sql) as copy:
            for day in range(days):
                copy.write(day_of_samples(ids, first + day * DAY_S, machine_state))


class State:
    """The filler as the simulator runs it: stops every two minutes or so, 3 bottles a second."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.state, self.until = rng, "running", 0
        self.made, self.rejected = 0.0, 0

    def step(self, t: int) -> None:
        if t >= self.until:
            if self.state == "running":
                self.state = self.rng.choice(["jammed"] * 6 + ["starved", "blocked"])
                self.until = t + self.rng.randint(10, 360 if self.state != "jammed" else 90)
            else:
                self.state, self.until = "running", t + int(self.rng.expovariate(1 / 120)) + 1
        if self.state == "running":
            self.made += 3
            self.rejected += self.rng.random() < 0.02


def day_of_samples(ids: dict[str, int], first: int, machine_state: State) -> str:
    lines = []
    for t in range(first, first + DAY_S):
        machine_state.step(t)
        stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S+00")
        lines.append(f"{ids['state']}\t{stamp}\t\\N\t{machine_state.state}\t0\n")
        lines.append(f"{ids['bottles_filled']}\t{stamp}\t{int(machine_state.made) % ROLLOVER}"
                     "\t\\N\t0\n")  # fmt: skip
        lines.append(f"{ids['bottles_rejected']}\t{stamp}\t{machine_state.rejected}\t\\N\t0\n")
    return "".join(lines)


def measure(runs: int) -> None:
    """Run inside Django (a child process with DATABASE_URL set): print one JSON line a case."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from zoneinfo import ZoneInfo

    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    from plant.models import ApiToken, OeeMachine
    from plant.oee_queries import machine_oee, resolve_period

    config = OeeMachine.objects.select_related("machine__line__plant").get()
    line = config.machine.line
    _, secret = ApiToken.issue(User.objects.create_superuser("bench"), "bench")
    client = Client(HTTP_HOST="127.0.0.1", headers={"Authorization": f"Bearer {secret}"})
    today = timezone.now().astimezone(ZoneInfo(line.plant.time_zone)).date()
    for name, ask in CASES:
        query = {k: v for k, v in ask.items() if k != "days_ago"}
        if "days_ago" in ask:
            query["date"] = (today - timedelta(days=int(ask["days_ago"]))).isoformat()
        now = timezone.now()
        day = datetime.fromisoformat(str(query["date"])).date() if "date" in query else None
        period = resolve_period(line, str(query["period"]), now, day=day,
                                shift=str(query.get("shift", "")))  # fmt: skip

        def compute(period: Any = period) -> Any:
            return machine_oee(config, period.windows, timezone.now())

        body = api(client, {"machine": config.machine_id, **query})
        figures = body["oee"] or {}
        print(json.dumps({
            "case": name, "shifts": len(period.windows), "oee": figures.get("oee"),
            "produced": figures.get("produced"), "stops": len(body["stops"]),
            "query_ms": median_ms(compute, runs),
            "api_ms": median_ms(partial(api, client, {"machine": config.machine_id, **query}),
                                runs),
        }), flush=True)  # fmt: skip


def api(client: Any, query: dict[str, object]) -> dict[str, Any]:
    response = client.get("/api/oee/", query)
    assert response.status_code == 200, response.content
    return dict(response.json())


def run_path(mode: str, days: int, runs: int, keep: bool) -> list[dict[str, object]]:
    name = f"scada_bench_oee_{mode}"
    url = fresh_database(name, timescaledb=mode)
    started = time.perf_counter()
    load(url, days, datetime.now(UTC).replace(microsecond=0))
    loaded_s = time.perf_counter() - started
    path = prepare(url)
    env = {**os.environ, "DATABASE_URL": url, "TIMESCALEDB": mode}
    out = subprocess.run(
        [sys.executable, __file__, "--measure", "--runs", str(runs)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    if not keep:
        drop(name)
    print(f"{path}: loaded {3 * days * DAY_S:,} rows in {loaded_s:.1f} s", flush=True)
    return [{"path": path, **json.loads(line)} for line in out.stdout.splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (median)")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", choices=["auto", "off", "both"], default="both",
                        help="TimescaleDB (auto), plain PostgreSQL (off), or both")  # fmt: skip
    args = parser.parse_args()
    if args.measure:
        measure(args.runs)
        return
    print(f"oee_query: {args.days} days at 1 Hz, median of {args.runs}; {machine()}")
    modes = ["auto", "off"] if timescale_available() else ["off"]
    modes = modes if args.path == "both" else [m for m in modes if m == args.path]
    rows = [row for mode in modes for row in run_path(mode, args.days, args.runs, args.keep)]
    print(f"{'path':<17} {'case':<24} {'shifts':>6} {'OEE':>6} {'stops':>6} "
          f"{'query ms':>8} {'API ms':>7}")  # fmt: skip
    for r in rows:
        oee = f"{r['oee']:.3f}" if isinstance(r["oee"], float) else "-"
        print(f"{r['path']:<17} {r['case']:<24} {r['shifts']:>6} {oee:>6} {r['stops']:>6} "
              f"{r['query_ms']:>8} {r['api_ms']:>7}")  # fmt: skip


if __name__ == "__main__":
    main()
