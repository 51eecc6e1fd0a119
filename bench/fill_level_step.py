"""Fill-level setpoint step: settling time and overshoot of the supervisory loop.

    python bench/fill_level_step.py              # real time, real processes (about 90 s)
    python bench/fill_level_step.py --drift      # also a 60 s fill_drift fault (about 3 min)
    python bench/fill_level_step.py --fast       # in-process model, faster than real time

Real time (the default) runs the product as it runs in production: a private Mosquitto and a
fresh database, `manage.py simulate` (the demo devices) and `manage.py ingest` (worker, writer
and loop runner) as child processes. The bench switches the fill-level loop to auto, asks for
a 5 ml fill-level setpoint step through the audited write path, and records every fill-level
value the simulator publishes (five a second, with 0.3 ml of sensor noise).

--fast drives the simulator's plant model in-process, faster than real time: the same
controller and tuning, the same write deadband, with the real pipeline's delays modelled
(1 s sampling, the loop half a period behind, 0.2 s to the device). It also reads the model's
noise-free level, so it can report settling into ±2 % of the step itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.services import ROOT, Broker, fresh_database

STEP_FROM, STEP_TO = 500.0, 505.0
TOPIC_ROOT = "bench/"
DB_NAME = f"scada_bench_fill_{os.getpid()}"  # two runs never share (or drop) one
# The simulator publishes the level once a second with 0.3 ml of noise: a 5 s centred average
# (0.13 ml of noise) shows where the level is without delaying when it got there.
AVERAGE_HALF_S = 2.5


def settling(trace: list[tuple[float, float]], target: float, band: float) -> float | None:
    """Seconds after the step from which the trace stays within ±band of target (None: never)."""
    outside = [t for t, v in trace if abs(v - target) > band]
    if not outside:
        return 0.0
    return None if outside[-1] >= trace[-1][0] - 1.0 else outside[-1]


def averaged(trace: list[tuple[float, float]], half_s: float) -> list[tuple[float, float]]:
    """A centred moving average (±half_s): the sensor noise out, the level's own motion in."""
    out = []
    for t, _ in trace:
        near = [v for u, v in trace if abs(u - t) <= half_s]
        out.append((t, statistics.fmean(near)))
    return out


def seconds(found: float | None) -> float:
    return float("inf") if found is None else found


BANDS = [("2 % of the target", 0.02 * STEP_TO), ("±0.5 ml (10 % of the step)", 0.5),
         ("2 % of the step", 0.02 * (STEP_TO - STEP_FROM))]  # fmt: skip


def report(trace: list[tuple[float, float]]) -> None:
    """Settling times and overshoot of a (t, level) trace that starts at the step."""
    for label, band in BANDS:
        found = settling(trace, STEP_TO, band)
        shown = f"{found:.1f} s" if found is not None else "not within the run"
        print(f"  settled into {label} (±{band:.2f} ml): {shown}")
    peak = max(v for _, v in trace)
    overshoot = max(0.0, (peak - STEP_TO) / (STEP_TO - STEP_FROM) * 100)
    print(f"  overshoot: {overshoot:.1f} % of the step (peak {peak:.2f} ml)")


# --- fast: the plant model in-process --------------------------------------------------------


class ModelRun:
    """The simulator's plant model with the loop's controller, 0.1 s model steps."""

    def __init__(self, seed: int, tuning: object, deadband: float) -> None:
        from ingest.sim.plant_model import PlantModel
        from plant import control

        self.control = control
        self.model, self.tuning, self.deadband = PlantModel(seed), tuning, deadband
        self.state = control.State(control.Mode.AUTO, 50.0, 0.0)
        self.written, self.pending, self.measured = 50.0, [], STEP_FROM
        self.writes: list[float] = []
        self.trace: list[tuple[float, float]] = []  # (t, noise-free level)

    def run(self, seconds: float, sp: float) -> None:
        start = self.trace[-1][0] if self.trace else 0.0
        for tick in range(1, round(seconds * 10) + 1):
            t = start + tick / 10
            for at, value in [p for p in self.pending if p[0] <= t]:
                self.model.write("flow_rate_sp", value)
                self.pending.remove((at, value))
            if tick % 10 == 0:  # the simulator publishes once a second
                self.model.step(1.0)
                self.measured = float(self.model.values["fill_level"])
                self.trace.append((t, self.model.fill_lagged + self.model.drift))
            if tick % 10 == 5:  # the loop steps half a period after the values are stored
                self.loop_step(t, sp)

    def loop_step(self, t: float, sp: float) -> None:
        self.state = self.control.step(self.tuning, self.state, sp=sp, pv=self.measured, dt=1.0)
        value = round(self.state.output, 2)
        if value != self.written and abs(value - self.written) >= self.deadband - 1e-9:
            self.pending.append((t + 0.2, value))
            self.written = value
            self.writes.append(t)


def fast(seeds: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from plant import control
    from plant.demo import FILL_LEVEL_LOOP as T

    tuning = control.Tuning(T["kp"], T["ti_s"], T["output_min"], T["output_max"],
                            T["max_rate"], T["filter_s"])  # fmt: skip
    print(f"fill-level step {STEP_FROM:g} -> {STEP_TO:g} ml: plant model in-process, faster "
          f"than real time, {seeds} seeds; bands on the model's noise-free level")  # fmt: skip
    rows: dict[str, list[float]] = {}
    for seed in range(seeds):
        for key, value in fast_figures(ModelRun(seed, tuning, float(T["write_deadband"]))).items():
            rows.setdefault(key, []).append(value)
    for key, values in rows.items():
        print(f"  {key:<44} median {statistics.median(values):6.1f}   worst {max(values):6.1f}")


def fast_figures(run: ModelRun) -> dict[str, float]:
    run.run(60, STEP_TO)
    step_trace = list(run.trace)
    steady = sum(1 for t in run.writes if 30 < t <= 60)
    run.model.inject("fill_drift", 60)
    run.run(150, STEP_TO)  # 60 s of drift, then as long again for the drift to recover
    drift = [abs(v - STEP_TO) for t, v in run.trace if t > 60]
    return {
        "settling into 2 % of the step (±0.1 ml), s": seconds(settling(step_trace, STEP_TO, 0.1)),
        "settling into ±0.5 ml, s": seconds(settling(step_trace, STEP_TO, 0.5)),
        "overshoot, % of the step": max(0.0, (max(v for _, v in step_trace) - STEP_TO) / 0.05),
        "loop writes in the 60 s after the step": float(sum(1 for t in run.writes if t <= 60)),
        "loop writes per minute, settled": steady * 2.0,
        "fill_drift (up to -20 ml): largest error, ml": max(drift),
    }


# --- real time: the product's own processes ------------------------------------------------


def realtime(drift: bool, trace_path: str = "") -> None:
    broker = Broker()
    broker.start()
    url = fresh_database(DB_NAME)
    os.environ.update(DATABASE_URL=url, MQTT_URL=broker.url, MQTT_TOPIC_ROOT=TOPIC_ROOT,
                      DJANGO_SETTINGS_MODULE="config.settings")  # fmt: skip
    manage("load_demo", "--no-users").wait(60)
    children = [manage("simulate"), manage("ingest", "--metrics-port", "0")]
    try:
        import django

        django.setup()
        measurement = Measurement()
        measurement.trace_path = trace_path
        measurement.run(drift)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(30)
        broker.close()
        drop_database()


def manage(*argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "manage.py", *argv], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                    f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'],
                   check=False, stdout=subprocess.DEVNULL)  # fmt: skip


class Measurement:
    """Records every fill level the simulator publishes, and drives the loop through actions."""

    def __init__(self) -> None:
        from plant.models import ControlLoop

        self.loop = ControlLoop.objects.select_related("pv_tag", "sp_tag", "output_tag").get()
        self.values: list[tuple[float, float]] = []  # (epoch seconds received, level)
        self.lock = threading.Lock()
        self.trace_path = ""

    def run(self, drift: bool) -> None:
        from plant.actions.loops import do_set_loop_mode

        client = self.subscribe()
        try:
            self.wait_for_values()
            do_set_loop_mode(self.loop, "auto", by=None, reason="bench: step test")
            time.sleep(10)  # observe: the loop holds 500 ml before the step
            self.step_test()
            if drift:
                self.drift_test()
        finally:
            client.disconnect()
            client.loop_stop()

    def subscribe(self) -> object:
        from ingest.mqtt import make_client
        from ingest.payloads import decode, utcnow

        def on_message(client: object, userdata: object, msg: object) -> None:
            value = float(decode(msg.payload, utcnow()).value)  # type: ignore[attr-defined]
            with self.lock:
                self.values.append((time.time(), value))

        client, address = make_client()
        client.on_message = on_message
        client.on_connect = lambda c, *_: c.subscribe(self.loop.pv_tag.topic, qos=0)
        client.connect(address.host, address.port)
        client.loop_start()
        return client

    def wait_for_values(self) -> None:
        from django.core.exceptions import ValidationError
        from django.utils import timezone

        from plant.actions.loops import check_loop_can_run

        deadline = time.monotonic() + 60
        while True:
            try:
                check_loop_can_run(self.loop, timezone.now())
                return
            except ValidationError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def trace_since(self, start: float) -> list[tuple[float, float]]:
        with self.lock:
            return [(t - start, v) for t, v in self.values if t >= start]

    def step_test(self) -> None:
        from plant.actions.setpoints import do_request_setpoint
        from plant.models import SetpointWrite

        start = time.time()
        step = do_request_setpoint(self.loop.sp_tag, STEP_TO, by=None,
                                   reason="bench: 5 ml step")  # fmt: skip
        time.sleep(60)  # observe a minute after the step
        step.refresh_from_db()
        trims = SetpointWrite.objects.filter(
            tag=self.loop.output_tag, requested_at__gte=step.requested_at
        )
        late = trims.filter(requested_at__gte=step.requested_at + timedelta(seconds=30)).count()
        print(
            f"fill-level step {STEP_FROM:g} -> {STEP_TO:g} ml, real time: simulator, broker, "
            "worker and loop as in production; bands on a 5 s centred average of the level"
        )
        took = (step.finished_at - step.requested_at).total_seconds()
        print(f"  the step write: {step.state} {took:.2f} s after the request")
        report(averaged(self.trace_since(start), AVERAGE_HALF_S))
        if self.trace_path:
            self.write_trace(start, trims)
        states = sorted(set(trims.values_list("state", flat=True)))
        print(f"  loop writes to flow_rate_sp: {trims.count()} in 60 s ({', '.join(states)}); "
              f"{late * 2} a minute once settled")  # fmt: skip

    def write_trace(self, start: float, trims: object) -> None:
        """The step's measurements and the loop's writes, as CSV for a plot."""
        rows = [f"{t:.3f},level,{v}" for t, v in self.trace_since(start)]
        for write in trims:  # type: ignore[attr-defined]
            at = write.requested_at.timestamp() - start
            rows.append(f"{at:.3f},flow_rate_sp,{write.value}")
        Path(self.trace_path).write_text(
            "t,what,value\n" + "\n".join(sorted(rows, key=lambda r: float(r.split(",")[0]))) + "\n"
        )
        print(f"  trace written to {self.trace_path}")

    def drift_test(self) -> None:
        start = time.time()
        manage("simulate", "--inject", "fill_drift", "--duration", "60").wait(30)
        time.sleep(150)  # the drift builds for 60 s and then recovers as slowly
        trace = averaged(self.trace_since(start), AVERAGE_HALF_S)
        worst = max(abs(v - STEP_TO) for _, v in trace)
        mean = statistics.fmean(abs(v - STEP_TO) for _, v in trace)
        print(f"  fill_drift for 60 s (up to -20 ml without the loop): largest error "
              f"{worst:.2f} ml, mean {mean:.2f} ml over {trace[-1][0]:.0f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="in-process, faster than real time")
    parser.add_argument("--drift", action="store_true", help="also a fill_drift fault (real time)")
    parser.add_argument("--seeds", type=int, default=20, help="runs of the --fast model")
    parser.add_argument("--trace", default="", metavar="CSV", help="write the step's trace here")
    args = parser.parse_args()
    if args.fast:
        fast(args.seeds)
    else:
        realtime(args.drift, args.trace)


if __name__ == "__main__":
    main()
