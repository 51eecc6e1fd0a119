"""In a real browser, end to end: an operator writes a setpoint on the filler's screen, the
worker publishes it, the simulated device reads it back, and page and audit trail say so; a
refused write publishes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from plant.models import LatestValue, Plant, SetpointWrite, Tag
from tests.browser.conftest import PASSWORD
from tests.builders import demo_tag, record_value
from tests.devices import recording, running_simulator, worker_in_thread
from tests.waiting import run_until

pytestmark = pytest.mark.browser


def log_in(page: Page, server_url: str, username: str) -> None:
    page.goto(f"{server_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server_url}/")


def review(page: Page, tag: Tag, value: str) -> None:
    control = page.locator(f"#setpoint-control-{tag.pk}")
    control.get_by_label(re.compile(r"^New fill level setpoint")).fill(value)
    control.get_by_role("button", name="Review…").click()


def test_an_operators_write_is_published_read_back_and_confirmed_on_the_page_and_in_the_audit(
    page: Page, server_url: str, operator: User, demo_plant: Plant, topic_root: str,
    artifacts: Path,
) -> None:  # fmt: skip
    sp = demo_tag(demo_plant, "fill_level_sp")
    with (
        recording(topic_root) as recorder,
        running_simulator(demo_plant.slug),
        worker_in_thread(topic_root),
    ):
        run_until(lambda: LatestValue.objects.filter(tag=sp, value=500.0).exists(), timeout=15)
        log_in(page, server_url, "operator-user")
        page.goto(f"{server_url}/machines/{sp.machine_id}/")
        review(page, sp, "505")
        confirm = page.locator(f"#setpoint-form-{sp.pk}.setpoint-confirm")
        for text in ("Fill level setpoint", "500.0 ml", "505.0 ml", "480.0 to 520.0 ml"):
            expect(confirm).to_contain_text(text)
        page.screenshot(path=artifacts / "setpoint-confirm.png", full_page=True)
        confirm.get_by_role("button", name="Send").click()
        status = page.locator(f"#setpoint-status-{sp.pk}")
        expect(status).to_have_attribute("data-state", "confirmed", timeout=10_000)
        expect(status).to_contain_text("500.0 ml → 505.0 ml")
        page.screenshot(path=artifacts / "setpoint-confirmed.png", full_page=True)
    write = SetpointWrite.objects.get()
    assert (write.state, write.user, write.readback) == ("confirmed", operator, 505.0)
    ((topic, command),) = recorder.seen()
    assert (topic, command.value, command.id) == (f"{sp.topic}/set", 505.0, str(write.command_id))
    page.goto(f"{server_url}/audit/setpoints/")
    row = page.locator(f"#setpoint-{write.pk}")
    for text in ("Fill level setpoint", "500.0 ml", "505.0 ml", "operator-user", "confirmed"):
        expect(row).to_contain_text(text)
    page.screenshot(path=artifacts / "setpoint-audit.png", full_page=True)


def test_an_out_of_range_or_too_large_write_is_refused_and_nothing_is_published(
    page: Page, server_url: str, operator: User, demo_plant: Plant, topic_root: str,
    artifacts: Path,
) -> None:  # fmt: skip
    sp = demo_tag(demo_plant, "fill_level_sp")
    record_value(sp, 500.0)
    with recording(topic_root) as recorder, worker_in_thread(topic_root):
        log_in(page, server_url, "operator-user")
        page.goto(f"{server_url}/machines/{sp.machine_id}/")
        errors = page.locator(f"#setpoint-error-{sp.pk}")
        review(page, sp, "530")
        expect(errors).to_contain_text("outside the limits 480.0 to 520.0 ml: nothing was sent")
        page.screenshot(path=artifacts / "setpoint-refused.png", full_page=True)
        review(page, sp, "506")
        expect(errors).to_contain_text("larger than the largest allowed step of 5.0 ml")
        # Had anything been stored, the running writer (polling every 0.1 s) would send it now.
        page.wait_for_timeout(1500)
    assert recorder.seen() == []
    assert not SetpointWrite.objects.exists()
