"""Runs the supervisory control loops once a second inside the ingest worker.

Each loop reads its measurement, setpoint and output from the tags' latest values, steps the
pure PI controller (plant/control.py) in auto or tracks the output in manual, and writes a new
output through the same audited path as an operator (`do_request_setpoint(by=None)`). Writes
are throttled: only a change of at least the loop's write deadband is written, so the audit
trail shows moves, not noise. A bad or stale measurement drops the loop to manual, journaled.
Each loop steps behind its own guard: one that raises (a bad tuning, a bug) drops to manual,
journaled, and raises the system alarm `ingest.loop.<pk>`, while the others go on.

Several workers may run; a lease (a conditional UPDATE) lets exactly one of them run a loop.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError

from plant import control, system_health
from plant.actions.loops import do_lease_loop, do_record_loop_output, do_set_loop_mode
from plant.actions.setpoints import do_request_setpoint
from plant.models import ControlLoop, LatestValue
from plant.setpoints import fmt, value_problem

log = logging.getLogger(__name__)

PERIOD_S = 1.0
LEASE_S = 5.0


@dataclass
class Inputs:
    """A loop's three values at one step; the problem says why they cannot be used."""

    pv: float
    sp: float
    output: float
    problem: str


class LoopRunner:
    """Steps every control loop this worker holds the lease of, once per period."""

    def __init__(self, client_id: str = "scada-ingest", period_s: float = PERIOD_S) -> None:
        self.runner = f"{client_id}@{socket.gethostname()}:{os.getpid()}"
        self.period_s = period_s
        self.states: dict[int, control.State] = {}
        self.written: dict[int, float] = {}  # the last output written per loop
        self.last_step: dict[int, float] = {}  # monotonic time of each loop's last step
        self.next_due = 0.0
        self.healthy: set[int] = set()  # loops that stepped cleanly since their last failure

    def step(self, now: datetime) -> None:
        """Step each loop if a period has passed since the last time."""
        mono = time.monotonic()
        if mono < self.next_due:
            return
        self.next_due = max(self.next_due + self.period_s, mono)
        loops = ControlLoop.objects.select_related(
            "pv_tag", "sp_tag", "output_tag__machine__line"
        ).order_by("pk")
        for loop in loops:
            self._guarded(loop, now, mono)

    def _guarded(self, loop: ControlLoop, now: datetime, mono: float) -> None:
        """Step one loop behind its own guard: its failure stops it alone, never the others.

        A database outage is not the loop's fault: it goes up to the worker, which pauses.
        """
        try:
            if not do_lease_loop(loop.pk, self.runner, now=now, lease_s=LEASE_S):
                self._forget(loop.pk)
                return
            self.step_loop(loop, now, mono)
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            self._failed(loop, exc, now)
            return
        if loop.pk not in self.healthy:  # cleared once per start, then only after a failure
            system_health.do_clear_system_alarm(loop_alarm_key(loop.pk), now=now)
            self.healthy.add(loop.pk)

    def _failed(self, loop: ControlLoop, exc: Exception, now: datetime) -> None:
        """Log with the traceback, drop the loop to manual with the reason, raise its alarm."""
        self.healthy.discard(loop.pk)
        self._forget(loop.pk)
        detail = f"{type(exc).__name__}: {exc}"
        raised = system_health.do_raise_system_alarm(
            loop_alarm_key(loop.pk), f"Control loop {loop.name} failed and is in manual",
            detail=detail, now=now,
        )  # fmt: skip
        if raised:  # the traceback once; a loop failing every second logs one line each time
            log.exception("control loop %s failed; dropped to manual", loop.name)
        else:
            log.warning("control loop %s failed again: %s", loop.name, detail)
        reason = f"dropped to manual: the loop failed: {detail}"
        do_set_loop_mode(loop, ControlLoop.Mode.MANUAL, by=None, reason=reason, now=now)

    def step_loop(self, loop: ControlLoop, now: datetime, mono: float) -> None:
        """One sample of one loop: supervise, then control (auto) or track (manual)."""
        dt = min(mono - self.last_step.get(loop.pk, mono - self.period_s), 10 * self.period_s)
        self.last_step[loop.pk] = mono
        inputs = read_inputs(loop, now)
        if loop.mode == ControlLoop.Mode.MANUAL or inputs.problem:
            if loop.mode == ControlLoop.Mode.AUTO:
                self._drop_to_manual(loop, inputs.problem, now)
            self._track(loop, inputs, dt)
            return
        tuning = tuning_of(loop)
        state = self.states.get(loop.pk)
        if state is None:  # first step in auto: start from the output the device holds
            state = control.State(control.Mode.MANUAL, inputs.output, inputs.sp - inputs.pv)
            self.written[loop.pk] = inputs.output
        state = control.step(tuning, control.to_auto(state), sp=inputs.sp, pv=inputs.pv, dt=dt)
        self.states[loop.pk] = state
        self._write(loop, state.output, inputs, now)

    def _track(self, loop: ControlLoop, inputs: Inputs, dt: float) -> None:
        if inputs.problem:
            self._forget(loop.pk)
            return
        state = self.states.get(loop.pk) or control.State(control.Mode.MANUAL, inputs.output)
        self.states[loop.pk] = control.track(
            tuning_of(loop), state, output=inputs.output, sp=inputs.sp, pv=inputs.pv, dt=dt
        )
        self.written[loop.pk] = inputs.output

    def _drop_to_manual(self, loop: ControlLoop, problem: str, now: datetime) -> None:
        reason = f"dropped to manual: {problem}"
        if do_set_loop_mode(loop, ControlLoop.Mode.MANUAL, by=None, reason=reason, now=now):
            log.warning("%s %s", loop.name, reason)

    def _write(self, loop: ControlLoop, output: float, inputs: Inputs, now: datetime) -> None:
        tag = loop.output_tag
        value = round(output, tag.precision)
        change = abs(value - self.written.get(loop.pk, inputs.output))
        if change == 0 or change < loop.write_deadband - 1e-9:  # rounding leaves 0.04999…
            return
        if tag.max_step is not None:  # a throttled write may have gathered more than one step
            value = control.clamp(value, inputs.output - tag.max_step, inputs.output + tag.max_step)
        reason = f"{loop.name}: {fmt(loop.pv_tag, inputs.pv)} against {fmt(loop.sp_tag, inputs.sp)}"
        try:
            do_request_setpoint(tag, value, by=None, reason=reason, loop=loop)
        except ValidationError as exc:  # e.g. the rate limit: the next step tries again
            log.info("%s: write of %s refused: %s", loop.name, value, exc.messages[0])
            return
        self.written[loop.pk] = value
        do_record_loop_output(loop.pk, value, now=now)

    def _forget(self, loop_id: int) -> None:
        self.states.pop(loop_id, None)
        self.written.pop(loop_id, None)


def loop_alarm_key(loop_id: int) -> str:
    """The system alarm a failing loop raises."""
    return f"ingest.loop.{loop_id}"


def read_inputs(loop: ControlLoop, now: datetime) -> Inputs:
    """The loop's measurement, setpoint and output now, and what makes them unusable, if any."""
    latest = {
        value.tag_id: value
        for value in LatestValue.objects.filter(
            tag_id__in=[loop.pv_tag_id, loop.sp_tag_id, loop.output_tag_id]
        )
    }
    pv, sp, out = (latest.get(i) for i in (loop.pv_tag_id, loop.sp_tag_id, loop.output_tag_id))
    # Setpoints are published on change and as a slow heartbeat: stale only much later.
    slow = max(loop.pv_stale_s, loop.sp_tag.expected_interval_s)
    checks = [(loop.pv_tag, pv, loop.pv_stale_s), (loop.sp_tag, sp, slow),
              (loop.output_tag, out, float("inf"))]  # fmt: skip
    problem = next(
        (f"{tag.description or tag.key} {found}" for tag, value, stale_s in checks
         if (found := value_problem(value, now, stale_s))),
        "",
    )  # fmt: skip
    pv_value, sp_value, out_value = (
        v.value if v is not None and v.value is not None else 0.0 for v in (pv, sp, out)
    )
    return Inputs(pv_value, sp_value, out_value, problem=problem)


def tuning_of(loop: ControlLoop) -> control.Tuning:
    return control.Tuning(
        kp=loop.kp, ti_s=loop.ti_s, out_min=loop.output_min, out_max=loop.output_max,
        max_rate=loop.max_rate, filter_s=loop.filter_s,
    )  # fmt: skip
