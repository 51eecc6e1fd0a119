"""The historian's own rollups on plain PostgreSQL: kept as samples commit, read as TimescaleDB's
continuous aggregates are, and always equal to the buckets `date_bin` makes of the raw samples.

Every check compares the rollups with plant.historian's raw path (SAMPLES_SQL over the same
rows), so "the same numbers" means the numbers users saw before rollups existed; and most
compare twice, with the new samples' partials pending and once they are folded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.batch import Decoded, Row
from ingest.store import store
from plant import rollups
from plant.historian import Bucket, buckets, history, source_for
from plant.models import HourRollup, MinuteRollup, PendingRollup, Plant, Quality, Sample, Tag
from plant.timescale import extension_installed
from tests.builders import demo_tag
from tests.history_data import T0, add_samples, at, copy_rows
from tests.services import database_url

pytestmark = pytest.mark.django_db
TAG = Tag(pk=9_001, data_type=Tag.DataType.FLOAT)  # no row needed: samples hold no foreign key
ROLLUP = {60: "rollup_1m", 3600: "rollup_1h"}


@pytest.fixture(autouse=True)
def _plain_postgresql() -> None:
    if extension_installed():
        pytest.skip(
            "this test database runs TimescaleDB, whose continuous aggregates replace the "
            "rollups (tests/plant/test_historian_paths.py compares both on a plain database)"
        )


@pytest.fixture(autouse=True)
def _forget_what_each_database_keeps() -> Iterator[None]:
    """Tests that drop the trigger roll it back with their transaction; the cache must follow."""
    rollups.forget()
    yield
    rollups.forget()


def kept(width: int, tag_id: int = TAG.pk, days: int = 3) -> list[Bucket]:
    """The tag's buckets of `width` as the rollups hold them (folded and pending)."""
    return buckets(tag_id, T0 - timedelta(days=1), at(days=days), width, source=ROLLUP[width])


def raw(width: int, tag_id: int = TAG.pk, days: int = 3) -> list[Bucket]:
    """The same buckets computed from the raw samples, as the historian did before rollups."""
    return buckets(tag_id, T0 - timedelta(days=1), at(days=days), width, source="samples")


def same(left: list[Bucket], right: list[Bucket]) -> None:
    """Equal buckets; averages may differ in the last bits (sums added in another order)."""
    assert [(b.time, b.min, b.max, b.count) for b in left] == [
        (b.time, b.min, b.max, b.count) for b in right
    ]
    assert [b.avg for b in left] == pytest.approx([b.avg for b in right], rel=1e-12)


def test_plain_postgresql_reads_minutes_and_hours_from_its_rollups() -> None:
    assert rollups.rollups_available()
    assert source_for(60) == "rollup_1m"
    assert source_for(300) == "rollup_1m"
    assert source_for(3600) == "rollup_1h"
    assert source_for(86400) == "rollup_1h"
    assert source_for(30) == "samples"  # narrower than a minute: only the raw samples know
    add_samples(TAG.pk, [(at(seconds=s), float(s)) for s in range(0, 7200, 5)])
    month = history(TAG, T0, at(days=30), points=1000)
    assert (month.source, month.bucket_s, len(month.buckets)) == ("rollup_1h", 3600, 2)


def test_only_good_and_uncertain_numbers_are_rolled_up_as_the_historian_counts_them() -> None:
    copy_rows(
        [
            (TAG.pk, at(seconds=1), 10.0, None, Quality.GOOD),
            (TAG.pk, at(seconds=2), 30.0, None, Quality.UNCERTAIN),
            (TAG.pk, at(seconds=3), 999.0, None, Quality.BAD),
            (TAG.pk, at(seconds=4), None, "running", Quality.GOOD),  # text
            (TAG.pk, at(seconds=5), None, None, Quality.BAD),  # no value at all
            (TAG.pk, at(seconds=6), 7.0, None, 5),  # a code above bad reads as bad
            (TAG.pk, at(minutes=2), None, "stopped", Quality.GOOD),  # a minute of text only
            (TAG.pk, at(minutes=3), 1.0, None, Quality.BAD),  # a minute of bad values only
        ]
    )
    for width in ROLLUP:
        same(kept(width), raw(width))
    rollups.fold()
    assert [
        (r.bucket, r.min, r.max, r.avg, r.sum, r.count) for r in MinuteRollup.objects.all()
    ] == [(T0, 10.0, 30.0, 20.0, 40.0, 2)]
    assert list(HourRollup.objects.values_list("bucket", "count")) == [(T0, 2)]
    for width in ROLLUP:
        same(kept(width), raw(width))


def test_a_redelivered_batch_the_primary_key_drops_is_not_counted_twice(
    demo_plant: Plant,
) -> None:
    level = demo_tag(demo_plant, "tank_level")
    first = [Row(level.pk, at(seconds=s), float(s), None, 0) for s in range(0, 120, 2)]
    assert store(Decoded(rows=first)).inserted == 60  # COPY straight into the table
    # The broker re-sends half of it with some new values: COPY fails on the key, and the
    # staged INSERT ... ON CONFLICT DO NOTHING stores only the new ones.
    new = [Row(level.pk, at(seconds=s), 1000.0 + s, None, 0) for s in range(1, 121, 2)]
    result = store(Decoded(rows=first[30:] + new + first[:5]))
    assert (result.inserted, result.duplicates) == (60, 35)
    assert Sample.objects.filter(tag=level).count() == 120
    for width in ROLLUP:
        same(kept(width, level.pk), raw(width, level.pk))
    rollups.fold()
    assert list(MinuteRollup.objects.filter(tag=level).values_list("count", flat=True)) == [60, 60]
    assert HourRollup.objects.get(tag=level).count == 120
    for width in ROLLUP:
        same(kept(width, level.pk), raw(width, level.pk))


def test_a_late_sample_updates_its_old_bucket_at_once() -> None:
    add_samples(TAG.pk, [(at(hours=h, seconds=s), 50.0) for h in range(3) for s in range(60)])
    add_samples(TAG.pk, [(at(hours=40), 1.0)])  # the present, much later
    rollups.fold()
    add_samples(TAG.pk, [(at(seconds=30, microseconds=5), 99.0), (at(hours=1, minutes=7), -4.0)])
    late = history(TAG, T0, at(minutes=1), bucket_s=60).buckets
    assert [(b.max, b.count) for b in late] == [(99.0, 61)]  # before any fold
    for width in ROLLUP:
        same(kept(width), raw(width))
    rollups.fold()
    first = MinuteRollup.objects.get(tag_id=TAG.pk, bucket=T0)
    assert (first.max, first.count, first.sum) == (99.0, 61, 50.0 * 60 + 99.0)
    assert MinuteRollup.objects.get(tag_id=TAG.pk, bucket=at(hours=1, minutes=7)).min == -4.0
    hour = HourRollup.objects.get(tag_id=TAG.pk, bucket=at(hours=1))
    assert (hour.min, hour.count) == (-4.0, 61)
    for width in ROLLUP:
        same(kept(width), raw(width))


def test_a_rolled_back_insert_leaves_the_rollups_as_they_were() -> None:
    add_samples(TAG.pk, [(at(seconds=1), 5.0)])
    with transaction.atomic():
        add_samples(TAG.pk, [(at(seconds=2), 500.0)])
        transaction.set_rollback(True)
    assert [(b.max, b.count) for b in kept(60)] == [(5.0, 1)]
    rollups.fold()
    assert list(MinuteRollup.objects.values_list("max", "count")) == [(5.0, 1)]


def test_a_fold_moves_every_pending_partial_once() -> None:
    for s in range(5):  # five inserts into one minute: five partials
        add_samples(TAG.pk, [(at(seconds=s), float(s))])
    assert PendingRollup.objects.count() == 5
    assert rollups.fold() == 1  # one hour written
    assert not PendingRollup.objects.exists()
    assert rollups.fold() == 0
    add_samples(TAG.pk, [(at(seconds=30), 10.0)])
    rollups.fold()
    minute = MinuteRollup.objects.get()
    assert (minute.min, minute.max, minute.sum, minute.count, minute.avg) == (0, 10, 20, 6, 20 / 6)
    assert list(HourRollup.objects.values_list("sum", "count")) == [(20.0, 6)]


def test_deleting_raw_samples_keeps_the_rollups_and_the_history_reads_them() -> None:
    add_samples(TAG.pk, [(at(minutes=m, seconds=s), float(m)) for m in range(90) for s in (0, 30)])
    before = history(TAG, T0, at(hours=2), bucket_s=60).buckets
    Sample.objects.filter(tag_id=TAG.pk, time__lt=at(hours=1)).delete()  # as a retention would
    gone = history(TAG, T0, at(minutes=30))  # no raw samples left: the rollups answer
    assert (gone.source, gone.bucket_s, len(gone.buckets)) == ("rollup_1m", 60, 30)
    assert history(TAG, T0, at(hours=2), bucket_s=60).buckets == before
    rollups.fold()
    assert MinuteRollup.objects.filter(tag_id=TAG.pk).count() == 90
    assert history(TAG, T0, at(hours=2), bucket_s=60).buckets == before


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(
        st.lists(
            st.tuples(
                st.integers(0, 3),  # tag
                st.integers(0, 3 * 3600 - 1),  # second: three hours of minutes and hours
                st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
                st.sampled_from([0, 0, 0, 1, 2]),
            ),
            min_size=1,
            max_size=40,
        ),
        min_size=1,
        max_size=8,
    ),
    redeliver=st.booleans(),
)
def test_any_batches_with_repeats_and_late_values_roll_up_as_the_raw_samples_do(
    batches: list[list[tuple[int, int, float | None, int]]], redeliver: bool
) -> None:
    with transaction.atomic():
        for batch in batches + (batches[:1] if redeliver else []):
            rows = [(TAG.pk + tag, at(seconds=s), v, None, q) for tag, s, v, q in batch]
            with connection.cursor() as cursor:
                # Repeats inside and across batches: the primary key keeps the first.
                cursor.executemany(
                    "INSERT INTO plant_sample (tag_id, time, value, text, quality) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    rows,
                )
        for _ in ("pending", "folded"):
            for tag in range(4):
                for width in ROLLUP:
                    same(kept(width, TAG.pk + tag), raw(width, TAG.pk + tag))
            rollups.fold()
        transaction.set_rollback(True)


def test_rebuild_fills_the_rollups_of_samples_stored_without_them_and_changes_nothing_else() -> (
    None
):
    add_samples(TAG.pk, [(at(minutes=m), 1.0 + m) for m in range(0, 600, 7)])  # kept live
    rollups.uninstall(connection)
    assert source_for(3600) == "samples"
    add_samples(TAG.pk, [(at(days=1, minutes=m), 2.0) for m in range(0, 1500, 11)])
    add_samples(TAG.pk + 1, [(at(hours=5, seconds=s), -1.0) for s in range(100)])
    assert not MinuteRollup.objects.filter(tag_id=TAG.pk + 1).exists()
    assert rollups.install(connection)
    steps = rollups.rebuild(connection, step=timedelta(hours=12))
    assert steps == 5 + 1  # tag 1: T0 to day 2's first hours, 12 h a step; tag 2: one step
    for tag_id in (TAG.pk, TAG.pk + 1):
        for width in ROLLUP:
            same(kept(width, tag_id), raw(width, tag_id))
    once = list(MinuteRollup.objects.order_by("tag_id", "bucket").values_list())
    rollups.rebuild(connection)  # again: the same buckets, nothing counted twice
    assert list(MinuteRollup.objects.order_by("tag_id", "bucket").values_list()) == once


def test_rebuild_keeps_the_buckets_whose_raw_samples_are_gone() -> None:
    add_samples(TAG.pk, [(at(hours=h), 3.0) for h in range(48)])
    Sample.objects.filter(tag_id=TAG.pk, time__gte=at(hours=10), time__lt=at(hours=20)).delete()
    rollups.rebuild(connection, tags=[TAG.pk])
    assert HourRollup.objects.filter(tag_id=TAG.pk).count() == 48
    assert MinuteRollup.objects.filter(tag_id=TAG.pk).count() == 48


def test_rebuild_refuses_a_step_of_part_of_an_hour() -> None:
    with pytest.raises(ValueError, match="whole hours"):
        rollups.rebuild(connection, step=timedelta(minutes=90))


def test_the_command_says_what_it_keeps_and_rebuilds_what_is_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rollups.uninstall(connection)
    add_samples(TAG.pk, [(at(hours=1), 4.0)])
    add_samples(TAG.pk + 1, [(at(hours=1), 5.0)])
    with pytest.raises(CommandError, match="rollups --rebuild"):
        call_command("rollups")
    with pytest.raises(CommandError, match="add --rebuild"):
        call_command("rollups", "--tag", str(TAG.pk))
    call_command("rollups", "--rebuild", "--tag", str(TAG.pk), "--since", "2031-03-03T00:30Z")
    assert list(HourRollup.objects.values_list("tag_id", "max")) == [(TAG.pk, 4.0)]
    assert "rebuilt in 1 steps" in capsys.readouterr().out
    add_samples(TAG.pk + 1, [(at(hours=2), 6.0)])  # the trigger is back
    rollups.fold()
    assert HourRollup.objects.get(tag_id=TAG.pk + 1).count == 1
    call_command("rollups")
    assert "kept as samples commit" in capsys.readouterr().out


def test_the_command_refuses_a_time_without_its_zone() -> None:
    with pytest.raises(CommandError, match="ISO 8601 time with its zone"):
        call_command("rollups", "--rebuild", "--since", "2031-03-03 00:30")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_writers_and_folds_count_each_sample_once() -> None:
    """Writers into one minute never wait for each other; a second fold waits for the first's
    partials, then finds them gone."""
    url = database_url(connection.settings_dict["NAME"])
    sql = "INSERT INTO plant_sample (tag_id, time, value, quality) VALUES (%s, %s, %s, 0)"
    with psycopg.connect(url) as first, psycopg.connect(url) as second:
        second.execute("SET lock_timeout = '10s'")  # waiting for `first` fails the test
        first.execute(sql, [TAG.pk, at(seconds=1), 1.0])
        second.execute(sql, [TAG.pk, at(seconds=2), 2.0])
        second.execute("SET lock_timeout = 0")
        second.commit()
        first.commit()
        first.execute(rollups.FOLD_SQL)  # holds the partials it moves until it commits
        folded = []
        other = threading.Thread(target=lambda: folded.append(fold_and_commit(second)))
        other.start()
        wait_until_blocked(url, second.info.backend_pid)
        first.commit()
        other.join(timeout=30)
    assert folded == [0]  # the second fold found nothing left to move
    assert list(MinuteRollup.objects.values_list("sum", "count")) == [(3.0, 2)]
    assert list(HourRollup.objects.values_list("sum", "count")) == [(3.0, 2)]
    assert not PendingRollup.objects.exists()


def fold_and_commit(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    cursor = conn.execute(rollups.FOLD_SQL)
    conn.commit()
    return cursor.rowcount


def wait_until_blocked(url: str, pid: int) -> None:
    """Until the backend `pid` waits for a lock (rows another fold moves)."""
    with psycopg.connect(url, autocommit=True) as watcher:
        for _ in range(3000):
            found = watcher.execute(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()
            if found and found[0]:
                return
            watcher.execute("SELECT pg_sleep(0.01)")
    raise AssertionError(f"backend {pid} never waited for a lock")


def test_bucket_boundaries_follow_utc_whatever_the_session_time_zone() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'Asia/Kathmandu'")  # +05:45
        add_samples(TAG.pk, [(at(minutes=59, seconds=59), 1.0), (at(hours=1), 2.0)])
        rollups.fold()
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")  # Django reads times as if in UTC
    hours = list(HourRollup.objects.order_by("bucket").values_list("bucket", "count"))
    assert hours == [(T0, 1), (at(hours=1), 1)]
