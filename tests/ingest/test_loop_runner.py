"""The fill-level loop in the ingest worker: it writes through the audited path in the name of
the system, transfers bumplessly, drops to manual on a bad or stale measurement, and with the
simulated filler follows a setpoint step."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from ingest.loop_runner import LoopRunner
from ingest.sim.plant_model import PlantModel
from ingest.worker import Worker
from plant import control
from plant.actions.loops import check_loop_can_run, do_set_loop_mode
from plant.actions.setpoints import do_request_setpoint
from plant.demo import FILL_LEVEL_LOOP
from plant.models import (
    ControlLoop,
    ControlLoopEvent,
    Plant,
    Quality,
    Sample,
    SetpointWrite,
    SystemAlarm,
    Tag,
)
from tests.builders import record_value
from tests.devices import connected_worker, running_simulator
from tests.waiting import run_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def loop(demo_plant: Plant) -> ControlLoop:
    return fresh(ControlLoop.objects.get(output_tag__machine__line__plant=demo_plant))


def fresh(loop: ControlLoop) -> ControlLoop:
    return ControlLoop.objects.select_related("pv_tag", "sp_tag", "output_tag__machine__line").get(
        pk=loop.pk
    )


def at_rest(loop: ControlLoop, pv: float = 500.0) -> None:
    record_value(loop.pv_tag, pv)
    record_value(loop.sp_tag, 500.0)
    record_value(loop.output_tag, 50.0)


def run(runner: LoopRunner, loop: ControlLoop, seconds: int, start: float = 0.0) -> None:
    """Step one loop once per simulated second (the runner's clock is the argument)."""
    for second in range(seconds):
        runner.step_loop(fresh(loop), timezone.now(), start + second)


def system_writes() -> list[SetpointWrite]:
    return list(SetpointWrite.objects.filter(user=None).order_by("requested_at"))


def test_switching_to_auto_at_rest_writes_nothing(
    loop: ControlLoop, users_by_role: dict[str, User]
) -> None:
    at_rest(loop)
    runner = LoopRunner()
    run(runner, loop, 3)  # manual: the runner follows the output the device holds
    do_set_loop_mode(loop, "auto", by=users_by_role["operator"])
    run(runner, loop, 3, start=3)
    assert system_writes() == []  # at the setpoint there is nothing to correct


def test_switching_to_auto_away_from_the_setpoint_is_bumpless(
    loop: ControlLoop, users_by_role: dict[str, User]
) -> None:
    at_rest(loop, pv=497.0)  # 3 ml under the setpoint while the operator holds 50 l/min
    runner = LoopRunner()
    run(runner, loop, 3)  # manual: the runner follows the output and the present error
    do_set_loop_mode(loop, "auto", by=users_by_role["operator"])
    run(runner, loop, 1, start=3)
    (first,) = system_writes()
    # Only the integral of the present error acts on the first sample: kp * dt / ti * error
    # (0.05 l/min). A proportional kick (the error taken as 0 before the switch) would add
    # kp * error, writing 50.2 instead.
    integral = loop.kp * 1.0 / loop.ti_s * 3.0
    assert first.value == pytest.approx(50.0 + integral, abs=0.005)
    assert first.value - 50.0 < loop.kp * 3.0


def test_in_auto_an_error_trims_the_flow_rate_setpoint_in_the_name_of_the_system(
    loop: ControlLoop, users_by_role: dict[str, User]
) -> None:
    at_rest(loop)
    do_set_loop_mode(loop, "auto", by=users_by_role["operator"])
    record_value(loop.pv_tag, 497.0)  # 3 ml under the setpoint: more flow
    run(LoopRunner(), loop, 3)
    writes = system_writes()
    assert writes and all(w.tag_id == loop.output_tag_id for w in writes)
    assert 50.0 < writes[-1].value <= 50.0 + 3 * loop.max_rate
    assert writes[0].reason == "fill-level loop: 497.0 ml against 500.0 ml"
    assert fresh(loop).output == writes[-1].value


@pytest.mark.parametrize(
    ("quality", "age_s", "why"),
    [(Quality.BAD, 0, "has bad quality"), (Quality.GOOD, 30, "is stale (30 s old)")],
)
def test_a_bad_or_stale_measurement_drops_the_loop_to_manual_and_journals_it(
    loop: ControlLoop, users_by_role: dict[str, User], quality: int, age_s: float, why: str
) -> None:
    at_rest(loop)
    do_set_loop_mode(loop, "auto", by=users_by_role["operator"])
    record_value(loop.pv_tag, 470.0, quality=quality, age_s=age_s)
    run(LoopRunner(), loop, 2)
    assert fresh(loop).mode == "manual"
    event = ControlLoopEvent.objects.filter(to_mode="manual").get()
    assert event.user is None
    assert event.reason == f"dropped to manual: Fill level per bottle {why}"
    assert system_writes() == []  # nothing acted on the bad value


def test_only_one_of_two_workers_runs_a_loop(
    loop: ControlLoop, users_by_role: dict[str, User]
) -> None:
    at_rest(loop, pv=497.0)
    do_set_loop_mode(loop, "auto", by=users_by_role["operator"])
    first, second = LoopRunner("worker-a"), LoopRunner("worker-b")
    first.step(timezone.now())
    second.step(timezone.now())
    assert fresh(loop).runner == first.runner
    assert len(system_writes()) == 1


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = connected_worker(topic_root)
    yield worker
    worker.close()


def fill_levels(loop: ControlLoop, since: timedelta) -> list[float]:
    samples = Sample.objects.filter(tag=loop.pv_tag, time__gte=timezone.now() - since)
    return [s.value for s in samples.order_by("time") if s.value is not None]


def test_with_the_simulated_filler_a_setpoint_step_is_followed_and_settles(
    worker: Worker, demo_plant: Plant, loop: ControlLoop, users_by_role: dict[str, User]
) -> None:
    operator = users_by_role["operator"]
    with running_simulator(demo_plant.slug):
        # The devices' values reach the historian; then the operator hands the loop over.
        run_until(lambda: len(fill_levels(loop, timedelta(seconds=5))) > 5, worker.run_once)
        run_until(lambda: can_run(loop), worker.run_once)
        do_set_loop_mode(loop, "auto", by=operator)
        step = do_request_setpoint(loop.sp_tag, 505, by=operator, reason="step test")
        # Settled: the last three seconds of fill level average within 1 ml of the target.
        run_until(
            lambda: settled(fill_levels(loop, timedelta(seconds=3)), 505.0, 1.0),
            worker.run_once,
            timeout=60,
        )
    step.refresh_from_db()
    assert step.state == SetpointWrite.State.CONFIRMED
    trims = system_writes()
    assert trims and all(w.tag_id == loop.output_tag_id for w in trims)
    assert any(w.state == SetpointWrite.State.CONFIRMED for w in trims)


def can_run(loop: ControlLoop) -> bool:
    try:
        check_loop_can_run(loop, timezone.now())
    except ValidationError:
        return False
    return True


def settled(values: list[float], target: float, band: float) -> bool:
    return len(values) >= 5 and abs(statistics.fmean(values) - target) <= band


def drift_error(controlled: bool) -> float:
    """The largest fill-level error during a 60 s fill_drift, stepping the plant model fast.

    The controller and tuning are the demo loop's; the loop samples once a second, as the
    worker runs it, and its output reaches the model's flow-rate setpoint at the next step.
    """
    model = PlantModel(seed=3)
    loop = FILL_LEVEL_LOOP
    tuning = control.Tuning(loop["kp"], loop["ti_s"], loop["output_min"], loop["output_max"],
                            loop["max_rate"], loop["filter_s"])  # fmt: skip
    state = control.State(control.Mode.AUTO, 50.0, 0.0)
    model.inject("fill_drift", 60)
    worst = 0.0
    for _ in range(90):
        model.step(1.0)
        worst = max(worst, abs(model.fill_lagged + model.drift - 500.0))
        if controlled:
            pv = float(model.values["fill_level"])
            state = control.step(tuning, state, sp=500.0, pv=pv, dt=1.0)
            model.write("flow_rate_sp", round(state.output, 2))
    return worst


def test_a_drift_in_fill_level_is_corrected_by_the_loop() -> None:
    assert drift_error(controlled=False) > 10  # the fault alone: 0.2 ml/s for 60 s
    assert drift_error(controlled=True) < 3


def second_loop(demo_plant: Plant) -> ControlLoop:
    """A loop that trims the fill-level setpoint from the flow rate, in auto, 10 l/min off."""
    tags = {t.key: t for t in Tag.objects.filter(machine__line__plant=demo_plant)}
    loop = ControlLoop.objects.create(
        name="flow-trim loop", pv_tag=tags["flow_rate"], sp_tag=tags["flow_rate_sp"],
        output_tag=tags["fill_level_sp"], kp=0.5, ti_s=5.0, output_min=480.0,
        output_max=520.0, max_rate=1.0,
    )  # fmt: skip
    record_value(loop.pv_tag, 40.0)
    record_value(loop.sp_tag, 50.0)
    record_value(loop.output_tag, 500.0)
    ControlLoop.objects.filter(pk=loop.pk).update(mode="auto")
    return fresh(loop)


def slip_past_validation(loop: ControlLoop, **fields: float) -> None:
    """Store a tuning the constraints refuse, as a row written before them would hold it
    (the DROP is rolled back with the test's transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER waits for no deferred check
        cursor.execute("ALTER TABLE plant_controlloop DROP CONSTRAINT IF EXISTS "
                       "loop_filter_not_negative")  # fmt: skip
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    ControlLoop.objects.filter(pk=loop.pk).update(**fields)


def test_a_loop_that_fails_drops_to_manual_alone_and_the_other_loops_still_run(
    loop: ControlLoop, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    at_rest(loop, pv=497.0)
    do_set_loop_mode(loop, "auto", by=users_by_role["operator"])
    other = second_loop(demo_plant)
    slip_past_validation(loop, filter_s=-1.0)  # the fill-level loop steps first (lower pk)
    runner = LoopRunner()
    runner.step(timezone.now())  # does not raise
    assert fresh(loop).mode == "manual"
    event = ControlLoopEvent.objects.get(loop=loop, to_mode="manual")
    assert event.user is None
    assert "the loop failed" in event.reason and "filter_s must not be negative" in event.reason
    alarm = SystemAlarm.objects.get(key=f"ingest.loop.{loop.pk}")
    assert alarm.active and "filter_s must not be negative, not -1.0" in alarm.detail
    assert [w.tag_id for w in system_writes()] == [other.output_tag_id]  # the other one ran
    ControlLoop.objects.filter(pk=loop.pk).update(filter_s=1.0)  # the admin fixes the tuning
    runner.next_due = 0.0  # the next period
    runner.step(timezone.now())
    assert not SystemAlarm.objects.get(key=f"ingest.loop.{loop.pk}").active


def test_a_loop_that_left_auto_after_reading_its_mode_does_not_write_its_output(
    loop: ControlLoop, users_by_role: dict[str, User]
) -> None:
    at_rest(loop)
    do_set_loop_mode(loop, "auto", by=users_by_role["operator"])
    runner = LoopRunner()
    run(runner, loop, 2)
    record_value(loop.pv_tag, 494.0)
    seen_in_auto = fresh(loop)
    # Meanwhile another worker's emergency (or an operator) takes the loop to manual.
    do_set_loop_mode(loop, "manual", by=None, reason="switched to manual: emergency")
    runner.step_loop(seen_in_auto, timezone.now(), 2.0)
    assert system_writes() == []
