"""The Django admin, where admins configure the asset tree; nobody else gets in."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from plant.models import ControlLoop, EmergencyAction, Machine, Plant, Tag

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
    # Its 8 device tags and the fill level's two derived SPC tags (plant.spc_tags).
    assert 'name="tags-TOTAL_FORMS" value="10"' in html
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
    assert listed_tag_keys(admin_role_client, "q=fill_level") == {
        "fill_level", "fill_level_sp", "fill_level_spc_rule", "fill_level_spc_rules",
    }  # fmt: skip


@pytest.mark.django_db
def test_searching_tags_by_machine_name_finds_its_tags(
    admin_role_client: Client, demo_plant: Plant
) -> None:
    assert listed_tag_keys(admin_role_client, "q=Gas+detector") == {"methane", "h2s"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("data_type__exact=bool", {"fan", "valve_open", "fill_level_spc_rule"}),
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


def form_data(client: Client, url: str) -> dict[str, Any]:
    """What the admin's form at `url` would post unchanged."""
    form = client.get(url).context["adminform"].form
    return {name: "" if (v := form[name].value()) is None else v for name in form.fields}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "key", "field", "value", "message"),
    [
        ("controlloop", None, "filter_s", "-1", "The filter time must not be negative"),
        ("controlloop", None, "pv_stale_s", "0", "The stale time must be above zero seconds."),
        ("tag", "fill_level_sp", "readback_tolerance", "-1", "Must not be negative."),
        ("tag", "methane", "expected_interval_s", "0", "Must be at least one second."),
    ],
)
def test_a_mistyped_number_in_the_admin_is_refused_with_a_message_and_nothing_is_saved(
    admin_role_client: Client, demo_plant: Plant, model: str, key: str | None, field: str,
    value: str, message: str,
) -> None:  # fmt: skip
    row = (
        ControlLoop.objects.get(output_tag__machine__line__plant=demo_plant)
        if key is None
        else Tag.objects.get(machine__line__plant=demo_plant, key=key)
    )
    url = f"/admin/plant/{model}/{row.pk}/change/"
    before = getattr(row, field)
    response = admin_role_client.post(url, {**form_data(admin_role_client, url), field: value})
    assert response.status_code == 200  # the form again, not a redirect to the list
    assert message in response.content.decode()
    row.refresh_from_db()
    assert getattr(row, field) == before


@pytest.mark.django_db
def test_an_emergency_action_the_device_would_refuse_is_refused_in_the_admin(
    admin_role_client: Client, demo_plant: Plant
) -> None:
    fan = Tag.objects.get(machine__line__plant=demo_plant, key="fan")
    data = {"line": fan.machine.line_id, "tag": fan.pk, "value": "0.5", "position": "5"}
    response = admin_role_client.post("/admin/plant/emergencyaction/add/", data)
    assert response.status_code == 200
    assert "A switch is either on (1) or off (0)." in response.content.decode()
    assert not EmergencyAction.objects.filter(value=0.5).exists()
