"""The demo bottling plant: its asset tree as data, and the function that loads it.

The simulator (ingest/sim/plant_model.py) models the devices of exactly this plant, by tag key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from plant.actions.alarms import do_create_missing_alarms
from plant.actions.loops import do_add_loop
from plant.actions.vibration import do_apply_vibration_class
from plant.energy_alarm import ensure_demand_alarm
from plant.models import (
    AlarmDefinition,
    ControlLoop,
    EmergencyAction,
    EnergyMeter,
    Line,
    Machine,
    OeeMachine,
    OeeState,
    Plant,
    PlantEnergy,
    Shift,
    ShiftBreak,
    SpcSettings,
    StopReason,
    Tag,
    VibrationMonitor,
)
from plant.roles import ROLES
from plant.spc_tags import ensure_spc_tags

PLANT_SLUG = "bottling"
DEMO_ROLES = list(ROLES)


@dataclass(frozen=True)
class TagSpec:
    key: str
    description: str
    data_type: str = "float"
    unit: str = ""
    range: tuple[float, float] | None = None
    normal: tuple[float, float] | None = None
    precision: int = 1
    writable: bool = False
    setpoint: tuple[float, float] | None = None
    max_step: float | None = None
    labels: tuple[str, str] = ("", "")  # false, true
    deadband: float = 0.0
    expected_interval_s: int = 10
    setpoint_key: str = ""  # key of the tag holding this value's setpoint
    readback_tolerance: float = 0.0


@dataclass(frozen=True)
class MachineSpec:
    slug: str
    name: str
    tags: list[TagSpec] = field(default_factory=list)


@dataclass(frozen=True)
class LineSpec:
    slug: str
    name: str
    machines: list[MachineSpec] = field(default_factory=list)


DEMO_LINES = [
    LineSpec("filling", "Filling line", [
        MachineSpec("filler", "Filler", [
            TagSpec("fill_level", "Fill level per bottle", unit="ml", range=(450, 550),
                    normal=(495, 505), precision=1, deadband=0.05, setpoint_key="fill_level_sp"),
            TagSpec("fill_level_sp", "Fill level setpoint", unit="ml", range=(450, 550),
                    precision=1, writable=True, setpoint=(480, 520), max_step=5,
                    readback_tolerance=0.05, expected_interval_s=30),
            TagSpec("flow_rate", "Filler valve flow rate", unit="l/min", range=(0, 100),
                    normal=(30, 70), precision=2, deadband=0.01, setpoint_key="flow_rate_sp"),
            TagSpec("flow_rate_sp", "Filler valve flow rate setpoint", unit="l/min",
                    range=(0, 100), precision=2, writable=True, setpoint=(20, 80), max_step=10,
                    readback_tolerance=0.005, expected_interval_s=30),
            TagSpec("tank_level", "Product tank level", unit="%", range=(0, 100),
                    normal=(15, 95), precision=1, deadband=0.1),
            TagSpec("bottles_filled", "Bottles filled", data_type="int", unit="bottles",
                    precision=0),
            TagSpec("bottles_rejected", "Bottles rejected", data_type="int", unit="bottles",
                    precision=0),
            TagSpec("state", "Machine state", data_type="string"),
        ]),
    ]),
    LineSpec("gas", "Gas detection area", [
        MachineSpec("detector", "Gas detector", [
            TagSpec("methane", "Methane", unit="%LEL", range=(0, 100), normal=(0, 10),
                    precision=1, deadband=0.1, expected_interval_s=5),
            TagSpec("h2s", "Hydrogen sulphide", unit="ppm", range=(0, 50), normal=(0, 5),
                    precision=1, deadband=0.1, expected_interval_s=5),
        ]),
        MachineSpec("ventilation", "Ventilation", [
            TagSpec("fan", "Ventilation fan", data_type="bool", precision=0, writable=True,
                    labels=("off", "on"), expected_interval_s=30),
        ]),
        MachineSpec("isolation", "Gas isolation valve", [
            TagSpec("valve_open", "Isolation valve", data_type="bool", precision=0,
                    writable=True, labels=("closed", "open"), expected_interval_s=30),
        ]),
    ]),
    LineSpec("utilities", "Utilities", [
        MachineSpec("pump", "Transfer pump", [
            TagSpec("vibration_rms", "Vibration RMS", unit="mm/s", range=(0, 20),
                    normal=(0, 4.5), precision=2, deadband=0.02),
            TagSpec("bearing_temp", "Bearing temperature", unit="°C", range=(0, 120),
                    normal=(20, 80), precision=1, deadband=0.1),
        ]),
        MachineSpec("energy", "Energy meter", [
            TagSpec("power", "Active power", unit="kW", range=(0, 400), normal=(0, 300),
                    precision=1, deadband=0.5),
            TagSpec("energy", "Energy", unit="kWh", precision=1, deadband=0.1),
        ]),
    ]),
]  # fmt: skip


@transaction.atomic
def load_demo_plant(topic_root: str = "", slug: str = PLANT_SLUG) -> Plant:
    """Create or update the demo plant; running it twice changes nothing."""
    plant, _ = Plant.objects.update_or_create(
        slug=slug,
        defaults={"name": "Demo Bottling Plant" if slug == PLANT_SLUG else f"Demo {slug}",
                  "time_zone": "Europe/Berlin",
                  "description": "A bottling plant with a filling line, gas detection and "
                                 "utilities, fed by `manage.py simulate`."},
    )  # fmt: skip
    for line_pos, line_spec in enumerate(DEMO_LINES):
        line, _ = Line.objects.update_or_create(
            plant=plant, slug=line_spec.slug,
            defaults={"name": line_spec.name, "position": line_pos},
        )  # fmt: skip
        for machine_pos, machine_spec in enumerate(line_spec.machines):
            machine, _ = Machine.objects.update_or_create(
                line=line, slug=machine_spec.slug,
                defaults={"name": machine_spec.name, "position": machine_pos},
            )  # fmt: skip
            prefix = f"{topic_root}{slug}/{line_spec.slug}/{machine_spec.slug}"
            for spec in machine_spec.tags:
                _load_tag(machine, spec, f"{prefix}/{spec.key}")
            for spec in machine_spec.tags:
                if spec.setpoint_key:
                    Tag.objects.filter(machine=machine, key=spec.key).update(
                        setpoint_tag=Tag.objects.get(machine=machine, key=spec.setpoint_key)
                    )
    _load_fill_level_loop(plant)
    _load_alarms(plant)
    _load_oee(plant)
    _load_vibration_monitors(plant)
    _load_quality(plant)
    _load_energy(plant)
    return plant


# Three shifts every day, so the OEE screens show a running shift whenever the demo runs:
# (name, start, end, break start, break end).
DEMO_SHIFTS = [
    ("Early", time(6), time(14), time(10), time(10, 30)),
    ("Late", time(14), time(22), time(18), time(18, 30)),
    ("Night", time(22), time(6), time(2), time(2, 30)),
]


# The simulator's filler states (ingest/sim/filler_states.py) and what each means for OEE.
DEMO_OEE_STATES = {
    "running": "running", "slow": "slow_running", "jammed": "breakdown", "fault": "breakdown",
    "starved": "starved", "blocked": "blocked", "changeover": "changeover",
    "cleaning": "cleaning", "no_order": "no_order", "maintenance": "planned_maintenance",
    "break": "break",
}  # fmt: skip
# Reasons operators give stops, and the loss each makes a stop ("": the state's own).
DEMO_STOP_REASONS = [
    ("Bottle jam", ""), ("Waiting for bottles", "starved"), ("Outfeed full", "blocked"),
    ("Product change", "changeover"), ("Cleaning", "cleaning"), ("Nozzle fault", "breakdown"),
    ("Planned maintenance", "planned_maintenance"),
]  # fmt: skip


def _load_oee(plant: Plant) -> None:
    """The demo's shift calendar, the filler's OEE (3 bottles a second against an ideal cycle
    of 0.3 s) and the stop reasons; running it again changes nothing."""
    for name, start, end, break_start, break_end in DEMO_SHIFTS:
        shift, _ = Shift.objects.update_or_create(
            plant=plant, name=name,
            defaults={"start_time": start, "end_time": end, "weekdays": "1234567"},
        )  # fmt: skip
        shift.full_clean()
        pause, _ = ShiftBreak.objects.update_or_create(
            shift=shift, name="Break", defaults={"start_time": break_start, "end_time": break_end}
        )
        pause.full_clean()
    filler = {t.key: t for t in Tag.objects.filter(machine__line__plant=plant,
                                                  machine__slug="filler")}  # fmt: skip
    config, _ = OeeMachine.objects.update_or_create(
        machine=filler["state"].machine,
        defaults={"state_tag": filler["state"], "produced_tag": filler["bottles_filled"],
                  "rejected_tag": filler["bottles_rejected"], "ideal_cycle_s": 0.3,
                  "microstop_s": 120.0, "is_bottleneck": True},
    )  # fmt: skip
    config.full_clean()
    for state, category in DEMO_OEE_STATES.items():
        OeeState.objects.update_or_create(oee_machine=config, state=state,
                                          defaults={"category": category})  # fmt: skip
    for name, category in DEMO_STOP_REASONS:
        StopReason.objects.update_or_create(plant=plant, name=name,
                                            defaults={"category": category})  # fmt: skip


# (tag key, kind, limit, deadband, on delay s, priority, emergency, message, response)
DEMO_ALARMS = [
    ("methane", "hh", 20.0, 1.0, 0.0, "critical", True, "Methane high-high: gas leak",
     "Leave the gas area. Ventilation starts and the isolation valve closes on their own; "
     "confirm both, then call the gas response team."),
    ("methane", "h", 10.0, 1.0, 0.0, "high", False, "Methane high",
     "Check the gas area for a leak; be ready to evacuate."),
    ("methane", "comm_loss", 15.0, 0.0, 0.0, "high", False, "Gas detector not reporting",
     "Gas is not monitored: send a technician with a portable detector."),
    ("h2s", "hh", 10.0, 0.5, 0.0, "critical", True, "H2S high-high: toxic gas",
     "Leave the gas area with breathing protection; ventilation starts on its own."),
    ("fill_level", "deviation", 5.0, 1.0, 5.0, "medium", False, "Fill level off setpoint",
     "Check the filler valve and the fill-level loop."),
]  # fmt: skip
# The transfer pump (about 30 kW on a concrete plinth): ISO 10816-3 group 2, rigid. Its zone C
# and D alarms come from that class (plant.actions.vibration), with an on-delay of 5 s for the
# spike of a start. (vibration tag key, group, foundation, bearing temperature key, on-delay s)
DEMO_VIBRATION = [("vibration_rms", 2, "rigid", "bearing_temp", 5.0)]
# The gas area's emergency response: ventilation on, isolation valve closed.
DEMO_EMERGENCY_ACTIONS = [("gas", "fan", 1.0), ("gas", "valve_open", 0.0)]


def _load_alarms(plant: Plant) -> None:
    """The demo alarms and the gas area's emergency actions; running it again changes nothing."""
    tags = {t.key: t for t in Tag.objects.filter(machine__line__plant=plant)}
    for key, kind, limit, band, on_delay, priority, emergency, message, response in DEMO_ALARMS:
        definition, _ = AlarmDefinition.objects.update_or_create(
            tag=tags[key], kind=kind,
            defaults={"limit": limit, "deadband": band, "on_delay_s": on_delay,
                      "priority": priority, "runs_emergency_actions": emergency,
                      "message": message, "response": response},
        )  # fmt: skip
        definition.full_clean()  # the demo passes the checks an admin's definition must pass
        do_create_missing_alarms([definition])
    for position, (line_slug, key, value) in enumerate(DEMO_EMERGENCY_ACTIONS):
        action, _ = EmergencyAction.objects.update_or_create(
            line=Line.objects.get(plant=plant, slug=line_slug), tag=tags[key],
            defaults={"value": value, "position": position},
        )  # fmt: skip
        action.full_clean()


def _load_vibration_monitors(plant: Plant) -> None:
    """The pump's vibration monitor and its zone alarms; running it again changes nothing."""
    tags = {t.key: t for t in Tag.objects.filter(machine__line__plant=plant)}
    for key, group, foundation, bearing, on_delay in DEMO_VIBRATION:
        monitor, _ = VibrationMonitor.objects.update_or_create(
            tag=tags[key],
            defaults={"machine_group": group, "foundation": foundation,
                      "bearing_temperature_tag": tags[bearing], "on_delay_s": on_delay},
        )  # fmt: skip
        monitor.full_clean()
        do_apply_vibration_class(monitor)


# The filler's 500 ml ℮-marked bottles. The run rules watch subgroup means of five bottles (a
# point every 5 s at one bottle a second): rules 1 to 3 catch a shift or a drift such as the
# simulator's fill_drift within seconds; on a fill in control one of them breaks about five
# times an hour, by chance (the price of any run rule).
FILL_SPC_SETTINGS = {
    "lsl": 490.0, "usl": 510.0, "nominal": 500.0, "tne": None, "e_marked": True,
    "subgroup_size": 5, "rules": [1, 2, 3], "rules_chart": "xbar",
}  # fmt: skip
# The run-rule alarm: on for 9 s, so it takes two points in a row (5 s apart) that break a rule,
# which a fill in control shows about once an hour (a point beyond 3σ alone: twice an hour).
FILL_RULE_ALARM = {
    "kind": "digital", "limit": 1.0, "on_delay_s": 9.0, "priority": "low",
    "message": "Fill level out of statistical control (SPC run rule)",
    "response": "Check the filler's nozzles and the fill-level loop; the Quality screen shows "
                "which rule broke and the recommended fill-level setpoint.",
}  # fmt: skip


def _load_quality(plant: Plant) -> SpcSettings:
    """The fill level's SPC settings, its derived run-rule tags and the alarm on the flag;
    running it again keeps what an admin changed of the settings."""
    level = Tag.objects.get(machine__line__plant=plant, machine__slug="filler", key="fill_level")
    spc, _ = SpcSettings.objects.get_or_create(tag=level, defaults=FILL_SPC_SETTINGS)
    spc.full_clean()
    flag = ensure_spc_tags(spc).flag
    definition, _ = AlarmDefinition.objects.update_or_create(
        tag=flag, kind=FILL_RULE_ALARM["kind"],
        defaults={k: v for k, v in FILL_RULE_ALARM.items() if k != "kind"},
    )  # fmt: skip
    definition.full_clean()
    do_create_missing_alarms([definition])
    return spc


# The fill-level loop's tuning: about 0.5 ml of fill per 0.05 l/min of flow, so the write
# deadband keeps sensor noise (0.3 ml) out of the audit trail while a step settles in ~10 s.
FILL_LEVEL_LOOP = {
    "kp": 0.05, "ti_s": 3.0, "filter_s": 1.0, "output_min": 40.0, "output_max": 60.0,
    "max_rate": 2.0, "write_deadband": 0.05, "pv_stale_s": 5.0,
}  # fmt: skip


def _load_fill_level_loop(plant: Plant) -> ControlLoop:
    """The filler's supervisory loop: trims the flow-rate setpoint to hold the fill level.

    Tuned on the simulator (bench/fill_level_step.py); it starts in manual, as a plant's loop
    does after a restart, until an operator switches it to auto. Running this again leaves
    its mode and tuning as they are.
    """
    filler = {t.key: t for t in Tag.objects.filter(machine__line__plant=plant,
                                                  machine__slug="filler")}  # fmt: skip
    loop = do_add_loop(
        filler["flow_rate_sp"], name="fill-level loop", pv_tag=filler["fill_level"],
        sp_tag=filler["fill_level_sp"], **FILL_LEVEL_LOOP,
    )  # fmt: skip
    loop.full_clean()
    return loop


# The demo's supply contract: the plant draws about 190 kW, 205 kW with the gas area's fan
# running, so a gas leak (`simulate --fault gas_leak`) brings the predicted demand over the
# warning at 204 kW (5 % under the 215 kW peak).
DEMO_ENERGY = {"contracted_peak_kw": 215.0, "warning_margin_pct": 5.0, "demand_interval_min": 15}


def _load_energy(plant: Plant) -> None:
    """The energy meter of the demo (utilities/energy) as the filling line's meter, with the
    filler's bottle counter as its output, and the plant's demand contract."""
    tags = {t.key: t for t in Tag.objects.filter(machine__line__plant=plant)}
    contract, _ = PlantEnergy.objects.update_or_create(plant=plant, defaults=DEMO_ENERGY)
    contract.full_clean()
    meter, _ = EnergyMeter.objects.update_or_create(
        plant=plant, name="Filling line meter",
        defaults={"line": Line.objects.get(plant=plant, slug="filling"),
                  "energy_tag": tags["energy"], "power_tag": tags["power"],
                  "production_tag": tags["bottles_filled"]},
    )  # fmt: skip
    meter.full_clean()
    ensure_demand_alarm(contract)


def _load_tag(machine: Machine, spec: TagSpec, topic: str) -> Tag:
    defaults: dict[str, Any] = {
        "description": spec.description, "data_type": spec.data_type, "unit": spec.unit,
        "range_min": spec.range[0] if spec.range else None,
        "range_max": spec.range[1] if spec.range else None,
        "normal_min": spec.normal[0] if spec.normal else None,
        "normal_max": spec.normal[1] if spec.normal else None,
        "precision": spec.precision, "writable": spec.writable,
        "setpoint_min": spec.setpoint[0] if spec.setpoint else None,
        "setpoint_max": spec.setpoint[1] if spec.setpoint else None,
        "max_step": spec.max_step, "false_label": spec.labels[0], "true_label": spec.labels[1],
        "deadband": spec.deadband, "expected_interval_s": spec.expected_interval_s,
        "readback_tolerance": spec.readback_tolerance, "topic": topic,
    }  # fmt: skip
    tag, _ = Tag.objects.update_or_create(machine=machine, key=spec.key, defaults=defaults)
    tag.full_clean()
    return tag


def demo_passwords(path: Path, fixed: str = "") -> dict[str, str]:
    """One password per demo user: `fixed` if given, else random ones kept in `path`.

    Keeping them in a local file (mode 600, ignored by git) means a restart prints the same
    logins, while no password is ever written into the code.
    """
    if fixed:
        return dict.fromkeys(DEMO_ROLES, fixed)
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            role, _, password = line.partition(" ")
            if role in DEMO_ROLES and password:
                known[role] = password
    if set(known) != set(DEMO_ROLES):
        known = {role: known.get(role) or secrets.token_urlsafe(9) for role in DEMO_ROLES}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{role} {pw}\n" for role, pw in known.items()))
        path.chmod(0o600)
    return known


@transaction.atomic
def load_demo_users(plant: Plant, passwords: dict[str, str]) -> None:
    """One user per role, named after it, a member of the demo plant."""
    user_model = get_user_model()
    for role, password in passwords.items():
        user, _ = user_model.objects.get_or_create(username=role)
        user.set_password(password)
        user.is_staff = role == "admin"  # only admins reach the configuration pages
        user.save(update_fields=["password", "is_staff"])
        user.groups.set([Group.objects.get(name=role)])
        plant.members.add(user)
