"""The product's health in the Django admin: admins read system alarms and heartbeats, and
nobody edits them by hand."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from plant.models import SystemAlarm, WorkerHeartbeat
from plant.system_health import do_beat, do_raise_system_alarm

pytestmark = pytest.mark.django_db
LISTS = ["/admin/plant/systemalarm/", "/admin/plant/workerheartbeat/"]


@pytest.fixture
def health_rows() -> None:
    do_raise_system_alarm("ingest.alarms", "Alarm evaluation is failing", detail="ZeroDivision")
    now = timezone.now()
    do_beat("scada-ingest", started_at=now, committed_at=now, lag_s=0.5, buffered=3,
            broker_connected=True)  # fmt: skip


@pytest.mark.parametrize(("url", "shown"), [(LISTS[0], "Alarm evaluation is failing"),
                                          (LISTS[1], "scada-ingest")])  # fmt: skip
def test_the_admin_role_reads_the_system_alarms_and_heartbeats(
    client: Client, users_by_role: dict[str, User], health_rows: None, url: str, shown: str
) -> None:
    client.force_login(users_by_role["admin"])
    response = client.get(url)
    assert response.status_code == 200 and shown in response.content.decode()


def test_a_system_alarms_page_shows_its_latest_error_read_only(
    client: Client, users_by_role: dict[str, User], health_rows: None
) -> None:
    client.force_login(users_by_role["admin"])
    alarm = SystemAlarm.objects.get()
    url = f"/admin/plant/systemalarm/{alarm.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and "ZeroDivision" in page.content.decode()
    assert b'name="message"' not in page.content  # no form field: read-only
    client.post(url, {"message": "edited", "active": ""})
    alarm.refresh_from_db()
    assert alarm.message == "Alarm evaluation is failing" and alarm.active


@pytest.mark.parametrize("url", LISTS)
def test_nobody_adds_or_deletes_health_rows_by_hand(
    client: Client, users_by_role: dict[str, User], health_rows: None, url: str
) -> None:
    client.force_login(users_by_role["admin"])
    assert client.get(url + "add/").status_code == 403
    model = SystemAlarm if "systemalarm" in url else WorkerHeartbeat
    pk = model.objects.get().pk
    assert client.post(f"{url}{pk}/delete/", {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=pk).exists()
