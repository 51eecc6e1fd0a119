"""History from a PostgreSQL streaming replica (plant/read_replica.py), on real clusters: a
private primary, a hot standby made from it with pg_basebackup, and a daphne reading through
both. Pausing the standby's replay proves which one answered."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.browser.conftest import Daphne, served_database_url
from tests.services import ROOT, Postgres, psql

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@dataclass
class Clusters:
    primary: Postgres
    standby: Postgres
    web: Daphne
    token: str
    tag: int

    def primary_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.primary.port}/scada"

    def standby_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.standby.port}/scada"

    def sql(self, url: str, statement: str) -> str:
        return psql(url, statement)

    def add_samples(self, start: datetime, count: int) -> None:
        self.sql(
            self.primary_url(),
            f"""
            INSERT INTO plant_sample (tag_id, time, value, quality)
            SELECT {self.tag}, '{start.isoformat()}'::timestamptz + n * interval '1 second',
                   500 + n % 7, 0 FROM generate_series(0, {count - 1}) AS n""",
        )

    def history(self, start: datetime, end: datetime) -> list[float]:
        answer = requests.get(
            f"{self.web.url}/api/history/",
            params={"tag": self.tag, "start": start.isoformat(), "end": end.isoformat(),
                    "points": 10_000},
            headers={"Authorization": f"Bearer {self.token}"}, timeout=10,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        (series,) = answer.json()["series"]
        return list(series["value"])


def manage(url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "TIMESCALEDB": "off"}
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture
def clusters(db: None, tmp_path: Path) -> Iterator[Clusters]:
    primary = Postgres()
    primary.start()
    standby: Postgres | None = None
    web: Daphne | None = None
    try:
        url = f"postgres://postgres@127.0.0.1:{primary.port}/scada"
        subprocess.run(["psql", "-d", primary.url, "-qc", "CREATE DATABASE scada"], check=True)
        # The schema and the migrations' rows of this session's test database: a copy in a
        # second, where migrating a new database takes half a minute on a busy box.
        schema = subprocess.run(["pg_dump", "-d", served_database_url(), "--no-owner"],
                                check=True, capture_output=True).stdout  # fmt: skip
        subprocess.run(["psql", "-d", url, "-q", "-v", "ON_ERROR_STOP=1"], input=schema,
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        manage(url, "load_demo", "--no-users")
        out = manage(url, "shell", "-c", (
            "from django.contrib.auth.models import User, Group; from plant.models import *; "
            "u = User.objects.create_user('reader'); "
            "u.groups.add(Group.objects.get(name='viewer')); "
            "Plant.objects.get().members.add(u); _, secret = ApiToken.issue(u, 'replica test'); "
            "print(secret, Tag.objects.get(key='fill_level').pk)"
        ))  # fmt: skip
        token, tag = out.strip().splitlines()[-1].split()
        standby = Postgres.standby_of(primary)
        standby.start()
        web = Daphne(tmp_path / "daphne.log")
        found = Clusters(primary, standby, web, token, int(tag))
        web.env |= {"DATABASE_URL": url, "DATABASE_REPLICA_URL": found.standby_url(),
                    "TIMESCALEDB": "off"}  # fmt: skip
        web.start()
        yield found
    finally:
        if web is not None:
            web.stop()
        if standby is not None:
            standby.close()
        primary.close()


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.1)


@pytest.mark.timeout(300)  # two clusters and a daphne to start, on a box that may be busy
def test_history_is_read_from_the_replica_and_from_the_primary_when_it_is_gone(
    clusters: Clusters,
) -> None:
    c = clusters
    end = T0 + timedelta(hours=1)
    c.add_samples(T0, 600)
    wait_for(lambda: c.sql(c.standby_url(), "SELECT count(*) FROM plant_sample") == "600")
    assert len(c.history(T0, end)) == 600
    # Hold the standby where it is: what the primary gets now, a replica-read API cannot see.
    assert c.sql(c.standby_url(), "SELECT pg_is_in_recovery()") == "t"
    c.sql(c.standby_url(), "SELECT pg_wal_replay_pause()")
    wait_for(lambda: c.sql(c.standby_url(), "SELECT pg_get_wal_replay_pause_state()") == "paused")
    c.add_samples(T0 + timedelta(minutes=10), 600)
    assert c.sql(c.primary_url(), "SELECT count(*) FROM plant_sample") == "1200"
    assert len(c.history(T0, end)) == 600  # the replica's answer
    # The export reads the replica too.
    csv = requests.get(
        f"{c.web.url}/history/export.csv",
        params={"tag": c.tag, "start": T0.isoformat(), "end": end.isoformat()},
        headers={"Authorization": f"Bearer {c.token}"}, timeout=10,
    )  # fmt: skip
    assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == 1 + 600
    c.sql(c.standby_url(), "SELECT pg_wal_replay_resume()")
    wait_for(lambda: len(c.history(T0, end)) == 1200)
    # Without the replica, the primary answers (and the daphne log says why).
    c.standby.stop("immediate")
    c.add_samples(T0 + timedelta(minutes=20), 600)
    assert len(c.history(T0, end)) == 1800
    assert "the read replica cannot be reached" in c.web.log.read_text()
    # Writes and the latest values never went to the replica (it refuses writes: a hot standby
    # is read-only), so a page that writes a session works throughout.
    assert requests.get(f"{c.web.url}/accounts/login/", timeout=10).status_code == 200


def analytics_answers(c: Clusters, ids: dict[str, str], day: str) -> dict[str, object]:
    """Every analytics API and export over a fixed window (yesterday), as the reader sees it;
    the one field that is the time of asking ("time") left out."""
    start, end = f"{day}T00:00:00+00:00", f"{day}T23:59:59+00:00"
    asked = {
        "oee_api": ("/api/oee/", {"machine": ids["machine"], "period": "range", "start": start,
                                 "end": end}),
        "oee_export": ("/oee/export.csv", {"machine": ids["machine"], "period": "range",
                                          "start": start, "end": end}),
        "quality_api": ("/api/quality/", {"tag": ids["spc"], "start": start, "end": end}),
        "quality_charts": ("/api/quality/charts/", {"tag": ids["spc"], "start": start,
                                                   "end": f"{day}T12:00:00+00:00"}),
        "quality_export": ("/quality/export.csv", {"tag": ids["spc"], "start": start, "end": end}),
        "maintenance_api": ("/api/maintenance/", {"plant": ids["plant"]}),
        "energy_api": ("/api/energy/", {"plant": ids["plant"], "first": day, "last": day}),
        "energy_export": ("/energy/export.csv", {"plant": ids["plant"], "first": day, "last": day}),
    }  # fmt: skip
    answers: dict[str, object] = {}
    for name, (path, params) in asked.items():
        answer = requests.get(f"{c.web.url}{path}", params=params, timeout=30,
                              headers={"Authorization": f"Bearer {c.token}"})  # fmt: skip
        assert answer.status_code == 200, f"{name}: {answer.status_code} {answer.text[:500]}"
        if answer.headers["Content-Type"].startswith("application/json"):
            body = answer.json()
            body.pop("time", None)
            answers[name] = body
        else:
            answers[name] = answer.text
    return answers


@pytest.mark.timeout(300)  # as above
def test_analytics_are_read_from_the_replica_and_the_workers_jobs_from_the_primary(
    clusters: Clusters,
) -> None:
    c = clusters
    ids = dict(zip(("plant", "machine", "spc"), c.sql(c.primary_url(), (
        "SELECT (SELECT min(id) FROM plant_plant), (SELECT min(machine_id) FROM plant_oeemachine),"
        " (SELECT min(tag_id) FROM plant_spcsettings)"
    )).split("|"), strict=True))  # fmt: skip
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    day = yesterday.isoformat()
    before = analytics_answers(c, ids, day)
    # The standby stops replaying; yesterday's and the last hours' samples of every numeric
    # tag of the plant (rising values: counters count, states change, readings move) reach
    # the primary only.
    c.sql(c.standby_url(), "SELECT pg_wal_replay_pause()")
    wait_for(lambda: c.sql(c.standby_url(), "SELECT pg_get_wal_replay_pause_state()") == "paused")
    c.sql(c.primary_url(), f"""
        INSERT INTO plant_sample (tag_id, time, value, quality)
        SELECT t.id, w.start + n * interval '30 seconds', n % 5 + n * 0.01, 0
        FROM plant_tag t,
             (VALUES ('{day}T06:00:00+00:00'::timestamptz), (now() - interval '3 hours'))
               AS w(start),
             generate_series(0, 359) AS n
        WHERE t.data_type IN ('float', 'int')""")  # fmt: skip
    paused = analytics_answers(c, ids, day)
    changed = [name for name in before if paused[name] != before[name]]
    assert changed == [], (
        f"read from the primary while the replica was held: {changed}: "
        + "; ".join(f"{n}: {before[n]} -> {paused[n]}" for n in changed)
    )
    # The same reads in a process without history_reads() (the ingest worker's analytics
    # jobs, a POST that shows what it wrote) see the primary's samples at once.
    now = "datetime.now(UTC)"
    check = (
        "from datetime import UTC, datetime, timedelta; from django.test import RequestFactory; "
        "from plant import spc_history, read_replica; "
        f"count = lambda: len(spc_history.values({ids['spc']}, {now} - timedelta(hours=4), "
        f"{now})); "
        "view = read_replica.reads_history(lambda request: count()); rf = RequestFactory(); "
        "print(count(), view(rf.get('/')), view(rf.post('/')))"
    )
    out = manage_with_replica(c.primary_url(), c.standby_url(), "shell", "-c", check)
    plain, get, post = out.strip().splitlines()[-1].split()
    assert (plain, get, post) == ("360", "0", "360"), out
    c.sql(c.standby_url(), "SELECT pg_wal_replay_resume()")
    wait_for(lambda: analytics_answers(c, ids, day) != before, timeout=60)
    after = analytics_answers(c, ids, day)
    unchanged = [name for name in before if after[name] == before[name]]
    assert unchanged == [], (
        f"these answers do not depend on the samples, so prove nothing: {unchanged}"
    )


def manage_with_replica(url: str, replica_url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_REPLICA_URL": replica_url,
           "TIMESCALEDB": "off"}  # fmt: skip
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stderr[-3000:]}"
    return done.stdout
