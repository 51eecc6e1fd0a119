"""The admin's page for plant configuration files: export, upload → dry run → apply."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from plant.config_file.exporter import export_text
from plant.demo import load_demo_plant
from plant.models import ConfigChange, Plant, Tag

PAGE = "/admin/plant/plant/config/"
APPLY = "/admin/plant/plant/config/apply/"


def upload(client: Client, text: str, name: str = "plant.yaml", **extra: str) -> str:
    file = SimpleUploadedFile(name, text.encode(), content_type="application/yaml")
    response = client.post(PAGE, {"file": file, **extra})
    assert response.status_code == 200
    return response.content.decode()


def signed_of(page: str) -> str:
    match = re.search(r'name="signed" value="([^"]+)"', page)
    assert match, "no Apply button"
    return match.group(1)


def fill_level(plant: Plant) -> Tag:
    return Tag.objects.get(machine__line__plant=plant, key="fill_level")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "allowed"),
    [("viewer", False), ("operator", False), ("supervisor", False), ("admin", True)],
)
def test_only_plant_admins_open_the_page(
    client: Client, users_by_role: dict[str, User], role: str, allowed: bool
) -> None:
    client.force_login(users_by_role[role])
    response = client.get(PAGE)
    assert response.status_code == (200 if allowed else 302 if role != "admin" else 403)
    assert (b"Configuration files" in response.content) == allowed


@pytest.mark.django_db
def test_the_plant_list_links_the_page_and_the_export_downloads_the_file(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    client.force_login(users_by_role["admin"])
    assert PAGE.encode() in client.get("/admin/plant/plant/").content
    response = client.get(f"{PAGE}bottling.yaml")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="bottling.yaml"'
    assert response.content.decode() == export_text(demo_plant)


@pytest.mark.django_db
def test_upload_shows_the_dry_run_and_apply_makes_it_so(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    admin = users_by_role["admin"]
    client.force_login(admin)
    text = export_text(demo_plant).replace("range_max: 550.0", "range_max: 560.0", 1)
    page = upload(client, text)
    assert "change tag filling/filler/fill_level: range_max 550.0 → 560.0" in page
    assert fill_level(demo_plant).range_max == 550  # a dry run
    response = client.post(APPLY, {"signed": signed_of(page)}, follow=True)
    assert "Applied plant.yaml: 0 created, 1 changed, 0 removed" in response.content.decode()
    assert fill_level(demo_plant).range_max == 560
    change = ConfigChange.objects.latest("id")
    assert (change.actor, change.actor_user_id, change.changes) == (
        admin.username, admin.pk, {"range_max": {"old": 550.0, "new": 560.0}},
    )  # fmt: skip


@pytest.mark.django_db
def test_a_forged_or_foreign_apply_is_refused_and_changes_nothing(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    client.force_login(users_by_role["admin"])
    page = upload(client, export_text(demo_plant).replace("range_max: 550.0", "range_max: 560.0"))
    signed = signed_of(page)
    other = User.objects.create_superuser("root", password="pw")
    before = ConfigChange.objects.count()
    client.force_login(other)  # another person posting the first one's upload
    for forged in (signed, signed[:-3] + "abc", ""):
        response = client.post(APPLY, {"signed": forged}, follow=True)
        assert "That upload is not yours, or older than an hour" in response.content.decode()
    assert ConfigChange.objects.count() == before
    assert fill_level(demo_plant).range_max == 550


@pytest.mark.django_db
def test_a_malformed_upload_shows_its_lines_and_no_apply_button(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    client.force_login(users_by_role["admin"])
    text = export_text(demo_plant).replace("precision: 1\n", "precision: one\n", 1)
    line = text.splitlines().index("      precision: one") + 1
    page = upload(client, text, name="bad.yaml")
    assert f"bad.yaml:{line}: precision must be a whole number, not &#x27;one&#x27;" in page
    assert 'name="signed"' not in page


@pytest.mark.django_db
def test_a_plant_admin_neither_exports_nor_imports_another_plant(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, topic_root: str
) -> None:
    other = load_demo_plant(topic_root=f"{topic_root}b/", slug="other")
    client.force_login(users_by_role["admin"])
    assert b"other.yaml" not in client.get(PAGE).content
    assert client.get(f"{PAGE}other.yaml").status_code == 404
    page = upload(client, export_text(other).replace("range_max: 550.0", "range_max: 560.0"))
    assert "you administer no plant &#x27;other&#x27;" in page
    assert 'name="signed"' not in page
    assert fill_level(other).range_max == 550


@pytest.mark.django_db
def test_posts_without_the_csrf_token_are_refused(
    users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(users_by_role["admin"])
    file = SimpleUploadedFile("p.yaml", export_text(demo_plant).encode())
    assert client.post(PAGE, {"file": file}).status_code == 403
    assert client.post(APPLY, {"signed": "x"}).status_code == 403
