"""The configuration history page and its CSV export: who sees it, what it shows, filters."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from plant.config_history import acting_as
from plant.models import ConfigChange, Plant, Tag

URL = "/audit/configuration/"
CSV_URL = "/audit/configuration.csv"


@pytest.fixture
def fill_level_sp(demo_plant: Plant) -> Tag:
    return Tag.objects.get(machine__line__plant=demo_plant, key="fill_level_sp")


def change_limit(tag: Tag, value: float, by: str = "alice") -> ConfigChange:
    with acting_as(by):
        tag.setpoint_max = value
        tag.save()
    return ConfigChange.objects.latest("id")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "allowed"),
    [("viewer", False), ("operator", False), ("supervisor", True), ("admin", True)],
)
def test_only_supervisors_and_admins_see_the_configuration_history(
    client: Client, users_by_role: dict[str, User], role: str, allowed: bool
) -> None:
    client.force_login(users_by_role[role])
    assert client.get(URL).status_code == (200 if allowed else 403)
    assert client.get(CSV_URL).status_code == (200 if allowed else 403)


@pytest.mark.django_db
def test_the_page_lists_changes_newest_first_with_old_and_new_values(
    client: Client, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    first = change_limit(fill_level_sp, 525.0)
    second = change_limit(fill_level_sp, 530.0, by="bob")
    client.force_login(users_by_role["supervisor"])
    html = client.get(URL, {"model": "plant.tag"}).content.decode()
    assert html.index(f'id="change-{second.pk}"') < html.index(f'id="change-{first.pk}"')
    assert '<span class="old">525.0</span> → <span class="new">530.0</span>' in html
    assert "<td>bob</td>" in html


@pytest.mark.django_db
def test_a_supervisor_of_another_plant_sees_none_of_its_changes(
    client: Client, outsider: User, fill_level_sp: Tag
) -> None:
    change = change_limit(fill_level_sp, 525.0)
    client.force_login(outsider)
    response = client.get(URL)
    assert response.status_code == 200
    assert f'id="change-{change.pk}"' not in response.content.decode()


@pytest.mark.django_db
def test_changes_of_users_and_roles_are_shown_to_superusers_only(
    client: Client, users_by_role: dict[str, User]
) -> None:
    operator = users_by_role["operator"]
    operator.email = "op@example.com"
    operator.save()
    change = ConfigChange.objects.latest("id")
    assert change.plant_id is None
    client.force_login(users_by_role["admin"])
    assert f'id="change-{change.pk}"' not in client.get(URL).content.decode()
    client.force_login(User.objects.create_superuser("root", "", "pw"))
    assert f'id="change-{change.pk}"' in client.get(URL).content.decode()


@pytest.mark.django_db
def test_the_filters_narrow_by_plant_model_user_and_time(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, fill_level_sp: Tag
) -> None:
    mine = change_limit(fill_level_sp, 525.0, by="carol")
    client.force_login(users_by_role["admin"])
    now = timezone.now()
    cases = [
        ({"user": "carol"}, True), ({"user": "system"}, False),
        ({"model": "plant.tag"}, True), ({"model": "plant.line"}, False),
        ({"plant": demo_plant.pk}, True),
        ({"since": _local(now - timedelta(minutes=5))}, True),
        ({"until": _local(now - timedelta(minutes=5))}, False),
    ]  # fmt: skip
    for query, shown in cases:
        html = client.get(URL, query).content.decode()
        assert (f'id="change-{mine.pk}"' in html) == shown, query


def _local(at: timezone.datetime) -> str:
    return timezone.localtime(at, timezone.get_current_timezone()).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.django_db
def test_the_csv_export_neutralises_formulas_and_keeps_numbers(
    client: Client, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    with acting_as("@mallory"):
        fill_level_sp.description = '=HYPERLINK("http://evil","click")'
        fill_level_sp.unit = "\tml"
        fill_level_sp.setpoint_min = -5.0
        fill_level_sp.save()
    client.force_login(users_by_role["admin"])
    response = client.get(CSV_URL, {"user": "@mallory"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_field = {row["field"]: row for row in rows}
    assert by_field["description"]["new"] == '\'=HYPERLINK("http://evil","click")'
    assert by_field["unit"]["new"] == "'\tml"
    assert by_field["setpoint_min"]["new"] == "-5.0"  # a number stays a number
    assert {row["by"] for row in rows} == {"'@mallory"}
    assert by_field["description"]["object"].startswith(fill_level_sp.machine.line.plant.name)


@pytest.mark.django_db
def test_the_page_and_export_cost_the_same_queries_for_many_rows(
    client: Client, users_by_role: dict[str, User], fill_level_sp: Tag,
    django_assert_max_num_queries: object,
) -> None:  # fmt: skip
    for i in range(60):
        change_limit(fill_level_sp, 521.0 + i, by=f"user{i % 7}")
    client.force_login(users_by_role["admin"])
    # Session, user, permissions, time zone, plants, actors, count, rows, the top bar's roles:
    # a query per row would be 50 more.
    with django_assert_max_num_queries(10):  # type: ignore[operator]
        assert client.get(URL).status_code == 200
    with django_assert_max_num_queries(10):  # type: ignore[operator]
        response = client.get(CSV_URL)
        assert len(b"".join(response.streaming_content).splitlines()) > 60
