"""In a real browser: a trend of two tags over the last hour, then the last week, then zoomed."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from plant.actions.setpoints import do_request_setpoint
from plant.models import Plant, Quality
from plant.timescale import AGGREGATES, aggregates_available
from tests.browser.conftest import PASSWORD, served_database_url
from tests.builders import demo_tag, record_value
from tests.history_data import copy_rows

pytestmark = pytest.mark.browser
STEP_S = 10


def record_a_week(plant: Plant) -> list[int]:
    """Eight days of fill level and tank level every 10 s: a spike, a 2-hour gap, a bad value."""
    fill, tank = demo_tag(plant, "fill_level"), demo_tag(plant, "tank_level")
    now = timezone.now().replace(microsecond=0)
    start = now - timedelta(days=8)
    rows = []
    for i in range(8 * 86400 // STEP_S):
        at = start + timedelta(seconds=i * STEP_S)
        if now - timedelta(days=2, hours=2) <= at < now - timedelta(days=2):
            continue  # the gap: nothing was recorded
        fill_value = 500 + 3 * math.sin(i / 90) + (40 if i % 20_000 == 0 else 0)
        rows.append((fill.pk, at, fill_value, None, Quality.BAD if i % 5000 == 1 else 0))
        rows.append((tank.pk, at, 60 + 25 * math.sin(i / 4000), None, 0))
    copy_rows(rows)
    refresh_aggregates(start, now)
    return [fill.pk, tank.pk]


def refresh_aggregates(start: object, end: object) -> None:
    """What the refresh policies would soon do, now: these rows may be older than the
    aggregates' watermark, which other tests' committed rows can have moved on."""
    if not aggregates_available():
        return
    with psycopg.connect(served_database_url(), autocommit=True) as conn:
        for view in AGGREGATES:
            conn.execute("CALL refresh_continuous_aggregate(%s, %s, %s)", [view, start, end])


@pytest.fixture
def chosen_tags(committed_db: None, demo_plant: Plant, operator: User) -> list[int]:
    """A week of two tags, and a setpoint write of a third. Made before the browser starts:
    the write's push to the screens needs a thread without Playwright's event loop."""
    fill, tank = record_a_week(demo_plant)
    setpoint = demo_tag(demo_plant, "fill_level_sp")
    record_value(setpoint, 500.0)
    do_request_setpoint(setpoint, 501.0, by=operator, reason="trend test")
    return [fill, tank, setpoint.pk]


def log_in(page: Page, server_url: str, path: str) -> None:
    page.goto(f"{server_url}{path}")
    page.get_by_label("Username").fill("operator-user")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def wait_for_load(page: Page, after: int) -> int:
    """Wait until the chart has drawn more loads than `after`; return how many."""
    chart = page.locator("#trend-chart")
    expect(chart).to_have_attribute("data-loads", re.compile(rf"^(?!{after}$)\d+$"))
    expect(chart).to_have_attribute("data-state", "ready")
    return int(chart.get_attribute("data-loads") or 0)


def chart_span(page: Page) -> float:
    return float(page.evaluate("trend.view.end - trend.view.start"))


def test_a_trend_redraws_with_data_when_the_range_changes(
    chosen_tags: list[int], page: Page, server_url: str, artifacts: Path
) -> None:
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    log_in(page, server_url, "/trend/?" + "&".join(f"tag={pk}" for pk in chosen_tags))

    loads = wait_for_load(page, 0)
    chart = page.locator("#trend-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(page.get_by_text("Times in Europe/Berlin")).to_be_visible()
    hour_points = int(chart.get_attribute("data-points") or 0)
    assert 300 < hour_points <= 3600 // STEP_S + 1  # raw values: one every 10 s
    expect(page.locator("#trend-status")).to_contain_text("raw values")
    expect(page.locator("#trend-markers")).to_contain_text("setpoint → 501")

    # The range ends now, so the chart follows: a new value shows without a reload.
    newest = page.evaluate("trend.plot.data[0].at(-1)")
    with psycopg.connect(served_database_url(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO plant_sample (tag_id, time, value, quality) VALUES (%s, now(), 520, 0)",
            [chosen_tags[0]],
        )
    page.wait_for_function("t => trend.plot.data[0].at(-1) > t", arg=newest, timeout=15_000)
    loads = wait_for_load(page, 0)

    page.get_by_role("button", name="Week").click()
    loads = wait_for_load(page, loads)
    expect(chart).to_have_attribute("data-range", "week")
    expect(page).to_have_url(re.compile(r"range=week"))
    week_points = int(chart.get_attribute("data-points") or 0)
    assert 200 < week_points < 5000  # buckets, not 60 000 raw values
    expect(page.locator("#trend-status")).to_contain_text("buckets of 10 min")
    expect(page.locator("#trend-legend li")).to_have_count(3)
    page.screenshot(path=artifacts / "trend-week.png", full_page=True)

    # Drag across the middle third of the chart: it zooms in and asks for that window.
    box = page.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 2 / 3, y, steps=5)
    page.mouse.up()
    loads = wait_for_load(page, loads)
    expect(chart).to_have_attribute("data-range", "custom")
    expect(page.get_by_role("button", name="Custom")).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=artifacts / "trend-zoomed.png", full_page=True)

    # The wheel zooms out around the pointer, and Shift+drag pans; each asks again.
    span = chart_span(page)
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.wheel(0, 200)
    loads = wait_for_load(page, loads)
    assert chart_span(page) == pytest.approx(span * 1.25, rel=0.01)
    before = page.evaluate("trend.view.start")
    page.keyboard.down("Shift")
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 3 / 4, y, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    wait_for_load(page, loads)
    assert page.evaluate("trend.view.start") < before  # dragged right: earlier times

    page.get_by_label("Search tags").fill("filler tank")
    expect(page.locator(".tag-choice:visible")).to_have_count(1)
    expect(page.locator(".tag-choice:visible")).to_contain_text("Product tank level")
    assert failures == []
