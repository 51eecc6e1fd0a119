"""Run the whole product on this machine: checks, migrations, the demo plant, then its processes.

`make run` calls this. The processes are children: daphne (pages and websockets) and, when
their commands are installed, the ingest worker and the simulator. It imports none of them
(plant imports only Django): each runs as `python manage.py <command>` or `python -m daphne`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandParser

# How long the children get to finish their last batch after SIGTERM before they are killed.
STOP_TIMEOUT_S = 15
# How long daphne may take to accept connections before we say so.
START_TIMEOUT_S = 30
# Long-running commands started beside daphne when some app provides them, in this order.
WORKER_COMMANDS = ["ingest", "simulate"]


@dataclass
class Child:
    """One process this command started and watches."""

    name: str
    process: subprocess.Popen[bytes]


def has_exited(process: subprocess.Popen[bytes]) -> bool:
    """True once the process has exited; unlike Popen.poll() it leaves it to be reaped."""
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    return os.waitid(os.P_PID, process.pid, flags) is not None


def accepts_connections(host: str, port: int) -> bool:
    connect_to = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    try:
        socket.create_connection((connect_to, port), timeout=1).close()
    except OSError:
        return False
    return True


class Supervisor:
    """Waits on the children; forwards a stop signal, or stops all when one dies unexpectedly."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.alive: dict[int, Child] = {}
        self.write = write
        self.stopping = False
        self.exit_code = 0

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self.on_stop_signal)
        signal.signal(signal.SIGTERM, self.on_stop_signal)
        signal.signal(signal.SIGALRM, self.on_stop_timeout)

    def add(self, child: Child) -> None:
        self.alive[child.process.pid] = child

    def on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:  # a second Ctrl-C: do not wait any longer
            self.kill_all("asked twice")
            return
        self.write(f"run: {signal.Signals(signum).name} received, stopping {self.names()}")
        self.stop_all(signum)

    def on_stop_timeout(self, signum: int, frame: FrameType | None) -> None:
        self.kill_all(f"still running {STOP_TIMEOUT_S} s after SIGTERM")

    def stop_all(self, signum: int = signal.SIGTERM) -> None:
        self.stopping = True
        for child in self.alive.values():
            child.process.send_signal(signum)
        signal.alarm(STOP_TIMEOUT_S)  # SIGALRM then kills what is left: no sleep, no polling

    def kill_all(self, why: str) -> None:
        for child in self.alive.values():
            self.write(f"run: killing {child.name} ({why})")
            child.process.kill()

    def names(self) -> str:
        return ", ".join(child.name for child in self.alive.values())

    def wait(self) -> int:
        """Block until every child has exited; return this command's exit code."""
        while self.alive:
            # os.wait() sleeps until any child exits; a signal handler runs in between and the
            # call resumes (PEP 475), so stopping needs no polling.
            pid, status = os.wait()
            child = self.alive.pop(pid, None)
            if child is None:  # not one of ours (e.g. a helper a library spawned)
                continue
            # Reaped here, so Popen must not wait for it again: record its exit code ourselves.
            child.process.returncode = os.waitstatus_to_exitcode(status)
            if not self.stopping:
                self.on_unexpected_exit(child)
        signal.alarm(0)
        return self.exit_code

    def on_unexpected_exit(self, child: Child) -> None:
        self.write(
            f"run: {child.name} exited unexpectedly with code {child.process.returncode}; "
            f"stopping {self.names() or 'nothing else'}"
        )
        self.exit_code = 1
        self.stop_all()


class Command(BaseCommand):
    help = (
        "Check the services, migrate, load the demo plant, then serve the HMI with daphne and "
        "run the ingest worker and simulator beside it until Ctrl-C or SIGTERM."
    )
    # We run the checks ourselves, including those that need PostgreSQL, Redis and Mosquitto.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default=os.environ.get("HOST", "127.0.0.1"),
            help="Address daphne listens on (env HOST, default 127.0.0.1).",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT", "8000")),
            help="Port daphne listens on (env PORT, default 8000).",
        )

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        # A failed check raises SystemCheckError, which Django prints (each unreachable service
        # with the command that starts it) and turns into exit status 1, without a traceback.
        call_command("check", databases=["default"], deploy=not settings.DEBUG)
        call_command("migrate", interactive=False, verbosity=1)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        logins = self.load_demo()
        supervisor = Supervisor(self.say)
        supervisor.install_signal_handlers()  # before any child exists, so none is orphaned
        started = self.start_children(supervisor, host, port)
        if started and self.wait_until_serving(supervisor, started[0], host, port):
            self.print_banner(host, port, logins, supervisor.names())
        sys.exit(supervisor.wait())

    def start_children(self, supervisor: Supervisor, host: str, port: int) -> list[Child]:
        """Start daphne first, then the workers; stop starting when asked to stop."""
        started = []
        for name, argv in self.child_commands(host, port):
            if supervisor.stopping:  # Ctrl-C while starting: start nothing more
                break
            started.append(self.spawn(name, argv))
            supervisor.add(started[-1])
        return started

    def wait_until_serving(self, supervisor: Supervisor, web: Child, host: str, port: int) -> bool:
        """Return True once daphne accepts connections, False if it exits or we stop first."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not supervisor.stopping and not has_exited(web.process):
            if accepts_connections(host, port):
                return True
            if time.monotonic() > deadline:
                self.say(f"run: daphne does not accept connections after {START_TIMEOUT_S} s")
                return True
            time.sleep(0.1)  # a readiness probe: nothing tells us when daphne has bound its port
        return False

    def load_demo(self) -> list[str]:
        """Load the demo plant and users; return the login lines it printed."""
        output = StringIO()
        call_command("load_demo", stdout=output)
        self.stdout.write(output.getvalue(), ending="")
        return [line.strip() for line in output.getvalue().splitlines() if "login:" in line]

    def child_commands(self, host: str, port: int) -> list[tuple[str, list[str]]]:
        """Name and argv of each process to start: daphne, then the worker commands present."""
        daphne = ["-m", "daphne", "-b", host, "-p", str(port), "config.asgi:application"]
        commands = [("web (daphne)", [sys.executable, *daphne])]
        available = get_commands()
        manage = str(settings.BASE_DIR / "manage.py")
        for name in WORKER_COMMANDS:
            if name in available:
                commands.append((name, [sys.executable, manage, name]))
            else:
                self.say(f"run: no '{name}' command installed yet, not starting it")
        return commands

    def spawn(self, name: str, argv: list[str]) -> Child:
        # A process group of its own: a Ctrl-C in the terminal reaches only us, and we forward
        # it once, instead of every child receiving it twice.
        process = subprocess.Popen(
            argv,
            cwd=settings.BASE_DIR,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            process_group=0,
        )
        self.say(f"run: started {name} (pid {process.pid})")
        return Child(name, process)

    def print_banner(self, host: str, port: int, logins: list[str], running: str) -> None:
        shown_host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)
        if ":" in shown_host and not shown_host.startswith("["):
            shown_host = f"[{shown_host}]"  # an IPv6 address in a URL
        lines = [
            "",
            f"  HMI: http://{shown_host}:{port}/   (running: {running})",
            *(f"  {line}" for line in logins),
            "  Stop with Ctrl-C.",
            "",
        ]
        self.say("\n".join(lines))

    def say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()
