"""Run the whole product on this machine: checks, migrations, the demo plant, then its processes.

`make run` calls this. The processes are children, each restarted when it dies: the product's
own Mosquitto (unless MQTT_URL names a broker), daphne (pages and websockets) and, when their
commands are installed, the ingest worker and the simulator. It imports none of them (plant
imports only Django): each runs as `mosquitto`, `python manage.py <command>` or `python -m daphne`.

The product's own broker lets no one in anonymously: ingest and the simulator log in with
passwords made once under <broker dir>/credentials/, and every device identity of the admin
with its own (plant.broker_access writes the broker's passwd and acl, and this command keeps
them current and reloads the broker when they change).
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections

from plant.broker_log import RefusalNotRecorded, record_refused_login, refused_login_detail
from plant.mosquitto_auth import AuthFileError, Listener, adapt_conf

# How long the children get to finish their last batch after SIGTERM before they are killed.
STOP_TIMEOUT_S = 15
# How long daphne or the broker may take to accept connections before we say so.
START_TIMEOUT_S = 30
# Long-running commands started beside daphne when some app provides them, in this order
# (notify: the alarm notifications, plant.notifications.dispatcher).
WORKER_COMMANDS = ["ingest", "simulate", "notify"]
DEMO_STOPS_S = 10 * 365 * 86400  # the simulator's filler_stops fault: ten years
DEMO_HISTORY_DAYS = 30  # past days of the analytics' tags (plant/demo_history.py)
# A child that dies is started again after a delay that doubles from the first to the longest,
# so a child that cannot start (a port taken, a service gone) does not spin; once it has run
# this long, it counts as healthy again and its next restart waits the first delay.
RESTART_FIRST_S = 1.0
RESTART_LONGEST_S = 30.0
HEALTHY_AFTER_S = 60.0
# The product's own broker: the machine's Mosquitto keeps Debian's limits (1,000 queued messages
# per session: a worker restart loses data) and holds 1883, so ours listens on a port of its own.
SHIPPED_BROKER_CONF = Path(settings.BASE_DIR) / "config" / "mosquitto" / "mosquitto.conf"
BROKER_PORT = 1884
# Its logins: ingest and the simulator, each with a password made once and kept in
# <broker dir>/credentials/ (0600); the passwd and acl in <broker dir>/auth/, rewritten this
# often from the database (a device identity or a tag added in the admin) and the broker
# reloaded (SIGHUP) when they changed.
BROKER_USERS = ("ingest", "simulator")
BROKER_ACCESS_EVERY_S = 2.0


@dataclass
class Child:
    """One process this command starts, watches and restarts when it dies."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    # Stopped only after every other child has exited: the broker, so the ingest worker can
    # still acknowledge the batch it commits on SIGTERM.
    last: bool = False
    process: subprocess.Popen[bytes] | None = None
    pidfd: int | None = None  # readable once the process has exited
    started_at: float = 0.0
    next_delay: float | None = None  # the wait before the next restart; None: the first
    restart_at: float | None = None
    restarts: int = 0
    signalled: bool = False
    # Called with each line of its output (which still goes on to ours), from a thread of its
    # own: the broker's log, read for the logins it refused.
    watch_output: Callable[[str], None] | None = None


def forward(stream: Any, watch: Callable[[str], None]) -> None:
    """Copy a child's output to ours line by line, showing each line to `watch` (a thread)."""
    for raw in iter(stream.readline, b""):
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
        with contextlib.suppress(Exception):  # a watcher's bug must not stop the output
            watch(raw.decode(errors="replace"))
    stream.close()


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


def send(child: Child, signum: int) -> None:
    """Signal a running child through its pidfd. Not Popen.send_signal: that polls first, and
    a poll that reaps a child which has just exited would leave our own waitpid() nothing."""
    with contextlib.suppress(ProcessLookupError):  # it has just exited: nothing to stop
        signal.pidfd_send_signal(child.pidfd, signum)  # type: ignore[arg-type]


def how_it_ended(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


class Supervisor:
    """Starts the children, restarts one that dies, and stops them all on a stop signal."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.children: list[Child] = []
        self.write = write
        self.stopping = False
        self.exit_code = 0
        # A stop signal writes here, so a wait for a restart that is due later ends at once.
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        # A task run between two waits, every so often (the broker's files); never raises.
        self.task: Callable[[], None] | None = None
        self.task_every = 0.0
        self.task_at = 0.0

    def every(self, seconds: float, task: Callable[[], None]) -> None:
        """Run `task` every `seconds` while the children run (it must not raise)."""
        self.task, self.task_every = task, seconds
        self.task_at = time.monotonic() + seconds

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self.on_stop_signal)
        signal.signal(signal.SIGTERM, self.on_stop_signal)
        signal.signal(signal.SIGALRM, self.on_stop_timeout)

    def start(self, child: Child) -> None:
        """Start (or start again) one child and watch it."""
        if child not in self.children:
            self.children.append(child)
        # A process group of its own: a Ctrl-C in the terminal reaches only us, and we forward
        # it once, instead of every child receiving it twice.
        piped = child.watch_output is not None
        child.process = subprocess.Popen(
            child.argv,
            cwd=settings.BASE_DIR,
            env={**(child.env or os.environ), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if piped else None,
            stderr=subprocess.STDOUT if piped else None,
            process_group=0,
        )
        if piped:
            threading.Thread(target=forward, args=(child.process.stdout, child.watch_output),
                             name=f"output of {child.name}", daemon=True).start()  # fmt: skip
        child.pidfd = os.pidfd_open(child.process.pid)
        child.started_at = time.monotonic()
        child.restart_at = None
        child.signalled = False
        again = f", restart {child.restarts}" if child.restarts else ""
        self.write(f"run: started {child.name} (pid {child.process.pid}{again})")

    def running(self) -> list[Child]:
        return [child for child in self.children if child.pidfd is not None]

    def names(self) -> str:
        return ", ".join(child.name for child in self.running())

    def on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:  # a second Ctrl-C: do not wait any longer
            self.kill_all("asked twice")
            return
        self.write(f"run: {signal.Signals(signum).name} received, stopping {self.names()}")
        self.stop_all(signum)
        os.write(self.wake_write, b"!")

    def on_stop_timeout(self, signum: int, frame: FrameType | None) -> None:
        self.kill_all(f"still running {STOP_TIMEOUT_S} s after SIGTERM")

    def stop_all(self, signum: int = signal.SIGTERM) -> None:
        """Cancel every pending restart and stop the children, those marked `last` last."""
        self.stopping = True
        for child in self.children:
            child.restart_at = None
        first = [child for child in self.running() if not child.last]
        self.send_stop(first or self.running(), signum)

    def send_stop(self, children: list[Child], signum: int) -> None:
        unsignalled = [child for child in children if not child.signalled]
        for child in unsignalled:
            child.signalled = True
            # The broker saves its queue on SIGTERM; others get the signal we received.
            send(child, signal.SIGTERM if child.last else signum)
        if unsignalled:
            signal.alarm(STOP_TIMEOUT_S)  # SIGALRM then kills what is left: no sleep, no polling

    def kill_all(self, why: str) -> None:
        for child in self.running():
            self.write(f"run: killing {child.name} ({why})")
            send(child, signal.SIGKILL)

    def wait(self) -> int:
        """Block until every child has exited and none is to be restarted; the exit code."""
        while self.running() or (not self.stopping and self.restart_due_at() is not None):
            self.step()
        signal.alarm(0)
        return self.exit_code

    def restart_due_at(self) -> float | None:
        due = [child.restart_at for child in self.children if child.restart_at is not None]
        return min(due, default=None)

    def step(self) -> None:
        """Sleep until a child exits, a restart is due or a stop signal arrives; act on it."""
        due = None if self.stopping else self.restart_due_at()
        if self.task is not None and not self.stopping:
            due = self.task_at if due is None else min(due, self.task_at)
        timeout = None if due is None else max(0.0, due - time.monotonic())
        watched = {child.pidfd: child for child in self.running()}
        # select() resumes after a signal handler ran (PEP 475); the wake pipe then ends it.
        readable, _, _ = select.select([self.wake_read, *watched], [], [], timeout)
        for fd in readable:
            if fd == self.wake_read:
                os.read(self.wake_read, 64)
            else:
                self.reap(watched[fd])
        if self.stopping:
            if all(child.last for child in self.running()):  # the others have all exited
                self.send_stop(self.running(), signal.SIGTERM)
        else:
            self.restart_those_due()
            if self.task is not None and time.monotonic() >= self.task_at:
                self.task_at = time.monotonic() + self.task_every
                self.task()

    def reap(self, child: Child) -> None:
        assert child.process is not None and child.pidfd is not None
        _, status = os.waitpid(child.process.pid, 0)
        # Reaped here, so Popen must not wait for it again: record its exit code ourselves.
        child.process.returncode = os.waitstatus_to_exitcode(status)
        os.close(child.pidfd)
        child.pidfd = None
        if not self.stopping:
            self.schedule_restart(child)

    def schedule_restart(self, child: Child) -> None:
        now = time.monotonic()
        ran = now - child.started_at
        if child.next_delay is None or ran >= HEALTHY_AFTER_S:
            child.next_delay = RESTART_FIRST_S
        delay, child.next_delay = child.next_delay, min(child.next_delay * 2, RESTART_LONGEST_S)
        child.restart_at = now + delay
        ended = how_it_ended(child.process.returncode)  # type: ignore[union-attr]
        self.write(f"run: {child.name} {ended} after {ran:.1f} s; restarting it in {delay:g} s")

    def restart_those_due(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None and child.restart_at <= now:
                child.restarts += 1
                self.start(child)


def broker_config(shipped: str, port: int, data_dir: Path) -> str:
    """The shipped broker configuration, its plant listener moved to 127.0.0.1:port without
    TLS (this machine only), no health listener, its logins in data_dir/auth, its data there."""
    head = f"# Written by `manage.py run` from {SHIPPED_BROKER_CONF}; edit that file instead.\n"
    auth = data_dir / "auth"
    try:
        return adapt_conf(
            shipped,
            {8883: Listener(port, tls=False), 1880: None},
            {"password_file": f"{auth}/passwd", "acl_file": f"{auth}/acl",
             "persistence_location": str(data_dir)},
            head=head,
        )  # fmt: skip
    except AuthFileError as error:
        raise CommandError(f"{SHIPPED_BROKER_CONF}: {error}") from None


def broker_owner() -> str | None:
    """Started as root, mosquitto drops to the 'mosquitto' user and reads its files as it."""
    return "mosquitto" if os.geteuid() == 0 else None


def prepare_broker_dir(data_dir: Path, port: int) -> Path:
    """Write the broker's configuration into data_dir, which it must be able to write."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "auth").mkdir(exist_ok=True)
    conf = data_dir / "mosquitto.conf"
    conf.write_text(broker_config(SHIPPED_BROKER_CONF.read_text(), port, data_dir))
    owner = broker_owner()
    if owner:
        # Without this it could not write its persistence file, and a restart would forget
        # every session and its queue. The credentials stay root's.
        for path in [data_dir, *data_dir.iterdir(), *(data_dir / "auth").iterdir()]:
            if path.name != "credentials":
                shutil.chown(path, owner)
    return conf


def broker_credentials(data_dir: Path) -> dict[str, Path]:
    """The password file of each of the product's broker users, made once (0600)."""
    folder = data_dir / "credentials"
    folder.mkdir(mode=0o700, exist_ok=True)
    files = {}
    for user in BROKER_USERS:
        path = files[user] = folder / user
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(32))
    return files


def shown_url(url: str) -> str:
    """A broker URL fit for the terminal: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


def app_database_env(env: dict[str, str]) -> dict[str, str]:
    """The children's environment with the application's database role, never the owner's.

    This process migrated as the owner (settings.OWNER_COMMANDS) and made the application's
    role (create_app_role). With MIGRATE_DATABASE_URL set, DATABASE_URL already names that
    role; otherwise the children connect as scada_app (password APP_DB_PASSWORD, if any) to
    the same database, and the owner's credentials stay with this process.
    """
    children = {name: value for name, value in env.items()
                if not name.startswith("MIGRATE_DATABASE_")}  # fmt: skip
    if os.environ.get("MIGRATE_DATABASE_URL"):
        return children
    for name in ("DATABASE_PASSWORD", "DATABASE_PASSWORD_FILE"):
        children.pop(name, None)
    parts = urlsplit(settings.APP_DATABASE_URL)
    password = os.environ.get("APP_DB_PASSWORD", "")
    login = f"scada_app:{quote(password, safe='')}" if password else "scada_app"
    url = parts._replace(netloc=f"{login}@{parts.netloc.rpartition('@')[2]}").geturl()
    return {**children, "DATABASE_URL": url}


class Command(BaseCommand):
    help = (
        "Check the services, migrate, load the demo plant, then run the product's own broker "
        "(unless MQTT_URL is set), daphne, the ingest worker and the simulator, restarting any "
        "that dies, until Ctrl-C or SIGTERM."
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
        parser.add_argument(
            "--broker-port",
            type=int,
            default=int(os.environ.get("BROKER_PORT", BROKER_PORT)),
            help=f"Port of the product's own broker on 127.0.0.1 (env BROKER_PORT, default "
            f"{BROKER_PORT}); not used when MQTT_URL is set.",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=9108,
            help="Port of the ingest worker's /metrics on 127.0.0.1 (default 9108; 0: off).",
        )
        parser.add_argument(
            "--broker-dir",
            default=str(settings.BASE_DIR / "var" / "mosquitto"),
            help="Where the product's own broker keeps its sessions and queues.",
        )

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        self.broker_child: Child | None = None
        self.warned: set[str] = set()
        self.refusals: queue.Queue[str] = queue.Queue()
        supervisor = Supervisor(self.say)
        supervisor.install_signal_handlers()  # before any child exists, so none is orphaned
        env = self.start_broker(supervisor, options["broker_port"], Path(options["broker_dir"]))
        try:
            logins = self.prepare()
        except BaseException:  # a failed check, say: the broker must not outlive us
            supervisor.stop_all()
            supervisor.wait()
            raise
        self.metrics_port = options["metrics_port"]
        if self.broker_child is not None:  # migrated now: every identity, and keep them current
            self.update_broker_access()
            supervisor.every(BROKER_ACCESS_EVERY_S, self.update_broker_access)
        started = self.start_children(supervisor, host, port, app_database_env(env))
        if started and self.wait_until_serving(supervisor, started[0], host, port):
            self.print_banner(host, port, logins, supervisor.names())
        sys.exit(supervisor.wait())

    def prepare(self) -> list[str]:
        """Checks, migrations, static files and the demo plant; the demo login lines."""
        # A failed check raises SystemCheckError, which Django prints (each unreachable service
        # with the command that starts it) and turns into exit status 1, without a traceback.
        call_command("check", databases=["default"], deploy=not settings.DEBUG)
        call_command("migrate", interactive=False, verbosity=1)
        call_command("create_app_role", verbosity=0)  # the children's role (app_database_env)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        return self.load_demo()

    def start_broker(self, supervisor: Supervisor, port: int, data_dir: Path) -> dict[str, str]:
        """Start the product's own broker unless MQTT_URL names one; the children's environment."""
        if os.environ.get("MQTT_URL"):
            self.broker = f"{shown_url(settings.MQTT_URL)} (from MQTT_URL; no broker started)"
            return dict(os.environ)
        if not shutil.which("mosquitto"):
            raise CommandError("mosquitto is not installed: apt-get install mosquitto, or set "
                               "MQTT_URL to the broker to use")  # fmt: skip
        if accepts_connections("127.0.0.1", port):
            raise CommandError(f"127.0.0.1:{port} is taken (another `manage.py run`?): pass "
                               "--broker-port, or set MQTT_URL to the broker to use")  # fmt: skip
        conf = prepare_broker_dir(data_dir, port)
        logins = broker_credentials(data_dir)
        host = f"127.0.0.1:{port}"
        # This process writes the broker's files (as the child processes' identities need).
        password = {user: quote(path.read_text(), safe="") for user, path in logins.items()}
        settings.MQTT_URL = f"mqtt://ingest:{password['ingest']}@{host}"
        settings.SIMULATOR_MQTT_URL = f"mqtt://simulator:{password['simulator']}@{host}"
        from plant.broker_access import write_broker_files  # models: once Django is set up

        # Not migrated yet: the product's own logins only, until the first rewrite after it.
        self.auth_dir, self.owner = data_dir / "auth", broker_owner()
        write_broker_files(self.auth_dir, owner=self.owner, with_database=False)
        # Its log is read for refused logins, recorded as security events (update_broker_access).
        broker = Child("broker (mosquitto)", ["mosquitto", "-c", str(conf)], last=True,
                       watch_output=self.note_refusal)  # fmt: skip
        self.broker_address = host
        self.broker_child = broker
        supervisor.start(broker)
        if not self.wait_until_serving(supervisor, broker, "127.0.0.1", port):
            supervisor.stop_all()  # no restart: it would fail the same way
            supervisor.wait()
            hint = (f"; it runs as the user 'mosquitto', which must reach {data_dir}"
                    if broker_owner() else "")  # fmt: skip
            raise CommandError(f"the broker did not start: see its output above ({conf}){hint}")
        self.broker = f"mqtt://{host} (the product's own Mosquitto: {SHIPPED_BROKER_CONF.name}, "
        self.broker += f"logins and ACL, data in {data_dir})"
        # The children log in as ingest and the simulator, their passwords read from files.
        children = {name: value for name, value in os.environ.items() if name not in
                    ("MQTT_PASSWORD", "SIMULATOR_MQTT_PASSWORD")}  # fmt: skip
        return {
            **children,
            "MQTT_URL": f"mqtt://ingest@{host}",
            "MQTT_PASSWORD_FILE": str(logins["ingest"]),
            "SIMULATOR_MQTT_URL": f"mqtt://simulator@{host}",
            "SIMULATOR_MQTT_PASSWORD_FILE": str(logins["simulator"]),
        }

    def note_refusal(self, line: str) -> None:
        """A line of the broker's log (its output thread): keep the refusals it reports."""
        if refused_login_detail(line) is not None:
            self.refusals.put(line.strip())

    def record_refusals(self) -> None:
        """Each login the broker refused since the last time, as a security event."""
        unrecorded = []
        while True:
            try:
                line = self.refusals.get_nowait()
            except queue.Empty:
                break
            try:
                record_refused_login(line, f"broker {self.broker_address}")
            except RefusalNotRecorded:  # the database away: the next pass tries again
                unrecorded.append(line)
        for line in unrecorded:
            self.refusals.put(line)

    def update_broker_access(self) -> None:
        """Rewrite the broker's passwd and acl from the database; reload it if they changed."""
        from plant.broker_access import write_broker_files

        self.record_refusals()

        try:
            changed, warnings = write_broker_files(self.auth_dir, owner=self.owner)
        except (DatabaseError, OSError, AuthFileError) as error:
            self.say(f"run: cannot update the broker's logins ({error}); keeping them")
            close_old_connections()
            return
        for warning in warnings:
            if warning not in self.warned:
                self.warned.add(warning)
                self.say(f"run: {warning}")
        broker = self.broker_child
        if changed and broker is not None and broker.pidfd is not None:
            send(broker, signal.SIGHUP)  # Mosquitto reads its passwd and acl again

    def start_children(
        self, supervisor: Supervisor, host: str, port: int, env: dict[str, str]
    ) -> list[Child]:
        """Start daphne first, then the workers; stop starting when asked to stop."""
        started = []
        for name, argv in self.child_commands(host, port):
            if supervisor.stopping:  # Ctrl-C while starting: start nothing more
                break
            started.append(Child(name, argv, env))
            supervisor.start(started[-1])
        return started

    def wait_until_serving(
        self, supervisor: Supervisor, child: Child, host: str, port: int
    ) -> bool:
        """Return True once the child accepts connections, False if it exits or we stop first."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not supervisor.stopping and not has_exited(child.process):  # type: ignore[arg-type]
            if accepts_connections(host, port):
                return True
            if time.monotonic() > deadline:
                self.say(f"run: {child.name} does not accept connections after {START_TIMEOUT_S} s")
                return True
            time.sleep(0.1)  # a readiness probe: nothing tells us when a child has bound its port
        return False

    def load_demo(self) -> list[str]:
        """Load the demo plant and users; return the login lines it printed."""
        output = StringIO()
        call_command("load_demo", history_days=DEMO_HISTORY_DAYS, stdout=output)
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
                argv = [sys.executable, manage, name]
                if name == "ingest":
                    argv += ["--metrics-port", str(self.metrics_port)]
                if name == "simulate":
                    # The demo filler stops now and then, so the OEE screens show losses.
                    argv += ["--fault", f"filler_stops@0:{DEMO_STOPS_S}"]
                commands.append((name, argv))
            else:
                self.say(f"run: no '{name}' command installed yet, not starting it")
        return commands

    def print_banner(self, host: str, port: int, logins: list[str], running: str) -> None:
        shown_host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)
        if ":" in shown_host and not shown_host.startswith("["):
            shown_host = f"[{shown_host}]"  # an IPv6 address in a URL
        lines = [
            "",
            f"  HMI: http://{shown_host}:{port}/   (running: {running})",
            f"  MQTT broker: {self.broker}",
            *(f"  {line}" for line in logins),
            "  A child that dies is restarted. Stop with Ctrl-C.",
            "",
        ]
        self.say("\n".join(lines))

    def say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()
