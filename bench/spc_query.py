"""SPC query speed: an hour's SPC over 30 days of 1 Hz data, with and without TimescaleDB.

    python bench/spc_query.py                # 30 days (2.6 M rows), median of 7 runs
    python bench/spc_query.py --days 7 --runs 3

For each path (TimescaleDB where the server has the extension, then TIMESCALEDB=off) it makes
a fresh database, loads one fill-level tag at 1 Hz with COPY (bench/history_query.py's data
and preparation: chunks older than 7 days compressed, aggregates refreshed, analysed), gives
the tag SPC settings, and times, as the median of the runs:
- the hour's capability and ℮ batch in SQL (plant.spc_history.hourly), for the last hour and
  an hour 20 days ago (a compressed chunk on TimescaleDB);
- the hour's control charts (its values read, I-MR and X̄–R limits and the run rules);
- the same through the API (/api/quality/ and /api/quality/charts/ with a bearer token);
- the hours of a day, of two days through the API (its longest range of hours) and of a week.
The measuring process runs without the web's statement timeout (WEB_STATEMENT_TIMEOUT_MS=0),
so a slow case is timed instead of cut off.
Target (issue 15): an hour's SPC under 300 ms on TimescaleDB and under 1 s on plain PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.history_query import DAY_S, drop, load, machine, median_ms, prepare, timescale_available
from tests.services import ROOT, fresh_database

HOUR_S = 3600


def measure(days: int, runs: int) -> None:
    """Run inside Django (a child process with DATABASE_URL set): print one JSON line a case."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    from hmi.quality_views import charts_json
    from plant import spc_history
    from plant.models import ApiToken, SpcSettings, Tag

    tag = Tag.objects.get()
    settings = SpcSettings.objects.create(tag=tag, lsl=490, usl=510, nominal=500)
    settings = SpcSettings.objects.select_related("tag").get(pk=settings.pk)
    _, secret = ApiToken.issue(User.objects.create_superuser("bench"), "bench")
    client = Client(HTTP_HOST="127.0.0.1", headers={"Authorization": f"Bearer {secret}"})
    now = timezone.now().replace(minute=0, second=0, microsecond=0)

    def charts(start: datetime, end: datetime) -> object:
        values = [v for _, v in spc_history.values(tag.pk, start, end)]
        return charts_json(settings, values, values)

    def api(path: str, start: datetime, end: datetime) -> Any:
        query = {"tag": tag.pk, "start": start.isoformat(), "end": end.isoformat()}
        response = client.get(path, query)
        assert response.status_code == 200, response.content
        return response.json()

    cases = [
        ("last hour: capability and e", partial(spc_history.hourly, settings), HOUR_S, 0),
        ("hour 20 days ago: capability and e", partial(spc_history.hourly, settings),
         20 * DAY_S, 20 * DAY_S - HOUR_S),
        ("last hour: charts and rules", charts, HOUR_S, 0),
        ("hour 20 days ago: charts and rules", charts, 20 * DAY_S, 20 * DAY_S - HOUR_S),
        ("last hour: /api/quality/", partial(api, "/api/quality/"), HOUR_S, 0),
        ("last hour: /api/quality/charts/", partial(api, "/api/quality/charts/"), HOUR_S, 0),
        ("last day: 24 hours", partial(spc_history.hourly, settings), DAY_S, 0),
        ("last 2 days: /api/quality/ (its most)", partial(api, "/api/quality/"), 2 * DAY_S, 0),
        ("last 7 days: 168 hours", partial(spc_history.hourly, settings), 7 * DAY_S, 0),
    ]  # fmt: skip
    for name, call, ago, until in cases:
        start, end = now - timedelta(seconds=ago), now - timedelta(seconds=until)
        found = call(start, end)
        hours = len(found) if isinstance(found, list) else None  # hourly's rows
        ms = median_ms(partial(call, start, end), runs)
        print(json.dumps({"case": name, "ms": ms, "hours": hours}), flush=True)


def run_path(mode: str, days: int, runs: int, keep: bool) -> list[dict[str, object]]:
    name = f"scada_bench_spc_{mode}"
    url = fresh_database(name, timescaledb=mode)
    started = time.perf_counter()
    load(url, days, datetime.now(UTC).replace(microsecond=0))
    loaded_s = time.perf_counter() - started
    path = prepare(url)
    env = {**os.environ, "DATABASE_URL": url, "TIMESCALEDB": mode, "WEB_STATEMENT_TIMEOUT_MS": "0"}
    out = subprocess.run(
        [sys.executable, __file__, "--measure", "--days", str(days), "--runs", str(runs)],
        cwd=ROOT, env=env, check=False, capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode:
        sys.exit(f"the measuring process failed:\n{out.stderr}")
    if not keep:
        drop(name)
    print(f"{path}: loaded {days * DAY_S:,} rows in {loaded_s:.1f} s", flush=True)
    return [{"path": path, **json.loads(line)} for line in out.stdout.splitlines()]


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
    print(f"spc_query: {args.days} days at 1 Hz, median of {args.runs}; {machine()}")
    modes = ["auto", "off"] if timescale_available() else ["off"]
    rows = [row for mode in modes for row in run_path(mode, args.days, args.runs, args.keep)]
    print(f"{'path':<17} {'case':<42} {'hours':>5} {'ms':>8}")
    for r in rows:
        hours = r["hours"] if r["hours"] is not None else ""
        print(f"{r['path']:<17} {r['case']:<42} {hours:>5} {r['ms']:>8}")


if __name__ == "__main__":
    main()
