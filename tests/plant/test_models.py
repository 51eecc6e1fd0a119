"""Validation of the asset tree: what full_clean refuses, and with which message where."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from plant.models import Machine, Plant, Tag


def make_tag(machine: Machine, **overrides: Any) -> Tag:
    """An unsaved, valid float tag of `machine`; overrides change any field."""
    fields: dict[str, Any] = {
        "machine": machine,
        "key": "outlet_pressure",
        "description": "Outlet pressure",
        "unit": "bar",
        "range_min": 0.0,
        "range_max": 10.0,
        "topic": f"{machine.topic}/outlet_pressure",
    }
    fields.update(overrides)
    return Tag(**fields)


@pytest.fixture
def filler(demo_plant: Plant) -> Machine:
    return Machine.objects.get(line__plant=demo_plant, slug="filler")


def errors_of(tag: Tag) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        tag.full_clean()
    return caught.value.message_dict


@pytest.mark.django_db
def test_a_valid_tag_passes_full_clean(filler: Machine) -> None:
    tag = make_tag(filler)
    tag.full_clean()
    tag.save()
    assert Tag.objects.filter(machine=filler, key="outlet_pressure").exists()


@pytest.mark.django_db
def test_range_min_above_range_max_is_refused_on_range_max(filler: Machine) -> None:
    errors = errors_of(make_tag(filler, range_min=10.0, range_max=5.0))
    assert errors == {"range_max": ["Must be above the range minimum."]}


@pytest.mark.django_db
def test_a_topic_already_used_by_another_tag_is_refused(filler: Machine) -> None:
    taken = filler.tags.get(key="fill_level").topic
    errors = errors_of(make_tag(filler, topic=taken))
    assert list(errors) == ["topic"]
    assert "already exists" in errors["topic"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "topic",
    [
        "bottling/filling/+/fill_level",
        "bottling/filling/filler/#",
        "$SYS/broker/load",
        "bottling//filler/level",
        "bottling/filling/filler/",
        "bottling/filling/filler/fill level",
    ],
)
def test_a_topic_with_wildcards_or_empty_levels_is_refused(filler: Machine, topic: str) -> None:
    errors = errors_of(make_tag(filler, topic=topic))
    assert list(errors) == ["topic"]
    assert "not a valid MQTT topic" in errors["topic"][0]


@pytest.mark.django_db
def test_a_topic_ending_in_set_is_refused_as_reserved_for_writes(filler: Machine) -> None:
    errors = errors_of(make_tag(filler, topic=f"{filler.topic}/pressure/set"))
    assert errors == {"topic": ["Topics ending in '/set' are reserved for setpoint writes."]}


@pytest.mark.django_db
@pytest.mark.parametrize(("setpoint_min", "setpoint_max"), [(None, None), (1.0, None), (None, 9)])
def test_a_writable_numeric_tag_without_setpoint_limits_is_refused(
    filler: Machine, setpoint_min: float | None, setpoint_max: float | None
) -> None:
    tag = make_tag(filler, writable=True, setpoint_min=setpoint_min, setpoint_max=setpoint_max)
    assert errors_of(tag) == {"setpoint_min": ["A writable numeric tag needs setpoint limits."]}


@pytest.mark.django_db
def test_a_writable_numeric_tag_with_setpoint_limits_passes(filler: Machine) -> None:
    make_tag(filler, writable=True, setpoint_min=1.0, setpoint_max=9.0, max_step=0.5).full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize("max_step", [0.0, -1.0])
def test_a_max_step_of_zero_or_less_is_refused(filler: Machine, max_step: float) -> None:
    tag = make_tag(filler, writable=True, setpoint_min=1.0, setpoint_max=9.0, max_step=max_step)
    assert errors_of(tag) == {"max_step": ["Must be above zero, or empty for no limit."]}


@pytest.mark.django_db
def test_every_problem_of_a_tag_is_reported_at_once(filler: Machine) -> None:
    tag = make_tag(filler, range_min=5.0, range_max=1.0, max_step=-2.0, topic="a/+/b")
    assert set(errors_of(tag)) == {"range_max", "max_step", "topic"}
