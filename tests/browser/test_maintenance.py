"""In a real browser: the maintenance list, the pump's health card on its machine screen with
the ISO 10816-3 zones on its gauge, and the zones on its trend."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from plant.demo_vibration import backfill_vibration
from plant.models import Machine, Plant
from tests.browser.conftest import Daphne
from tests.browser.test_login_overview import log_in
from tests.builders import demo_tag, record_value

pytestmark = pytest.mark.browser


@pytest.fixture
def worn_pump(committed_db: None, demo_plant: Plant) -> Machine:
    """Two weeks of the pump's slow wear, and its values now (made before the browser starts)."""
    backfill_vibration(demo_plant, days=14)  # a value a minute, as the demo
    record_value(demo_tag(demo_plant, "vibration_rms"), 2.05)
    record_value(demo_tag(demo_plant, "bearing_temp"), 45.2)
    return Machine.objects.get(line__plant=demo_plant, slug="pump")


def test_the_maintenance_list_and_the_machine_screen_show_the_pumps_health(
    worn_pump: Machine, page: Page, daphne: Daphne, operator: User, artifacts: Path
) -> None:
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    log_in(page, daphne.url, "operator-user")
    page.get_by_role("link", name="Maintenance").click()
    card = page.locator(f"#health-{worn_pump.pk}")
    expect(card).to_contain_text("zone B: unrestricted long-term operation")
    expect(card.locator(".health-life")).to_contain_text(" days to zone C")
    expect(card.locator(".health-life")).to_contain_text("exponential fit, R² ")
    expect(card.locator(".health-drift")).to_have_attribute("data-drift", "flagged")
    expect(card.locator(".health-bearing")).to_contain_text("45.2 °C")
    page.screenshot(path=artifacts / "maintenance-list.png", full_page=True)

    card.get_by_role("link", name="Transfer pump").click()
    machine_card = page.locator("#machine-health .health-card")
    expect(machine_card).to_contain_text("days to zone C")  # loaded after the page, by htmx
    vibration = demo_tag(worn_pump.line.plant, "vibration_rms")
    gauge = page.locator(f"#tag-{vibration.pk} svg.gauge-radial")
    expect(gauge.locator("path.gauge-zone-c")).to_have_count(1)
    expect(gauge.locator("path.gauge-zone-d")).to_have_count(1)
    page.screenshot(path=artifacts / "machine-health.png", full_page=True)

    page.goto(f"{daphne.url}/trend/?tag={vibration.pk}&range=week")
    chart = page.locator("#trend-chart")
    expect(chart).to_have_attribute("data-state", "ready")
    expect(chart).to_have_attribute("data-zones", "1")
    page.screenshot(path=artifacts / "trend-vibration-zones.png", full_page=True)
    assert failures == []
