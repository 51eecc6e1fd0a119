"""Check the shape of a configuration file (fields, types, duplicates) before any database work.

The result is a tree of Entry: each section's values (coerced to the model's types, omitted
fields at the model's default) with the path and line it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Field, Model

from plant.config_file import schema
from plant.config_file.located import Located, Path
from plant.models import (
    AlarmDefinition,
    ControlLoop,
    EmergencyAction,
    Line,
    Machine,
    OeeMachine,
    OeeProduct,
    OeeState,
    Plant,
    SparkplugGroup,
    SpcSettings,
    Tag,
    VibrationMonitor,
)

SECTIONS: dict[str, tuple[schema.Fields, type[Model]]] = {
    "plant": (schema.PLANT, Plant), "line": (schema.LINE, Line),
    "machine": (schema.MACHINE, Machine), "tag": (schema.TAG, Tag),
    "alarm": (schema.ALARM, AlarmDefinition), "emergency_action": (schema.EMERGENCY_ACTION,
                                                                   EmergencyAction),
    "loop": (schema.LOOP, ControlLoop), "sparkplug_group": (schema.SPARKPLUG_GROUP,
                                                            SparkplugGroup),
    "vibration_monitor": (schema.VIBRATION_MONITOR, VibrationMonitor),
    "spc_settings": (schema.SPC, SpcSettings),
    "oee_machine": (schema.OEE_MACHINE, OeeMachine), "oee_state": (schema.OEE_STATE, OeeState),
    "oee_product": (schema.OEE_PRODUCT, OeeProduct),
}  # fmt: skip
CHILD_KIND = {"lines": "line", "machines": "machine", "tags": "tag", "alarms": "alarm",
              "emergency_actions": "emergency_action", "loops": "loop",
              "sparkplug_groups": "sparkplug_group", "vibration_monitors": "vibration_monitor",
              "spc": "spc_settings", "oee_machines": "oee_machine", "states": "oee_state",
              "products": "oee_product"}  # fmt: skip
# Within its parent list, what must be unique: a line's slug, a tag's key, ...
IDENTITY = {
    "line": "slug", "machine": "slug", "tag": "key", "alarm": "kind",
    "emergency_action": "tag", "loop": "output_tag", "sparkplug_group": "group_id",
    "vibration_monitor": "tag", "spc_settings": "tag", "oee_machine": "machine",
    "oee_state": "state", "oee_product": "product",
}  # fmt: skip


@dataclass
class Entry:
    """One section of the file: its values, where it is, and its nested sections."""

    kind: str
    path: Path
    values: dict[str, Any]
    children: dict[str, list[Entry]] = field(default_factory=dict)


class Reader:
    """Walks a located document; `errors` holds (line, message) of every problem found."""

    def __init__(self, located: Located) -> None:
        self.located = located
        self.errors: list[tuple[int, str]] = []
        # The analytics (vibration_monitors, spc, oee_machines), by section, once read() has run.
        self.analytics: dict[str, list[Entry]] = {}

    def read(self) -> tuple[Entry | None, list[Entry], list[Entry]]:
        """The plant entry (with its lines), the loops and the Sparkplug groups."""
        data = self.located.data
        if not isinstance(data, dict):
            self._error((), "the file must be a mapping with format, plant, lines, ...")
            return None, [], []
        allowed = {"format", "plant", *schema.CHILDREN["document"]}
        for key in sorted(set(data) - allowed):
            self._error((key,), f"unknown section {key!r}; known: {', '.join(sorted(allowed))}")
        if data.get("format") != schema.FORMAT:
            self._error(("format",), f"format must be {schema.FORMAT!r}")
        plant = self._section("plant", ("plant",), data.get("plant"), ())
        if plant is not None:
            plant.children["lines"] = self._list("lines", ("lines",), data.get("lines", []))
        loops = self._list("loops", ("loops",), data.get("loops", []))
        groups = self._list("sparkplug_groups", ("sparkplug_groups",),
                            data.get("sparkplug_groups", []))  # fmt: skip
        for name in ("vibration_monitors", "spc", "oee_machines"):
            self.analytics[name] = self._list(name, (name,), data.get(name, []))
        return plant, loops, groups

    def _list(self, name: str, path: Path, items: Any) -> list[Entry]:
        if not isinstance(items, list):
            self._error(path, f"{name} must be a list")
            return []
        kind = CHILD_KIND[name]
        entries = []
        seen: dict[Any, int] = {}
        for i, item in enumerate(items):
            entry = self._section(kind, (*path, i), item, schema.CHILDREN.get(kind, ()))
            if entry is None:
                continue
            identity = entry.values[IDENTITY[kind]]
            if identity in seen:
                self._error(entry.path, f"{kind} {identity!r} is listed twice "
                                        f"(first on line {seen[identity]})")  # fmt: skip
                continue
            seen[identity] = self.located.line(entry.path)
            entries.append(entry)
        return entries

    def _section(self, kind: str, path: Path, data: Any, children: tuple[str, ...]) -> Entry | None:
        fields, model = SECTIONS[kind]
        if not isinstance(data, dict):
            self._error(path, f"a {kind} must be a mapping of its fields")
            return None
        names = dict(fields)
        known = set(names) | set(children)
        ok = True
        for key in sorted(set(data) - known):
            self._error((*path, key), f"unknown field {key!r} of a {kind}")
            ok = False
        values: dict[str, Any] = {}
        for name, type_ in fields:
            if name not in data:
                if name in schema.REQUIRED[kind]:
                    self._error(path, f"a {kind} needs {name!r}")
                    ok = False
                values[name] = None if type_.startswith("ref") else _default(model, name)
                continue
            problem = schema.type_error(type_, data[name])
            if problem:
                self._error((*path, name), f"{name} {problem}")
                ok = False
            values[name] = schema.coerce(type_, data[name])
        entry = Entry(kind, path, values)
        for child in children:
            entry.children[child] = self._list(child, (*path, child), data.get(child, []))
        return entry if ok else None

    def _error(self, path: Path, message: str) -> None:
        self.errors.append((self.located.line(path), message))


def _default(model: type[Model], name: str) -> Any:
    model_field = model._meta.get_field(name)
    assert isinstance(model_field, Field)  # every name in schema is a concrete field
    return model_field.get_default()
