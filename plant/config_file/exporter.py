"""Write a plant's configuration as YAML, in a stable order (see plant.config_file.schema)."""

from __future__ import annotations

from typing import Any

import yaml
from django.db.models import Model

from plant.config_file import schema
from plant.config_file.schema import tag_ref
from plant.models import (
    AlarmDefinition,
    ControlLoop,
    EmergencyAction,
    Line,
    Machine,
    OeeMachine,
    Plant,
    SparkplugGroup,
    SpcSettings,
    Tag,
    VibrationMonitor,
)

# libyaml's emitter when PyYAML has it (several times faster).
Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
HEADER = (
    "# The configuration of one plant: manage.py plant_config import <file> [--apply] [--prune]\n"
    "# Tags are named line/machine/key within the plant; every field is listed, also at its\n"
    "# default. Written by manage.py plant_config export.\n"
)


def export_plant(plant: Plant) -> dict[str, Any]:
    """The plant's configuration as plain data, in the file's order."""
    lines = list(Line.objects.filter(plant=plant).order_by("position", "slug"))
    machines = list(Machine.objects.filter(line__plant=plant).order_by("position", "slug"))
    tags = list(Tag.objects.filter(machine__line__plant=plant).order_by("key"))
    machine_of = {m.pk: m for m in machines}
    line_of = {line.pk: line for line in lines}
    refs = {t.pk: _ref(t, machine_of, line_of) for t in tags}
    by_machine: dict[int, list[Tag]] = {}
    for tag in tags:
        by_machine.setdefault(tag.machine_id, []).append(tag)
    alarms: dict[int, list[dict[str, Any]]] = {}
    for d in AlarmDefinition.objects.filter(tag__in=tags).order_by("kind"):
        alarms.setdefault(d.tag_id, []).append(_fields(d, schema.ALARM, refs))
    return {
        "format": schema.FORMAT,
        "plant": _fields(plant, schema.PLANT, refs),
        "lines": [_line(line, machines, by_machine, alarms, refs) for line in lines],
        "loops": [
            _fields(loop, schema.LOOP, refs)
            for loop in ControlLoop.objects.filter(output_tag__in=tags)
        ],
        "sparkplug_groups": [
            _fields(g, schema.SPARKPLUG_GROUP, refs)
            for g in SparkplugGroup.objects.filter(plant=plant).order_by("group_id")
        ],
        "vibration_monitors": _by_tag(
            VibrationMonitor.objects.filter(tag__in=tags), schema.VIBRATION_MONITOR, refs
        ),
        "spc": _by_tag(SpcSettings.objects.filter(tag__in=tags), schema.SPC, refs),
        "oee_machines": _oee_machines(plant, machine_of, line_of, refs),
    }


def _line(
    line: Line, machines: list[Machine], tags: dict[int, list[Tag]],
    alarms: dict[int, list[dict[str, Any]]], refs: dict[int, str],
) -> dict[str, Any]:  # fmt: skip
    out = _fields(line, schema.LINE, refs)
    out["machines"] = []
    for machine in (m for m in machines if m.line_id == line.pk):
        entry = _fields(machine, schema.MACHINE, refs)
        entry["tags"] = [
            {**_fields(t, schema.TAG, refs), "alarms": alarms.get(t.pk, [])}
            for t in tags.get(machine.pk, [])
        ]
        out["machines"].append(entry)
    actions = EmergencyAction.objects.filter(line=line).order_by("position", "id")
    out["emergency_actions"] = [_fields(a, schema.EMERGENCY_ACTION, refs) for a in actions]
    return out


def _oee_machines(
    plant: Plant, machine_of: dict[int, Machine], line_of: dict[int, Line], refs: dict[int, str]
) -> list[dict[str, Any]]:
    out = []
    found = OeeMachine.objects.filter(machine__line__plant=plant).prefetch_related(
        "states", "products"
    )
    for oee in found:
        machine = machine_of[oee.machine_id]
        entry = _fields(oee, schema.OEE_MACHINE, refs)
        entry["machine"] = f"{line_of[machine.line_id].slug}/{machine.slug}"
        states = sorted(oee.states.all(), key=lambda s: s.state)
        products = sorted(oee.products.all(), key=lambda p: p.product)
        entry["states"] = [_fields(s, schema.OEE_STATE, refs) for s in states]
        entry["products"] = [_fields(p, schema.OEE_PRODUCT, refs) for p in products]
        out.append(entry)
    return sorted(out, key=lambda e: str(e["machine"]))


def _by_tag(objects: Any, fields: schema.Fields, refs: dict[int, str]) -> list[dict[str, Any]]:
    """Each object's fields, in the order of the tags they belong to (their `tag` ref)."""
    return sorted((_fields(o, fields, refs) for o in objects), key=lambda o: str(o["tag"]))


def _ref(tag: Tag, machine_of: dict[int, Machine], line_of: dict[int, Line]) -> str:
    machine = machine_of[tag.machine_id]
    return tag_ref(line_of[machine.line_id].slug, machine.slug, tag.key)


def _fields(obj: Model, fields: schema.Fields, refs: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kind in fields:
        if kind.startswith("ref"):
            key = getattr(obj, f"{name}_id")
            out[name] = None if key is None else refs.get(key, f"<another plant's tag {key}>")
        elif kind == "int[]":
            out[name] = list(getattr(obj, name))
        else:
            out[name] = getattr(obj, name)
    return out


def dump(data: dict[str, Any]) -> str:
    """The YAML text of `data`: block style, keys in the given order, text as written."""
    body = yaml.dump(
        data,
        Dumper=Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return HEADER + body


def export_text(plant: Plant) -> str:
    """The plant's configuration file."""
    return dump(export_plant(plant))
