"""The setpoint and loop actions on the real database: who may write, what is refused, and how
a write moves from state to state (each move a conditional UPDATE that only one caller wins)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from plant import live
from plant.actions.loops import do_lease_loop, do_set_loop_mode
from plant.actions.setpoints import (
    do_claim_setpoint,
    do_confirm_setpoint,
    do_expire_setpoint,
    do_fail_setpoint,
    do_mark_setpoint_sent,
    do_request_setpoint,
    do_time_out_setpoint,
)
from plant.models import ControlLoop, ControlLoopEvent, Plant, Quality, SetpointWrite, Tag
from tests.builders import demo_tag, record_value

pytestmark = pytest.mark.django_db
State = SetpointWrite.State


@pytest.fixture
def fill_level_sp(demo_plant: Plant) -> Tag:
    tag = demo_tag(demo_plant, "fill_level_sp")
    record_value(tag, 500.0)
    return tag


@pytest.fixture
def loop(demo_plant: Plant) -> ControlLoop:
    return ControlLoop.objects.select_related("output_tag", "sp_tag").get(
        output_tag__machine__line__plant=demo_plant
    )


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("viewer", False), ("operator", True), ("supervisor", True), ("admin", True)],
)
def test_only_operators_and_above_can_write_setpoints(
    users_by_role: dict[str, User], fill_level_sp: Tag, role: str, allowed: bool
) -> None:
    if allowed:
        write = do_request_setpoint(fill_level_sp, 503, by=users_by_role[role])
        assert (write.state, write.old_value, write.user) == (
            State.PENDING,
            500.0,
            users_by_role[role],
        )
    else:
        with pytest.raises(PermissionDenied):
            do_request_setpoint(fill_level_sp, 503, by=users_by_role[role])
    assert SetpointWrite.objects.exists() == allowed


def test_a_supervisor_of_another_plant_cannot_write_here(
    outsider: User, fill_level_sp: Tag
) -> None:
    with pytest.raises(PermissionDenied):
        do_request_setpoint(fill_level_sp, 503, by=outsider)


REFUSALS = [
    ("fill_level_sp", 530.0, "outside the limits 480.0 to 520.0 ml"),
    ("fill_level_sp", 479.9, "outside the limits 480.0 to 520.0 ml"),
    ("fill_level_sp", 506.0, "larger than the largest allowed step of 5.0 ml"),
    ("fill_level", 500.0, "is not writable"),
    ("fan", 0.5, "either on (1) or off (0)"),
]


@pytest.mark.parametrize(("key", "value", "message"), REFUSALS)
def test_a_write_that_breaks_a_rule_is_refused_and_nothing_is_stored_or_published(
    users_by_role: dict[str, User],
    fill_level_sp: Tag,
    django_capture_on_commit_callbacks: Callable[..., Any],
    key: str,
    value: float,
    message: str,
) -> None:
    tag = demo_tag(fill_level_sp.machine.line.plant, key)
    with django_capture_on_commit_callbacks() as published, pytest.raises(ValidationError) as e:
        do_request_setpoint(tag, value, by=users_by_role["operator"])
    assert message in e.value.messages[0]
    assert not SetpointWrite.objects.exists()
    assert published == []


def test_a_second_write_to_one_tag_within_the_rate_limit_is_refused(
    users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    do_request_setpoint(fill_level_sp, 502, by=users_by_role["operator"])
    with pytest.raises(ValidationError, match=r"wait 0\.5 s between writes"):
        do_request_setpoint(fill_level_sp, 503, by=users_by_role["supervisor"])
    assert SetpointWrite.objects.count() == 1


def test_a_step_cannot_be_checked_without_a_good_present_value(
    users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    record_value(fill_level_sp, 500.0, quality=Quality.BAD)
    with pytest.raises(ValidationError, match="unknown or bad"):
        do_request_setpoint(fill_level_sp, 501, by=users_by_role["operator"])


def test_a_switch_needs_no_present_value(users_by_role: dict[str, User], demo_plant: Plant) -> None:
    write = do_request_setpoint(demo_tag(demo_plant, "fan"), 1, by=users_by_role["operator"])
    assert (write.value, write.old_value) == (1.0, None)


def test_a_loop_in_auto_owns_its_output_but_the_system_may_write_it(
    users_by_role: dict[str, User], loop: ControlLoop
) -> None:
    ControlLoop.objects.filter(pk=loop.pk).update(mode=ControlLoop.Mode.AUTO)
    record_value(loop.output_tag, 50.0)
    with pytest.raises(ValidationError, match="is in auto and sets"):
        do_request_setpoint(loop.output_tag, 51, by=users_by_role["operator"])
    write = do_request_setpoint(loop.output_tag, 51, by=None, reason="loop")
    assert write.user is None


def test_a_write_publishes_its_state_to_the_machine_line_and_plant_pages(
    users_by_role: dict[str, User],
    fill_level_sp: Tag,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    machine = fill_level_sp.machine
    groups = live.tag_groups(machine.pk, machine.line_id, machine.line.plant_id)
    channels = [listen(group) for group in groups]
    with django_capture_on_commit_callbacks(execute=True):
        write = do_request_setpoint(fill_level_sp, 504, by=users_by_role["operator"])
    for channel in channels:
        message = receive(channel)
        assert message["type"] == "setpoint.changed"
        assert (message["write"], message["state"], message["value"]) == (
            write.pk,
            "pending",
            "504.0 ml",
        )
        assert (message["old_value"], message["by"]) == ("500.0 ml", "operator-user")


def listen(group: str) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def receive(channel: str) -> dict[str, Any]:
    async def within_a_second() -> dict[str, Any]:
        return await asyncio.wait_for(get_channel_layer().receive(channel), 1)

    return async_to_sync(within_a_second)()


def test_each_move_of_a_write_is_won_exactly_once(
    users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    write = do_request_setpoint(fill_level_sp, 504, by=users_by_role["operator"])
    now = timezone.now()
    assert not do_time_out_setpoint(write.pk, now=now)  # only a sent write times out
    assert do_claim_setpoint(write.pk, now=now)
    assert not do_claim_setpoint(write.pk, now=now)  # a second writer loses
    assert do_mark_setpoint_sent(write.pk, now=now)
    assert not do_mark_setpoint_sent(write.pk, now=now)
    assert do_time_out_setpoint(write.pk, now=now)
    assert not do_confirm_setpoint(write.pk, 504.0, now=now)  # too late
    write.refresh_from_db()
    assert (write.state, write.finished_at) == (State.TIMED_OUT, now)


def test_a_confirmed_write_cannot_fail_or_time_out_afterwards(
    users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    write = do_request_setpoint(fill_level_sp, 504, by=users_by_role["operator"])
    now = timezone.now()
    do_claim_setpoint(write.pk, now=now)
    do_mark_setpoint_sent(write.pk, now=now)
    assert do_confirm_setpoint(write.pk, 504.0, now=now)
    assert not do_fail_setpoint(write.pk, detail="late", now=now)
    assert not do_time_out_setpoint(write.pk, now=now)
    write.refresh_from_db()
    assert (write.state, write.readback, write.sent_at, write.finished_at) == (
        State.CONFIRMED,
        504.0,
        now,
        now,
    )


def test_only_a_pending_write_past_its_expiry_expires_and_then_cannot_be_sent(
    users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    write = do_request_setpoint(fill_level_sp, 504, by=users_by_role["operator"])
    assert not do_expire_setpoint(write.pk, now=timezone.now())  # not yet due
    later = write.expires_at + timedelta(milliseconds=1)
    assert not do_claim_setpoint(write.pk, now=later)
    assert do_expire_setpoint(write.pk, now=later)
    assert not do_mark_setpoint_sent(write.pk, now=later)
    write.refresh_from_db()
    assert write.state == State.EXPIRED and "never sent" in write.detail


def test_an_operator_switches_the_loop_to_auto_and_it_is_journaled(
    users_by_role: dict[str, User], loop: ControlLoop
) -> None:
    record_value(loop.pv_tag, 500.2)
    record_value(loop.sp_tag, 500.0)
    assert do_set_loop_mode(loop, "auto", by=users_by_role["operator"])
    assert not do_set_loop_mode(loop, "auto", by=users_by_role["operator"])
    loop.refresh_from_db()
    assert loop.mode == "auto"
    event = ControlLoopEvent.objects.get()
    assert (event.from_mode, event.to_mode) == ("manual", "auto")
    assert event.user == users_by_role["operator"]


def test_a_viewer_cannot_switch_the_loop(users_by_role: dict[str, User], loop: ControlLoop) -> None:
    with pytest.raises(PermissionDenied):
        do_set_loop_mode(loop, "auto", by=users_by_role["viewer"])
    assert not ControlLoopEvent.objects.exists()


def test_the_loop_cannot_go_to_auto_on_a_stale_measurement(
    users_by_role: dict[str, User], loop: ControlLoop
) -> None:
    record_value(loop.pv_tag, 500.2, age_s=60)
    record_value(loop.sp_tag, 500.0)
    with pytest.raises(ValidationError, match="measurement is stale"):
        do_set_loop_mode(loop, "auto", by=users_by_role["operator"])


def test_only_one_runner_holds_a_loop_until_its_lease_ends(loop: ControlLoop) -> None:
    now = timezone.now()
    assert do_lease_loop(loop.pk, "worker-a", now=now, lease_s=3)
    assert not do_lease_loop(loop.pk, "worker-b", now=now, lease_s=3)
    assert do_lease_loop(loop.pk, "worker-a", now=now, lease_s=3)  # renewal
    assert do_lease_loop(loop.pk, "worker-b", now=now + timedelta(seconds=4), lease_s=3)


def test_a_push_that_fails_does_not_fail_the_write(
    users_by_role: dict[str, User],
    fill_level_sp: Tag,
    settings: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # A channel layer nobody listens on: the write has committed, so it stands, pushed or not.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    with django_capture_on_commit_callbacks(execute=True) as published:
        write = do_request_setpoint(fill_level_sp, 504, by=users_by_role["operator"])
    assert len(published) == 1 and SetpointWrite.objects.filter(pk=write.pk).exists()
