"""The PI controller as pure code, against a first-order-plus-dead-time process (no database)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plant import control
from plant.control import Mode, State, Tuning


@dataclass
class Process:
    """y' = (gain * u(t - dead_time) - y) / tau, sampled every dt with a zero-order hold."""

    gain: float
    tau_s: float
    dead_steps: int
    dt: float
    y: float
    held: deque[float]

    @classmethod
    def at_rest(cls, gain: float, tau_s: float, dead_steps: int, dt: float, u: float) -> Process:
        return cls(gain, tau_s, dead_steps, dt, gain * u, deque([u] * dead_steps))

    def step(self, u: float) -> float:
        self.held.append(u)
        applied = self.held.popleft()
        self.y += (1 - math.exp(-self.dt / self.tau_s)) * (self.gain * applied - self.y)
        return self.y


def simc(process: Process, out_min: float, out_max: float, max_rate: float) -> Tuning:
    """Skogestad's SIMC rule with the closed-loop time constant equal to the dead time."""
    theta = process.dead_steps * process.dt + process.dt / 2
    kp = process.tau_s / (process.gain * 2 * theta)
    return Tuning(kp, min(process.tau_s, 8 * theta), out_min, out_max, max_rate)


processes = st.builds(
    Process.at_rest,
    gain=st.floats(2, 20),
    tau_s=st.floats(1, 10),
    dead_steps=st.integers(0, 3),
    dt=st.just(1.0),
    u=st.floats(40, 60),
)


@settings(max_examples=200, deadline=None)
@given(process=processes, target=st.floats(42, 58))
def test_the_loop_converges_on_a_first_order_process_with_dead_time(
    process: Process, target: float
) -> None:
    tuning = simc(process, out_min=30, out_max=70, max_rate=5)
    sp = process.gain * target  # reachable: the output it needs lies inside the limits
    state = State(Mode.AUTO, process.y / process.gain, sp - process.y)  # at rest, bumpless
    for _ in range(round(40 * (process.tau_s + process.dead_steps + 1))):
        state = control.step(tuning, state, sp=sp, pv=process.y, dt=process.dt)
        process.step(state.output)
    assert process.y == pytest.approx(sp, rel=0.01)


tunings = st.builds(
    Tuning,
    kp=st.floats(0.01, 10),
    ti_s=st.floats(0.5, 100),
    out_min=st.just(20.0),
    out_max=st.just(80.0),
    max_rate=st.floats(0.1, 20),
    filter_s=st.floats(0, 5),
)
measurements = st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=60)


@given(tuning=tunings, start=st.floats(20, 80), sp=st.floats(-1e4, 1e4), pvs=measurements)
def test_the_output_stays_within_its_limits_and_rate_of_change(
    tuning: Tuning, start: float, sp: float, pvs: list[float]
) -> None:
    state = State(Mode.AUTO, start)
    for pv in pvs:
        new = control.step(tuning, state, sp=sp, pv=pv, dt=1.0)
        assert tuning.out_min <= new.output <= tuning.out_max
        assert abs(new.output - state.output) <= tuning.max_rate * 1.0 + 1e-9
        state = new


@given(tuning=tunings, start=st.floats(-100, 200))
def test_an_output_left_outside_the_limits_returns_at_the_rate_limit(
    tuning: Tuning, start: float
) -> None:
    state = State(Mode.AUTO, start)
    new = control.step(tuning, state, sp=500, pv=500, dt=1.0)
    assert abs(new.output - start) <= tuning.max_rate + 1e-9


@given(tuning=tunings, saturated_for=st.integers(1, 3000), overshoot=st.floats(0.1, 100))
def test_no_windup_the_output_leaves_its_limit_as_soon_as_the_error_turns(
    tuning: Tuning, saturated_for: int, overshoot: float
) -> None:
    tuning = replace(tuning, filter_s=0.0)  # a filter delays the turn by its own lag
    # A setpoint the process cannot reach holds the output at its maximum for a long time...
    state = State(Mode.AUTO, 50.0)
    while state.output < tuning.out_max:
        state = control.step(tuning, state, sp=600, pv=400, dt=1.0)
    for _ in range(saturated_for):
        state = control.step(tuning, state, sp=600, pv=400, dt=1.0)
    # ...yet the first sample above the setpoint already brings it down: nothing was stored up.
    at_limit = state.output
    state = control.step(tuning, state, sp=600, pv=600 + overshoot, dt=1.0)
    assert state.output < at_limit


@given(
    tuning=tunings,
    manual_output=st.floats(20, 80),
    sp=st.floats(400, 600),
    pvs=st.lists(st.floats(400, 600), min_size=1, max_size=20),
)
def test_switching_from_manual_to_auto_is_bumpless(
    tuning: Tuning, manual_output: float, sp: float, pvs: list[float]
) -> None:
    tuning = replace(tuning, filter_s=0.0)  # a filter still settling would move the error
    state = State(Mode.MANUAL, manual_output)
    for pv in pvs:  # in manual the controller follows what the operator set
        state = control.track(tuning, state, output=manual_output, sp=sp, pv=pv, dt=1.0)
    assert state.output == manual_output
    first = control.step(tuning, control.to_auto(state), sp=sp, pv=pvs[-1], dt=1.0)
    # No proportional kick: only the integral of the present error acts on the first sample.
    assert abs(first.output - manual_output) <= tuning.kp / tuning.ti_s * abs(sp - pvs[-1]) + 1e-9
    assert first.mode is Mode.AUTO


@given(tuning=tunings, output=st.floats(20, 80), pv=st.floats(400, 600))
def test_switching_from_auto_to_manual_holds_the_output(
    tuning: Tuning, output: float, pv: float
) -> None:
    state = control.to_manual(State(Mode.AUTO, output, 0.0, pv))
    assert (state.mode, state.output) == (Mode.MANUAL, output)
    assert control.step(tuning, state, sp=500, pv=pv + 10, dt=1.0).output == output


@pytest.mark.parametrize(
    ("quality_good", "age_s", "problem"),
    [
        (True, 1.0, ""),
        (False, 1.0, "has bad quality"),
        (True, 9.0, "is stale (9 s old)"),
        (True, None, "has no value"),
    ],
)
def test_a_bad_or_stale_measurement_drops_the_loop_to_manual(
    quality_good: bool, age_s: float | None, problem: str
) -> None:
    found = control.pv_problem(quality_good=quality_good, age_s=age_s, stale_after_s=5)
    assert found == problem
    state = control.supervise(State(Mode.AUTO, 55.0), found)
    assert state.mode is (Mode.MANUAL if problem else Mode.AUTO)
    assert state.output == 55.0


def test_tuning_refuses_values_that_make_no_controller() -> None:
    with pytest.raises(ValueError, match="out_min"):
        Tuning(1, 1, out_min=80, out_max=20, max_rate=1)
    with pytest.raises(ValueError, match="above zero"):
        Tuning(0, 1, out_min=20, out_max=80, max_rate=1)
    with pytest.raises(ValueError, match="finite"):
        Tuning(math.nan, 1, out_min=20, out_max=80, max_rate=1)


GOOD = {"kp": 0.05, "ti_s": 3.0, "out_min": 40.0, "out_max": 60.0, "max_rate": 2.0,
        "filter_s": 1.0}  # fmt: skip
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
# Each field with values it must refuse: every one of them is named, with the bad value.
BAD_VALUES = {
    "kp": st.floats(max_value=0) | NOT_FINITE,
    "ti_s": st.floats(max_value=0) | NOT_FINITE,
    "max_rate": st.floats(max_value=0) | NOT_FINITE,
    "filter_s": st.floats(max_value=0, exclude_max=True) | NOT_FINITE,
    "out_min": NOT_FINITE,
    "out_max": NOT_FINITE,
}


@settings(max_examples=300, deadline=None)
@given(data=st.data(), fields=st.sets(st.sampled_from(sorted(BAD_VALUES)), min_size=1))
def test_a_tuning_with_bad_numbers_names_each_of_them_and_its_value(
    data: st.DataObject, fields: set[str]
) -> None:
    bad = {name: data.draw(BAD_VALUES[name], label=name) for name in fields}
    with pytest.raises(ValueError, match=r"^bad loop tuning: ") as caught:
        Tuning(**{**GOOD, **bad})
    message = str(caught.value)
    for name, value in bad.items():
        assert f"{name} must" in message
        assert repr(value) in message


@settings(max_examples=100, deadline=None)
@given(low=st.floats(-1e9, 1e9), below=st.floats(0, 1e9))
def test_output_limits_in_the_wrong_order_are_named_with_both_values(
    low: float, below: float
) -> None:
    high = low - below
    with pytest.raises(ValueError) as caught:
        Tuning(**{**GOOD, "out_min": low, "out_max": high})
    assert f"out_min ({low!r}) must be below out_max ({high!r})" in str(caught.value)


@settings(max_examples=200, deadline=None)
@given(
    kp=st.floats(1e-6, 1e6), ti_s=st.floats(1e-3, 1e6), max_rate=st.floats(1e-6, 1e6),
    filter_s=st.floats(0, 1e6), low=st.floats(-1e6, 1e6), span=st.floats(1e-3, 1e6),
)  # fmt: skip
def test_every_tuning_of_finite_positive_numbers_is_accepted(
    kp: float, ti_s: float, max_rate: float, filter_s: float, low: float, span: float
) -> None:
    tuning = Tuning(kp, ti_s, low, low + span, max_rate, filter_s)
    assert control.tuning_problems(tuning) == []
