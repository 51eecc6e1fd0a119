"""The quality screen in Chromium: the simulator's fill drifts, the worker's run rules flag it on
the screen, the hours show Cp/Cpk and the ℮ batch, and the recommended setpoint opens the
setpoint panel pre-filled, which the operator reviews and sends through the audited path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from plant.models import Plant, Sample, SetpointWrite, SpcSettings, Tag
from tests.browser.conftest import PASSWORD, make_server_user
from tests.devices import running_simulator, worker_in_thread
from tests.waiting import run_until

pytestmark = pytest.mark.browser


def logged_in_page(browser: Browser, server_url: str, user: User) -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{server_url}/accounts/login/?next=/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server_url}/")
    return page


def test_the_quality_screen_flags_the_drift_and_applies_the_recommended_setpoint(
    browser: Browser, server_url: str, demo_plant: Plant, topic_root: str, artifacts: Path
) -> None:
    level = Tag.objects.get(key="fill_level", machine__line__plant=demo_plant)
    setpoint = Tag.objects.get(key="fill_level_sp", machine__line__plant=demo_plant)
    # The last hour's fill, wide (σ ≈ 10 ml), so the recommendation is above the setpoint.
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    Sample.objects.bulk_create(
        [
            Sample(tag=level, time=start + timedelta(seconds=i), value=v)
            for i, v in enumerate([490.0, 510.0] * 900)
        ]
    )
    SpcSettings.objects.filter(tag=level).update(center_line=500.0, sigma=0.3)
    operator = make_server_user("quality-operator", "operator", demo_plant)
    page = logged_in_page(browser, server_url, operator)
    page.goto(f"{server_url}/quality/")
    page.get_by_role("link", name="Fill level per bottle").click()
    expect(page.locator(".quality-charts svg").first).to_be_visible()
    expect(page.locator(f"#quality-hours-table-{level.pk}")).to_contain_text("pass")

    with worker_in_thread(topic_root), running_simulator(demo_plant.slug, faults=["fill_drift"]):
        rule = page.locator(f"#quality-rule-{level.pk}")
        expect(rule).to_contain_text("broken", timeout=45_000)  # polled every 5 s
        expect(page.locator(".spc-flag").first).to_be_visible()
        page.screenshot(path=str(artifacts / "quality.png"), full_page=True)

        page.locator(f"#quality-apply-{level.pk}").click()
        value = page.locator(f"#setpoint-value-{setpoint.pk}")
        expect(value).to_have_value("504.7")  # 485 + 1.96σ, rounded up to 0.1 ml
        page.get_by_role("button", name="Review…").click()
        page.get_by_role("button", name="Send").click()
        run_until(lambda: SetpointWrite.objects.filter(tag=setpoint, value=504.7).exists())
    write = SetpointWrite.objects.get(tag=setpoint, value=504.7)
    assert write.user == operator and write.reason.startswith("SPC: σ")
