"""The simulator's faults: their names, the command line's schedule, and the fault command.

Pure (no I/O): every device of the simulator (JSON, Sparkplug, Neuron) takes the same fault
commands on `<MQTT_TOPIC_ROOT>_sim/<plant slug>/fault`: {"fault": "gas_leak", "duration": 60}.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ingest.payloads import PayloadError

DEFAULT_FAULT_S = 60.0
# The filler's stops, for OEE: each holds the filler in a state while active (filler_stop: a
# breakdown, starved: no bottles, slow: half speed); filler_stops makes it stop now and then by
# itself (short stops and a few longer ones) for as long as it is active.
FILLER_FAULTS = ("filler_stop", "starved", "slow", "filler_stops")
PROCESS_FAULTS = ("gas_leak", "pump_vibration", "fill_drift", *FILLER_FAULTS)
SILENT, REJECT_WRITES = "silent:", "reject_writes:"  # followed by a machine slug / a tag key


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


def check_target(name: str, plant_slug: str, machines: Iterable[str],
                 writable: Iterable[str]) -> None:  # fmt: skip
    """Raise PayloadError unless the fault is known and its silent:<machine> names one of
    `machines`, its reject_writes:<tag key> one of the `writable` keys."""
    check_fault_name(name)
    if name.startswith(SILENT) and name.removeprefix(SILENT) not in set(machines):
        raise PayloadError(f"no machine {name.removeprefix(SILENT)!r} in plant {plant_slug!r}")
    if name.startswith(REJECT_WRITES) and name.removeprefix(REJECT_WRITES) not in set(writable):
        key = name.removeprefix(REJECT_WRITES)
        raise PayloadError(f"no writable tag {key!r} in plant {plant_slug!r}")


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
