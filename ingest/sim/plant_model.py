"""The demo plant's physics: fill level, flow, tank, gas, pump vibration and energy.

Pure (no I/O, no clock): `PlantModel` is stepped by its caller with any dt, and a seed makes its
noise repeatable, so tests step it fast and hypothesis can explore it. The devices of
ingest/sim/ (JSON, Sparkplug, Neuron) move it in real time and publish `values` in their format.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

from ingest.payloads import Scalar
from ingest.sim.faults import DEFAULT_FAULT_S, ScheduledFault
from ingest.sim.filler_states import FillerStops

WRITABLE_KEYS = ("fill_level_sp", "flow_rate_sp", "fan", "valve_open")

# Filler: fill level is 10 ml per l/min of flow (50 l/min fills 500 ml), seen through lags.
FLOW_TAU_S, FILL_TAU_S, ML_PER_LPM = 3.0, 2.0, 10.0
BOTTLES_PER_S, REJECT_BAND_ML = 3.0, 5.0
DRIFT_ML_PER_S, DRIFT_LIMIT_ML = 0.2, -20.0
TANK_L, REFILL_LPM, TANK_LOW, TANK_HIGH = 500.0, 200.0, 20.0, 90.0
# Gas: an open leak fills the area within ~10 s. With the fan on and the valve closed it
# clears in ~20 s; the fan alone only dilutes an open leak, and still air clears it slowly.
LEAK_TAU_S, FAN_CLEAR_TAU_S, STILL_AIR_TAU_S, FAN_DILUTION = 3.5, 5.0, 60.0, 0.6
METHANE_PER_LEAK, H2S_PER_LEAK = 44.0, 17.5
# Pump: a failing bearing vibrates ~0.1 mm/s more each second, up to ~12 mm/s, and warms up.
VIBRATION_RAMP, VIBRATION_MAX_EXCESS, BEARING_K_PER_EXCESS, BEARING_TAU_S = 0.1, 10.0, 4.0, 60.0
# The energy meter's reading when it has none stored yet (plant/demo_energy.py ends its
# backfilled history just under the meter's first stored reading).
START_KWH = 125_000.0


def lag(value: float, target: float, dt: float, tau: float) -> float:
    """One step of a first-order lag; exact for any dt, so a long step never overshoots."""
    return target + (value - target) * math.exp(-dt / tau)


class PlantModel:
    """The bottling plant's physics, stepped by the caller; deterministic for a seed and dts.

    `values` holds what each tag reads now, by tag key. Faults are kept by name with the
    simulated time they end; the model acts on the process faults and only keeps the time of
    the others (silent:…, reject_writes:…), which the device side acts on. A meter's register
    survives a power cut, so `meter_kwh` is where the energy meter carries on from (the
    devices pass its newest stored reading).
    """

    def __init__(self, seed: int | None = None, *, meter_kwh: float = START_KWH) -> None:
        self.rng = random.Random(seed)
        self.t = 0.0
        self.faults: dict[str, float] = {}
        self.pending: list[ScheduledFault] = []
        self.flow, self.fill_lagged, self.drift = 50.0, 500.0, 0.0
        self.tank, self.refilling = 60.0, False
        self.bottles, self.rejected = 0.0, 0  # bottles is fractional: a bottle counts when done
        self.gas = 0.0  # concentration of leaked gas: 0 none, 1 a full open leak
        self.vibration_excess, self.bearing, self.energy = 0.0, 45.0, meter_kwh
        self.stops = FillerStops(None if seed is None else seed + 1)
        self.values: dict[str, Scalar] = {
            "fill_level_sp": 500.0, "flow_rate_sp": 50.0, "fan": False, "valve_open": True,
            "state": "running",
        }  # fmt: skip
        self.step(0.0)

    def step(self, dt: float) -> None:
        """Advance the plant by dt seconds of simulated time."""
        self.t += dt
        self._update_faults()
        self._step_filler(dt)
        self._step_tank(dt)
        self._step_gas(dt)
        self._step_pump(dt)
        self._step_energy(dt)

    def write(self, key: str, value: Scalar) -> None:
        """Take a setpoint as the device's PLC does: stored as given, no limits applied."""
        if key not in WRITABLE_KEYS:
            raise KeyError(f"{key} is not writable")
        self.values[key] = value

    def inject(self, name: str, duration_s: float = DEFAULT_FAULT_S) -> None:
        """Start (or restart) a fault now; `clear` ends every active fault."""
        if name == "clear":
            self.faults.clear()
        else:
            self.faults[name] = self.t + duration_s

    def schedule(self, faults: Iterable[ScheduledFault]) -> None:
        self.pending.extend(faults)

    def active(self, name: str) -> bool:
        return name in self.faults

    def _update_faults(self) -> None:
        due = sorted((f for f in self.pending if f.at_s <= self.t), key=lambda f: f.at_s)
        self.pending = [f for f in self.pending if f.at_s > self.t]
        for fault in due:
            self.inject(fault.name, fault.duration_s)
        self.faults = {name: end for name, end in self.faults.items() if end > self.t}

    def _noisy(self, value: float, sd: float, low: float = 0.0) -> float:
        return round(max(low, value + self.rng.gauss(0.0, sd)), 3)

    def _step_filler(self, dt: float) -> None:
        self.flow = lag(self.flow, float(self.values["flow_rate_sp"]), dt, FLOW_TAU_S)
        self.fill_lagged = lag(self.fill_lagged, ML_PER_LPM * self.flow, dt, FILL_TAU_S)
        if self.active("fill_drift"):
            self.drift = max(DRIFT_LIMIT_ML, self.drift - DRIFT_ML_PER_S * dt)
        else:  # the cause went away (say, a nozzle was cleaned): the offset recovers as slowly
            self.drift = min(0.0, self.drift + DRIFT_ML_PER_S * dt)
        fill_level = self._noisy(self.fill_lagged + self.drift, 0.3)
        self.values["state"] = self.stops.state(self.t, self.faults)
        speed = {"running": 1.0, "slow": 0.5}.get(str(self.values["state"]), 0.0)
        if speed:
            made = int(self.bottles + BOTTLES_PER_S * speed * dt) - int(self.bottles)
            self.bottles += BOTTLES_PER_S * speed * dt
            if abs(fill_level - float(self.values["fill_level_sp"])) > REJECT_BAND_ML:
                self.rejected += made
        self.values.update(
            flow_rate=self._noisy(self.flow, 0.05), fill_level=fill_level,
            bottles_filled=int(self.bottles), bottles_rejected=self.rejected,
        )  # fmt: skip

    def _step_tank(self, dt: float) -> None:
        # The refill valve opens at the low mark and closes at the high one (hysteresis).
        if self.tank <= TANK_LOW:
            self.refilling = True
        elif self.tank >= TANK_HIGH:
            self.refilling = False
        net_lpm = (REFILL_LPM if self.refilling else 0.0) - self.flow
        self.tank = min(100.0, max(0.0, self.tank + net_lpm / 60 * dt / TANK_L * 100))
        self.values["tank_level"] = self._noisy(self.tank, 0.05)

    def _step_gas(self, dt: float) -> None:
        fan, valve_open = bool(self.values["fan"]), bool(self.values["valve_open"])
        if self.active("gas_leak") and valve_open:
            self.gas = lag(self.gas, FAN_DILUTION if fan else 1.0, dt, LEAK_TAU_S)
        else:
            self.gas = lag(self.gas, 0.0, dt, FAN_CLEAR_TAU_S if fan else STILL_AIR_TAU_S)
        methane_base = min(2.0, max(0.5, self.rng.gauss(1.2, 0.25)))
        h2s_base = min(1.0, max(0.2, self.rng.gauss(0.5, 0.15)))
        self.values["methane"] = round(methane_base + METHANE_PER_LEAK * self.gas, 2)
        self.values["h2s"] = round(h2s_base + H2S_PER_LEAK * self.gas, 2)

    def _step_pump(self, dt: float) -> None:
        ramp = VIBRATION_RAMP * dt
        if self.active("pump_vibration"):
            self.vibration_excess = min(VIBRATION_MAX_EXCESS, self.vibration_excess + ramp)
        else:
            self.vibration_excess = max(0.0, self.vibration_excess - ramp)
        hot = 45.0 + BEARING_K_PER_EXCESS * self.vibration_excess
        self.bearing = lag(self.bearing, hot, dt, BEARING_TAU_S)
        self.values["vibration_rms"] = self._noisy(2.0 + self.vibration_excess, 0.1)
        self.values["bearing_temp"] = self._noisy(self.bearing, 0.1)

    def _step_energy(self, dt: float) -> None:
        load_kw = 150.0 + 0.8 * self.flow + (15.0 if self.values["fan"] else 0.0)
        power = self._noisy(load_kw, 2.0)
        self.energy += power * dt / 3600
        self.values.update(power=round(power, 1), energy=round(self.energy, 3))
