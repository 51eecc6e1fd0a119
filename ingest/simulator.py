"""The demo plant's devices: a steppable physics model, and the MQTT side that publishes it.

`PlantModel` is pure (no I/O, no clock): tests step it fast with any dt, and a seed makes it
repeatable. `Simulator` moves it in real time: it publishes every tag of the demo plant
(plant/demo.py) on the tag's own topic, obeys setpoint writes on `<tag topic>/set` with an
immediate readback that echoes the write's id (the reference device of the MQTT contract), and
takes fault commands on `<MQTT_TOPIC_ROOT>_sim/<plant slug>/fault`:
{"fault": "gas_leak", "duration": 60}.
"""

from __future__ import annotations

import json
import logging
import math
import posixpath
import queue
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from django.conf import settings

from ingest.mqtt import make_client, set_topic
from ingest.payloads import PayloadError, Scalar, coerce, decode_setpoint, encode_value, utcnow
from plant.models import Tag

log = logging.getLogger(__name__)

DEFAULT_FAULT_S = 60.0
HEARTBEAT_S = 5.0  # tags published on change are also repeated this often
PROCESS_FAULTS = ("gas_leak", "pump_vibration", "fill_drift")
SILENT, REJECT_WRITES = "silent:", "reject_writes:"  # followed by a machine slug / a tag key
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


def lag(value: float, target: float, dt: float, tau: float) -> float:
    """One step of a first-order lag; exact for any dt, so a long step never overshoots."""
    return target + (value - target) * math.exp(-dt / tau)


def check_fault_name(name: str) -> str:
    """Return the name if it is a fault the simulator knows; raise PayloadError if not."""
    for prefix in (SILENT, REJECT_WRITES):
        if name.startswith(prefix) and name[len(prefix) :]:
            return name
    if name in (*PROCESS_FAULTS, "clear"):
        return name
    raise PayloadError(
        f"unknown fault {name[:60]!r}: use {', '.join(PROCESS_FAULTS)}, "
        "silent:<machine>, reject_writes:<tag key> or clear"
    )


@dataclass(frozen=True)
class ScheduledFault:
    """A fault from the command line: what, how many seconds after the start, for how long."""

    name: str
    at_s: float
    duration_s: float = DEFAULT_FAULT_S


def parse_fault_spec(text: str) -> ScheduledFault:
    """Parse `name@seconds[:duration]`, e.g. gas_leak@30 or silent:detector@10:20."""
    name, at, rest = text.partition("@")
    start, _, duration = rest.partition(":")
    try:
        at_s = float(start) if at else math.nan
        duration_s = float(duration) if duration else DEFAULT_FAULT_S
    except ValueError:
        at_s = duration_s = math.nan
    if not (math.isfinite(at_s) and at_s >= 0 and _valid_duration(duration_s)):
        raise ValueError(f"--fault {text!r}: use NAME@SECONDS[:DURATION], e.g. gas_leak@30:60")
    try:
        return ScheduledFault(check_fault_name(name), at_s, duration_s)
    except PayloadError as exc:
        raise ValueError(f"--fault {text!r}: {exc}") from None


def _valid_duration(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e9


def fault_topic(topic_root: str, plant_slug: str) -> str:
    """Where a simulator of this plant takes fault commands."""
    return f"{topic_root}_sim/{plant_slug}/fault"


def encode_fault(name: str, duration_s: float = DEFAULT_FAULT_S) -> bytes:
    return json.dumps({"fault": name, "duration": duration_s}, separators=(",", ":")).encode()


def decode_fault(payload: bytes) -> tuple[str, float]:
    """A fault command as (name, duration in seconds); anything malformed is a PayloadError."""
    try:
        raw = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise PayloadError(
            'a fault command is JSON: {"fault": "gas_leak", "duration": 60}'
        ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("fault"), str):
        raise PayloadError('a fault command needs "fault" as a string')
    duration = raw.get("duration", DEFAULT_FAULT_S)
    if not _valid_duration(duration):
        raise PayloadError(f"duration must be a number of seconds above 0, not {duration!r}"[:80])
    return check_fault_name(raw["fault"]), float(duration)


class PlantModel:
    """The bottling plant's physics, stepped by the caller; deterministic for a seed and dts.

    `values` holds what each tag reads now, by tag key. Faults are kept by name with the
    simulated time they end; the model acts on the process faults and only keeps the time of
    the others (silent:…, reject_writes:…), which the device side acts on.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.t = 0.0
        self.faults: dict[str, float] = {}
        self.pending: list[ScheduledFault] = []
        self.flow, self.fill_lagged, self.drift = 50.0, 500.0, 0.0
        self.tank, self.refilling = 60.0, False
        self.bottles, self.rejected = 0.0, 0  # bottles is fractional: a bottle counts when done
        self.gas = 0.0  # concentration of leaked gas: 0 none, 1 a full open leak
        self.vibration_excess, self.bearing, self.energy = 0.0, 45.0, 125_000.0
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
        if self.values["state"] == "running":
            made = int(self.bottles + BOTTLES_PER_S * dt) - int(self.bottles)
            self.bottles += BOTTLES_PER_S * dt
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


@dataclass(frozen=True)
class SimTag:
    """What the simulator needs to know of one tag of the plant."""

    key: str
    machine: str
    topic: str
    data_type: str
    writable: bool


def load_tags(plant_slug: str) -> list[SimTag]:
    tags = Tag.objects.filter(machine__line__plant__slug=plant_slug).select_related("machine")
    return [SimTag(t.key, t.machine.slug, t.topic, t.data_type, t.writable) for t in tags]


def as_tag_value(value: Scalar, data_type: str) -> Scalar:
    """A written value in the tag's own type; PayloadError if it does not fit the type."""
    stored = coerce(value, data_type)
    if data_type == "bool":
        return bool(stored)
    return int(stored) if data_type == "int" else stored


def differing(held: Scalar, requested: Scalar) -> Scalar:
    """What a device refusing a write reads back: its held value, or if equal, something else."""
    if held != requested:
        return held
    if isinstance(requested, bool):
        return not requested
    return requested + 1 if isinstance(requested, int | float) else f"{requested}?"


class Simulator:
    """The demo plant's devices on MQTT: telemetry, setpoint readbacks and injectable faults.

    paho's network thread only fills `inbox`; one loop steps the model, publishes and handles
    commands, so the model is never touched by two threads.
    """

    def __init__(self, tags: list[SimTag], *, plant_slug: str, rate: float = 1.0,
                 seed: int | None = None, schedule: Iterable[ScheduledFault] = (),
                 url: str | None = None) -> None:  # fmt: skip
        self.model = PlantModel(seed)
        self.tags = [t for t in tags if t.key in self.model.values]
        self.unmodelled = sorted(t.key for t in tags if t.key not in self.model.values)
        self.by_set_topic = {set_topic(t.topic): t for t in self.tags if t.writable}
        self.plant_slug, self.interval = plant_slug, 1.0 / rate
        self.fault_topic = fault_topic(settings.MQTT_TOPIC_ROOT, plant_slug)
        schedule = list(schedule)
        for fault in schedule:
            self.check_target(fault.name)
        self.model.schedule(schedule)
        # A device of its own on the broker (SIMULATOR_MQTT_URL), not the worker's identity.
        self.client, self.address = make_client(url=url or settings.SIMULATOR_MQTT_URL or None)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client.on_message = lambda _client, _userdata, message: self.inbox.put(message)
        self.subscribed = threading.Event()  # set by paho's thread once our topics are granted
        self.stopping = False
        self.last_sent: dict[str, tuple[Scalar, float]] = {}  # key -> (value, monotonic time)
        self.last_step = self.next_tick = time.monotonic()

    def describe(self) -> str:
        """The start line: what is published, where, and where commands are taken."""
        prefix = posixpath.commonpath([t.topic for t in self.tags]) if self.tags else ""
        skipped = f"; not modelled: {', '.join(self.unmodelled)}" if self.unmodelled else ""
        return (
            f"simulate: {len(self.tags)} tags of plant {self.plant_slug!r} to "
            f"{'mqtts' if self.address.tls else 'mqtt'}://{self.address.host}:"
            f"{self.address.port} under {prefix}/# at "
            f"{1 / self.interval:g}/s, writes on <tag topic>/set, faults on {self.fault_topic}"
            f"{skipped}"
        )

    def connect(self) -> None:
        """Connect and start paho's network thread; OSError if the broker is unreachable."""
        self.client.connect(self.address.host, self.address.port)
        self.client.loop_start()

    def run(self) -> None:
        """Publish and obey commands until stop(); call connect() first."""
        self.last_step = self.next_tick = time.monotonic()
        try:
            while not self.stopping:
                self.run_once()
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def stop(self) -> None:
        """Ask run() to return; safe from a signal handler (it only sets a flag)."""
        self.stopping = True

    def run_once(self, max_wait: float = 0.2) -> None:
        """Tick if due, then handle a command that arrives before the next tick (if any)."""
        now = time.monotonic()
        if now >= self.next_tick:
            self.tick(now)
        wait = min(max_wait, max(0.0, self.next_tick - time.monotonic()))
        try:
            message = self.inbox.get(timeout=wait)
        except queue.Empty:
            return
        self.handle(message)

    def tick(self, now: float) -> None:
        """Step the model by the real time elapsed and publish every tag that is due."""
        before = dict(self.model.faults)
        self.model.step(now - self.last_step)
        self.last_step = now
        self._log_fault_changes(before)
        self.next_tick += self.interval
        if self.next_tick < now:  # fell behind (a stalled machine): skip, never burst
            self.next_tick = now + self.interval
        for tag in self.tags:
            if self._due(tag, now) and not self.model.active(SILENT + tag.machine):
                self._publish(tag, self.model.values[tag.key])

    def handle(self, message: mqtt.MQTTMessage) -> None:
        if message.topic == self.fault_topic:
            self._on_fault_command(message.payload)
        elif tag := self.by_set_topic.get(message.topic):
            self._on_setpoint(tag, message.payload)

    def check_target(self, name: str) -> None:
        """Raise PayloadError if a silent:/reject_writes: fault names no machine/writable tag."""
        check_fault_name(name)
        machine = name.removeprefix(SILENT) if name.startswith(SILENT) else None
        key = name.removeprefix(REJECT_WRITES) if name.startswith(REJECT_WRITES) else None
        if machine is not None and machine not in {t.machine for t in self.tags}:
            raise PayloadError(f"no machine {machine!r} in plant {self.plant_slug!r}")
        if key is not None and key not in {t.key for t in self.by_set_topic.values()}:
            raise PayloadError(f"no writable tag {key!r} in plant {self.plant_slug!r}")

    def _due(self, tag: SimTag, now: float) -> bool:
        # Analogue measurements go out every tick; setpoints, bools, strings and counters on
        # change, and at least every HEARTBEAT_S so the HMI can tell a quiet tag from a dead one.
        last = self.last_sent.get(tag.key)
        if last is None or (tag.data_type == "float" and not tag.writable):
            return True
        return last[0] != self.model.values[tag.key] or now - last[1] >= HEARTBEAT_S

    def _publish(self, tag: SimTag, value: Scalar, write_id: str | None = None) -> None:
        # Live telemetry only: while the broker is away nothing queues up to flood it later.
        if self.client.is_connected():
            payload = encode_value(value, utcnow(), write_id=write_id)
            self.client.publish(tag.topic, payload, qos=1)
            self.last_sent[tag.key] = (value, time.monotonic())

    def _on_fault_command(self, payload: bytes) -> None:
        try:
            name, duration_s = decode_fault(payload)
            self.check_target(name)
        except PayloadError as exc:
            log.warning("simulate: ignored fault command %r: %s", payload[:80], exc)
            return
        before = dict(self.model.faults)
        self.model.inject(name, duration_s)
        self._log_fault_changes(before)

    def _on_setpoint(self, tag: SimTag, payload: bytes) -> None:
        now = utcnow()
        try:
            command = decode_setpoint(payload, now)
            value = as_tag_value(command.value, tag.data_type)
        except PayloadError as exc:
            log.warning("simulate: ignored write to %s: %s", tag.topic, exc)
            return
        if command.expires <= now:
            log.warning("simulate: ignored write %s to %s: expired", command.id, tag.topic)
            return
        if self.model.active(SILENT + tag.machine):
            log.info("simulate: ignored write %s to %s: machine is silent", command.id, tag.key)
            return
        # The readback names the write it answers, refused or applied, as the contract asks
        # of a device that echoes: only then can nobody else's value confirm it.
        if self.model.active(REJECT_WRITES + tag.key):
            self._publish(tag, differing(self.model.values[tag.key], value), command.id)
            return
        self.model.write(tag.key, value)
        self._publish(tag, value, command.id)  # the readback the setpoint writer waits for

    def _log_fault_changes(self, before: dict[str, float]) -> None:
        for name, end in self.model.faults.items():
            if before.get(name) != end:
                log.info("simulate: fault %s active for %gs", name, end - self.model.t)
        for name in before.keys() - self.model.faults.keys():
            log.info("simulate: fault %s ended", name)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason_code: Any, properties: Any) -> None:  # fmt: skip
        if reason_code.is_failure:
            log.warning("simulate: broker refused the connection: %s", reason_code)
            return
        topics = [self.fault_topic, *self.by_set_topic]
        client.subscribe([(topic, 1) for topic in topics])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: list[Any], properties: Any) -> None:  # fmt: skip
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            log.warning("simulate: broker refused our subscriptions: %s", refused)
        else:
            self.subscribed.set()
