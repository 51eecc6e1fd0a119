"""Alarm pages and forms: who sees what, who may acknowledge and shelve (server-side), KPIs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from plant import alarm_kpis
from plant.actions.alarms import do_set_alarm_condition
from plant.models import Alarm, AlarmJournalEntry, Plant

pytestmark = pytest.mark.django_db


@pytest.fixture
def gas_alarm(demo_plant: Plant) -> Alarm:
    """Methane high-high, active and unacknowledged (an emergency alarm)."""
    alarm = Alarm.objects.get(definition__tag__key="methane", definition__kind="hh")
    do_set_alarm_condition(alarm.pk, True, value=45.0, at=timezone.now())
    return alarm


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("viewer", False), ("operator", False), ("supervisor", True), ("admin", True)],
)
def test_only_supervisors_acknowledge_and_a_refusal_journals_nothing(
    users_by_role: dict[str, User], gas_alarm: Alarm, role: str, allowed: bool
) -> None:
    response = logged_in(users_by_role[role]).post(
        f"/alarms/{gas_alarm.pk}/acknowledge/", {"comment": "forged?", "next": "/alarms/"}
    )
    assert response.status_code == (302 if allowed else 403)
    assert AlarmJournalEntry.objects.filter(event="acknowledge").exists() == allowed
    gas_alarm.refresh_from_db()
    assert gas_alarm.state == ("ack" if allowed else "unack")


@pytest.mark.parametrize("path", ["shelve/", "../acknowledge-all/"])
def test_an_operator_can_neither_shelve_nor_acknowledge_all(
    users_by_role: dict[str, User], gas_alarm: Alarm, path: str
) -> None:
    client = logged_in(users_by_role["operator"])
    url = f"/alarms/{gas_alarm.pk}/{path}".replace(f"{gas_alarm.pk}/../", "")
    response = client.post(url, {"reason": "x", "minutes": "15"})
    assert response.status_code == 403
    assert AlarmJournalEntry.objects.count() == 1  # the activation only


def test_a_supervisor_shelves_with_a_reason_and_unshelves(
    users_by_role: dict[str, User], gas_alarm: Alarm
) -> None:
    client = logged_in(users_by_role["supervisor"])
    assert client.post(f"/alarms/{gas_alarm.pk}/shelve/", {"minutes": "15"}).status_code == 422
    client.post(f"/alarms/{gas_alarm.pk}/shelve/", {"reason": "calibration", "minutes": "15"})
    gas_alarm.refresh_from_db()
    assert gas_alarm.is_shelved
    client.post(f"/alarms/{gas_alarm.pk}/unshelve/")
    gas_alarm.refresh_from_db()
    assert gas_alarm.state == "unack"


def test_the_banner_counts_and_shows_the_emergency_with_a_button_only_for_supervisors(
    users_by_role: dict[str, User], gas_alarm: Alarm
) -> None:
    html = logged_in(users_by_role["operator"]).get("/alarms/banner/").content.decode()
    assert 'id="emergency-banner"' in html and "A supervisor must acknowledge" in html
    assert '<span class="alarm-count-n">1</span> critical' in html
    html = logged_in(users_by_role["supervisor"]).get("/alarms/banner/").content.decode()
    assert f'action="/alarms/{gas_alarm.pk}/acknowledge/"' in html


def test_another_plants_supervisor_sees_no_alarm_and_cannot_acknowledge_it(
    outsider: User, gas_alarm: Alarm
) -> None:
    client = logged_in(outsider)
    assert "emergency-banner" not in client.get("/alarms/banner/").content.decode()
    assert client.post(f"/alarms/{gas_alarm.pk}/acknowledge/").status_code == 404


def test_summary_filters_and_history_and_kpis_render(
    users_by_role: dict[str, User], gas_alarm: Alarm
) -> None:
    client = logged_in(users_by_role["viewer"])
    assert f'id="alarm-{gas_alarm.pk}"' in client.get("/alarms/?sort=time").content.decode()
    assert "alarm-" + str(gas_alarm.pk) not in client.get("/alarms/?priority=low").content.decode()
    assert "Methane high-high" in client.get("/alarms/history/").content.decode()
    assert 'id="kpi-flood"' in client.get("/alarms/kpis/").content.decode()


def test_kpis_count_floods_chattering_and_stale_alarms() -> None:
    start = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    times = [start + timedelta(seconds=20 * i) for i in range(12)]  # 12 in 4 minutes
    assert alarm_kpis.bucket_counts(times, start, start + timedelta(hours=1))[:2] == [12, 0]
    rows = [alarm_kpis.Annunciation(at, 7, "m", "k") for at in times[:3]]
    rows.append(alarm_kpis.Annunciation(times[6], 8, "m", "k"))
    assert alarm_kpis.chattering(rows) == {7: 3}
