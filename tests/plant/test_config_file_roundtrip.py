"""Generated configurations round-trip: the YAML layer alone, and through the database."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plant.config_file import schema
from plant.config_file.exporter import dump, export_text
from plant.config_file.importer import import_text
from plant.config_file.located import load
from plant.models import Plant

TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
SLUGS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
# Without -0.0: an alarm limit of -0.0 comes back from the database as 0.0 (a CI run drew it),
# and no export writes -0.0, so the byte-for-byte promise does not cover it.
NUMBER = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False).map(lambda x: x + 0.0)
POSITIVE = st.floats(1e-6, 1e9)


def in_file_order(alarm: dict[str, Any]) -> dict[str, Any]:
    return {name: alarm[name] for name, _ in schema.ALARM}


@st.composite
def tags(draw: st.DrawFn, line: str, machine: str, key: str) -> dict[str, Any]:
    low = draw(NUMBER)
    ranged = draw(st.booleans())
    writable = draw(st.booleans())
    set_low = draw(NUMBER)
    kinds = draw(st.lists(st.sampled_from(["h", "hh", "l", "ll"]), unique=True, max_size=2))
    alarm = st.fixed_dictionaries({
        "limit": NUMBER, "deadband": POSITIVE, "on_delay_s": POSITIVE, "off_delay_s": POSITIVE,
        "priority": st.sampled_from(["critical", "high", "medium", "low"]),
        "message": TEXT.filter(str.strip), "response": TEXT, "enabled": st.booleans(),
        "runs_emergency_actions": st.booleans(),
    })  # fmt: skip
    return {
        "key": key, "topic": f"gen/{line}/{machine}/{key}", "description": draw(TEXT),
        "data_type": "float", "unit": draw(TEXT.map(lambda t: t[:16])),
        "range_min": low if ranged else None,
        "range_max": low + draw(POSITIVE) if ranged else None,
        "normal_min": None, "normal_max": None, "precision": draw(st.integers(0, 6)),
        "true_label": "", "false_label": "", "expected_interval_s": draw(st.integers(1, 3600)),
        "deadband": draw(POSITIVE), "heartbeat_s": draw(st.integers(0, 3600)),
        "writable": writable,
        "setpoint_min": set_low if writable else None,
        "setpoint_max": set_low + draw(POSITIVE) if writable else None,
        "max_step": draw(st.none() | POSITIVE), "readback_tolerance": draw(POSITIVE),
        "counter_rollover": draw(st.none() | POSITIVE), "setpoint_tag": None,
        "alarms": [in_file_order({"kind": kind, **draw(alarm)}) for kind in sorted(kinds)],
    }  # fmt: skip


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    lines = []
    for i, line in enumerate(sorted(draw(st.lists(SLUGS, min_size=1, max_size=2, unique=True)))):
        machines = []
        for j, machine in enumerate(sorted(draw(st.lists(SLUGS, max_size=2, unique=True)))):
            keys = sorted(draw(st.lists(SLUGS, max_size=3, unique=True)))
            machines.append({
                "slug": machine, "name": draw(TEXT.filter(str.strip)), "position": j,
                "description": draw(TEXT), "tags": [draw(tags(line, machine, k)) for k in keys],
            })  # fmt: skip
        lines.append({"slug": line, "name": draw(TEXT.filter(str.strip)), "position": i,
                      "description": draw(TEXT), "machines": machines,
                      "emergency_actions": []})  # fmt: skip
    return {
        "format": schema.FORMAT,
        "plant": {"slug": "gen", "name": "Generated plant", "time_zone": "UTC",
                  "description": draw(TEXT)},
        "lines": lines, "loops": [], "sparkplug_groups": [], "vibration_monitors": [], "spc": [],
        "oee_machines": [],
    }  # fmt: skip


@given(documents())
def test_a_dumped_document_reads_back_as_the_same_data(document: dict[str, Any]) -> None:
    located, problems = load(dump(document))
    assert problems == []
    assert located.data == document


@pytest.mark.django_db
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(documents())
def test_a_generated_configuration_imports_and_exports_byte_for_byte(
    document: dict[str, Any],
) -> None:
    text = dump(document)
    with transaction.atomic():
        result = import_text(text, apply=True)
        assert result.errors == []
        assert export_text(Plant.objects.get(slug="gen")) == text
        assert import_text(text).changes == []  # and again: nothing to do
        transaction.set_rollback(True)
