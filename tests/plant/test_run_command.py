"""`manage.py run`: a missing service is named without a traceback, and its children live and
stop together.

The supervisor reaps children with os.wait(), which would also reap children of the test process
(a live server, say), so each supervisor runs in a Python process of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

SUPERVISOR = """
import subprocess, sys
from plant.management.commands import run
run.STOP_TIMEOUT_S = 1
supervisor = run.Supervisor(lambda message: print(message, flush=True))
supervisor.install_signal_handlers()
for name, code in {children!r}:
    supervisor.add(run.Child(name, subprocess.Popen([sys.executable, "-c", code])))
print("started", flush=True)
sys.exit(supervisor.wait())
"""
SLEEPER = "import time; time.sleep(60)"
CRASHER = "import sys; sys.exit(3)"
# Says it is ready only once SIGTERM can no longer stop it.
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


def start_supervisor(children: list[tuple[str, str]]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR.format(children=children)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until(process: subprocess.Popen[str], wanted: set[str]) -> None:
    """Read lines until each wanted line has appeared (EOF ends the wait too)."""
    assert process.stdout is not None
    seen: set[str] = set()
    while not wanted <= seen:
        line = process.stdout.readline()
        assert line, f"output ended before {wanted - seen}"
        seen.add(line.strip())


def test_when_one_child_dies_the_others_are_stopped_and_the_dead_one_is_named() -> None:
    process = start_supervisor([("sleeper", SLEEPER), ("crasher", CRASHER)])
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "crasher exited unexpectedly with code 3; stopping sleeper" in output


def test_sigterm_stops_every_child_and_exits_cleanly() -> None:
    process = start_supervisor([("web", SLEEPER), ("ingest", SLEEPER)])
    read_until(process, {"started"})
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "SIGTERM received, stopping web, ingest" in output
    assert "unexpectedly" not in output


def test_a_child_that_ignores_sigterm_is_killed_after_the_stop_timeout() -> None:
    process = start_supervisor([("stubborn", STUBBORN)])
    read_until(process, {"started", "ready"})
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "killing stubborn (still running 1 s after SIGTERM)" in output


def test_an_unreachable_redis_is_named_with_how_to_start_it_and_no_traceback() -> None:
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing listens on port 1
    result = subprocess.run(
        [sys.executable, "manage.py", "run", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Redis at 127.0.0.1:1 is not reachable" in result.stderr
    assert "Start it with: redis-server" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
