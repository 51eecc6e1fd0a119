"""What a plant's configuration file holds: each section's fields, in the file's order.

A field is (name, type). Types: "str", "int", "float", "bool", "float?" (a number or null),
"ref" / "ref?" (a tag of the same plant, written `line/machine/key`), "int[]" (a list of
whole numbers). Every configurable
field is exported, also at its default, so the file says everything and diffs show each change.

Left out on purpose: ids; a tag's `echoes_write_id` (the ingest worker learns it); a loop's
mode, output and lease (operators and the worker change them, and ControlLoopEvent journals
the mode); plant members (who may see a plant is a superuser's decision, not the plant's data).
"""

from __future__ import annotations

FORMAT = "scada-plant-config/1"

Fields = tuple[tuple[str, str], ...]

PLANT: Fields = (("slug", "str"), ("name", "str"), ("time_zone", "str"), ("description", "str"))
LINE: Fields = (("slug", "str"), ("name", "str"), ("position", "int"), ("description", "str"))
MACHINE: Fields = LINE
TAG: Fields = (
    ("key", "str"), ("topic", "str"), ("description", "str"), ("data_type", "str"),
    ("unit", "str"), ("range_min", "float?"), ("range_max", "float?"),
    ("normal_min", "float?"), ("normal_max", "float?"), ("precision", "int"),
    ("true_label", "str"), ("false_label", "str"), ("expected_interval_s", "int"),
    ("deadband", "float"), ("heartbeat_s", "int"), ("writable", "bool"),
    ("setpoint_min", "float?"), ("setpoint_max", "float?"), ("max_step", "float?"),
    ("readback_tolerance", "float"), ("counter_rollover", "float?"), ("setpoint_tag", "ref?"),
)  # fmt: skip
ALARM: Fields = (
    ("kind", "str"), ("limit", "float"), ("deadband", "float"), ("on_delay_s", "float"),
    ("off_delay_s", "float"), ("priority", "str"), ("message", "str"), ("response", "str"),
    ("enabled", "bool"), ("runs_emergency_actions", "bool"),
)  # fmt: skip
EMERGENCY_ACTION: Fields = (("tag", "ref"), ("value", "float"), ("position", "int"))
LOOP: Fields = (
    ("output_tag", "ref"), ("name", "str"), ("pv_tag", "ref"), ("sp_tag", "ref"),
    ("kp", "float"), ("ti_s", "float"), ("filter_s", "float"), ("output_min", "float"),
    ("output_max", "float"), ("max_rate", "float"), ("write_deadband", "float"),
    ("pv_stale_s", "float"),
)  # fmt: skip
SPARKPLUG_GROUP: Fields = (("group_id", "str"), ("discovery", "bool"))
# Analytics of a tag, each kept beside the tag it measures (plant.models.vibration, spc_settings).
VIBRATION_MONITOR: Fields = (
    ("tag", "ref"), ("machine_group", "int"), ("foundation", "str"),
    ("bearing_temperature_tag", "ref?"), ("on_delay_s", "float"),
)  # fmt: skip
# OEE of a machine (plant.models.oee), keyed by the machine as line/machine; its state map and
# products are nested.
OEE_MACHINE: Fields = (
    ("machine", "str"), ("state_tag", "ref"), ("produced_tag", "ref"), ("rejected_tag", "ref?"),
    ("ideal_cycle_s", "float?"), ("rated_per_min", "float?"), ("product_tag", "ref?"),
    ("microstop_s", "float"), ("is_bottleneck", "bool"),
)  # fmt: skip
OEE_STATE: Fields = (("state", "str"), ("category", "str"))
OEE_PRODUCT: Fields = (("product", "str"), ("ideal_cycle_s", "float"))
SPC: Fields = (
    ("tag", "ref"), ("lsl", "float"), ("usl", "float"), ("nominal", "float"), ("tne", "float?"),
    ("e_marked", "bool"), ("subgroup_size", "int"), ("rules", "int[]"), ("rules_chart", "str"),
    ("center_line", "float?"), ("sigma", "float?"), ("loop_may_apply", "bool"),
    ("max_loop_change", "float"),
)  # fmt: skip

# The nested lists of each section, after its fields.
CHILDREN = {
    "document": ("lines", "loops", "sparkplug_groups", "vibration_monitors", "spc", "oee_machines"),
    "oee_machine": ("states", "products"),
    "line": ("machines", "emergency_actions"),
    "machine": ("tags",),
    "tag": ("alarms",),
}
# Fields a file may leave out (the model's default is taken); all others are required.
REQUIRED = {
    "plant": {"slug", "name"}, "line": {"slug", "name"}, "machine": {"slug", "name"},
    "tag": {"key", "topic"}, "alarm": {"kind", "limit", "message"},
    "emergency_action": {"tag", "value"},
    "loop": {"output_tag", "name", "pv_tag", "sp_tag", "kp", "ti_s", "output_min",
             "output_max", "max_rate"},
    "sparkplug_group": {"group_id"},
    "vibration_monitor": {"tag"}, "spc_settings": {"tag", "lsl", "usl", "nominal"},
    "oee_machine": {"machine", "state_tag", "produced_tag"}, "oee_state": {"state", "category"},
    "oee_product": {"product", "ideal_cycle_s"},
}  # fmt: skip


def tag_ref(line_slug: str, machine_slug: str, key: str) -> str:
    """How the file names a tag of its plant."""
    return f"{line_slug}/{machine_slug}/{key}"


def type_error(kind: str, value: object) -> str | None:
    """Why `value` cannot be a field of type `kind`, or None if it can."""
    if value is None:
        return None if kind.endswith("?") else "must not be empty (null)"
    base = kind.rstrip("?")
    if base == "int[]":
        whole = isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
        return None if whole else f"must be a list of whole numbers, not {value!r}"
    if base in ("str", "ref"):
        ok = isinstance(value, str)
    elif base == "bool":
        ok = isinstance(value, bool)
    elif base == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    names = {"str": "text", "ref": "a tag as line/machine/key", "bool": "true or false",
             "int": "a whole number", "float": "a number"}  # fmt: skip
    return None if ok else f"must be {names[base]}, not {value!r}"


def coerce(kind: str, value: object) -> object:
    """A checked value as the model keeps it (a whole number in a float field as a float)."""
    if value is not None and kind.rstrip("?") == "float":
        return float(value)  # type: ignore[arg-type]
    return value
