"""Counter increases: rollover and reset as a pure rule, and the same rule in SQL on the samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plant.counters import counter_increase, increase_between, increases, tag_increase
from plant.models import Plant, Quality, Sample, Tag

T0 = datetime(2026, 12, 3, 6, tzinfo=UTC)


def test_a_rising_counter_rose_by_its_last_value_less_its_first() -> None:
    assert counter_increase([100, 150, 150, 400], None) == 300
    assert counter_increase([5], None) == 0
    assert counter_increase([], 1e6) == 0


def test_a_drop_from_the_top_of_the_range_is_a_rollover() -> None:
    # 999,990 → wraps at 1,000,000 → 25: 10 to the wrap and 25 after it.
    assert counter_increase([999_980, 999_990, 25, 40], 1_000_000) == 10 + 10 + 25 + 15
    assert counter_increase([2**32 - 3, 4], 2**32) == 7


def test_any_other_drop_is_a_reset_counted_from_zero() -> None:
    assert counter_increase([500, 700, 3, 10], 1_000_000) == 200 + 3 + 7
    assert counter_increase([999_990, 25], None) == 25  # no rollover configured: a reset


@st.composite
def counter_runs(draw: st.DrawFn) -> tuple[list[float], float, float]:
    """A counter's samples with what it really counted, wrapping at its modulus and reset now
    and then (never from the top tenth, where a reset cannot be told from a rollover)."""
    modulus = float(draw(st.sampled_from([1000, 999_999 + 1, 2**16, 2**32])))
    steps = draw(st.lists(st.integers(0, int(modulus * 0.1) - 1), min_size=1, max_size=60))
    value = float(draw(st.integers(0, int(modulus) - 1)))
    values, counted = [value], 0.0
    for step in steps:
        if draw(st.integers(0, 9)) == 0 and step < value < modulus * 0.9:
            value = float(step)  # a reset: the counter starts again from 0 and counts `step`
        else:
            value = (value + step) % modulus
        counted += step
        values.append(value)
    return values, modulus, counted


@given(counter_runs())
def test_the_increase_is_what_the_counter_counted_through_rollovers_and_resets(
    run: tuple[list[float], float, float],
) -> None:
    values, modulus, counted = run
    assert counter_increase(values, modulus) == counted


@given(st.lists(st.floats(0, 1e9), max_size=40), st.none() | st.floats(1, 1e10))
def test_an_increase_is_never_negative(values: list[float], rollover: float | None) -> None:
    assert counter_increase(values, rollover) >= 0


# --- the same rule in SQL ---------------------------------------------------------------------


@pytest.fixture
def counter(demo_plant: Plant) -> Tag:
    return Tag.objects.get(machine__line__plant=demo_plant, key="bottles_filled")


def store(tag: Tag, values: list[float], *, start: datetime = T0, step_s: float = 1.0) -> None:
    Sample.objects.bulk_create(
        Sample(tag=tag, time=start + timedelta(seconds=i * step_s), value=v)
        for i, v in enumerate(values)
    )


@pytest.mark.django_db
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=counter_runs())
def test_sql_counts_the_same_increase_as_the_pure_rule(
    counter: Tag, run: tuple[list[float], float, float]
) -> None:
    values, modulus, counted = run
    Sample.objects.filter(tag=counter).delete()
    store(counter, values)
    end = T0 + timedelta(seconds=len(values))
    # From the first sample on: the first sample has no predecessor, so it counts nothing.
    assert increase_between(counter.pk, T0, end, modulus) == counted


@pytest.mark.django_db
def test_the_sample_before_the_range_starts_it_and_ranges_split_the_steps_exactly(
    counter: Tag,
) -> None:
    store(counter, [100, 110, 130, 160, 200, 250], start=T0 - timedelta(seconds=2))
    # Samples at -2 s (100), -1 s (110), 0 s (130), 1 s (160), 2 s (200), 3 s (250).
    assert increase_between(counter.pk, T0, T0 + timedelta(seconds=10)) == 250 - 110
    edges = [T0 - timedelta(seconds=1), T0 + timedelta(seconds=1), T0 + timedelta(seconds=3),
             T0 + timedelta(seconds=60)]  # fmt: skip
    assert increases(counter.pk, edges) == [(110 - 100) + (130 - 110), 160 - 130 + 200 - 160,
                                            250 - 200]  # fmt: skip
    assert sum(increases(counter.pk, edges)) == increase_between(counter.pk, edges[0], edges[-1])
    # Nothing before the first sample and nothing in a range without samples.
    empty = [T0 - timedelta(days=2), T0 - timedelta(days=1)]
    assert increases(counter.pk, empty) == [0.0]


@pytest.mark.django_db
def test_bad_samples_are_left_out_and_the_tags_own_rollover_is_used(counter: Tag) -> None:
    Sample.objects.bulk_create([
        Sample(tag=counter, time=T0, value=999_990),
        Sample(tag=counter, time=T0 + timedelta(seconds=1), value=0, quality=Quality.BAD),
        Sample(tag=counter, time=T0 + timedelta(seconds=2), value=15),
    ])  # fmt: skip
    end = T0 + timedelta(seconds=5)
    assert tag_increase(counter, T0, end) == 15  # no rollover configured: a reset
    Tag.objects.filter(pk=counter.pk).update(counter_rollover=1_000_000)
    counter.refresh_from_db()
    assert tag_increase(counter, T0, end) == 25


def test_edges_must_rise() -> None:
    with pytest.raises(ValueError, match="rise"):
        increases(1, [T0, T0])
    assert increases(1, [T0]) == []
