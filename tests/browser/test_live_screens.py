"""In a real browser, with a real broker, ingest worker and daphne: values move as published.

Each test publishes on a tag's MQTT topic the way a device does; the ingest worker stores the
value and pushes it through Redis to daphne, whose socket swaps it into the page.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from plant.models import LatestValue, Plant, Quality, Tag
from tests.browser.conftest import Daphne, Ingest
from tests.browser.test_login_overview import VALUES, log_in
from tests.waiting import run_until

pytestmark = pytest.mark.browser
# Only a push brings a published value into the page (no poll does), so a generous wait still
# fails when pushes break; how fast they arrive is bench/live_latency.py's figure, not a test's.
PUSHED_WITHIN_MS = 15_000


def record_values(plant: Plant) -> None:
    """The overview tests' plausible moment of the plant, over what the worker already wrote."""
    now = timezone.now()
    for tag in Tag.objects.filter(machine__line__plant=plant):
        value, text = VALUES.get(tag.key), "running" if tag.key == "state" else None
        quality = Quality.BAD if tag.key == "bearing_temp" else Quality.GOOD
        if tag.key == "h2s":  # stale: five minutes old
            value, now_or_then = 0.4, now - timedelta(minutes=5)
        else:
            now_or_then = now
        LatestValue.objects.update_or_create(
            tag=tag,
            defaults={"time": now_or_then, "value": value if value is not None else 61.0,
                      "text": text, "quality": quality,
                      "good_at": None if quality == Quality.BAD else now_or_then},
        )  # fmt: skip


def demo_tag(plant: Plant, key: str) -> Tag:
    return Tag.objects.get(machine__line__plant=plant, key=key)


def open_live(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(page.locator("#live-status")).to_have_text("live")


def bar_pointer_x(page: Page, tag: Tag) -> float:
    return float(page.locator(f"#tag-{tag.pk} .gauge-pointer").get_attribute("x") or "nan")


def test_a_published_value_moves_the_line_views_gauge(
    page: Page, server_url: str, operator: User, demo_plant: Plant, ingest: Ingest, artifacts: Path
) -> None:
    record_values(demo_plant)
    fill_level = demo_tag(demo_plant, "fill_level")
    log_in(page, server_url, "operator-user")
    open_live(page, f"{server_url}/lines/{fill_level.machine.line_id}/")
    value = page.locator(f"#tag-{fill_level.pk}")
    expect(value.locator(".reading-value")).to_have_text("500.4")

    ingest.publish(fill_level, {"v": 503.7, "ts": int(time.time() * 1000)})
    expect(value.locator(".reading-value")).to_have_text("503.7", timeout=PUSHED_WITHIN_MS)
    assert bar_pointer_x(page, fill_level) == pytest.approx(107.4)  # 53.7 % of 450..550 ml
    expect(value.locator(".gauge-setpoint")).to_have_count(1)  # fill_level_sp is 500.0
    page.screenshot(path=artifacts / "line.png", full_page=True)


def test_bad_quality_is_marked_bad_with_the_time_of_the_last_good_value(
    page: Page, server_url: str, operator: User, demo_plant: Plant, ingest: Ingest, artifacts: Path
) -> None:
    record_values(demo_plant)
    methane = demo_tag(demo_plant, "methane")
    log_in(page, server_url, "operator-user")
    open_live(page, f"{server_url}/lines/{methane.machine.line_id}/")
    ingest.publish(methane, {"v": 2.5})
    value = page.locator(f"#tag-{methane.pk}")
    expect(value.locator(".reading-value")).to_have_text("2.5", timeout=PUSHED_WITHIN_MS)

    ingest.publish(methane, {"v": 0, "q": "bad"})
    expect(value).to_have_class(re.compile(r"\bis-bad\b"), timeout=PUSHED_WITHIN_MS)
    expect(value.locator(".reading-flag")).to_have_text("bad")
    expect(value.locator(".reading-since")).to_be_visible()
    expect(value.locator(".reading-since")).to_contain_text(re.compile(r"last good \d\d:\d\d:\d\d"))
    page.screenshot(path=artifacts / "line-bad-quality.png", full_page=True)


def test_the_page_reconnects_after_the_server_dies_and_catches_up(
    page: Page,
    daphne: Daphne,
    operator: User,
    demo_plant: Plant,
    ingest: Ingest,
    artifacts: Path,
) -> None:
    record_values(demo_plant)
    flow_rate = demo_tag(demo_plant, "flow_rate")
    log_in(page, daphne.url, "operator-user")
    open_live(page, f"{daphne.url}/lines/{flow_rate.machine.line_id}/")

    daphne.stop(kill=True)
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "lost")
    expect(status).to_contain_text("connection lost")
    page.screenshot(path=artifacts / "line-connection-lost.png", full_page=True)
    # Published while no server can push it: the worker stores it, the page cannot know yet.
    ingest.publish(flow_rate, {"v": 61.25})
    stored = LatestValue.objects.filter(tag=flow_rate, value=61.25)
    run_until(stored.exists, timeout=30)  # the worker has it before the server comes back
    expect(page.locator(f"#tag-{flow_rate.pk} .reading-value")).to_have_text("48.25")

    daphne.start()
    expect(status).to_have_attribute("data-state", "live", timeout=15_000)
    expect(page.locator(f"#tag-{flow_rate.pk} .reading-value")).to_have_text("61.25")


def test_the_machine_view_draws_gauges_and_a_sparkline_that_pushes_extend(
    page: Page, server_url: str, operator: User, demo_plant: Plant, ingest: Ingest, artifacts: Path
) -> None:
    record_values(demo_plant)
    tank = demo_tag(demo_plant, "tank_level")
    log_in(page, server_url, "operator-user")
    open_live(page, f"{server_url}/machines/{tank.machine_id}/")
    spark = page.locator(f"#spark-{tank.pk} polyline")
    for level in (60.0, 64.5, 58.25):
        ingest.publish(tank, {"v": level, "ts": int(time.time() * 1000)})
        expect(page.locator(f"#tag-{tank.pk} .reading-value")).to_have_text(
            f"{level:.1f}", timeout=PUSHED_WITHIN_MS
        )
    points = (spark.get_attribute("points") or "").split()
    assert len(points) >= 3
    expect(page.locator(f"#tag-{tank.pk} .gauge-radial .gauge-pointer")).to_have_count(1)
    page.screenshot(path=artifacts / "machine.png", full_page=True)


@pytest.mark.parametrize(
    ("name", "path"),
    [("overview", "/"), ("plant", "plant"), ("tag", "tag"), ("line-phone", "line")],
)
@pytest.mark.usefixtures("worker_heartbeat")  # without one the status bar says "not running"
def test_each_main_screen_renders_live_for_a_screenshot(
    page: Page,
    server_url: str,
    operator: User,
    demo_plant: Plant,
    artifacts: Path,
    name: str,
    path: str,
) -> None:
    record_values(demo_plant)
    fill_level = demo_tag(demo_plant, "fill_level")
    urls = {
        "plant": f"/plants/{demo_plant.pk}/",
        "tag": f"/tags/{fill_level.pk}/",
        "line": f"/lines/{fill_level.machine.line_id}/",
    }
    if name.endswith("phone"):
        page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, server_url, "operator-user")
    open_live(page, server_url + urls.get(path, path))
    page.screenshot(path=artifacts / f"{name}.png", full_page=True)
    # The top bar and the screen fit the width (the alarm banner between them is not ours).
    widths = "['.topbar', '#content'].map(s => document.querySelector(s).scrollWidth)"
    assert max(page.evaluate(widths)) <= page.viewport_size["width"]
