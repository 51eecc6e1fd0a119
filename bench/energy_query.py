"""Energy query speed: a month of energy over a plant with 30 days of 1 Hz meter data.

    python bench/energy_query.py              # 30 days (5.2 M rows), median of 7 runs
    python bench/energy_query.py --days 7 --runs 3

For each path (TimescaleDB where the server has the extension, then TIMESCALEDB=off) it makes
a fresh database with one plant, a line meter (a cumulative kWh counter that rolls over at
1,000,000 kWh in the middle of the month) and the line's bottle counter, both at 1 Hz for
`--days` days, written in SQL (generate_series); then it prepares it as production's policies
would (chunks older than 7 days compressed, aggregates refreshed, tables analysed) and times,
through the API with a bearer token (authentication, query, JSON):

- the month: `/api/energy/` over the last 30 days, each day with consumption, output, kWh per
  1,000 bottles and its baseline (fitted over the 28 days before it, so 58 days are read);
- a day's 96 demand blocks (`/api/energy/demand/?day=` yesterday);
- today's blocks with the live prediction (`/api/energy/demand/`);
- the energy screen of today (`/energy/plants/<id>/`, session).

Targets (issue 15): under 300 ms on TimescaleDB, under 1 s on plain PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.history_query import drop, machine, timescale_available
from tests.services import ROOT, fresh_database

ROLLOVER_KWH = 1_000_000.0
SAMPLES_SQL = """
INSERT INTO plant_sample (tag_id, time, value, quality)
SELECT %(tag)s, t, {value}, 0
FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz, interval '1 second') AS t
"""
# 190 kW on average, 30 kW of daily swing: E(t) is the integral, so the counter only rises,
# until it passes ROLLOVER_KWH (half way through the month) and starts from zero again.
ENERGY_VALUE = """
mod(
  ({start_kwh} + 190.0 * extract(epoch FROM t - %(start)s::timestamptz) / 3600
   - 30.0 * 86400 / (2 * pi() * 3600) * (
       cos(2 * pi() * extract(epoch FROM t) / 86400)
       - cos(2 * pi() * extract(epoch FROM %(start)s::timestamptz) / 86400)
   ))::numeric,
  {rollover}
)::float8
"""
BOTTLES_VALUE = "floor(2.5 * extract(epoch FROM t - %(start)s::timestamptz))"


def setup(days: int) -> dict[str, int]:
    """The plant, its meter and counters, and `days` of 1 Hz readings; ids for the cases."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from plant.models import EnergyMeter, Line, Machine, Plant, PlantEnergy, Tag

    plant = Plant.objects.create(name="Bench", slug="bench", time_zone="Europe/Berlin")
    line = Line.objects.create(plant=plant, name="Filling", slug="filling")
    machine = Machine.objects.create(line=line, name="Meter", slug="meter")
    energy = Tag.objects.create(machine=machine, key="energy", topic="bench/filling/meter/energy",
                                unit="kWh")  # fmt: skip
    bottles = Tag.objects.create(machine=machine, key="bottles", data_type="int",
                                 topic="bench/filling/meter/bottles")  # fmt: skip
    PlantEnergy.objects.create(plant=plant, contracted_peak_kw=250.0)
    EnergyMeter.objects.create(plant=plant, line=line, name="Line meter", energy_tag=energy,
                               rollover_kwh=ROLLOVER_KWH, production_tag=bottles)  # fmt: skip
    end = timezone.now().replace(microsecond=0)
    start = end - timedelta(days=days)
    start_kwh = ROLLOVER_KWH - 190.0 * 24 * days / 2  # rolls over half way
    value = ENERGY_VALUE.format(start_kwh=start_kwh, rollover=int(ROLLOVER_KWH))
    with connection.cursor() as cursor:
        for tag, sql in ((energy, value), (bottles, BOTTLES_VALUE)):
            cursor.execute(SAMPLES_SQL.format(value=sql), {"tag": tag.pk, "start": start,
                                                            "end": end})  # fmt: skip
    user = User.objects.create_superuser("bench")
    return {"plant": plant.pk, "user": user.pk}


def prepare() -> str:
    """Compress and refresh as the policies would (TimescaleDB), or fold the rollups as the
    worker would (plain PostgreSQL: it folds the pending partials every 10 s); analyse."""
    from django.db import connection

    from plant.rollups import fold

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
        timescale = cursor.fetchone() is not None
        if timescale:
            cursor.execute(
                "SELECT count(compress_chunk(c, if_not_compressed => true)) "
                "FROM show_chunks('plant_sample', older_than => interval '7 days') c"
            )
            for view in ("sample_1m", "sample_1h"):
                cursor.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, now())")
        else:
            fold(connection)
        cursor.execute("VACUUM ANALYZE")
    return "TimescaleDB" if timescale else "plain PostgreSQL"


def measure(days: int, runs: int) -> None:
    """Run inside Django (a child process with DATABASE_URL set): print one JSON line a case."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client

    from hmi.energy_views import today_of
    from plant.historian import source_for
    from plant.models import ApiToken, Plant

    started = time.perf_counter()
    ids = setup(days)
    loaded_s = time.perf_counter() - started
    path = prepare()
    plant = Plant.objects.get(pk=ids["plant"])
    user = User.objects.get(pk=ids["user"])
    _, secret = ApiToken.issue(user, "bench")
    token = Client(HTTP_HOST="127.0.0.1", headers={"Authorization": f"Bearer {secret}"})
    session = Client(HTTP_HOST="127.0.0.1")
    session.force_login(user)
    today = today_of(plant)
    month = f"/api/energy/?plant={plant.pk}&first={today - timedelta(days=29)}&last={today}"
    cases = [
        ("a month of days with baselines", token, month),
        ("a day's demand blocks", token,
         f"/api/energy/demand/?plant={plant.pk}&day={today - timedelta(days=1)}"),
        ("today's blocks and prediction", token, f"/api/energy/demand/?plant={plant.pk}"),
        ("the energy screen (today)", session, f"/energy/plants/{plant.pk}/"),
    ]  # fmt: skip
    check = token.get(month).json()
    month_kwh = sum(d["kwh"] for d in check["scopes"][0]["days"])
    for name, client, url in cases:
        result = {"path": path, "case": name, "ms": median_ms(lambda c=client, u=url: get(c, u),
                                                             runs)}  # fmt: skip
        print(json.dumps(result), flush=True)
    print(json.dumps({"path": path, "loaded_s": round(loaded_s, 1), "month_kwh": month_kwh,
                      "rows": days * 86400 * 2, "source": source_for(3600)}),
          flush=True)  # fmt: skip


def get(client: Any, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]


def median_ms(call: Callable[[], object], runs: int) -> float:
    call()  # warm: plan cache, buffers
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def run_path(mode: str, days: int, runs: int, keep: bool) -> list[dict[str, Any]]:
    name = f"scada_bench_energy_{mode}"
    url = fresh_database(name, timescaledb=mode)
    env = {**os.environ, "DATABASE_URL": url, "TIMESCALEDB": mode}
    out = subprocess.run(
        [sys.executable, __file__, "--measure", "--days", str(days), "--runs", str(runs)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode:
        raise SystemExit(f"{mode}: the measuring process failed:\n{out.stderr[-3000:]}")
    if not keep:
        drop(name)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (median)")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.days, args.runs)
        return
    print(f"energy_query: {args.days} days at 1 Hz, median of {args.runs}; {machine()}")
    modes = ["auto", "off"] if timescale_available() else ["off"]
    for mode in modes:
        for row in run_path(mode, args.days, args.runs, args.keep):
            if "case" in row:
                print(f"{row['path']:<17} {row['case']:<32} {row['ms']:>8} ms")
            else:
                print(f"{row['path']:<17} loaded {row['rows']:,} rows in {row['loaded_s']} s; "
                      f"the month used {row['month_kwh']:,.0f} kWh, "
                      f"read from {row['source']}")  # fmt: skip


if __name__ == "__main__":
    main()
