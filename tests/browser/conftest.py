"""A real daphne serving the test database, and Debian's Chromium driven by Playwright.

The server is a child process, as in production: it reads the same settings from the
environment, with DATABASE_URL pointing at pytest-django's test database. Tests that use it
write through `committed_db`, so the server sees their rows.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import paho.mqtt.publish as publish
import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group, User
from django.db import connection, connections
from django.utils import timezone
from playwright.sync_api import Browser, Page, sync_playwright

from ingest.mqtt import parse_url
from plant.models import Plant, Sample, Tag
from plant.system_health import HEARTBEAT_S, do_beat

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
SERVER_START_TIMEOUT_S = 30
PASSWORD = "browser-test-pw"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def served_database_url() -> str:
    """A DATABASE_URL for the database this test process uses (pytest-django's test_<name>)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"])
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    return f"postgres://{credentials}@{host}:{port}/{db['NAME']}"


def wait_until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return once the port accepts connections; fail with the server's log if it cannot."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"daphne exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"daphne did not listen within {SERVER_START_TIMEOUT_S}s:\n{log.read_text()}"
                )
            time.sleep(0.05)
        else:
            return


class Daphne:
    """A daphne child process serving config.asgi against the test database; restartable on
    the same port, so a test can take the websocket server away and bring it back."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": served_database_url(),
            # DEBUG serves static files from static/ (WhiteNoise's finders) without collectstatic.
            "DEBUG": "true",
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        daphne = Path(sys.executable).parent / "daphne"  # the venv's, beside this Python
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [str(daphne), "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_until_listening(self.port, self.process, self.log)

    def stop(self, kill: bool = False) -> None:
        """Stop the server (SIGKILL with `kill`: a crash, sockets cut without a goodbye)."""
        if self.process is None:
            return
        self.process.kill() if kill else self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture
def daphne(committed_db: None, tmp_path: Path) -> Iterator[Daphne]:
    """A running daphne against the test database (see Daphne)."""
    server = Daphne(tmp_path / "daphne.log")
    server.start()
    try:
        yield server
    finally:
        # Stopped before the test's flush, so its database connections do not hold it up.
        server.stop()


@pytest.fixture
def server_url(daphne: Daphne) -> str:
    """The base URL of the daphne child process."""
    return daphne.url


@pytest.fixture
def browser(committed_db: None) -> Iterator[Browser]:
    """Debian's Chromium, headless.

    While Playwright's sync API is open, an event loop runs, and Django then hands out other
    connection objects (those of an async context). So the test database is set up before it
    starts (hence `committed_db` here) and torn down after it stops, in the plain context that
    knows the serialized data; connections opened meanwhile are closed before it stops.
    Function-scoped, so async tests later in the session never meet its loop.
    """
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        connections.close_all()


@pytest.fixture
def page(daphne: Daphne, browser: Browser) -> Iterator[Page]:
    """A fresh browser tab on a desktop-sized screen, with no cookies.

    Set up after the server, so closed before it stops: a server stopped under a tab's open
    sockets and polls could wait out its whole stop timeout (10 s) before it exits.
    """
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (test-artifacts/, ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@functools.cache
def server_password_hash() -> str:
    """PASSWORD hashed with PBKDF2, Django's default, which the server checks it with."""
    hasher = PBKDF2PasswordHasher()
    return hasher.encode(PASSWORD, hasher.salt())


def make_server_user(username: str, role: str, plant: Plant) -> User:
    """A member of `plant` in `role`, whose password the server can check.

    The server runs with Django's default hashers, not the tests' fast MD5 one, so the hash
    is made with PBKDF2 directly, once a session (0.4-0.6 s each on the 2-core box).
    """
    user = User.objects.create(username=username, password=server_password_hash())
    user.groups.add(Group.objects.get(name=role))
    plant.members.add(user)
    return user


@pytest.fixture
def operator(committed_db: None, demo_plant: Plant) -> User:
    """An operator of the demo plant who logs in through the login form with PASSWORD."""
    return make_server_user("operator-user", "operator", demo_plant)


class Ingest:
    """A real `manage.py ingest` child process on the test database and this test's topics."""

    def __init__(self, topic_root: str, log: Path) -> None:
        self.topic_root = topic_root
        self.log = log
        env = {
            **os.environ,
            "DATABASE_URL": served_database_url(),
            "MQTT_TOPIC_ROOT": topic_root,
            # The same channel-layer prefix as daphne's, which inherits this environment too.
            "CHANNEL_LAYER_PREFIX": os.environ["CHANNEL_LAYER_PREFIX"],
            # No Sparkplug host, as in-process workers (tests/conftest.py): on the shared broker
            # its week-long session would queue every other run's spBv1.0/# after it stopped.
            "SPARKPLUG_HOST_ID": "",
            "NEURON_ENABLED": "false",
        }
        client_id = f"browser-{uuid.uuid4().hex[:8]}"
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "ingest", "--client-id", client_id,
                 "--metrics-port", "0"],
                cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def publish(self, tag: Tag, payload: dict[str, object]) -> None:
        """Publish one value on the tag's topic at QoS 1, as a device would."""
        address = parse_url(settings.MQTT_URL)
        publish.single(tag.topic, json.dumps(payload), qos=1, hostname=address.host,
                       port=address.port)  # fmt: skip

    def wait_until_subscribed(self, probe: Tag, timeout: float = 15) -> None:
        """Publish to `probe` until the worker stores it: from then on nothing is missed."""
        deadline = time.monotonic() + timeout
        while not Sample.objects.filter(tag=probe).exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the ingest worker does not store values:\n{self.log.read_text()}")
            self.publish(probe, {"v": 1})
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def ingest(
    committed_db: None, demo_plant: Plant, topic_root: str, tmp_path: Path
) -> Iterator[Ingest]:
    """A running ingest worker that already stores what is published under `topic_root`."""
    worker = Ingest(topic_root, tmp_path / "ingest.log")
    try:
        worker.wait_until_subscribed(Tag.objects.get(machine__line__plant=demo_plant, key="energy"))
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def worker_heartbeat(committed_db: None) -> Iterator[None]:
    """A heartbeat written every HEARTBEAT_S, as a running ingest worker writes it, for tests
    of live screens without a worker: the status bar then says nothing and the page is "live"."""
    stop = threading.Event()

    def beat() -> None:
        started = timezone.now()
        while not stop.is_set():
            now = timezone.now()
            do_beat("browser-test-worker", started_at=started, committed_at=now, lag_s=0.0,
                    buffered=0, broker_connected=True, now=now)  # fmt: skip
            stop.wait(HEARTBEAT_S)
        connections.close_all()  # this thread's connection, before the test database goes

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)
