"""The first superuser (manage.py ensure_admin) and the demo users' password from a file,
both without a password in the output (compose's logs)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from pytest_django.fixtures import Settings

PASSWORD = "a long first admin password"
# django-axes counts logins by the request they come with: authenticate() needs one.
LOGIN = RequestFactory().post("/accounts/login/")


def ensure_admin() -> str:
    output = StringIO()
    call_command("ensure_admin", stdout=output)
    return output.getvalue()


@pytest.fixture
def admin_settings(settings: Settings) -> Settings:
    settings.ADMIN_USERNAME, settings.ADMIN_PASSWORD = "superuser", PASSWORD
    return settings


@pytest.mark.django_db
def test_the_first_superuser_is_created_once_without_its_password_in_the_output(
    admin_settings: Settings,
) -> None:
    output = ensure_admin()
    assert "superuser 'superuser' created" in output
    assert PASSWORD not in output
    user = authenticate(LOGIN, username="superuser", password=PASSWORD)
    assert user is not None and user.is_superuser and user.is_staff


@pytest.mark.django_db
def test_a_later_start_keeps_the_password_the_admin_changed(admin_settings: Settings) -> None:
    ensure_admin()
    user = User.objects.get(username="superuser")
    user.set_password("changed by the admin since")
    user.save()
    admin_settings.ADMIN_PASSWORD = "another password in the file"
    assert "nothing changed" in ensure_admin()
    assert authenticate(LOGIN, username="superuser", password="changed by the admin since")
    assert User.objects.filter(is_superuser=True).count() == 1


@pytest.mark.django_db
def test_without_a_superuser_or_a_password_it_refuses(admin_settings: Settings) -> None:
    admin_settings.ADMIN_PASSWORD = ""
    with pytest.raises(CommandError, match="ADMIN_PASSWORD_FILE"):
        ensure_admin()
    assert not User.objects.exists()


@pytest.mark.django_db
def test_a_weak_first_password_is_refused(admin_settings: Settings) -> None:
    admin_settings.ADMIN_PASSWORD = "password"
    with pytest.raises(CommandError, match="too common"):
        ensure_admin()
    assert not User.objects.exists()


@pytest.mark.django_db
def test_an_ordinary_user_of_that_name_is_not_promoted(admin_settings: Settings) -> None:
    User.objects.create_user("superuser", password="x")
    with pytest.raises(CommandError, match="is no superuser"):
        ensure_admin()
    assert not User.objects.filter(is_superuser=True).exists()


@pytest.mark.django_db
def test_demo_users_take_the_password_file_and_it_is_not_printed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, topic_root: str, tmp_path: Path
) -> None:
    settings.DEBUG = False
    settings.DEMO_PASSWORD = "demo password from its file"
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    output = StringIO()
    call_command(
        "load_demo",
        "--topic-root",
        topic_root,
        "--passwords-file",
        str(tmp_path / "demo-logins.txt"),
        stdout=output,
    )
    assert "demo password from its file" not in output.getvalue()
    assert "login: operator" in output.getvalue()
    assert authenticate(LOGIN, username="operator", password="demo password from its file")
    assert not (tmp_path / "demo-logins.txt").exists()
