"""Throwaway Mosquitto brokers and databases for fault tests and benchmarks, on 127.0.0.1.

The broker runs with the configuration we ship (config/mosquitto/mosquitto.conf's queue
limits), so a benchmark measures what production would see.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONF = ROOT / "config" / "mosquitto" / "mosquitto.conf"
LIMITS = (
    "max_queued_messages",
    "max_queued_bytes",
    "max_inflight_messages",
    "persistent_client_expiration",
    "max_packet_size",
)


def shipped_limits() -> str:
    """The queue limits of the broker configuration we ship, so tests see what production sees."""
    lines = SHIPPED_CONF.read_text().splitlines()
    return "\n".join(line for line in lines if line.split(" ")[0] in LIMITS) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class Broker:
    """A private Mosquitto with persistence in a temporary directory; restartable."""

    def __init__(self, port: int | None = None, limits: str | None = None) -> None:
        """`limits` replaces the shipped queue limits (a test of what a small queue drops)."""
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="scada-mosq-"))
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to the 'mosquitto' user: without this it could
            # not write its persistence file, and a restart would forget every session.
            shutil.chown(self.dir, "mosquitto")
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.dir}/\nautosave_interval 1\nsys_interval 1\n"
            f"{shipped_limits() if limits is None else limits}"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # mosquitto saves its persistence file on SIGTERM
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def database_url(name: str) -> str:
    """A database of the server the tests run on (DATABASE_URL's host and port, 5432 by default)."""
    server = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scada"))
    return f"postgres://postgres@{server.hostname or '127.0.0.1'}:{server.port or 5432}/{name}"


def psql(url: str, sql: str) -> str:
    """Run one statement with psql; its output, unaligned, without the trailing newline."""
    done = subprocess.run(["psql", "-d", url, "-qAtc", sql], check=True, capture_output=True,
                          text=True)  # fmt: skip
    return done.stdout.strip()


def _migrate(name: str, timescaledb: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url(name), "TIMESCALEDB": timescaledb}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def _migrated_template(timescaledb: str) -> str | None:
    """A database migrated once a process, to copy (CREATE DATABASE ... TEMPLATE) instead of
    migrating each new one: a migration took 10 s on the 2-core box, a copy well under one.

    None where the server offers TimescaleDB and the mode may use it: its databases are
    migrated each time, as production's are. Where it offers none, "auto" migrates exactly as
    "off" does, and shares its template.
    """
    postgres = database_url("postgres")
    offered = psql(postgres, "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    if offered and timescaledb != "off":
        return None
    return _template("off" if not offered else timescaledb)


@functools.cache
def _template(timescaledb: str) -> str:
    postgres = database_url("postgres")
    name = f"scada_template_{os.getpid()}_{timescaledb}"
    psql(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(postgres, f'CREATE DATABASE "{name}"')
    atexit.register(psql, postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _migrate(name, timescaledb)
    return name


def fresh_database(name: str, timescaledb: str = "auto") -> str:
    """Drop and create a database, migrated, and return its URL."""
    postgres = database_url("postgres")
    template = _migrated_template(timescaledb)
    psql(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if template is None:
        psql(postgres, f'CREATE DATABASE "{name}"')
        _migrate(name, timescaledb)
    else:
        psql(postgres, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return database_url(name)


PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root; run them as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Postgres:
    """A throwaway PostgreSQL cluster on a spare port, to stop and start under load."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="scada-pg-"))
        self.data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    @classmethod
    def standby_of(cls, primary: Postgres) -> Postgres:
        """A hot standby of `primary` (pg_basebackup -R: it streams the primary's WAL), on a spare
        port of its own; start() it like the primary.

        `-c fast`: the backup starts with an immediate checkpoint. The default, a spread one,
        took 140-150 s on the 2-core box (half of checkpoint_timeout, writes paced out)."""
        standby = cls.__new__(cls)
        standby.port = free_port()
        standby.dir = Path(tempfile.mkdtemp(prefix="scada-pg-standby-"))
        standby.data = standby.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(standby.dir, "postgres", "postgres")
        backup = [
            str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
            "-U", "postgres", "-D", str(standby.data), "-R", "-X", "stream", "-c", "fast",
            "--no-sync",
        ]  # fmt: skip
        subprocess.run(_as_postgres(backup), check=True, stdout=subprocess.DEVNULL)
        return standby

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    options,
                    "-l",
                    str(self.dir / "log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
        )

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """A throwaway Redis on a spare port (no persistence), to stop and start under load."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()


class SecuredBroker:
    """A private Mosquitto from the SHIPPED configuration, logins and ACL included: its plant
    listener (8883 in production) and its health listener (1880) moved to spare ports on
    127.0.0.1, reading the passwd and acl written into `self.auth_dir` (by broker_access, with
    `owner=self.owner`, or by hand).

    With `certs` (a folder holding server.crt and server.key) the plant listener keeps its TLS,
    as in compose; without, it is plain MQTT, as in `manage.py run`. Its log (the shipped
    `log_dest stderr`) goes to `self.log`. With `log_file`, it also writes the shipped
    `log_dest file` to `self.log_file` (in a folder of its own, as compose's mqtt-log volume);
    without, that line is dropped, as in `manage.py run`.
    """

    def __init__(self, certs: Path | None = None, *, log_file: bool = False) -> None:
        from plant.mosquitto_auth import Listener, adapt_conf

        self.port, self.health_port = free_port(), free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="scada-mosq-acl-"))
        self.auth_dir = self.dir / "auth"
        self.auth_dir.mkdir()
        # Started as root, mosquitto reads its files as the 'mosquitto' user, as in compose.
        self.owner = "mosquitto" if os.geteuid() == 0 else None
        paths = {"password_file": f"{self.auth_dir}/passwd", "acl_file": f"{self.auth_dir}/acl",
                 "persistence_location": str(self.dir)}  # fmt: skip
        if certs is not None:
            shutil.copytree(certs, self.dir / "certs")
            paths |= {"certfile": f"{self.dir}/certs/server.crt",
                      "keyfile": f"{self.dir}/certs/server.key"}  # fmt: skip
        listeners = {8883: Listener(self.port, tls=certs is not None),
                     1880: Listener(self.health_port)}  # fmt: skip
        self.log_file = self.dir / "log" / "mosquitto.log"
        self.log_file.parent.mkdir()
        self.conf = self.dir / "mosquitto.conf"
        log = str(self.log_file) if log_file else None
        self.conf.write_text(adapt_conf(SHIPPED_CONF.read_text(), listeners, paths, log_file=log))
        self.log = self.dir / "broker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def write_auth(self, passwd: str, acl: str) -> None:
        for name, text in (("passwd", passwd), ("acl", acl)):
            (self.auth_dir / name).write_text(text)

    def start(self) -> None:
        if self.owner:
            for path in self.dir.rglob("*"):
                shutil.chown(path, self.owner)
            shutil.chown(self.dir, self.owner)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                ["mosquitto", "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_port(self.port)

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its passwd and acl again."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
