"""Login lockout (django-axes), the idle and absolute session limits, and the security events
of logins: on the real login forms, against the real database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from hmi.login_security import BACKGROUND_HEADER, LAST_ACTIVE, LOGGED_IN_AT
from plant.models import SecurityEvent

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_user(username="op", password="right-password")


@pytest.fixture
def admin_user(db: None) -> User:
    return User.objects.create_user(username="boss", password="right-password", is_staff=True,
                                    is_superuser=True)  # fmt: skip


def log_in(client: Client, password: str, *, url: str = LOGIN, name: str = "op",
           address: str = "10.0.0.5"):  # fmt: skip
    return client.post(url, {"username": name, "password": password}, REMOTE_ADDR=address)


def test_the_fifth_failed_login_locks_the_name_out_with_a_page_saying_when_to_retry(
    client: Client, operator: User, settings: object
) -> None:
    for _ in range(4):
        assert log_in(client, "wrong").status_code == 200  # the form again, with its error
    response = log_in(client, "wrong")
    assert response.status_code == 429
    text = response.content.decode()
    assert "Login locked for 15 minutes" in text
    assert re.search(r"Try again after <time datetime=\"[^\"]+\">\d\d:\d\d</time>", text)
    assert response["Retry-After"] == "900"


def test_a_locked_out_name_is_refused_even_with_the_right_password(
    client: Client, operator: User
) -> None:
    for _ in range(5):
        log_in(client, "wrong")
    response = log_in(client, "right-password")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_admin_login_is_locked_out_too(client: Client, admin_user: User) -> None:
    for _ in range(5):
        log_in(client, "wrong", url=ADMIN_LOGIN, name="boss")
    response = log_in(client, "right-password", url=ADMIN_LOGIN, name="boss")
    assert response.status_code == 429
    assert 'href="/admin/login/"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_lockout_from_one_address_leaves_the_user_free_at_another_terminal(
    client: Client, operator: User
) -> None:
    for _ in range(5):
        log_in(client, "wrong", address="192.0.2.66")
    response = log_in(Client(), "right-password", address="10.0.0.5")
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_successful_login_clears_the_count_of_failures(client: Client, operator: User) -> None:
    for _ in range(4):
        log_in(client, "wrong")
    assert log_in(client, "right-password").status_code == 302
    client.logout()
    for _ in range(4):
        assert log_in(client, "wrong").status_code == 200
    assert log_in(client, "right-password").status_code == 302


def test_the_lock_lifts_once_the_cool_off_has_passed(client: Client, operator: User) -> None:
    for _ in range(5):
        log_in(client, "wrong")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert log_in(client, "right-password").status_code == 302


def test_the_limit_and_cool_off_come_from_the_environment(
    client: Client, operator: User, settings: object
) -> None:
    settings.AXES_FAILURE_LIMIT = 2  # type: ignore[attr-defined]
    settings.AXES_COOLOFF_TIME = timedelta(minutes=3)  # type: ignore[attr-defined]
    assert log_in(client, "wrong").status_code == 200
    response = log_in(client, "wrong")
    assert response.status_code == 429
    assert "Login locked for 3 minutes" in response.content.decode()


LIMITS = ["LOGIN_FAILURE_LIMIT", "LOGIN_COOLOFF_MINUTES", "SESSION_IDLE_MINUTES",
          "SESSION_MAX_HOURS", "SECURITY_ALARM_EVENTS", "SECURITY_ALARM_MINUTES"]  # fmt: skip


@pytest.mark.parametrize("variable", LIMITS)
@pytest.mark.parametrize("value", ["0", "five", "-3"])
def test_a_bad_limit_in_the_environment_refuses_to_start_naming_it(
    variable: str, value: str
) -> None:
    env = {**os.environ, variable: value}
    result = subprocess.run([sys.executable, "-c", "import config.settings"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode != 0
    assert f"{variable} must be a whole number of at least 1" in result.stderr


def test_failed_logins_and_the_lockout_are_recorded_as_security_events(
    client: Client, operator: User
) -> None:
    for _ in range(6):
        log_in(client, "wrong", address="192.0.2.66")
    log_in(client, "whatever", name="nosuchuser", address="192.0.2.66")
    events = list(SecurityEvent.objects.order_by("at", "id"))
    kinds = [e.kind for e in events]
    assert kinds == ["login_failed"] * 4 + ["login_locked_out"] * 2 + ["login_failed"]
    assert {e.source for e in events} == {"192.0.2.66"}
    assert events[0].username == "op" and events[0].user_id == operator.pk
    assert events[-1].username == "nosuchuser" and events[-1].user_id is None
    assert "password" not in " ".join(e.detail for e in events)


def test_behind_the_tls_proxy_the_address_is_the_one_the_proxy_appended(
    client: Client, operator: User, settings: object
) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # type: ignore[attr-defined]
    client.post(LOGIN, {"username": "op", "password": "wrong"}, REMOTE_ADDR="172.18.0.3",
                HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.7", secure=True)  # fmt: skip
    assert SecurityEvent.objects.get().source == "192.0.2.7"


# --- the idle and absolute limits -------------------------------------------------------------


@pytest.fixture
def logged_in(client: Client, operator: User) -> Client:
    assert log_in(client, "right-password").status_code == 302
    return client


def age_session(client: Client, *, idle_s: float = 0, age_s: float = 0) -> None:
    session = client.session
    now = time.time()
    session[LAST_ACTIVE] = now - idle_s
    session[LOGGED_IN_AT] = now - max(age_s, idle_s)
    session.save()


def test_a_session_idle_past_the_limit_is_logged_out_and_sent_to_the_login(
    logged_in: Client,
) -> None:
    age_session(logged_in, idle_s=8 * 3600 + 5)
    response = logged_in.get("/alarms/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/alarms/"
    assert "_auth_user_id" not in logged_in.session
    assert logged_in.get("/alarms/").status_code == 302  # the session is gone, not only refused


def test_a_session_used_within_the_limit_stays(logged_in: Client) -> None:
    age_session(logged_in, idle_s=8 * 3600 - 120)
    assert logged_in.get("/alarms/").status_code == 200
    assert time.time() - logged_in.session[LAST_ACTIVE] < 60  # the click counted


def test_background_polls_do_not_count_as_activity(logged_in: Client) -> None:
    age_session(logged_in, idle_s=8 * 3600 - 120)
    before = logged_in.session[LAST_ACTIVE]
    headers = {BACKGROUND_HEADER: "1", "HX-Request": "true"}
    assert logged_in.get("/status/", headers=headers).status_code == 200
    assert logged_in.get("/alarms/banner/", headers={BACKGROUND_HEADER: "1"}).status_code == 200
    assert logged_in.session[LAST_ACTIVE] == before


def test_a_poll_after_the_idle_limit_sends_the_whole_page_to_the_login(
    logged_in: Client,
) -> None:
    age_session(logged_in, idle_s=8 * 3600 + 5)
    headers = {BACKGROUND_HEADER: "1", "HX-Request": "true",
               "HX-Current-URL": "http://testserver/lines/3/"}  # fmt: skip
    response = logged_in.get("/status/", headers=headers)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=/lines/3/"
    assert response.content == b""
    assert "_auth_user_id" not in logged_in.session


def test_an_htmx_request_without_a_session_gets_hx_redirect_not_the_login_form(
    client: Client,
) -> None:
    headers = {"HX-Request": "true", "HX-Current-URL": "http://testserver/alarms/"}
    response = client.get("/status/", headers=headers)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=/alarms/"
    assert b"<form" not in response.content


def test_a_session_ends_after_the_absolute_limit_even_when_busy(logged_in: Client) -> None:
    age_session(logged_in, idle_s=10, age_s=12 * 3600 + 5)
    assert logged_in.get("/alarms/").status_code == 302
    assert "_auth_user_id" not in logged_in.session


def test_the_idle_limit_comes_from_the_settings(logged_in: Client, settings: object) -> None:
    settings.SESSION_IDLE_MINUTES = 5  # type: ignore[attr-defined]
    age_session(logged_in, idle_s=5 * 60 + 5)
    assert logged_in.get("/alarms/").status_code == 302


def test_the_session_cookie_lives_no_longer_than_the_absolute_limit(logged_in: Client) -> None:
    from django.conf import settings

    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    assert logged_in.session.get_expiry_age() == 12 * 3600


# --- every periodic request of the pages is marked as background ----------------------------

POLLING = re.compile(r"<[^>]*hx-trigger=\"[^\"]*every [^>]*>", re.S)


def test_every_polling_element_of_the_templates_sends_the_background_header() -> None:
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        for element in POLLING.findall(path.read_text()):
            if BACKGROUND_HEADER not in element:
                offenders.append(f"{path.relative_to(ROOT)}: {element[:80]}")
    assert offenders == []


def test_every_fetch_of_the_scripts_sends_the_background_header() -> None:
    offenders = []
    for path in (ROOT / "static" / "hmi").glob("*.js"):
        text = path.read_text()
        for match in re.finditer(r"\bfetch\(", text):
            call = text[match.start() : match.start() + 400]
            if "backgroundRequest" not in call and BACKGROUND_HEADER not in call:
                offenders.append(f"{path.name}: {call[:60]!r}")
    assert offenders == []


def test_a_scripts_fetch_after_the_session_ended_returns_to_the_page_it_runs_on(
    client: Client,
) -> None:
    headers = {BACKGROUND_HEADER: "1", "Referer": "http://testserver/lines/7/?x=1"}
    response = client.get("/alarms/banner/?next=/lines/7/", headers=headers)
    assert response["HX-Redirect"] == "/accounts/login/?next=/lines/7/%3Fx%3D1"
