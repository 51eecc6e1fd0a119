"""compose.yaml as Compose reads it, for the deploy tests: YAML anchors merged, and each
`${NAME:-default}` given its default (the value with no .env beside it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE = ROOT / "compose.yaml"
VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}|\$(\w+)")


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: str) -> str:
    """Compose's interpolation with an empty environment: defaults only; `$$` is one `$`."""

    def replace(match: re.Match[str]) -> str:
        if match[4] or match[2] == "?":
            raise AssertionError(f"{value!r} needs {match[1] or match[4]} set: no default")
        return match[3] or ""

    return "$".join(VARIABLE.sub(replace, part) for part in value.split("$$"))


def service_environment(service: str, secrets_dir: Path) -> dict[str, str]:
    """A service's environment, its /run/secrets/ files found in `secrets_dir` instead."""
    compose = load_compose()
    names = {name: Path(spec["file"]).name for name, spec in compose["secrets"].items()}
    env = {}
    for name, raw in compose["services"][service]["environment"].items():
        value = interpolate(str(raw))
        if value.startswith("/run/secrets/"):
            value = str(secrets_dir / names[value.removeprefix("/run/secrets/")])
        env[name] = value
    return env


def make_secrets(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run config/make_secrets.py as an operator would, for compose.yaml in `folder`."""
    return subprocess.run(
        [sys.executable, str(ROOT / "config" / "make_secrets.py"), "--dir", str(folder), *args],
        capture_output=True,
        text=True,
        check=True,
    )
