"""The notifications' settings: the SMTP server and the webhooks' limits from the environment,
refused with the reason when they make no sense, and the SMTP password read from a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import ROOT

SHOW = "from django.conf import settings as s; print(s.EMAIL_HOST_PASSWORD, s.EMAIL_PORT)"


def settings_of(env: dict[str, str], code: str = SHOW) -> subprocess.CompletedProcess[str]:
    command = f"import django; django.setup(); {code}"
    return subprocess.run(
        [sys.executable, "-c", command], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}, "not both"),
        ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT must be a whole number"),
        ({"NOTIFY_SITE_URL": "hmi.example.com"}, "NOTIFY_SITE_URL must be an http(s) URL"),
        ({"NOTIFY_WEBHOOK_TIMEOUT_S": "0"}, "NOTIFY_WEBHOOK_TIMEOUT_S must be a number"),
        ({"NOTIFY_WEBHOOK_CA_FILE": "/no/such/ca.pem"}, "is not a readable file"),
    ],
)
def test_a_bad_notification_setting_stops_the_product_with_the_reason(
    env: dict[str, str], message: str
) -> None:
    result = settings_of(env)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_smtp_password_is_read_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "smtp_password"
    secret.write_text("mail-pass/word@1\n")
    result = settings_of({"EMAIL_HOST_PASSWORD_FILE": str(secret), "EMAIL_PORT": "587"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mail-pass/word@1 587"
