"""The historian's settings: ages read from the environment, refused when they make no sense."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from config.settings import env_interval, interval_seconds
from tests.services import ROOT


@pytest.mark.parametrize(
    ("text", "interval", "seconds"),
    [("7 days", "7 days", 604800), ("12 hours", "12 hours", 43200), ("1 week", "1 weeks", 604800),
     ("3 MONTHS", "3 months", 7776000), ("90day", "90 days", 7776000)],
)  # fmt: skip
def test_an_age_reads_as_a_postgresql_interval(
    monkeypatch: pytest.MonkeyPatch, text: str, interval: str, seconds: int
) -> None:
    monkeypatch.setenv("HISTORIAN_TEST_AGE", text)
    assert env_interval("HISTORIAN_TEST_AGE", "off") == interval
    assert interval_seconds(interval) == seconds


def test_off_means_no_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HISTORIAN_TEST_AGE", "off")
    assert env_interval("HISTORIAN_TEST_AGE", "7 days") is None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HISTORIAN_COMPRESS_AFTER", "a week", "must look like '7 days'"),
        ("HISTORIAN_COMPRESS_AFTER", "0 days", "must look like '7 days'"),
        ("HISTORIAN_RETENTION", "3 days", "must be at least 7 days"),
    ],
)
def test_a_bad_age_stops_the_product_with_the_reason(
    variable: str, value: str, message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT, env={**os.environ, variable: value}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr
