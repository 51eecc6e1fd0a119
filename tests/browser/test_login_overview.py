"""In a real browser: an operator logs in through the form and reads the plant overview."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from plant.models import LatestValue, Line, Machine, Plant, Quality, Tag
from tests.browser.conftest import PASSWORD

pytestmark = pytest.mark.browser

# A plausible moment of the demo plant: most values fresh, one stale, one of bad quality.
VALUES = {
    "fill_level": 500.4,
    "fill_level_sp": 500.0,
    "flow_rate": 48.25,
    "flow_rate_sp": 48.0,
    "tank_level": 72.3,
    "bottles_filled": 18231,
    "bottles_rejected": 42,
    "methane": 1.2,
    "fan": 1,
    "valve_open": 1,
    "vibration_rms": 2.31,
    "power": 182.6,
    "energy": 40211.4,
}


def record_values(plant: Plant) -> dict[str, Tag]:
    tags = {tag.key: tag for tag in Tag.objects.filter(machine__line__plant=plant)}
    now = timezone.now()
    for key, value in VALUES.items():
        LatestValue.objects.create(tag=tags[key], time=now, value=value, good_at=now)
    LatestValue.objects.create(tag=tags["state"], time=now, text="running", good_at=now)
    LatestValue.objects.create(tag=tags["h2s"], time=now - timedelta(minutes=5), value=0.4)
    LatestValue.objects.create(
        tag=tags["bearing_temp"], time=now, value=61.0, quality=Quality.BAD, good_at=None
    )
    return tags


def log_in(page: Page, server_url: str, username: str) -> None:
    page.goto(f"{server_url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server_url}/")


def test_an_operator_logs_in_and_sees_the_demo_plants_lines_and_machines(
    page: Page, server_url: str, operator: User, demo_plant: Plant, artifacts: Path
) -> None:
    tags = record_values(demo_plant)
    log_in(page, server_url, "operator-user")

    expect(page.get_by_role("heading", name="Demo Bottling Plant")).to_be_visible()
    for line in Line.objects.filter(plant=demo_plant):
        expect(page.locator(f"#line-{line.pk} h2")).to_have_text(line.name)
    for machine in Machine.objects.filter(line__plant=demo_plant):
        expect(page.locator(f"#machine-{machine.pk} h3")).to_have_text(machine.name)
    expect(page.locator(f"#tag-{tags['fill_level'].pk}")).to_contain_text("500.4 ml")
    expect(page.locator(f"#tag-{tags['h2s'].pk}")).to_contain_text("stale")
    expect(page.locator(f"#tag-{tags['bearing_temp'].pk}")).to_contain_text("bad")
    expect(page.locator(".who-role")).to_have_text("operator")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    page.screenshot(path=artifacts / "overview.png", full_page=True)


def test_the_page_loads_its_styles_and_scripts_without_errors(
    page: Page, server_url: str, operator: User, demo_plant: Plant
) -> None:
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    page.on(
        "response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    log_in(page, server_url, "operator-user")
    page.wait_for_load_state("networkidle")
    assert failures == []
    topbar = page.locator(".topbar").evaluate("e => getComputedStyle(e).backgroundColor")
    assert topbar == "rgb(58, 64, 70)"
    assert page.evaluate("typeof htmx") == "object"


def test_the_overview_fits_a_phone_screen_without_sideways_scrolling(
    page: Page, server_url: str, operator: User, demo_plant: Plant, artifacts: Path
) -> None:
    record_values(demo_plant)
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, server_url, "operator-user")
    expect(page.get_by_role("heading", name="Demo Bottling Plant")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=artifacts / "overview-phone.png", full_page=True)


def test_a_value_that_stops_arriving_turns_stale_without_a_reload(
    page: Page, server_url: str, operator: User, fill_level: Tag
) -> None:
    # Fresh for a few more seconds at page load; no push ever comes, so hmi.js must mark it.
    fill_level.expected_interval_s = 4
    fill_level.save(update_fields=["expected_interval_s"])
    log_in(page, server_url, "operator-user")
    # The value is written just before the page loads, so a slow login cannot age it.
    LatestValue.objects.create(tag=fill_level, time=timezone.now(), value=500.0)
    page.reload()
    value = page.locator(f"#tag-{fill_level.pk}")
    expect(value).to_have_class(re.compile(r"\bis-ok\b"))
    expect(value).to_have_class(re.compile(r"\bis-stale\b"), timeout=10_000)
    expect(value.locator(".reading-flag")).to_have_text("stale")


def test_logging_out_returns_to_the_login_page(
    page: Page, server_url: str, operator: User, demo_plant: Plant, artifacts: Path
) -> None:
    log_in(page, server_url, "operator-user")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server_url}/accounts/login/")
    page.screenshot(path=artifacts / "login.png")
    page.goto(f"{server_url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
