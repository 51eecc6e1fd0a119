"""OEE from the historian: state timelines collapsed in SQL, counters per shift, periods."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plant.models import Machine, OeeMachine, OeeProduct, Plant, Quality, Shift, Tag
from plant.oee import Category, StateChange
from plant.oee_queries import machine_oee, resolve_period, state_changes
from tests.builders import demo_tag
from tests.oee_data import DAY, SHIFT_START, at, record, worked_example

pytestmark = pytest.mark.django_db


@pytest.fixture
def filler(demo_plant: Plant) -> OeeMachine:
    return OeeMachine.objects.get(machine__line__plant=demo_plant, machine__slug="filler")


def test_the_worked_example_from_stored_samples(filler: OeeMachine) -> None:
    worked_example(filler)
    period = resolve_period(filler.machine.line, "shift", at(600), day=DAY, shift="Early")
    assert period.label == "Early shift of Wednesday 2026-12-02"
    result = machine_oee(filler, period.windows, now=at(600))
    assert result is not None
    total = result.total
    assert (total.planned_busy_s, total.run_s) == (450 * 60, 405 * 60)
    assert (total.produced, total.good) == (72_900, 71_442)
    assert [
        round(x, 3) for x in (total.availability, total.performance, total.quality, total.oee)
    ] == [0.9, 0.9, 0.98, 0.794]  # type: ignore[arg-type]
    assert [(s.category, s.seconds) for s in result.stops] == [
        (Category.BREAKDOWN, 1800), (Category.STARVED, 900)]  # fmt: skip


def test_the_state_is_collapsed_to_its_changes_and_a_silence_is_no_data(
    filler: OeeMachine,
) -> None:
    state = filler.state_tag
    assert state.expected_interval_s == 10  # the demo's state tag: silent 10 s, no data
    seconds = {-300: "running", 0: "running", 5: "running", 10: "fault", 15: "fault",
               250: "running", 260: "running"}  # fmt: skip
    record(state, *[(s / 60, v) for s, v in seconds.items()])
    record(state, (255 / 60, "x"), quality=Quality.BAD)

    def change(second: float, value: str | None) -> StateChange:
        return StateChange(at(second / 60), value)

    assert state_changes(state, at(0), at(10)) == [
        change(-300, "running"), change(-290, None), change(0, "running"), change(10, "fault"),
        change(25, None), change(250, "running"), change(255, None), change(260, "running"),
        change(270, None),
    ]  # fmt: skip


def test_a_numeric_state_reads_as_its_number(demo_plant: Plant) -> None:
    tag = demo_tag(demo_plant, "bottles_filled")
    record(tag, (0, 3), (1, 3.5))
    assert [c.state for c in state_changes(tag, at(0), at(2)) if c.state] == ["3", "3.5"]


def test_each_product_counts_with_its_own_ideal_cycle(filler: OeeMachine) -> None:
    product = Tag.objects.create(machine=filler.machine, key="product", data_type="string",
                                 topic=f"{filler.state_tag.topic}-product")  # fmt: skip
    OeeMachine.objects.filter(pk=filler.pk).update(product_tag=product)
    OeeProduct.objects.create(oee_machine=filler, product="1l", ideal_cycle_s=0.6)
    record(product, (-10, "0.5l"), (240, "1l"))
    record(filler.state_tag, *[(m / 6, "running") for m in range(0, 480 * 6)])
    record(filler.produced_tag, (-1, 0), (239.99, 36_000), (479.99, 54_000))
    filler.refresh_from_db()
    period = resolve_period(filler.machine.line, "shift", at(600), day=DAY, shift="Early")
    result = machine_oee(filler, period.windows, now=at(600))
    assert result is not None
    # 36,000 half-litre bottles at 0.3 s and 18,000 litre bottles at 0.6 s: 21,600 s ideal.
    assert result.total.ideal_s == pytest.approx(36_000 * 0.3 + 18_000 * 0.6)


def test_a_day_has_its_shifts_and_the_live_shift_counts_up_to_now(filler: OeeMachine) -> None:
    worked_example(filler)
    line = filler.machine.line
    day = resolve_period(line, "day", at(600), day=DAY)
    assert [w.name for w in day.windows] == ["Early", "Late", "Night"]
    now = at(120)  # two hours into the Early shift
    live = resolve_period(line, "shift", now)
    assert live.live(now) and live.windows[0].start == SHIFT_START
    result = machine_oee(filler, live.windows, now)
    assert result is not None and result.total.planned_busy_s == 120 * 60
    assert result.total.run_s == 90 * 60
    week = resolve_period(line, "week", at(600), day=DAY)
    assert week.label == "Week 49 of 2026" and len(week.windows) == 21


def test_between_shifts_the_current_shift_is_the_last_one(demo_plant: Plant) -> None:
    filler = Machine.objects.get(line__plant=demo_plant, slug="filler")
    Shift.objects.filter(plant=demo_plant, name="Night").delete()
    period = resolve_period(filler.line, "shift", datetime(2026, 12, 2, 23, tzinfo=UTC))
    assert period.label == "Late shift of Wednesday 2026-12-02"
