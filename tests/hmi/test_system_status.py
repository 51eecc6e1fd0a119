"""The status bar every page shows: who gets it, and what it says in each case.

Rows come from the product's own actions (plant.system_health): a worker's heartbeat, a
system alarm raised and cleared.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from plant import security_events
from plant.models import Plant, SystemAlarm
from plant.system_health import do_beat, do_clear_system_alarm, do_raise_system_alarm
from tests.hmi.test_views import element_text

ROLES = ["viewer", "operator", "supervisor", "admin"]
URL = "/status/"
BERLIN = ZoneInfo("Europe/Berlin")  # the demo plant's zone

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client: Client, users_by_role: dict[str, User]) -> Client:
    client.force_login(users_by_role["viewer"])
    return client


def beat(*, age_s: float = 0.0, lag_s: float = 0.0, broker: bool = True,
         committed_at: datetime | None = None, name: str = "scada-ingest") -> None:  # fmt: skip
    """The worker's heartbeat, written `age_s` ago."""
    now = timezone.now() - timedelta(seconds=age_s)
    do_beat(name, started_at=now - timedelta(hours=1), committed_at=committed_at or now,
            lag_s=lag_s, buffered=0, broker_connected=broker, now=now)  # fmt: skip


def bar(client: Client, query: str = "") -> str:
    """The bar's words as an operator reads them ("" when no bar is shown)."""
    response = client.get(URL + query)
    assert response.status_code == 200
    html = response.content.decode()
    return element_text(f'<div id="bar">{html}</div>', "bar")


def hh_mm(moment: datetime, zone: ZoneInfo = BERLIN) -> str:
    return f"{moment.astimezone(zone):%H:%M}"


@pytest.mark.parametrize("role", ROLES)
def test_every_role_gets_the_status_bar_on_its_pages_and_from_the_poll(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, role: str
) -> None:
    client.force_login(users_by_role[role])
    page = client.get(f"/plants/{demo_plant.pk}/").content.decode()
    assert f'hx-get="{URL}?plant={demo_plant.pk}"' in page and 'hx-trigger="load, every 5s"' in page
    assert "the ingest worker is not running" in bar(client)  # no heartbeat at all


def test_an_anonymous_poll_is_sent_to_the_login_page(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_login_page_shows_no_status_bar(client: Client) -> None:
    assert 'id="system-status"' not in client.get("/accounts/login/").content.decode()


def test_no_heartbeat_at_all_says_the_worker_is_not_running(viewer_client: Client) -> None:
    assert bar(viewer_client) == "Values not updating — the ingest worker is not running"


def test_a_stale_heartbeat_says_since_when_values_stopped_in_the_plants_zone(
    viewer_client: Client,
) -> None:
    stored = timezone.now() - timedelta(minutes=2)
    beat(age_s=60, committed_at=stored)
    text = bar(viewer_client)
    assert re.fullmatch(
        rf"Values not updating since (\d+ \w+ )?{hh_mm(stored)} — the ingest worker is not running",
        text,
    ), text


def test_a_stop_on_another_day_names_the_day(viewer_client: Client) -> None:
    stored = timezone.now() - timedelta(days=2)
    beat(age_s=2 * 86400, committed_at=stored)
    local = stored.astimezone(BERLIN)
    assert f"since {local.day} {local:%b %H:%M} —" in bar(viewer_client)


def test_a_worker_without_its_broker_says_the_broker_is_lost(viewer_client: Client) -> None:
    stored = timezone.now() - timedelta(seconds=40)
    beat(broker=False, committed_at=stored)
    text = bar(viewer_client)
    assert f"{hh_mm(stored)} — the ingest worker has lost the broker" in text, text


def test_a_lagging_worker_says_how_far_behind_values_are(viewer_client: Client) -> None:
    beat(lag_s=45)
    assert bar(viewer_client) in {
        f"Values {s} s behind — the ingest worker is not keeping up" for s in (45, 46)
    }


def test_a_long_lag_reads_in_minutes(viewer_client: Client) -> None:
    beat(lag_s=12 * 60 + 5)
    assert bar(viewer_client).startswith("Values 12 min behind")


def test_a_healthy_worker_shows_no_bar_at_all(viewer_client: Client) -> None:
    beat(lag_s=0.3)
    response = viewer_client.get(URL)
    assert response.content.decode().strip() == ""  # nothing that could take room


def test_an_active_system_alarm_is_shown_with_since_when_until_it_clears(
    viewer_client: Client,
) -> None:
    beat()
    raised = timezone.now() - timedelta(minutes=3)
    do_raise_system_alarm("ingest.alarms", "Alarm evaluation is failing", detail="boom", now=raised)
    do_raise_system_alarm("ingest.livepush", "Live push is failing")
    do_clear_system_alarm("ingest.livepush")
    text = bar(viewer_client)
    assert re.fullmatch(
        rf"System alarm: Alarm evaluation is failing since (\d+ \w+ )?{hh_mm(raised)}", text
    ), text
    do_clear_system_alarm("ingest.alarms")
    assert bar(viewer_client) == ""


def test_a_system_alarm_shows_beside_values_not_updating(viewer_client: Client) -> None:
    do_raise_system_alarm("ingest.broker", "The broker dropped messages")
    text = bar(viewer_client)
    assert text.startswith("Values not updating — the ingest worker is not running")
    assert "System alarm: The broker dropped messages since" in text


def test_times_are_in_the_zone_of_the_pages_plant_or_else_the_users_first(
    viewer_client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    tokyo = Plant.objects.create(name="Tokyo", slug="tokyo", time_zone="Asia/Tokyo")
    tokyo.members.add(users_by_role["viewer"])
    hidden = Plant.objects.create(name="Lima", slug="lima", time_zone="America/Lima")
    stored = timezone.now() - timedelta(minutes=2)
    beat(age_s=60, committed_at=stored)
    assert hh_mm(stored, ZoneInfo("Asia/Tokyo")) in bar(viewer_client, f"?plant={tokyo.pk}")
    first = min(demo_plant, tokyo, key=lambda p: p.pk)
    expected = hh_mm(stored, ZoneInfo(first.time_zone))
    assert expected in bar(viewer_client, f"?plant={hidden.pk}"), "a plant the user cannot see"
    assert expected in bar(viewer_client, "?plant=nonsense")


def test_the_poll_costs_the_same_queries_however_many_plants_and_alarms(
    viewer_client: Client, users_by_role: dict[str, User],
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:  # fmt: skip
    beat(age_s=60)
    do_raise_system_alarm("ingest.alarms", "Alarm evaluation is failing")
    with django_assert_max_num_queries(QUERIES):
        bar(viewer_client)
    for n in range(5):
        plant = Plant.objects.create(name=f"Plant {n}", slug=f"plant-{n}")
        plant.members.add(users_by_role["viewer"])
        do_raise_system_alarm(f"part.{n}", f"Part {n} is failing")
        beat(age_s=60, name=f"worker-{n}")
    with django_assert_max_num_queries(QUERIES):
        assert "Part 4 is failing" in bar(viewer_client)


# Session, user, the permissions of the user and of its groups, the plant's zone, system
# alarms, heartbeats.
QUERIES = 7


# --- security events: the admins' count, and their alarm clearing once quiet -----------------


def test_admins_see_the_count_of_security_events_of_the_last_day_and_viewers_do_not(
    client: Client, users_by_role: dict[str, User]
) -> None:
    security_events.record("login_failed", user=users_by_role["operator"], source="192.0.2.1")
    security_events.record("login_failed", user=users_by_role["viewer"], source="192.0.2.1")
    security_events.record(
        "login_failed", user=users_by_role["viewer"],
        now=timezone.now() - timedelta(hours=25),
    )  # fmt: skip
    client.force_login(users_by_role["admin"])
    text = client.get("/status/").content.decode()
    assert "2 security events in the last 24 h" in text
    assert 'href="/audit/security/?since=' in text
    client.force_login(users_by_role["viewer"])
    assert "security event" not in client.get("/status/").content.decode()


def test_the_security_alarm_clears_on_the_next_poll_once_the_window_is_quiet(
    viewer_client: Client, settings: object
) -> None:
    settings.SECURITY_ALARM_EVENTS = 2  # type: ignore[attr-defined]
    long_ago = timezone.now() - timedelta(minutes=30)
    for _ in range(2):
        security_events.record("token_refused", source="192.0.2.1", now=long_ago)
    assert SystemAlarm.objects.get(key=security_events.ALARM_KEY).active
    assert "security events" not in bar(viewer_client)
    assert not SystemAlarm.objects.get(key=security_events.ALARM_KEY).active


def test_a_standing_security_alarm_shows_on_every_screens_bar(
    viewer_client: Client, settings: object
) -> None:
    settings.SECURITY_ALARM_EVENTS = 2  # type: ignore[attr-defined]
    for _ in range(2):
        security_events.record("login_failed", username="op", source="192.0.2.1")
    assert "2 security events in 10 min" in bar(viewer_client)
