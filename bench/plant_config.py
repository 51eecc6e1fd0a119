"""What the plant configuration file costs on a big plant: export, and imports.

    python bench/plant_config.py --tags 5000

A database of its own holds a plant of --tags tags (20 a machine, 10 machines a line, every
fifth tag writable with limits, every tenth with a high alarm). It prints the seconds of an
export, of a dry run of that unchanged file, of an apply that changes 100 tags'
limits, and of a dry run that creates a new plant from two of its lines (every row created).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.services import fresh_database

NAME = "scada_bench_plant_config"
os.environ["DATABASE_URL"] = fresh_database(NAME)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from plant.config_file.exporter import export_text  # noqa: E402
from plant.config_file.importer import import_text  # noqa: E402
from plant.models import AlarmDefinition, Line, Machine, Plant, Tag  # noqa: E402


def build(tags: int) -> Plant:
    plant = Plant.objects.create(name="Big", slug="big")
    machine_count = max(1, tags // 20)
    lines = Line.objects.bulk_create(
        Line(plant=plant, name=f"L{n}", slug=f"l{n}", position=n)
        for n in range(max(1, machine_count // 10))
    )
    machines = Machine.objects.bulk_create(
        Machine(line=lines[m // 10 % len(lines)], name=f"M{m}", slug=f"m{m}")
        for m in range(machine_count)
    )
    rows = []
    for n in range(tags):
        machine = machines[n // 20 % len(machines)]
        writable = n % 5 == 0
        rows.append(Tag(
            machine=machine, key=f"t{n}", topic=f"big/{machine.line.slug}/{machine.slug}/t{n}",
            unit="bar", range_min=0.0, range_max=100.0, writable=writable,
            setpoint_min=10.0 if writable else None, setpoint_max=90.0 if writable else None,
        ))  # fmt: skip
    created = Tag.objects.bulk_create(rows)
    AlarmDefinition.objects.bulk_create(
        AlarmDefinition(tag=t, kind="h", limit=80.0, message=f"{t.key} high") for t in created[::10]
    )
    return plant


def timed(label: str, work: object) -> object:
    start = time.perf_counter()
    result = work()  # type: ignore[operator]
    print(f"{label:<52} {time.perf_counter() - start:6.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=5000)
    args = parser.parse_args()
    plant = build(args.tags)
    text = str(timed(f"export of {args.tags} tags ({len(plant.lines.all())} lines)",
                     lambda: export_text(plant)))  # fmt: skip
    print(f"{'file size':<52} {len(text) / 1e6:6.2f} MB, {text.count(chr(10))} lines")
    result = timed("dry run of the unchanged file", lambda: import_text(text))
    assert not result.changes and not result.errors  # type: ignore[attr-defined]
    edited = text.replace("range_max: 100.0", "range_max: 110.0", 100)
    result = timed("apply of 100 changed tags", lambda: import_text(edited, apply=True))
    assert len(result.changes) == 100  # type: ignore[attr-defined]
    # A tenth of the plant, created: lines l0 and l1 (and their tags) under a new plant.
    part = text[: text.index("- slug: l2\n")] + "loops: []\nsparkplug_groups: []\n"
    part = part.replace("slug: big\n", "slug: big2\n", 1).replace("name: Big\n", "name: B2\n")
    part = part.replace("topic: big/", "topic: big2/")
    result = timed(f"dry run creating a plant of {part.count('- key:')} tags",
                   lambda: import_text(part))  # fmt: skip
    assert not result.errors, result.errors[:3]  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
