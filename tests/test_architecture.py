"""The dependency direction between packages: plant is the core, ingest and hmi never meet."""

from __future__ import annotations

import ast
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
# habit 14): paho's in ingest/paho_fast.py, channels_redis's in plant/redis_layer.py.
QUARANTINE = {"ingest/paho_fast.py", "plant/redis_layer.py"}
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
