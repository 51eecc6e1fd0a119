"""Downsampling on the real database: bucket boundaries, spikes kept, gaps left as gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plant import historian
from plant.actions.setpoints import do_request_setpoint
from plant.historian import HistoryError, align, bucket_for, history
from plant.markers import MarkerSource, markers
from plant.models import Plant, Quality, Tag
from tests.builders import demo_tag, record_value
from tests.history_data import T0, add_samples, add_series, at, copy_rows


@pytest.fixture
def level(demo_plant: Plant) -> Tag:
    return demo_tag(demo_plant, "tank_level")


def test_a_bucket_is_the_narrowest_round_width_that_fits_the_points() -> None:
    assert bucket_for(T0, at(hours=1), 1000) == 5
    assert bucket_for(T0, at(days=1), 1000) == 120
    assert bucket_for(T0, at(days=30), 1000) == 3600
    assert bucket_for(T0, at(days=365 * 10), 1000) == 4 * 86400


def test_a_range_is_widened_to_whole_buckets_counted_from_the_origin() -> None:
    start, end = at(minutes=1, seconds=30), at(minutes=4, seconds=1)
    assert align(start, end, 60) == (at(minutes=1), at(minutes=5))
    assert align(at(minutes=1), at(minutes=5), 60) == (at(minutes=1), at(minutes=5))
    # Widths that do not divide a day still start at the origin's multiples, not at midnight.
    origin = datetime(2000, 1, 3, tzinfo=UTC)
    first, _ = align(T0, at(hours=1), 7 * 3600)
    assert (first - origin) % timedelta(hours=7) == timedelta(0)


@pytest.mark.django_db
@pytest.mark.parametrize("width", [10, 60, 3600])
def test_a_sample_on_a_boundary_opens_the_next_bucket(level: Tag, width: int) -> None:
    edge = at(seconds=width)
    add_samples(level.pk, [(edge - timedelta(microseconds=1), 1.0), (edge, 2.0)])
    found = history(level, T0, at(seconds=2 * width), bucket_s=width)
    assert [(b.time, b.min, b.max, b.count) for b in found.buckets] == [
        (T0, 1.0, 1.0, 1),
        (edge, 2.0, 2.0, 1),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("width", [60, 3600, 86400])
def test_a_one_second_spike_survives_in_min_and_max(level: Tag, width: int) -> None:
    add_series(level.pk, T0, 2 * 8640, step_s=10, value=lambda i: 50.0)  # two days
    add_samples(level.pk, [(at(hours=5, seconds=3), 99.5), (at(hours=20, seconds=7), 0.5)])
    found = history(level, T0, at(days=2), bucket_s=width)
    assert max(b.max for b in found.buckets) == 99.5
    assert min(b.min for b in found.buckets) == 0.5
    spike = next(b for b in found.buckets if b.max == 99.5)
    assert spike.avg < 60  # the average alone would hide it


@pytest.mark.django_db
def test_buckets_without_values_are_absent_so_a_gap_stays_a_gap(level: Tag) -> None:
    add_series(level.pk, T0, 60, step_s=60)  # 00:00 to 00:59
    add_series(level.pk, at(hours=3), 60, step_s=60)  # 03:00 to 03:59; nothing in between
    found = history(level, T0, at(hours=4), bucket_s=600)
    times = [b.time for b in found.buckets]
    assert times == [at(minutes=m) for m in range(0, 60, 10)] + [
        at(hours=3, minutes=m) for m in range(0, 60, 10)
    ]


@pytest.mark.django_db
def test_bad_values_are_left_out_of_buckets_but_kept_raw(level: Tag) -> None:
    add_samples(level.pk, [(T0, 10.0), (at(seconds=1), 500.0, Quality.BAD), (at(seconds=2), 12.0)])
    add_samples(level.pk, [(at(minutes=5), 600.0, Quality.BAD)])
    found = history(level, T0, at(minutes=10), bucket_s=60)
    assert [(b.time, b.max, b.count) for b in found.buckets] == [(T0, 12.0, 2)]
    raw = history(level, T0, at(minutes=10))
    assert [s.quality for s in raw.samples] == [0, 2, 0, 2]


@pytest.mark.django_db
def test_raw_values_come_back_when_no_more_than_the_points_asked_for(level: Tag) -> None:
    add_series(level.pk, T0, 100, step_s=30)
    raw = history(level, T0, at(hours=1), points=100)
    assert (raw.bucket_s, raw.source, len(raw.samples)) == (None, "raw", 100)
    bucketed = history(level, T0, at(hours=1), points=99)
    assert bucketed.bucket_s == 60
    assert len(bucketed.buckets) == 50


@pytest.mark.django_db
def test_history_reads_only_its_own_tag_and_range(demo_plant: Plant, level: Tag) -> None:
    other = demo_tag(demo_plant, "power")
    add_series(level.pk, T0, 10, value=lambda i: 1.0)
    add_series(other.pk, T0, 10, value=lambda i: 1000.0)
    add_samples(level.pk, [(at(minutes=-1), 77.0), (at(hours=1), 77.0)])
    found = history(level, T0, at(hours=1), bucket_s=3600)
    assert [(b.min, b.max, b.count) for b in found.buckets] == [(1.0, 1.0, 10)]


@pytest.mark.django_db
def test_text_tags_come_back_raw_but_cannot_be_bucketed(demo_plant: Plant) -> None:
    state = demo_tag(demo_plant, "state")
    copy_rows([(state.pk, at(seconds=i), None, "running", 0) for i in range(3)])
    assert [s.text for s in history(state, T0, at(minutes=1)).samples] == ["running"] * 3
    with pytest.raises(HistoryError, match="holds text"):
        history(state, T0, at(minutes=1), bucket_s=10)


@pytest.mark.django_db
def test_raw_export_pages_through_every_sample_once(level: Tag) -> None:
    add_series(level.pk, T0, 12_345, step_s=0.5)
    chunks = list(historian.iter_raw(level.pk, T0, at(days=1), chunk=1000))
    assert [len(c) for c in chunks] == [1000] * 12 + [345]
    times = [s.time for chunk in chunks for s in chunk]
    assert times == sorted(set(times))


@pytest.mark.django_db
def test_bucket_export_covers_the_range_in_chunks_with_the_same_buckets(level: Tag) -> None:
    add_series(level.pk, T0, 3 * 86400, step_s=7, value=lambda i: float(i % 97))
    chunks = list(historian.iter_buckets(level.pk, T0, at(days=3), 60, chunk=500))
    assert len(chunks) == 9
    assert [b for chunk in chunks for b in chunk] == history(
        level, T0, at(days=3), bucket_s=60
    ).buckets


@pytest.mark.django_db
def test_setpoint_writes_are_marked_and_missing_kinds_are_skipped(demo_plant: Plant) -> None:
    sp = demo_tag(demo_plant, "fill_level_sp")
    record_value(sp, 500.0)
    write = do_request_setpoint(sp, 501.0, by=None)
    start, end = (
        write.requested_at - timedelta(minutes=1),
        write.requested_at + timedelta(minutes=1),
    )
    found = markers([sp.pk], start, end)
    assert [(m.kind, m.tag_id, m.time) for m in found] == [("setpoint", sp.pk, write.requested_at)]
    assert "501" in found[0].text
    assert markers([sp.pk], end, end + timedelta(hours=1)) == []
    absent = MarkerSource("alarm", "NoSuchModel", ("at",), ("tag",))
    assert absent.markers([sp.pk], start, end) == []
    wrong_fields = MarkerSource("setpoint", "SetpointWrite", ("no_such_time",), ("tag",))
    assert wrong_fields.markers([sp.pk], start, end) == []
