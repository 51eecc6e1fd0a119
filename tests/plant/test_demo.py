"""The demo plant loader: idempotent, complete, and careful with users outside development."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from pytest_django.fixtures import Settings

from plant.models import Line, Machine, Plant, Sample, Tag
from plant.roles import ROLES

# (line, machine, tag key, unit) of every tag the Foundation issue names.
NAMED_TAGS = [
    ("filling", "filler", "fill_level", "ml"),
    ("filling", "filler", "fill_level_sp", "ml"),
    ("filling", "filler", "flow_rate", "l/min"),
    ("filling", "filler", "flow_rate_sp", "l/min"),
    ("filling", "filler", "tank_level", "%"),
    ("filling", "filler", "bottles_filled", "bottles"),
    ("filling", "filler", "bottles_rejected", "bottles"),
    ("filling", "filler", "state", ""),
    ("gas", "detector", "methane", "%LEL"),
    ("gas", "detector", "h2s", "ppm"),
    ("gas", "ventilation", "fan", ""),
    ("gas", "isolation", "valve_open", ""),
    ("utilities", "pump", "vibration_rms", "mm/s"),
    ("utilities", "pump", "bearing_temp", "°C"),
    ("utilities", "energy", "power", "kW"),
    ("utilities", "energy", "energy", "kWh"),
]


def counts() -> dict[str, int]:
    return {
        "plants": Plant.objects.count(),
        "lines": Line.objects.count(),
        "machines": Machine.objects.count(),
        "tags": Tag.objects.count(),
        "users": User.objects.count(),
    }


@pytest.fixture
def dev_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A development box: DEBUG on and no fixed demo password."""
    settings.DEBUG = True
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    return settings


def load_demo(topic_root: str, passwords_file: Path) -> None:
    call_command("load_demo", "--topic-root", topic_root, "--passwords-file", str(passwords_file))


@pytest.mark.django_db
def test_loading_the_demo_twice_changes_nothing(
    dev_settings: Settings, topic_root: str, tmp_path: Path
) -> None:
    passwords_file = tmp_path / "demo-logins.txt"
    load_demo(topic_root, passwords_file)
    first_counts, first_passwords = counts(), passwords_file.read_text()
    load_demo(topic_root, passwords_file)
    assert counts() == first_counts
    assert first_counts["plants"] == 1
    assert first_counts["users"] == len(ROLES)
    assert passwords_file.read_text() == first_passwords


@pytest.mark.django_db
def test_demo_users_can_log_in_with_the_kept_passwords(
    dev_settings: Settings, topic_root: str, tmp_path: Path
) -> None:
    passwords_file = tmp_path / "demo-logins.txt"
    load_demo(topic_root, passwords_file)
    load_demo(topic_root, passwords_file)
    kept = dict(line.split(" ", 1) for line in passwords_file.read_text().splitlines())
    assert sorted(kept) == sorted(ROLES)
    for role, password in kept.items():
        user = User.objects.get(username=role)
        assert user.check_password(password)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert user.plants.filter(slug="bottling").exists()
        assert user.is_staff == (role == "admin")


@pytest.mark.django_db
def test_the_demo_plant_has_every_tag_the_issue_names(
    dev_settings: Settings, topic_root: str, tmp_path: Path
) -> None:
    load_demo(topic_root, tmp_path / "demo-logins.txt")
    loaded = {
        (tag.machine.line.slug, tag.machine.slug, tag.key, tag.unit)
        for tag in Tag.objects.select_related("machine__line")
    }
    assert set(NAMED_TAGS) <= loaded


@pytest.mark.django_db
def test_demo_topics_live_under_the_topic_root(
    dev_settings: Settings, topic_root: str, tmp_path: Path
) -> None:
    load_demo(topic_root, tmp_path / "demo-logins.txt")
    fill_level = Tag.objects.get(key="fill_level")
    assert fill_level.topic == f"{topic_root}bottling/filling/filler/fill_level"
    assert fill_level.setpoint_tag == Tag.objects.get(key="fill_level_sp")


@pytest.mark.django_db
def test_without_debug_or_demo_password_no_users_are_created(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, topic_root: str, tmp_path: Path
) -> None:
    settings.DEBUG = False
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="DEMO_PASSWORD"):
        load_demo(topic_root, tmp_path / "demo-logins.txt")
    assert not User.objects.filter(username__in=ROLES).exists()
    assert not (tmp_path / "demo-logins.txt").exists()


@pytest.mark.django_db
def test_the_demo_history_is_written_once_before_the_first_live_value() -> None:
    call_command("load_demo", "--no-users", "--history-days", "2", stdout=StringIO())
    vibration = Tag.objects.get(key="vibration_rms")
    past = Sample.objects.filter(tag=vibration)
    written = past.count()
    assert written > 2 * 24 * 30  # two days of minute values at least
    first = past.order_by("time").first()
    assert first is not None and timezone.now() - first.time > timedelta(days=1, hours=23)
    call_command("load_demo", "--no-users", "--history-days", "2", stdout=StringIO())
    assert past.count() == written  # a second run writes nothing more
    with pytest.raises(CommandError, match="between 0 and 366"):
        call_command("load_demo", "--no-users", "--history-days", "400", stdout=StringIO())
