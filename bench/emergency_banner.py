"""What the gas emergency screen costs the web process: one fetch of the alarm banner (every
open tab fetches it every 2 s while an emergency is open, hmi/emergency_screen.py).

    python bench/emergency_banner.py --rounds 200

A database of its own holds the demo plant with a viewer; the banner is fetched through
Django's test client (the view, its queries and its template, no network), first with no
emergency, then with the methane high-high alarm active and its two emergency actions
written. Prints the median and 95th percentile time of a fetch, its queries and its size,
and what the fetches of 100 tabs with an open emergency ask of one process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.services import fresh_database

NAME = "scada_bench_emergency_banner"
os.environ["DATABASE_URL"] = fresh_database(NAME)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "false")  # the cached template loader, as in production
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from plant.actions.alarms import do_run_emergency_actions, do_set_alarm_condition  # noqa: E402
from plant.demo import load_demo_plant  # noqa: E402
from plant.models import Alarm, LatestValue, Tag  # noqa: E402

TABS = 100
REFRESH_S = 2.0


def fetches(client: Client, rounds: int) -> tuple[list[float], int, int]:
    """The time of each fetch (ms), and the queries and bytes of one."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get("/alarms/banner/", headers={"X-HMI-Background": "1"}, secure=True)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        size = len(client.get("/alarms/banner/", secure=True).content)
    return times, len(queries), size


def report(label: str, times: list[float], queries: int, size: int) -> float:
    median = statistics.median(times)
    p95 = statistics.quantiles(times, n=20)[-1]
    print(f"{label:>22}: median {median:5.1f} ms, p95 {p95:5.1f} ms, {queries} queries, "
          f"{size:,} bytes")  # fmt: skip
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    plant = load_demo_plant()
    viewer = User.objects.create_user("bench-viewer")
    viewer.groups.add(Group.objects.get(name="viewer"))
    plant.members.add(viewer)
    now = timezone.now()
    for tag in Tag.objects.filter(machine__line__plant=plant):
        LatestValue.objects.create(tag=tag, time=now, value=1.0, good_at=now)
    client = Client()
    client.force_login(viewer)
    report("no emergency", *fetches(client, rounds))
    alarm = Alarm.objects.get(definition__tag__key="methane", definition__kind="hh")
    do_set_alarm_condition(alarm.pk, True, value=45.0, at=now)
    alarm.refresh_from_db()
    do_run_emergency_actions(alarm)
    median = report("an open emergency", *fetches(client, rounds))
    busy = TABS / REFRESH_S * median / 1000
    print(f"{TABS} tabs, one fetch each {REFRESH_S:g} s: {TABS / REFRESH_S:.0f} fetches/s, "
          f"{busy:.2f} s of one process's time each second")  # fmt: skip


if __name__ == "__main__":
    main()
