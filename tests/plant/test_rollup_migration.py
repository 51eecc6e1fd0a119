"""An existing plain-PostgreSQL database gets its rollups from migration 0031, samples and all."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.services import ROOT, database_url

START = datetime(2026, 3, 2, tzinfo=UTC)
BUCKETS_SQL = """
SELECT tag_id, date_bin(%(width)s * INTERVAL '1 second', time, TIMESTAMPTZ '2000-01-03Z'),
       min(value), max(value), sum(value), count(value)
FROM plant_sample WHERE value IS NOT NULL AND quality < 2 GROUP BY 1, 2 ORDER BY 1, 2
"""
ROLLUP_SQL = "SELECT tag_id, bucket, min, max, sum, count FROM {table} ORDER BY 1, 2"


def migrate(url: str, *target: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "TIMESCALEDB": "off"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0", *target], cwd=ROOT, env=env, check=True
    )


@pytest.fixture
def database() -> Iterator[str]:
    name = f"scada_rollup_migration_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield database_url(name)
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_migration_rolls_up_the_samples_already_stored(database: str) -> None:
    migrate(database, "plant", "0030_user_preferences")
    sql = "COPY plant_sample (tag_id, time, value, quality) FROM STDIN"
    with psycopg.connect(database) as conn, conn.cursor() as cursor, cursor.copy(sql) as copy:
        for i in range(3 * 24 * 360):  # three days of two tags every 10 s
            at = START + timedelta(seconds=10 * i)
            copy.write_row((1, at, float(i % 97), 2 if i % 50 == 0 else 0))
            copy.write_row((2, at, None if i % 3 else -float(i), 0))
    migrate(database)
    with psycopg.connect(database) as conn:
        for table, width in (("plant_rollup_1m", 60), ("plant_rollup_1h", 3600)):
            rolled = conn.execute(ROLLUP_SQL.format(table=table)).fetchall()
            expected = conn.execute(BUCKETS_SQL, {"width": width}).fetchall()
            assert len(rolled) == len(expected) > 0
            for ours, theirs in zip(rolled, expected, strict=True):
                assert ours[:4] == theirs[:4] and ours[5] == theirs[5]
                assert ours[4] == pytest.approx(theirs[4], rel=1e-12)
        assert conn.execute("SELECT count(*) FROM plant_rollup_pending").fetchone() == (0,)
        # And from now on the trigger keeps them.
        conn.execute(
            "INSERT INTO plant_sample (tag_id, time, value, quality) VALUES (3, now(), 1, 0)"
        )
        assert conn.execute("SELECT count FROM rollup_1m WHERE tag_id = 3").fetchone() == (1,)
