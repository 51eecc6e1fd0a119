"""The gas-leak response, driven through the alarm engine with explicit times on the real
database: emergency writes pass every operator check but the hard limits, take the loops on
their tags to manual, and are journaled, alarmed and retried until each one stands."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from ingest.alarm_engine import AlarmEngine
from ingest.batch import Decoded, Row
from plant.actions.alarms import do_acknowledge_alarm, do_set_alarm_condition
from plant.actions.loops import do_set_loop_mode
from plant.actions.setpoints import (
    do_confirm_setpoint,
    do_expire_setpoint,
    do_mark_setpoint_sent,
    do_request_setpoint,
    do_time_out_setpoint,
)
from plant.models import (
    Alarm,
    AlarmJournalEntry,
    ControlLoop,
    ControlLoopEvent,
    EmergencyAction,
    Line,
    Plant,
    Quality,
    SetpointWrite,
    SystemAlarm,
    Tag,
)
from tests.builders import demo_tag, record_value

pytestmark = pytest.mark.django_db
REASON = "emergency: Methane high-high: gas leak"


@pytest.fixture
def flow_rate_sp(demo_plant: Plant) -> Tag:
    """The filler's flow-rate setpoint, which a gas leak also sets to its minimum (20 l/min)."""
    tag = demo_tag(demo_plant, "flow_rate_sp")
    gas = Line.objects.get(plant=demo_plant, slug="gas")
    EmergencyAction.objects.create(line=gas, tag=tag, value=20.0, position=2).full_clean()
    return tag


@pytest.fixture
def loop_in_auto(demo_plant: Plant, users_by_role: dict[str, User]) -> ControlLoop:
    """The fill-level loop, at rest and in auto: it writes flow_rate_sp."""
    loop = ControlLoop.objects.select_related("pv_tag", "sp_tag", "output_tag").get(
        output_tag__machine__line__plant=demo_plant
    )
    record_value(loop.pv_tag, 500.0)
    record_value(loop.sp_tag, 500.0)
    record_value(loop.output_tag, 50.0)
    do_set_loop_mode(loop, "auto", by=users_by_role["operator"])
    return loop


@pytest.fixture
def engine(demo_plant: Plant) -> AlarmEngine:
    engine = AlarmEngine()
    engine.reload()
    return engine


def gas_leak(engine: AlarmEngine, demo_plant: Plant, at: datetime) -> Alarm:
    """Methane at 45 %LEL reaches the engine; the high-high alarm runs the emergency actions."""
    row = Row(demo_tag(demo_plant, "methane").pk, at, 45.0, None, Quality.GOOD)
    engine.evaluate(Decoded(rows=[row], latest={row.tag_id: row}), now=at)
    alarm = Alarm.objects.get(definition__tag__key="methane", definition__kind="hh")
    assert alarm.state == "unack"
    return alarm


def writes_to(tag_key: str) -> list[SetpointWrite]:
    return list(SetpointWrite.objects.filter(tag__key=tag_key).order_by("requested_at", "id"))


def failures(alarm: Alarm) -> list[AlarmJournalEntry]:
    return list(AlarmJournalEntry.objects.filter(alarm=alarm, event="action_fail").order_by("id"))


def system_alarm(alarm: Alarm) -> SystemAlarm | None:
    return SystemAlarm.objects.filter(key=f"emergency.{alarm.pk}", active=True).first()


def confirm_open_writes() -> None:
    """The devices read back every write that is on its way."""
    now = timezone.now()
    for write in SetpointWrite.objects.filter(state__in=["pending", "sent"]):
        do_mark_setpoint_sent(write.pk, now=now)
        do_confirm_setpoint(write.pk, write.value, now=now)


def test_a_gas_leak_writes_past_the_step_the_rate_and_an_unknown_value_and_stops_the_loop(
    engine: AlarmEngine, demo_plant: Plant, flow_rate_sp: Tag, loop_in_auto: ControlLoop,
    users_by_role: dict[str, User],
) -> None:  # fmt: skip
    # Just written by an operator, 30 l/min from the emergency value (max step 10), its
    # present value now bad, and its loop in auto: operator checks an emergency must not wait on.
    do_set_loop_mode(loop_in_auto, "manual", by=users_by_role["operator"])
    do_request_setpoint(flow_rate_sp, 52.0, by=users_by_role["operator"])
    do_set_loop_mode(loop_in_auto, "auto", by=users_by_role["operator"])
    record_value(flow_rate_sp, 50.0, quality=Quality.BAD)
    gas_leak(engine, demo_plant, timezone.now())
    emergency = writes_to("flow_rate_sp")[-1]
    assert (emergency.value, emergency.user, emergency.reason) == (20.0, None, REASON)
    assert [(w.value, w.reason) for w in writes_to("fan")] == [(1.0, REASON)]
    assert [(w.value, w.reason) for w in writes_to("valve_open")] == [(0.0, REASON)]
    loop_in_auto.refresh_from_db()
    assert loop_in_auto.mode == "manual"  # before the write, so the loop cannot overwrite it
    event = ControlLoopEvent.objects.filter(loop=loop_in_auto).first()
    assert event is not None
    assert (event.to_mode, event.user, event.reason) == (
        "manual",
        None,
        f"switched to manual: {REASON}",
    )
    assert event.at <= emergency.requested_at


def test_the_loop_cannot_return_to_auto_until_the_emergency_has_cleared(
    engine: AlarmEngine, demo_plant: Plant, flow_rate_sp: Tag, loop_in_auto: ControlLoop,
    users_by_role: dict[str, User],
) -> None:  # fmt: skip
    alarm = gas_leak(engine, demo_plant, timezone.now())
    supervisor = users_by_role["supervisor"]
    do_acknowledge_alarm(alarm, by=supervisor)  # acknowledged, still active
    with pytest.raises(ValidationError, match="“Methane high-high: gas leak” is active"):
        do_set_loop_mode(loop_in_auto, "auto", by=users_by_role["operator"])
    assert ControlLoop.objects.get(pk=loop_in_auto.pk).mode == "manual"
    do_set_alarm_condition(alarm.pk, False, value=2.0, at=timezone.now())
    assert do_set_loop_mode(loop_in_auto, "auto", by=users_by_role["operator"])


def test_a_refused_emergency_write_is_journaled_alarmed_and_retried_until_it_stands(
    engine: AlarmEngine, demo_plant: Plant, flow_rate_sp: Tag
) -> None:
    # A later admin change moved the limits (bypassing the action's own check): refused.
    Tag.objects.filter(pk=flow_rate_sp.pk).update(setpoint_min=30.0)
    start = timezone.now()
    alarm = gas_leak(engine, demo_plant, start)
    assert writes_to("flow_rate_sp") == []
    (refused,) = failures(alarm)
    assert refused.comment.startswith("Filler valve flow rate setpoint ← 20: refused: ")
    assert "outside the limits" in refused.comment
    assert (refused.user, refused.to_state, refused.value) == (None, "unack", 20.0)
    assert system_alarm(alarm) is not None
    Tag.objects.filter(pk=flow_rate_sp.pk).update(setpoint_min=20.0)  # the limits are fixed
    engine.tick(start + timedelta(seconds=2))
    assert writes_to("flow_rate_sp") == []  # not before the retry interval
    engine.tick(start + timedelta(seconds=6))
    assert [(w.value, w.reason) for w in writes_to("flow_rate_sp")] == [(20.0, REASON)]
    assert system_alarm(alarm) is not None  # on its way, not yet confirmed
    confirm_open_writes()
    engine.tick(start + timedelta(seconds=8))
    assert system_alarm(alarm) is None
    assert len(failures(alarm)) == 1


def test_a_timed_out_emergency_write_is_retried_while_the_alarm_stays_acknowledged(
    engine: AlarmEngine, demo_plant: Plant, users_by_role: dict[str, User]
) -> None:
    start = timezone.now()
    alarm = gas_leak(engine, demo_plant, start)
    do_acknowledge_alarm(alarm, by=users_by_role["supervisor"])
    (fan,) = writes_to("fan")
    do_mark_setpoint_sent(fan.pk, now=start)
    do_time_out_setpoint(fan.pk, now=start + timedelta(seconds=5))  # no readback
    (valve,) = writes_to("valve_open")
    do_mark_setpoint_sent(valve.pk, now=start)
    do_confirm_setpoint(valve.pk, 0.0, now=start + timedelta(seconds=1))
    engine.tick(start + timedelta(seconds=6))
    (failed,) = failures(alarm)
    assert failed.comment.startswith("Ventilation fan ← on: timed out: no readback")
    assert system_alarm(alarm) is not None
    assert [w.state for w in writes_to("fan")] == ["timed_out", "pending"]  # tried again
    engine.tick(start + timedelta(seconds=8))
    assert len(failures(alarm)) == 1  # one failure, journaled once
    assert len(writes_to("valve_open")) == 1  # the confirmed action is left alone
    confirm_open_writes()
    engine.tick(start + timedelta(seconds=10))
    assert system_alarm(alarm) is None


def test_once_the_alarm_has_cleared_a_failed_action_is_no_longer_retried(
    engine: AlarmEngine, demo_plant: Plant
) -> None:
    start = timezone.now()
    alarm = gas_leak(engine, demo_plant, start)
    for write in SetpointWrite.objects.all():
        do_expire_setpoint(write.pk, now=write.expires_at)
    engine.tick(start + timedelta(seconds=6))
    assert system_alarm(alarm) is not None
    retried = SetpointWrite.objects.count()
    row = Row(demo_tag(demo_plant, "methane").pk, start + timedelta(seconds=7), 1.0, None, 0)
    engine.evaluate(Decoded(rows=[row], latest={row.tag_id: row}), now=row.time)
    assert Alarm.objects.get(pk=alarm.pk).state == "rtn_unack"
    for write in SetpointWrite.objects.filter(state="pending"):
        do_expire_setpoint(write.pk, now=write.expires_at)
    engine.tick(start + timedelta(seconds=20))
    assert SetpointWrite.objects.count() == retried
    assert system_alarm(alarm) is None
