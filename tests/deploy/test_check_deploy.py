"""`manage.py check --deploy` with compose.yaml's own production settings: clean, and loud
when one of them is weakened (compose's migrate runs it first, at --fail-level WARNING)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.compose_file import ROOT, make_secrets, service_environment

# Of the shell's variables only these: pytest's own (DJANGO_ALLOW_ASYNC_UNSAFE, which
# check --deploy refuses) and a developer's settings must not leak into production's.
SHELL = ("PATH", "HOME", "LANG", "TMPDIR")


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("deploy")
    make_secrets(folder)
    return folder / "secrets"


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    shell = {name: value for name, value in os.environ.items() if name in SHELL}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**shell, **env},
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("service", ["migrate", "web", "ingest"])
def test_compose_production_settings_pass_check_deploy(secrets_dir: Path, service: str) -> None:
    result = check_deploy(service_environment(service, secrets_dir))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("weakened", "warnings"),
    [
        ({"SECURE_HSTS_SECONDS": "0"}, ["security.W004"]),
        ({"SECURE_SSL_REDIRECT": "false"}, ["security.W008"]),
        ({"SECURE_HSTS_INCLUDE_SUBDOMAINS": "false"}, ["security.W005"]),
        # Plain HTTP: cookies sent in the clear, no redirect, no HSTS.
        (
            {"SECURE_COOKIES": "false"},
            ["security.W004", "security.W008", "security.W012", "security.W016"],
        ),
    ],
)
def test_a_weakened_production_setting_fails_check_deploy(
    secrets_dir: Path, weakened: dict[str, str], warnings: list[str]
) -> None:
    result = check_deploy({**service_environment("migrate", secrets_dir), **weakened})
    assert result.returncode == 1
    for warning in warnings:
        assert warning in result.stderr


def test_a_weak_secret_key_fails_check_deploy(secrets_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("short-and-guessable\n")
    env = {
        **service_environment("migrate", secrets_dir),
        "SECRET_KEY_FILE": str(tmp_path / "secret_key"),
    }
    result = check_deploy(env)
    assert result.returncode == 1
    assert "security.W009" in result.stderr


def test_a_missing_secret_file_stops_the_settings(secrets_dir: Path, tmp_path: Path) -> None:
    env = {
        **service_environment("migrate", secrets_dir),
        "DATABASE_PASSWORD_FILE": str(tmp_path / "none"),
    }
    result = check_deploy(env)
    assert result.returncode == 1
    assert "DATABASE_PASSWORD_FILE: cannot read" in result.stderr
