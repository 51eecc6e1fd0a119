"""Per-plant administration, as a matrix on the real database: the admin of one plant sees and
changes nothing of another plant in the Django admin, and only superusers manage memberships."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import Model
from django.test import Client

from plant.actions.setpoints import do_request_setpoint
from plant.demo import load_demo_plant
from plant.models import (
    Alarm,
    AlarmDefinition,
    ControlLoop,
    EmergencyAction,
    Line,
    Machine,
    Plant,
    SetpointWrite,
    Tag,
)
from tests.builders import demo_tag, record_value

pytestmark = pytest.mark.django_db

# admin URL name → how to find one object of a plant
OBJECTS = {
    "plant": lambda plant: plant,
    "line": lambda plant: Line.objects.filter(plant=plant).first(),
    "machine": lambda plant: Machine.objects.filter(line__plant=plant).first(),
    "tag": lambda plant: demo_tag(plant, "fill_level_sp"),
    "alarmdefinition": lambda plant: AlarmDefinition.objects.filter(
        tag__machine__line__plant=plant
    ).first(),
    "emergencyaction": lambda plant: EmergencyAction.objects.filter(line__plant=plant).first(),
    "controlloop": lambda plant: ControlLoop.objects.filter(
        output_tag__machine__line__plant=plant
    ).first(),
    "setpointwrite": lambda plant: SetpointWrite.objects.filter(
        tag__machine__line__plant=plant
    ).first(),
    "alarm": lambda plant: Alarm.objects.filter(
        definition__tag__machine__line__plant=plant
    ).first(),
}


@pytest.fixture
def other_plant(demo_plant: Plant, topic_root: str) -> Plant:
    """A second plant, with its own lines, tags, alarms, loop and setpoint writes, of which
    the demo plant's admin is not a member; both plants have a write."""
    plant = load_demo_plant(topic_root=f"{topic_root}b/", slug="brewery")
    root = User.objects.create_superuser("root-b")
    for each in (demo_plant, plant):
        sp = demo_tag(each, "fill_level_sp")
        record_value(sp, 500.0)
        do_request_setpoint(sp, 501.0, by=root)
    return plant


@pytest.fixture
def plant_admin(client: Client, users_by_role: dict[str, User]) -> Client:
    client.force_login(users_by_role["admin"])
    return client


def foreign(model: str, plant: Plant) -> Model:
    obj = OBJECTS[model](plant)
    assert obj is not None, f"the other plant has a {model}"
    return obj


def listed(client: Client, model: str) -> list[Model]:
    response = client.get(f"/admin/plant/{model}/")
    assert response.status_code == 200
    return list(response.context["cl"].queryset)


@pytest.mark.parametrize("model", list(OBJECTS))
def test_an_admin_lists_only_their_own_plants_objects(
    plant_admin: Client, demo_plant: Plant, other_plant: Plant, model: str
) -> None:
    rows = listed(plant_admin, model)
    assert foreign(model, other_plant) not in rows
    assert OBJECTS[model](demo_plant) in rows


@pytest.mark.parametrize("model", list(OBJECTS))
@pytest.mark.parametrize("page", ["change", "history", "delete"])
def test_an_admin_is_told_another_plants_object_does_not_exist(
    plant_admin: Client, other_plant: Plant, model: str, page: str
) -> None:
    obj = foreign(model, other_plant)
    response = plant_admin.get(f"/admin/plant/{model}/{obj.pk}/{page}/")
    # Django's answer for an id that is not there: back to the index, "does not exist".
    assert response.status_code in (302, 403, 404)
    if response.status_code == 302:
        assert response["Location"] == "/admin/"
    assert str(obj) not in response.content.decode()


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [("plant", "name", "Taken"), ("line", "name", "Taken"), ("machine", "name", "Taken"),
     ("tag", "setpoint_max", "9999"), ("alarmdefinition", "limit", "99"),
     ("emergencyaction", "value", "0"), ("controlloop", "kp", "9")],
)  # fmt: skip
def test_an_admin_cannot_change_another_plants_object_by_posting_to_it(
    plant_admin: Client, other_plant: Plant, model: str, field: str, value: str
) -> None:
    obj = foreign(model, other_plant)
    before = getattr(obj, field)
    response = plant_admin.post(f"/admin/plant/{model}/{obj.pk}/change/", {field: value})
    assert response.status_code in (302, 403, 404)
    obj.refresh_from_db()
    assert getattr(obj, field) == before


# add page → a foreign key of it, and what it points to in a plant
CHOICES = [
    ("line", "plant", lambda plant: plant),
    ("machine", "line", OBJECTS["line"]),
    ("tag", "machine", OBJECTS["machine"]),
    ("alarmdefinition", "tag", OBJECTS["tag"]),
    ("emergencyaction", "line", OBJECTS["line"]),
    ("emergencyaction", "tag", OBJECTS["tag"]),
    ("controlloop", "output_tag", OBJECTS["tag"]),
]


@pytest.mark.parametrize(("model", "field", "target"), CHOICES)
def test_an_admins_forms_offer_and_accept_only_their_own_plants_objects(
    plant_admin: Client, demo_plant: Plant, other_plant: Plant, model: str, field: str,
    target: Any,
) -> None:  # fmt: skip
    form = plant_admin.get(f"/admin/plant/{model}/add/").context["adminform"].form
    choices = form.fields[field].queryset
    assert target(other_plant) not in choices
    assert target(demo_plant) in choices
    response = plant_admin.post(f"/admin/plant/{model}/add/", {field: target(other_plant).pk})
    assert response.status_code == 200  # the form again, with the refusal
    assert field in response.context["adminform"].form.errors


def test_the_tag_search_of_autocomplete_fields_finds_only_their_own_plants_tags(
    plant_admin: Client, demo_plant: Plant, other_plant: Plant
) -> None:
    query = "app_label=plant&model_name=alarmdefinition&field_name=tag&term=fill"
    response = plant_admin.get(f"/admin/autocomplete/?{query}")
    found = Tag.objects.filter(pk__in=[row["id"] for row in response.json()["results"]])
    assert found.exists()
    assert set(found.values_list("machine__line__plant", flat=True)) == {demo_plant.pk}


def test_the_list_filters_name_no_other_plant(
    plant_admin: Client, demo_plant: Plant, other_plant: Plant
) -> None:
    html = plant_admin.get("/admin/plant/tag/").content.decode()
    assert demo_plant.name in html
    assert other_plant.name not in html


def test_an_admin_cannot_add_themself_or_anyone_to_a_plant(
    plant_admin: Client, users_by_role: dict[str, User], demo_plant: Plant, other_plant: Plant
) -> None:
    admin = users_by_role["admin"]
    form = plant_admin.get(f"/admin/plant/plant/{demo_plant.pk}/change/").context["adminform"]
    assert "members" not in form.form.fields
    data = {"name": demo_plant.name, "slug": demo_plant.slug, "time_zone": "UTC",
            "members": [admin.pk, User.objects.create_user("friend").pk],
            "lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "0"}  # fmt: skip
    plant_admin.post(f"/admin/plant/plant/{demo_plant.pk}/change/", data)
    plant_admin.post(f"/admin/plant/plant/{other_plant.pk}/change/", data)
    assert not demo_plant.members.filter(username="friend").exists()
    assert not other_plant.members.filter(pk=admin.pk).exists()


def test_a_plant_an_admin_adds_is_theirs_to_see_and_no_one_elses(
    plant_admin: Client, users_by_role: dict[str, User]
) -> None:
    data = {"name": "Cannery", "slug": "cannery", "time_zone": "UTC",
            "lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "0"}  # fmt: skip
    assert plant_admin.post("/admin/plant/plant/add/", data).status_code == 302
    plant = Plant.objects.get(slug="cannery")
    assert list(plant.members.all()) == [users_by_role["admin"]]


@pytest.mark.parametrize("url", ["/admin/auth/user/", "/admin/auth/group/",
                                 "/admin/auth/user/add/", "/admin/auth/group/add/"])  # fmt: skip
def test_only_superusers_manage_users_and_groups(
    plant_admin: Client, client: Client, url: str
) -> None:
    assert plant_admin.get(url).status_code == 403
    client.force_login(User.objects.create_superuser("root", password="pw"))
    assert client.get(url).status_code == 200


def test_a_superuser_sees_every_plant_and_manages_its_members(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, other_plant: Plant
) -> None:
    client.force_login(User.objects.create_superuser("root", password="pw"))
    assert {demo_plant, other_plant} <= set(listed(client, "plant"))
    url = f"/admin/plant/plant/{other_plant.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: "" if (v := form[name].value()) is None else v for name in form.fields}
    data |= {"members": [users_by_role["admin"].pk], "lines-TOTAL_FORMS": "0",
             "lines-INITIAL_FORMS": "0"}  # fmt: skip
    assert client.post(url, data).status_code == 302
    assert list(other_plant.members.all()) == [users_by_role["admin"]]
