"""In a real browser: a plant admin uploads an edited configuration file, reads the dry run,
and applies it from the admin's plant list."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from plant.config_file.exporter import export_text
from plant.models import Plant, Tag
from tests.browser.conftest import PASSWORD, make_server_user

pytestmark = pytest.mark.browser


@pytest.fixture
def plant_admin(committed_db: None, demo_plant: Plant) -> User:
    user = make_server_user("admin-user", "admin", demo_plant)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def test_upload_shows_the_dry_run_and_apply_changes_the_tag(
    page: Page, server_url: str, plant_admin: User, demo_plant: Plant, artifacts: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    edited = tmp_path / "bottling.yaml"
    edited.write_text(export_text(demo_plant).replace("range_max: 550.0", "range_max: 560.0", 1))
    page.goto(f"{server_url}/admin/login/?next=/admin/plant/plant/")
    page.get_by_label("Username").fill("admin-user")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Configuration files").click()
    expect(page.get_by_role("link", name="Demo Bottling Plant (bottling.yaml)")).to_be_visible()
    page.get_by_label("File").set_input_files(edited)
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.locator("#changes")).to_contain_text(
        "change tag filling/filler/fill_level: range_max 550.0 → 560.0"
    )
    page.screenshot(path=artifacts / "plant-config-dry-run.png", full_page=True)
    assert Tag.objects.get(machine__line__plant=demo_plant, key="fill_level").range_max == 550
    page.get_by_role("button", name="Apply these changes").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "Applied bottling.yaml: 0 created, 1 changed, 0 removed"
    )
    assert Tag.objects.get(machine__line__plant=demo_plant, key="fill_level").range_max == 560
