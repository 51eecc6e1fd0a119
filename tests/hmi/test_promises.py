"""What the README promises of the audit trail and the history API, on the real database:
the CSV export streams the filtered rows, tags and users with writes cannot be deleted, and
the API's default range and its limits."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db.models import ProtectedError
from django.test import Client
from django.utils import timezone

from plant.models import Plant, SetpointWrite, Tag
from tests.builders import demo_tag
from tests.history_data import T0, add_series, at
from tests.hmi.test_setpoints import AUDIT_FILTERS, as_user, make_writes

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("filters", "count"), AUDIT_FILTERS)
def test_export_csv_streams_the_filtered_rows(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, filters: dict[str, str],
    count: int,
) -> None:  # fmt: skip
    make_writes(users_by_role, demo_plant)
    as_user(client, users_by_role["viewer"])
    page = client.get("/audit/setpoints/", filters).content.decode()
    response = client.get("/audit/setpoints.csv", filters)
    assert response.status_code == 200 and response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[arg-type]
    assert len(rows) == count == page.count('<tr id="setpoint-')
    shown = {w.command_id for w in SetpointWrite.objects.all() if f'id="setpoint-{w.pk}"' in page}
    assert {row["command_id"] for row in rows} == {str(c) for c in shown}


def test_a_tag_with_writes_cannot_be_deleted(
    users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    make_writes(users_by_role, demo_plant)
    fan = demo_tag(demo_plant, "fan")
    with pytest.raises(ProtectedError):
        fan.delete()
    assert Tag.objects.filter(pk=fan.pk).exists()


def test_a_user_with_writes_cannot_be_deleted(
    users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    make_writes(users_by_role, demo_plant)
    operator = users_by_role["operator"]
    with pytest.raises(ProtectedError):
        operator.delete()
    assert User.objects.filter(pk=operator.pk).exists()
    assert SetpointWrite.objects.filter(user=operator).exists()


def test_a_superuser_deleting_a_tag_with_writes_in_the_admin_is_refused(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    make_writes(users_by_role, demo_plant)
    fan = demo_tag(demo_plant, "fan")
    client.force_login(User.objects.create_superuser("root-user", password="pw"))
    response = client.post(f"/admin/plant/tag/{fan.pk}/delete/", {"post": "yes"})
    assert response.status_code in (200, 403)  # the page names what protects it
    assert Tag.objects.filter(pk=fan.pk).exists()


# --- the history API ---------------------------------------------------------------------


@pytest.fixture
def level(demo_plant: Plant) -> Tag:
    tag = demo_tag(demo_plant, "tank_level")
    add_series(tag.pk, T0, 3600)  # one hour at 1 Hz
    return tag


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_end_defaults_to_now_and_start_to_an_hour_before_it(
    client: Client, level: Tag, users_by_role: dict[str, User]
) -> None:
    as_user(client, users_by_role["viewer"])
    before = timezone.now().replace(microsecond=0)
    answer = client.get("/api/history/", {"tag": level.pk}).json()
    after = timezone.now()
    start, end = parse(answer["start"]), parse(answer["end"])
    assert before <= end <= after
    assert end - start == timedelta(hours=1)
    only_start = client.get("/api/history/", {"tag": level.pk, "end": "2031-03-03T01:00:00Z"})
    assert parse(only_start.json()["start"]) == at(hours=0)


def test_points_default_to_1000(client: Client, level: Tag, users_by_role: dict[str, User]) -> None:
    as_user(client, users_by_role["viewer"])
    params = {"tag": level.pk, "start": "2031-03-03T00:00:00Z", "end": "2031-03-03T01:00:00Z"}
    (series,) = client.get("/api/history/", params).json()["series"]
    assert "avg" in series and 0 < len(series["time"]) <= 1000  # 3,600 values: buckets
    (raw,) = client.get("/api/history/", {**params, "points": 3600}).json()["series"]
    assert "value" in raw and len(raw["time"]) == 3600  # at most `points`: raw


@pytest.mark.parametrize(("points", "status"), [(1, 400), (2, 200), (10_000, 200), (10_001, 400)])
def test_points_lie_between_2_and_10000(
    client: Client, level: Tag, users_by_role: dict[str, User], points: int, status: int
) -> None:
    as_user(client, users_by_role["viewer"])
    params = {"tag": level.pk, "start": "2031-03-03T00:00:00Z", "end": "2031-03-03T01:00:00Z"}
    response = client.get("/api/history/", {**params, "points": points})
    assert response.status_code == status
    if status == 400:
        assert "points" in response.json()["errors"]


@pytest.mark.parametrize(("path", "most"), [("/api/history/", 8), ("/api/current/", 100)])
def test_the_api_takes_up_to_8_tags_of_history_and_100_of_current_values(
    client: Client, demo_plant: Plant, users_by_role: dict[str, User], path: str, most: int
) -> None:
    as_user(client, users_by_role["viewer"])
    tags = list(Tag.objects.filter(machine__line__plant=demo_plant).values_list("pk", flat=True))
    allowed = client.get(path, {"tag": tags[:most]})
    assert allowed.status_code == 200, allowed.content
    first = min(tags)
    refused = client.get(path, {"tag": list(range(first, first + most + 1))})  # all distinct
    assert refused.status_code == 400 and "tag" in refused.json()["errors"]
