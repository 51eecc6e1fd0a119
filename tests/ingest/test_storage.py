"""The historian table on both paths: a compressed hypertable with TimescaleDB, plain otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import DataError, connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from ingest.batch import Deadband, Decoded, Message, Rejection, Row
from ingest.retention import purge_rejections
from ingest.store import store
from ingest.tagcache import TagCache
from ingest.worker import _store_one_by_one
from plant.models import LatestValue, Plant, RejectedMessage, Sample, Tag, UnknownTopic
from plant.models.history import RejectionTally
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
    return [Row(tag.pk, start + timedelta(seconds=i), float(i), None, 0) for i in range(n)]


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
        ["psql", "-d", database_url("postgres"), "-qc", f'CREATE DATABASE "{name}"'],
        check=True,
    )
    env = {**os.environ, "DATABASE_URL": database_url(name), "TIMESCALEDB": "off"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    yield database_url(name)
    subprocess.run(
        ["psql", "-d", database_url("postgres"), "-qc", f'DROP DATABASE "{name}" WITH (FORCE)'],
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


# --- hostile input: storing never fails on what a message holds ---------------------------------


def rejection(
    topic: str,
    reason: str = "refused",
    received: datetime | None = None,
    unknown_topic: bool = False,
) -> Rejection:
    """A refused message of one byte, as the batch decoder makes them."""
    return Rejection(topic, reason, b"x", 1, received or datetime.now(UTC), unknown_topic)


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("t" * 1100, "unknown topic: no tag has it"),
        ("t" * 60_000, "unknown topic: no tag has it"),
        ("a\x00b", "unknown topic: no tag has it"),  # brokers other than Mosquitto pass NUL on
        ("ok/topic", "'k\x00ey': refused"),
        ("ok/topic", "value \ud800 refused"),  # JSON can spell a lone surrogate
        ("ok/topic", "r" * 5000),
    ],
)
def test_a_rejection_is_stored_cut_and_cleaned_whatever_its_topic_and_reason(
    topic: str, reason: str
) -> None:
    assert store(Decoded(rejected=[rejection(topic, reason, unknown_topic=True)])).rejected == 1
    stored = RejectedMessage.objects.get()
    assert topic.startswith(stored.topic.replace("\\x00", "\x00")[:1000])
    assert len(stored.topic) <= 1024 and len(stored.reason) <= 300
    assert "\x00" not in stored.topic + stored.reason
    assert UnknownTopic.objects.get().topic == stored.topic


rejections = st.builds(
    rejection,
    st.text(max_size=2000) | st.integers(1000, 70_000).map(lambda n: "t" * n),
    st.text(max_size=400),
    unknown_topic=st.booleans(),
    received=st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001 (hypothesis takes naive bounds)
        timezones=st.just(UTC),
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(rejections, min_size=1, max_size=6))
def test_any_rejections_are_stored_without_failing_the_batch(batch: list[Rejection]) -> None:
    before = RejectedMessage.objects.count()
    rows = rows_for(Tag.objects.first(), datetime.now(UTC), 1) if Tag.objects.exists() else []
    assert store(Decoded(rows=rows, rejected=batch)).rejected == len(batch)
    assert RejectedMessage.objects.count() == before + len(batch)


def test_text_psycopg_cannot_send_is_a_refusal_the_worker_handles_not_a_crash(
    demo_plant: Plant,
) -> None:
    state = Tag.objects.get(key="state")
    with pytest.raises(DataError):  # the worker then stores the batch apart (see below)
        store(Decoded(rows=[Row(state.pk, datetime.now(UTC), None, "a\ud800", 0)]))


def test_a_message_the_database_cannot_take_costs_only_itself(demo_plant: Plant) -> None:
    tags = TagCache()
    tags.refresh()
    level = Tag.objects.get(key="tank_level")
    bogus = replace(tags.by_topic[level.topic], id=2**63, topic="x/bogus")  # beyond int8
    tags.by_topic[bogus.topic] = bogus
    batch = [Message(level.topic, str(i).encode(), 1_790_000_000.0 + i) for i in range(6)]
    batch.insert(3, Message(bogus.topic, b"1", 1_790_000_003.5))
    result = _store_one_by_one(batch, tags, Deadband())
    assert (result.inserted, result.rejected) == (6, 1)
    assert [s.value for s in Sample.objects.filter(tag=level).order_by("time")] == list(range(6))
    assert RejectedMessage.objects.get().reason.startswith("database refused it:")


def test_a_latest_value_of_a_deleted_tag_is_skipped_not_fatal_to_the_batch(
    demo_plant: Plant,
) -> None:
    gone, kept = Tag.objects.get(key="tank_level"), Tag.objects.get(key="power")
    now, gone_id = datetime.now(UTC), gone.pk
    latest = [Row(gone_id, now, 1.0, None, 0), Row(kept.pk, now, 2.0, None, 0)]
    gone.delete()  # while the worker still holds its latest value
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # checked as at commit, in this test
    store(Decoded(rows=[Row(gone_id, now, 1.0, None, 0)]), latest)
    assert LatestValue.objects.get(tag=kept).value == 2.0
    assert Sample.objects.filter(tag_id=gone_id).count() == 1  # history of deleted tags is kept


def test_a_held_latest_value_timed_in_the_future_gives_way_to_a_current_one(
    demo_plant: Plant,
) -> None:
    level = Tag.objects.get(key="tank_level")
    now = datetime.now(UTC)
    LatestValue.objects.create(tag=level, time=now + timedelta(minutes=4), value=9.0)  # pre-fix
    store(Decoded(), [Row(level.pk, now, 7.0, None, 0)])
    assert LatestValue.objects.get(tag=level).value == 7.0
    store(Decoded(), [Row(level.pk, now - timedelta(seconds=1), 5.0, None, 0)])
    assert LatestValue.objects.get(tag=level).value == 7.0  # an older value still loses


# --- retention: bounded by age and count, the daily counts kept --------------------------------


def test_rejections_are_counted_per_day_in_the_batch_transaction() -> None:
    day = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    store(
        Decoded(
            rejected=[
                rejection("a", received=day),
                rejection("b", received=day, unknown_topic=True),
            ]
        )
    )
    store(
        Decoded(rejected=[rejection("b", received=day + timedelta(minutes=2), unknown_topic=True)])
    )
    tallies = {
        t.day.isoformat(): (t.rejected, t.unknown_topic) for t in RejectionTally.objects.all()
    }
    assert tallies == {"2026-03-01": (2, 1), "2026-03-02": (1, 1)}


def test_old_rejections_and_unknown_topics_are_purged_and_still_counted() -> None:
    now = datetime.now(UTC)
    store(
        Decoded(rejected=[rejection("old", received=now - timedelta(days=40), unknown_topic=True)])
    )
    store(Decoded(rejected=[rejection("week", received=now - timedelta(days=8))]))
    store(
        Decoded(rejected=[rejection("new", received=now - timedelta(days=1), unknown_topic=True)])
    )
    assert purge_rejections(now) == 3  # two rejected messages, one unknown topic
    assert [r.topic for r in RejectedMessage.objects.all()] == ["new"]
    assert [u.topic for u in UnknownTopic.objects.all()] == ["new"]
    assert sum(t.rejected for t in RejectionTally.objects.all()) == 3


def test_rejections_beyond_the_cap_are_purged_newest_kept() -> None:
    now = datetime.now(UTC)
    for i in range(25):
        store(
            Decoded(
                rejected=[
                    rejection(f"t{i}", received=now - timedelta(seconds=25 - i), unknown_topic=True)
                ]
            )
        )
    assert purge_rejections(now, rejected_cap=10, unknown_cap=5) == 15 + 20
    assert {r.topic for r in RejectedMessage.objects.all()} == {f"t{i}" for i in range(15, 25)}
    assert {u.topic for u in UnknownTopic.objects.all()} == {f"t{i}" for i in range(20, 25)}
    assert purge_rejections(now, rejected_cap=10, unknown_cap=5) == 0


def test_a_rejection_that_cannot_be_stored_is_counted_and_costs_nothing_else(
    demo_plant: Plant,
) -> None:
    level = Tag.objects.get(key="tank_level")
    unstorable = REGISTRY.get_sample_value("scada_ingest_unstorable_total") or 0.0
    impossible = replace(rejection("huge"), size=-1)  # refused by the column's CHECK (>= 0)
    result = store(
        Decoded(rows=rows_for(level, datetime.now(UTC), 3), rejected=[rejection("a"), impossible])
    )
    assert (result.inserted, result.rejected) == (3, 2)
    assert [r.topic for r in RejectedMessage.objects.all()] == ["a"]
    assert REGISTRY.get_sample_value("scada_ingest_unstorable_total") == unstorable + 1
    assert RejectionTally.objects.get().rejected == 2  # counted all the same
