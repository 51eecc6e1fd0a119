"""Run Eclipse Tahu's JavaScript (tests/sparkplug_node/, installed by .ci/setup's `npm ci`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

NODE_DIR = Path(__file__).parent / "sparkplug_node"


def node() -> str:
    """The node binary, after checking Tahu's packages are installed (a clear failure if not)."""
    binary = shutil.which("node")
    assert binary, "node is not installed: run .ci/setup"
    assert (NODE_DIR / "node_modules" / "sparkplug-client").is_dir(), (
        f"Tahu's packages are not installed: run .ci/setup (npm ci in {NODE_DIR})"
    )
    return binary


def run_script(*args: str, timeout: float = 30) -> str:
    done = subprocess.run(
        [node(), *args], cwd=NODE_DIR, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
