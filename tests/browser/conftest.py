"""A real daphne serving the test database, and Debian's Chromium driven by Playwright.

The server is a child process, as in production: it reads the same settings from the
environment, with DATABASE_URL pointing at pytest-django's test database. Tests that use it
write through `committed_db`, so the server sees their rows.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group, User
from django.db import connection, connections
from playwright.sync_api import Browser, Page, sync_playwright

from plant.models import Plant

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


@pytest.fixture
def server_url(committed_db: None, tmp_path: Path) -> Iterator[str]:
    """The base URL of a daphne child process serving config.asgi against the test database."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": served_database_url(),
        # DEBUG serves static files from static/ (WhiteNoise's finders) without collectstatic.
        "DEBUG": "true",
    }
    log = tmp_path / "daphne.log"
    daphne = Path(sys.executable).parent / "daphne"  # the venv's, beside this Python
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(daphne), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_listening(port, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        # Stopped before the test's flush, so its database connections do not hold it up.
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab on a desktop-sized screen, with no cookies."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (test-artifacts/, ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def make_server_user(username: str, role: str, plant: Plant) -> User:
    """A member of `plant` in `role`, whose password the server can check.

    The server runs with Django's default hashers, not the tests' fast MD5 one, so the hash
    is made with PBKDF2 directly.
    """
    hasher = PBKDF2PasswordHasher()
    user = User.objects.create(username=username, password=hasher.encode(PASSWORD, hasher.salt()))
    user.groups.add(Group.objects.get(name=role))
    plant.members.add(user)
    return user


@pytest.fixture
def operator(committed_db: None, demo_plant: Plant) -> User:
    """An operator of the demo plant who logs in through the login form with PASSWORD."""
    return make_server_user("operator-user", "operator", demo_plant)
