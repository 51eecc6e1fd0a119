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
