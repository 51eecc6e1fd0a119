"""The Django admin, where admins configure the asset tree; nobody else gets in."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from plant.models import Machine, Plant, Tag

MODELS = ["plant", "line", "machine", "tag"]
PAGES = [f"/admin/plant/{model}/{page}" for model in MODELS for page in ("", "add/")]


@pytest.fixture
def admin_role_client(client: Client, users_by_role: dict[str, User]) -> Client:
    """A client logged in as the admin role user: staff, with the CONFIGURE permissions."""
    client.force_login(users_by_role["admin"])
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_the_admin_role_can_open_the_asset_lists_and_add_forms(
    admin_role_client: Client, url: str
) -> None:
    assert admin_role_client.get(url).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "operator", "supervisor"])
@pytest.mark.parametrize("url", PAGES)
def test_other_roles_are_sent_to_the_admin_login(
    client: Client, users_by_role: dict[str, User], role: str, url: str
) -> None:
    client.force_login(users_by_role[role])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_a_machines_change_page_edits_its_tags_inline(
    admin_role_client: Client, demo_plant: Plant
) -> None:
    filler = Machine.objects.get(line__plant=demo_plant, slug="filler")
    response = admin_role_client.get(f"/admin/plant/machine/{filler.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="tags-TOTAL_FORMS" value="8"' in html
    assert 'value="fill_level_sp"' in html


@pytest.mark.django_db
def test_a_tags_change_page_opens(admin_role_client: Client, fill_level: Tag) -> None:
    response = admin_role_client.get(f"/admin/plant/tag/{fill_level.pk}/change/")
    assert response.status_code == 200
    assert fill_level.topic in response.content.decode()


def listed_tag_keys(client: Client, query: str) -> set[str]:
    response = client.get(f"/admin/plant/tag/?{query}")
    assert response.status_code == 200
    return {tag.key for tag in response.context["cl"].result_list}


@pytest.mark.django_db
def test_searching_tags_by_key_finds_them(admin_role_client: Client, demo_plant: Plant) -> None:
    assert listed_tag_keys(admin_role_client, "q=fill_level") == {"fill_level", "fill_level_sp"}


@pytest.mark.django_db
def test_searching_tags_by_machine_name_finds_its_tags(
    admin_role_client: Client, demo_plant: Plant
) -> None:
    assert listed_tag_keys(admin_role_client, "q=Gas+detector") == {"methane", "h2s"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("data_type__exact=bool", {"fan", "valve_open"}),
        ("writable__exact=1", {"fill_level_sp", "flow_rate_sp", "fan", "valve_open"}),
        ("data_type__exact=int", {"bottles_filled", "bottles_rejected"}),
    ],
)
def test_the_tag_list_filters_narrow_the_list(
    admin_role_client: Client, demo_plant: Plant, query: str, keys: set[str]
) -> None:
    assert listed_tag_keys(admin_role_client, query) == keys


@pytest.mark.django_db
def test_the_tag_list_filters_by_machine(admin_role_client: Client, demo_plant: Plant) -> None:
    pump = Machine.objects.get(line__plant=demo_plant, slug="pump")
    query = f"machine__id__exact={pump.pk}"
    assert listed_tag_keys(admin_role_client, query) == {"vibration_rms", "bearing_temp"}
