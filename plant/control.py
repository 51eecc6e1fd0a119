"""A PI controller for supervisory loops, as pure functions: no Django, no clock, no I/O.

It is written in velocity form: each step adds a change to the previous output instead of
recomputing the output from an integral. Clamping that output to its limits and its rate of
change is then anti-windup by construction (there is no integral that could wind up while the
output is pinned), and a switch from manual to auto starts from the output the operator left,
with no proportional kick: bumpless transfer.

The runner (ingest/loop_runner.py) owns the clock and the I/O; it calls `step` once per
sample in auto, `track` in manual, and `supervise` to drop to manual on a bad or stale
measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum


class Mode(StrEnum):
    AUTO = "auto"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class Tuning:
    """Gains and limits of one PI loop; the output's units are those of the written tag."""

    kp: float  # output units per unit of error
    ti_s: float  # integral time: seconds for the integral to repeat the proportional action
    out_min: float
    out_max: float
    max_rate: float  # largest output change per second
    filter_s: float = 0.0  # time constant of the measurement filter; 0: none

    def __post_init__(self) -> None:
        problems = tuning_problems(self)
        if problems:
            # One message naming every bad number, so the loop's journal says what to fix.
            raise ValueError("bad loop tuning: " + "; ".join(problems))


def tuning_problems(tuning: Tuning) -> list[str]:
    """What is wrong with these numbers, one phrase per problem (empty when they are usable)."""
    values = {"kp": tuning.kp, "ti_s": tuning.ti_s, "out_min": tuning.out_min,
              "out_max": tuning.out_max, "max_rate": tuning.max_rate,
              "filter_s": tuning.filter_s}  # fmt: skip
    problems = [f"{name} must be a finite number, not {value!r}"
                for name, value in values.items() if not _finite(value)]  # fmt: skip
    for name in ("kp", "ti_s", "max_rate"):
        if _finite(values[name]) and values[name] <= 0:
            problems.append(f"{name} must be above zero, not {values[name]!r}")
    if _finite(tuning.filter_s) and tuning.filter_s < 0:
        problems.append(f"filter_s must not be negative, not {tuning.filter_s!r}")
    if _finite(tuning.out_min) and _finite(tuning.out_max) and tuning.out_min >= tuning.out_max:
        problems.append(f"out_min ({tuning.out_min!r}) must be below out_max ({tuning.out_max!r})")
    return problems


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class State:
    """What the controller remembers between samples: mode, output, error, filtered measurement."""

    mode: Mode
    output: float
    error: float = 0.0
    pv: float | None = None  # the filtered measurement; None before the first sample


def clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def step(tuning: Tuning, state: State, *, sp: float, pv: float, dt: float) -> State:
    """One sample in auto: the new output, within the limits and the rate of change.

    In manual the output is left alone; only the error is followed, so that a later switch
    to auto starts from the present error and adds no proportional jump.
    """
    pv = smooth(tuning, state.pv, pv, dt)
    error = sp - pv
    if state.mode is Mode.MANUAL or dt <= 0:
        return replace(state, error=error, pv=pv)
    change = tuning.kp * (error - state.error + dt / tuning.ti_s * error)
    wanted = clamp(state.output + change, tuning.out_min, tuning.out_max)
    # The rate limit also applies on the way back into the limits, from a manual output
    # that an operator left outside them.
    limit = tuning.max_rate * dt
    output = state.output + clamp(wanted - state.output, -limit, limit)
    return State(Mode.AUTO, output, error, pv)


def smooth(tuning: Tuning, previous: float | None, pv: float, dt: float) -> float:
    """A first-order filter of the measurement, so noise does not become output moves."""
    if previous is None or tuning.filter_s == 0 or dt <= 0:
        return pv
    return previous + dt / (tuning.filter_s + dt) * (pv - previous)


def track(tuning: Tuning, state: State, *, output: float, sp: float, pv: float, dt: float) -> State:
    """Manual mode: follow the output the device holds and the present error (bumpless)."""
    filtered = smooth(tuning, state.pv, pv, dt)
    return State(Mode.MANUAL, output, sp - filtered, filtered)


def to_auto(state: State) -> State:
    """Switch to auto from the present output and error, so the first step adds no kick."""
    return replace(state, mode=Mode.AUTO)


def to_manual(state: State) -> State:
    """Switch to manual, holding the last output."""
    return replace(state, mode=Mode.MANUAL)


def pv_problem(*, quality_good: bool, age_s: float | None, stale_after_s: float) -> str:
    """Why the measurement cannot be used for control, or "" when it can.

    The reason reads after the measurement's name: "fill level" + " is stale (9 s old)".
    """
    if age_s is None:
        return "has no value"
    if not quality_good:
        return "has bad quality"
    if age_s > stale_after_s:
        return f"is stale ({age_s:.0f} s old)"
    return ""


def supervise(state: State, problem: str) -> State:
    """Drop to manual when the measurement has a problem; otherwise leave the state as it is."""
    return to_manual(state) if problem and state.mode is Mode.AUTO else state
