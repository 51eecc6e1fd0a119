"""The historian table on both paths: a compressed hypertable with TimescaleDB, plain otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from ingest.batch import Decoded, Row
from ingest.store import store
from plant.models import Plant, Sample, Tag
from plant.timescale import extension_installed
from tests.services import ROOT, database_url

pytestmark = pytest.mark.django_db
needs_timescale = pytest.mark.skipif(
    "not extension_available()", reason="timescaledb extension not available on this PostgreSQL"
)


def extension_available() -> bool:
    with psycopg.connect(database_url("postgres")) as conn:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
    return bool(available) and "timescaledb" in preload


def rows_for(tag: Tag, start: datetime, n: int) -> list[Row]:
    return [(tag.pk, start + timedelta(seconds=i), float(i), None, 0) for i in range(n)]


@needs_timescale
def test_with_timescaledb_samples_are_a_hypertable_compressed_by_tag() -> None:
    assert extension_installed()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, segmentby_column_index "
            "FROM timescaledb_information.compression_settings "
            "WHERE hypertable_name = 'plant_sample' AND segmentby_column_index IS NOT NULL"
        )
        assert cursor.fetchall() == [("tag_id", 1)]
        cursor.execute(
            "SELECT count(*) FROM timescaledb_information.jobs "
            "WHERE hypertable_name = 'plant_sample' AND proc_name = 'policy_compression'"
        )
        assert cursor.fetchone()[0] == 1


@needs_timescale
def test_a_redelivered_sample_in_a_compressed_chunk_adds_no_row(demo_plant: Plant) -> None:
    tag = Tag.objects.get(key="tank_level")
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    rows = rows_for(tag, old, 100)
    assert store(Decoded(rows=rows)).inserted == 100
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(compress_chunk(c)) FROM show_chunks('plant_sample') c")
        assert cursor.fetchone()[0] >= 1
    again = store(Decoded(rows=rows[50:] + rows_for(tag, old + timedelta(hours=1), 10)))
    assert (again.inserted, again.duplicates) == (10, 50)
    assert Sample.objects.filter(tag=tag).count() == 110


def test_a_batch_repeating_itself_is_stored_once(demo_plant: Plant) -> None:
    tag = Tag.objects.get(key="tank_level")
    rows = rows_for(tag, datetime(2026, 1, 1, tzinfo=UTC), 20)
    assert store(Decoded(rows=rows)).inserted == 20
    result = store(
        Decoded(rows=rows + rows[:5] + rows_for(tag, datetime(2026, 2, 1, tzinfo=UTC), 3))
    )
    assert (result.inserted, result.duplicates) == (3, 25)


@pytest.fixture
def plain_database() -> Iterator[str]:
    """A database migrated with TIMESCALEDB=off, on the same server."""
    name = f"scada_plain_{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'CREATE DATABASE "{name}"'],
        check=True,
    )
    env = {**os.environ, "DATABASE_URL": database_url(name), "TIMESCALEDB": "off"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    yield database_url(name)
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-qc",
            f'DROP DATABASE "{name}" WITH (FORCE)',
        ],
        check=True,
    )


def test_without_timescaledb_samples_are_a_plain_table_keyed_by_tag_and_time(
    plain_database: str,
) -> None:
    with psycopg.connect(plain_database) as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
            is None
        )
        (indexdef,) = conn.execute(
            "SELECT indexdef FROM pg_indexes "
            "WHERE tablename = 'plant_sample' AND indexname LIKE '%pkey'"
        ).fetchone()
    assert '(tag_id, "time")' in indexdef


def test_samples_keep_no_index_beside_the_key_but_timescaledbs_time_index() -> None:
    # Every index costs each inserted sample; (tag_id, time) already serves lookups by tag.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'plant_sample' "
            "AND indexname NOT LIKE '%pkey'"
        )
        others = [indexdef for (indexdef,) in cursor.fetchall()]
    expected = ['"time" DESC'] if extension_installed() else []
    assert [indexdef.split("(")[-1].rstrip(")") for indexdef in others] == expected
