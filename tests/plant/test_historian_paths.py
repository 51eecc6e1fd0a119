"""Both historian paths give the same answers: TimescaleDB's continuous aggregates, and
plain PostgreSQL's own rollups (plant/rollups.py), or `date_bin` over its samples table.

Two fresh databases on the same server, one migrated with TimescaleDB and one with
TIMESCALEDB=off, get the same samples; the aggregates are refreshed as their policy would.
The plain database's rollups are compared with its raw samples even where the server has no
TimescaleDB.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import DatabaseWrapper

from plant.historian import Bucket, History, buckets, history, source_for
from plant.models import Tag
from plant.rollups import fold, rollups_available
from plant.timescale import aggregates_available, apply_storage_policies, extension_installed
from tests.history_data import Row, copy_rows
from tests.services import database_url, fresh_database

pytestmark = pytest.mark.django_db
NO_TIMESCALE = "timescaledb extension not available on this PostgreSQL"
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; two days of data follow
TAG = Tag(pk=1, data_type=Tag.DataType.FLOAT)
LATE = Tag(pk=2, data_type=Tag.DataType.FLOAT)  # written to while the tests run


def samples() -> Iterator[Row]:
    """Two days of a noisy sine every 10 s, with spikes, bad values, nulls and a 3-hour gap."""
    noise = random.Random(7)
    for i in range(2 * 8640):
        at = START + timedelta(seconds=10 * i + noise.randint(0, 9))
        if START + timedelta(hours=20) <= at < START + timedelta(hours=23):
            continue  # the gap
        value = 50 + 20 * math.sin(i / 300) + noise.random()
        quality = 2 if i % 997 == 0 else 1 if i % 101 == 0 else 0
        if i % 1009 == 0:
            value *= 3  # a spike
        yield (TAG.pk, at, None if i % 499 == 0 else value, None, quality)


def open_database(name: str, timescaledb: str) -> BaseDatabaseWrapper:
    fresh_database(name, timescaledb)
    with psycopg.connect(database_url(name), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO plant_plant (name, slug, time_zone, description) "
            "VALUES ('P', 'p', 'UTC', '')"
        )
    wrapper = DatabaseWrapper({**connection.settings_dict, "NAME": name}, alias=name)
    copy_rows(samples(), wrapper)
    return wrapper


def refresh(name: str) -> None:
    """What the refresh policies do, at once, for every bucket up to now."""
    with psycopg.connect(database_url(name), autocommit=True) as conn:
        for view in ("sample_1m", "sample_1h"):
            conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, now())")


@pytest.fixture(scope="module")
def paths(django_db_blocker: pytest.FixtureRequest) -> Iterator[dict[str, BaseDatabaseWrapper]]:
    """{"timescale": ..., "plain": ...}: connections to the two databases, same samples."""
    base = connection.settings_dict["NAME"].removeprefix("test_")
    names = {"timescale": f"{base}_paths_ts", "plain": f"{base}_paths_plain"}
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        wrappers = {
            "timescale": open_database(names["timescale"], "auto"),
            "plain": open_database(names["plain"], "off"),
        }
        if extension_installed(wrappers["timescale"]):
            refresh(names["timescale"])
        yield wrappers
        for wrapper in wrappers.values():
            wrapper.close()
    for name in names.values():
        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def timescale(paths: dict[str, BaseDatabaseWrapper]) -> BaseDatabaseWrapper:
    if not extension_installed(paths["timescale"]):
        pytest.skip(NO_TIMESCALE)
    return paths["timescale"]


def same(left: list[Bucket], right: list[Bucket]) -> None:
    """Equal buckets; averages may differ in the last bits (sums in another order)."""
    assert [(b.time, b.min, b.max, b.count) for b in left] == [
        (b.time, b.min, b.max, b.count) for b in right
    ]
    assert [b.avg for b in left] == pytest.approx([b.avg for b in right], rel=1e-12)


def read(wrapper: BaseDatabaseWrapper, start: datetime, end: datetime, **how: int) -> History:
    return history(TAG, start, end, connection=wrapper, **how)


def test_the_plain_database_keeps_rollups_instead_of_aggregates(
    paths: dict[str, BaseDatabaseWrapper],
) -> None:
    assert not aggregates_available(paths["plain"])
    assert rollups_available(paths["plain"])
    assert source_for(3600, paths["plain"]) == "rollup_1h"
    assert read(paths["plain"], START, START + timedelta(days=2), points=1000).source == (
        "rollup_1m"
    )
    assert read(paths["plain"], START, START + timedelta(days=2), points=40).source == ("rollup_1h")
    assert source_for(90, paths["plain"]) == "samples"


@pytest.mark.parametrize("width", [60, 120, 900, 3600, 7200, 5 * 3600, 86400])
def test_the_plain_rollups_give_the_buckets_of_the_raw_samples(
    paths: dict[str, BaseDatabaseWrapper], width: int
) -> None:
    plain = paths["plain"]
    start, end = START, START + timedelta(days=2)
    expected = buckets(TAG.pk, start, end, width, source="samples", connection=plain)
    assert expected, "the range holds data"
    for _ in ("pending", "folded"):  # the first run folds; the others find nothing pending
        rolled = buckets(
            TAG.pk, start, end, width, source=source_for(width, plain), connection=plain
        )
        same(rolled, expected)
        fold(plain)


def test_long_ranges_read_the_aggregates(timescale: BaseDatabaseWrapper) -> None:
    assert aggregates_available(timescale)
    assert read(timescale, START, START + timedelta(days=2), points=1000).source == "sample_1m"
    assert read(timescale, START, START + timedelta(days=2), points=40).source == "sample_1h"
    assert source_for(90, timescale) == "samples"


@pytest.mark.parametrize("width", [5, 30, 60, 120, 900, 3600, 7200, 5 * 3600, 86400])
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START, START + timedelta(days=2)),
        (START + timedelta(hours=3, seconds=17), START + timedelta(hours=30, minutes=1)),
        (START + timedelta(hours=19), START + timedelta(hours=24)),  # around the gap
    ],
)
def test_both_paths_give_the_same_buckets(
    timescale: BaseDatabaseWrapper,
    paths: dict[str, BaseDatabaseWrapper],
    width: int,
    start: datetime,
    end: datetime,
) -> None:
    ours, theirs = (
        read(timescale, start, end, bucket_s=width),
        read(paths["plain"], start, end, bucket_s=width),
    )
    assert (ours.start, ours.end) == (theirs.start, theirs.end)
    assert ours.buckets, "the range holds data"
    same(ours.buckets, theirs.buckets)


def test_both_paths_give_the_same_raw_samples(
    timescale: BaseDatabaseWrapper, paths: dict[str, BaseDatabaseWrapper]
) -> None:
    start, end = START + timedelta(hours=1), START + timedelta(hours=2)
    ours, theirs = read(timescale, start, end), read(paths["plain"], start, end)
    assert ours.source == theirs.source == "raw"
    assert ours.samples == theirs.samples
    assert len(ours.samples) == 360


def test_a_fresh_tail_shows_at_once_and_late_data_after_the_next_refresh(
    timescale: BaseDatabaseWrapper, paths: dict[str, BaseDatabaseWrapper]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    tail = [(LATE.pk, now - timedelta(seconds=s), 42.0 + s, None, 0) for s in range(1, 600)]
    late = [(LATE.pk, START + timedelta(hours=21, seconds=s), 7.0, None, 0) for s in range(60)]
    for wrapper in paths.values():
        copy_rows(tail + late, wrapper)
    # The tail is newer than anything materialised: the real-time part reads it raw.
    recent = (now - timedelta(hours=1), now)
    ours, theirs = late_read(timescale, *recent), late_read(paths["plain"], *recent)
    assert sum(b.count for b in theirs.buckets) == 599
    same(ours.buckets, theirs.buckets)
    # Values that arrive for an already materialised hour show once a refresh covers it.
    old = (START + timedelta(hours=20), START + timedelta(hours=23))
    assert late_read(timescale, *old).buckets == []
    refresh(timescale.settings_dict["NAME"])
    ours, theirs = late_read(timescale, *old), late_read(paths["plain"], *old)
    assert [b.count for b in theirs.buckets] == [60]
    same(ours.buckets, theirs.buckets)


def late_read(wrapper: BaseDatabaseWrapper, start: datetime, end: datetime) -> History:
    return history(
        LATE,
        start,
        end,
        bucket_s=3600 if end - start > timedelta(hours=1) else 60,
        connection=wrapper,
    )


def test_a_range_whose_raw_samples_were_dropped_still_comes_from_the_aggregates(
    timescale: BaseDatabaseWrapper, paths: dict[str, BaseDatabaseWrapper]
) -> None:
    # Last in this module: it drops the first day's raw samples, as a retention policy would.
    with psycopg.connect(database_url(timescale.settings_dict["NAME"]), autocommit=True) as conn:
        conn.execute(
            "SELECT drop_chunks('plant_sample', older_than => %s)", [START + timedelta(days=1)]
        )
    hour = (START + timedelta(hours=1), START + timedelta(hours=2))
    kept = read(timescale, *hour)
    assert (kept.source, kept.bucket_s, len(kept.buckets)) == ("sample_1m", 60, 60)
    same(kept.buckets, read(paths["plain"], *hour, bucket_s=60).buckets)
    assert read(paths["plain"], *hour).source == "raw"  # plain PostgreSQL still has them raw


def jobs(wrapper: BaseDatabaseWrapper) -> dict[str, str]:
    with wrapper.cursor() as cursor:
        cursor.execute(
            "SELECT proc_name, coalesce(config->>'compress_after', config->>'drop_after') "
            "FROM timescaledb_information.jobs WHERE hypertable_name = 'plant_sample'"
        )
        return dict(cursor.fetchall())


def test_compression_and_retention_follow_the_settings(timescale: BaseDatabaseWrapper) -> None:
    assert jobs(timescale) == {"policy_compression": "7 days"}  # the defaults
    assert apply_storage_policies(timescale, "14 days", "3 months")
    assert jobs(timescale) == {"policy_compression": "14 days", "policy_retention": "3 mons"}
    assert apply_storage_policies(timescale, None, None)
    assert jobs(timescale) == {}
    apply_storage_policies(timescale, "7 days", None)
    with timescale.cursor() as cursor:
        cursor.execute(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates"
        )
        assert sorted(cursor.fetchall()) == [("sample_1h", False), ("sample_1m", False)]
        cursor.execute(
            "SELECT count(*) FROM timescaledb_information.jobs "
            "WHERE proc_name = 'policy_refresh_continuous_aggregate'"
        )
        assert cursor.fetchone()[0] == 2


def test_the_plain_database_has_no_policies_to_apply(paths: dict[str, BaseDatabaseWrapper]) -> None:
    assert not apply_storage_policies(paths["plain"], "7 days", "3 months")
