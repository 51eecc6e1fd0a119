"""Validation of the configuration: what full_clean refuses, with which message where, and
what the database refuses from any client (the ingest worker reads every one of these rows)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from plant.models import AlarmDefinition, ControlLoop, EmergencyAction, Machine, Plant, Tag


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


# --- what the ingest worker reads: refused by clean() with a message, and by the database ---


def refused_by_the_database(rows: QuerySet[Any], **fields: Any) -> bool:
    """Whether PostgreSQL refuses this UPDATE (a client that skips clean(), or a typo in SQL)."""
    try:
        with transaction.atomic():
            rows.update(**fields)
    except IntegrityError:
        return True
    return False


@pytest.fixture
def loop(demo_plant: Plant) -> ControlLoop:
    return ControlLoop.objects.get(output_tag__machine__line__plant=demo_plant)


BAD_LOOP_VALUES = [
    ("filter_s", -1.0), ("kp", 0.0), ("kp", -0.5), ("ti_s", 0.0), ("max_rate", 0.0),
    ("write_deadband", -0.1), ("pv_stale_s", 0.0), ("kp", math.nan), ("ti_s", math.inf),
    ("output_min", 60.0), ("output_max", 40.0), ("output_min", -math.inf),
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value"), BAD_LOOP_VALUES)
def test_the_database_refuses_a_loop_the_controller_could_not_run(
    loop: ControlLoop, field: str, value: float
) -> None:
    assert refused_by_the_database(ControlLoop.objects.filter(pk=loop.pk), **{field: value})
    setattr(loop, field, value)
    with pytest.raises(IntegrityError), transaction.atomic():
        loop.save()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("filter_s", -1.0, "The filter time must not be negative (0: no filter)."),
        ("kp", 0.0, "The gain must be above zero."),
        ("ti_s", -3.0, "The integral time must be above zero."),
        ("max_rate", 0.0, "The largest output change per second must be above zero."),
        ("write_deadband", -0.05, "The write deadband must not be negative (0: none)."),
        ("pv_stale_s", 0.0, "The stale time must be above zero seconds."),
        ("kp", math.inf, "Enter a finite number."),
    ],
)
def test_a_loop_an_admin_mistyped_is_refused_on_the_field(
    loop: ControlLoop, field: str, value: float, message: str
) -> None:
    setattr(loop, field, value)
    with pytest.raises(ValidationError) as caught:
        loop.full_clean()
    assert caught.value.message_dict == {field: [message]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "key", "message"),
    [
        ({"readback_tolerance": -1.0}, "readback_tolerance", "Must not be negative."),
        ({"expected_interval_s": 0}, "expected_interval_s", "Must be at least one second."),
        ({"deadband": math.nan}, "deadband", "Enter a finite number."),
        ({"writable": True, "setpoint_min": 9.0, "setpoint_max": 1.0}, "setpoint_max",
         "Must not be below the setpoint minimum."),
    ],
)  # fmt: skip
def test_a_tag_an_admin_mistyped_is_refused_on_the_field(
    filler: Machine, fields: dict[str, Any], key: str, message: str
) -> None:
    assert errors_of(make_tag(filler, **fields)) == {key: [message]}


@pytest.mark.django_db
def test_a_writable_tag_may_have_one_fixed_setpoint(filler: Machine) -> None:
    make_tag(filler, writable=True, setpoint_min=5.0, setpoint_max=5.0).full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"deadband": -0.1}, {"deadband": math.nan}, {"readback_tolerance": -1.0},
        {"expected_interval_s": 0}, {"range_min": 10.0, "range_max": 5.0},
        {"range_max": math.inf}, {"setpoint_min": 520.0, "setpoint_max": 480.0},
        {"max_step": 0.0}, {"max_step": -5.0},
    ],
)  # fmt: skip
def test_the_database_refuses_a_tag_the_worker_could_not_use(
    demo_plant: Plant, fields: dict[str, Any]
) -> None:
    tag = Tag.objects.get(machine__line__plant=demo_plant, key="fill_level_sp")
    assert refused_by_the_database(Tag.objects.filter(pk=tag.pk), **fields)
    for name, value in fields.items():
        setattr(tag, name, value)
    with pytest.raises(IntegrityError), transaction.atomic():
        tag.save()


@pytest.fixture
def h2s_hh(demo_plant: Plant) -> AlarmDefinition:
    """The H2S high-high alarm: the tag's only alarm, so its kind can change to any other."""
    return AlarmDefinition.objects.get(tag__machine__line__plant=demo_plant, tag__key="h2s",
                                       kind="hh")  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "limit"), [("hh", math.nan), ("hh", math.inf), ("comm_loss", 0.0), ("rate", -1.0)]
)
def test_the_database_refuses_an_alarm_limit_that_never_or_always_alarms(
    h2s_hh: AlarmDefinition, kind: str, limit: float
) -> None:
    rows = AlarmDefinition.objects.filter(pk=h2s_hh.pk)
    assert refused_by_the_database(rows, kind=kind, limit=limit)


@pytest.mark.django_db
def test_an_alarm_limit_that_is_not_a_number_is_refused_on_the_field(
    h2s_hh: AlarmDefinition,
) -> None:
    h2s_hh.limit = math.nan
    with pytest.raises(ValidationError) as caught:
        h2s_hh.full_clean()
    assert caught.value.message_dict == {"limit": ["Enter a finite number."]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("fan", 0.5, "A switch is either on (1) or off (0)."),
        ("flow_rate_sp", 95.0, "95 is outside the tag's setpoint limits (20 to 80): "
                               "the write would be refused."),
    ],
)  # fmt: skip
def test_an_emergency_action_the_write_would_refuse_is_refused_when_it_is_configured(
    demo_plant: Plant, key: str, value: float, message: str
) -> None:
    tag = Tag.objects.get(machine__line__plant=demo_plant, key=key)
    action = EmergencyAction(line=tag.machine.line, tag=tag, value=value)
    with pytest.raises(ValidationError) as caught:
        action.full_clean()
    assert caught.value.message_dict == {"value": [message]}


@pytest.mark.django_db
def test_the_database_refuses_an_emergency_value_that_is_not_a_number(demo_plant: Plant) -> None:
    rows = EmergencyAction.objects.filter(line__plant=demo_plant)
    assert refused_by_the_database(rows, value=math.nan)
