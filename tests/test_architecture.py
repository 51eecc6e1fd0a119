"""The dependency direction between packages: plant is the core, ingest and hmi never meet."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"plant": {"ingest", "hmi", "paho"}, "ingest": {"hmi"}, "hmi": {"ingest", "paho"}}


def imported_modules(package: Path) -> Iterator[tuple[Path, int, str]]:
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, node.lineno, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.lineno, node.module


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_dependency_direction(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path, line, name in imported_modules(ROOT / package)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert offenders == []


def test_the_architecture_check_sees_imports() -> None:
    # Guard against a walk that finds nothing and so can never fail.
    names = {name for _, _, name in imported_modules(ROOT / "ingest")}
    assert "paho.mqtt.client" in names


# Library internals live in one module per library, written for one pinned version (STYLE B11,
# habit 14): paho's in ingest/paho_fast.py. channels_redis's private names are listed too, and
# none is used: the live push needs only its public group_send (plant.live.VALUES_GROUP).
QUARANTINE = {"ingest/paho_fast.py"}
OURS = {"config", "plant", "ingest", "hmi", "tests", "bench"}
LIBRARY_PRIVATE = {
    "_packet_queue", "_in_packet", "_sock", "_protocol", "_msgtime_mutex",
    "_last_bytes_received", "_create_socket", "_map_channel_keys_to_connection", "_group_key",
}  # fmt: skip


def private_uses(path: Path) -> Iterator[tuple[int, str]]:
    """Imports of a library's private modules or names, and uses of its known private names."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in OURS:
                continue
            names = [*node.module.split("."), *(alias.name for alias in node.names)]
            if any(n.startswith("_") and not n.startswith("__") for n in names):
                yield node.lineno, f"from {node.module} import …"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if any(p.startswith("_") and not p.startswith("__") for p in alias.name.split(".")):
                    yield node.lineno, f"import {alias.name}"
        elif isinstance(node, ast.Attribute) and node.attr in LIBRARY_PRIVATE:
            yield node.lineno, f".{node.attr}"


def product_modules() -> Iterator[Path]:
    for package in ("config", "plant", "ingest", "hmi"):
        yield from (ROOT / package).rglob("*.py")


def test_library_internals_are_used_only_in_their_quarantine_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} uses {what}"
        for path in product_modules()
        if str(path.relative_to(ROOT)) not in QUARANTINE
        for line, what in private_uses(path)
    ]
    assert offenders == []


def test_the_quarantine_check_sees_private_names() -> None:
    # The quarantine modules do use them: a check that finds nothing there could never fail.
    for module in QUARANTINE:
        assert list(private_uses(ROOT / module)), module


# One door per state change (STYLE B11, habit 2; issue 13): these rows are created, moved,
# saved and deleted only by the do_* functions of plant/actions/, bulk writes included.
DOOR = "plant/actions/"
GUARDED = (
    "SetpointWrite", "ControlLoop", "ControlLoopEvent", "Alarm", "AlarmJournalEntry",
    "NotificationDelivery", "NotificationAttempt", "NotificationCursor",
    "MachineStop", "MachineStopEntry",
)  # fmt: skip
WRITES = {
    "create", "bulk_create", "bulk_update", "update", "get_or_create", "update_or_create",
    "save", "delete", "_do_update", "_do_insert",
}  # fmt: skip


def guarded_names() -> tuple[set[str], set[str], set[str]]:
    """The guarded models' class names, the accessors that reach their rows from another row
    (`tag.setpoint_writes`, `alarm.journal`), and their tables."""
    from django.apps import apps

    models = [apps.get_model("plant", name) for name in GUARDED]
    accessors = {
        field.remote_field.get_accessor_name()
        for model in models
        for field in model._meta.fields
        if field.is_relation and field.remote_field.related_name != "+"
    }
    return set(GUARDED), {a for a in accessors if a}, {m._meta.db_table for m in models}


def root_name(node: ast.expr) -> str | None:
    """The name an expression starts from: `Alarm` in `Alarm.objects.filter(…).first()`."""
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def bound_names(tree: ast.Module, models: set[str]) -> set[str]:
    """The models' names and every name bound to their rows or querysets in the module (by
    assignment, a for loop or an annotation), followed until nothing new is bound."""
    bound = set(models)
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotation = {n.id for n in ast.walk(node.annotation) if isinstance(n, ast.Name)}
            if annotation & models:
                bound.add(node.arg)
    pairs: list[tuple[ast.expr, ast.expr]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            pairs += [(target, node.value) for target in node.targets]
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None:
            pairs.append((node.target, node.value))
        elif isinstance(node, ast.For | ast.comprehension):
            pairs.append((node.target, node.iter))
    grew = True
    while grew:
        size = len(bound)
        for target, value in pairs:
            if root_name(value) in bound:
                bound |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        grew = len(bound) > size
    return bound


def state_writes(source: str, names: tuple[set[str], set[str], set[str]]) -> Iterator[int]:
    """The lines of `source` that write a guarded model's rows."""
    models, accessors, tables = names
    tree = ast.parse(source)
    bound = bound_names(tree, models)
    sql = re.compile(
        rf"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?({'|'.join(map(re.escape, tables))})\b",
        re.IGNORECASE,
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr not in WRITES:
                continue
            chain = node.func.value
            attrs = set()
            while isinstance(chain, ast.Attribute | ast.Call | ast.Subscript):
                if isinstance(chain, ast.Attribute):
                    attrs.add(chain.attr)
                chain = chain.func if isinstance(chain, ast.Call) else chain.value
            if root_name(node.func.value) in bound or attrs & accessors:
                yield node.lineno
        elif isinstance(node, ast.Constant) and sql.search(str(node.value)):
            yield node.lineno


def test_only_plant_actions_write_setpoints_loops_and_alarms() -> None:
    names = guarded_names()
    offenders = [
        f"{path.relative_to(ROOT)}:{line} writes a guarded row outside {DOOR}"
        for path in product_modules()
        if not str(path.relative_to(ROOT)).startswith((DOOR, "plant/migrations/"))
        for line in state_writes(path.read_text(), names)
    ]
    assert offenders == []


def test_the_state_change_check_sees_every_kind_of_write() -> None:
    # Each numbered line writes a guarded row in another way; the check must name them all,
    # and none of the reads or unrelated writes (lines 0).
    source = """
from plant.models import Alarm, ControlLoop, SetpointWrite
def f(alarm: Alarm, tag, things: dict):
    Alarm.objects.bulk_create([Alarm(definition=d) for d in defs], ignore_conflicts=True)  # 1
    SetpointWrite.objects.filter(pk=1).update(state="sent")  # 2
    alarm.save(update_fields=["state"])  # 3
    for loop in ControlLoop.objects.filter(mode="auto"):
        loop.delete()  # 4
    rows = SetpointWrite.objects.filter(tag=tag)
    open_rows = rows.exclude(state="confirmed")
    open_rows.update(state="failed")  # 5
    tag.setpoint_writes.create(value=1.0)  # 6
    cursor.execute("UPDATE plant_alarm SET state = 'normal'")  # 7
    ControlLoop(name="x").save()  # 8
    Alarm.objects.get_or_create(definition=d)  # 9
    things.update(a=1)  # 0
    Alarm.objects.filter(state="unack").count()  # 0
    cursor.execute("SELECT * FROM plant_alarm")  # 0
"""
    names = guarded_names()
    lines = source.splitlines()
    expected = {i for i, text in enumerate(lines, 1) if text.rstrip()[-1:].isdigit()
                and not text.rstrip().endswith("# 0")}  # fmt: skip
    assert len(expected) == 9
    assert set(state_writes(source, names)) == expected


# A transactional test without serialized rollback flushes the tables, after which Django
# recreates the content types under new ids; the next test that restores the serialized
# migrations' data (committed_db, serialized_rollback=True) then fails on a duplicate content
# type. Every test that commits must restore that data: committed_db, or both flags.
BARE_TRANSACTION = re.compile(r"django_db\((?![^)]*serialized_rollback=True)[^)]*transaction=True")


def bare_transactional_tests(text: str) -> list[int]:
    return [text[: m.start()].count("\n") + 1 for m in BARE_TRANSACTION.finditer(text)]


def test_every_committing_test_restores_the_migrations_data() -> None:
    bare = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path != Path(__file__).resolve()  # its own check's examples
        for line in bare_transactional_tests(path.read_text())
    ]
    assert bare == [], f"transaction=True without serialized_rollback=True: {bare}"


def test_the_committing_test_check_sees_a_bare_transaction() -> None:
    assert bare_transactional_tests("@pytest.mark.django_db(transaction=True)\n") == [1]
    assert bare_transactional_tests(
        "x\n@pytest.mark.django_db(transaction=True, reset_sequences=True)"
    ) == [2]
    assert (
        bare_transactional_tests(
            "@pytest.mark.django_db(transaction=True, serialized_rollback=True)"
        )
        == []
    )
