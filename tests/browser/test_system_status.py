"""In a real browser: the status bar comes and goes with the worker's heartbeat, no reload, and
the live indicator never says "live" beside a bar that says values are not current."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from plant.models import Plant, Tag
from plant.system_health import do_beat, do_clear_system_alarm, do_raise_system_alarm
from tests.browser.conftest import Daphne
from tests.browser.test_login_overview import log_in

pytestmark = pytest.mark.browser
POLL_MS = 8_000  # the bar polls every 5 s


def beat(age_s: float = 0.0) -> None:
    """The worker's heartbeat as of `age_s` ago (over 15 s: the worker counts as gone)."""
    then = timezone.now() - timedelta(seconds=age_s)
    do_beat("scada-ingest", started_at=then - timedelta(hours=1), committed_at=then, lag_s=0.0,
            buffered=0, broker_connected=True, now=then)  # fmt: skip


def test_the_bar_appears_when_the_heartbeat_goes_stale_and_goes_when_it_is_fresh_again(
    page: Page, daphne: Daphne, operator: User, demo_plant: Plant, artifacts: Path
) -> None:
    fill_level = Tag.objects.get(machine__line__plant=demo_plant, key="fill_level")
    beat()
    log_in(page, daphne.url, "operator-user")
    page.goto(f"{daphne.url}/lines/{fill_level.machine.line_id}/")
    status, bar = page.locator("#live-status"), page.locator("#system-status")
    expect(status).to_have_text("live")
    expect(bar.locator(".system-status")).to_have_count(0)
    assert bar.bounding_box() is None, "an empty bar takes no room"

    beat(age_s=60)  # the worker stopped a minute ago
    stopped = (timezone.now() - timedelta(seconds=60)).astimezone(ZoneInfo(demo_plant.time_zone))
    alert = bar.get_by_role("alert")
    expect(alert).to_contain_text(
        f"Values not updating since {stopped:%H:%M} — the ingest worker is not running",
        timeout=POLL_MS,
    )
    # The socket is up, but values are not current: the indicator does not say "live".
    expect(status).to_have_attribute("data-state", "stalled")
    expect(status).to_have_text("connected · values not current")
    do_raise_system_alarm("ingest.alarms", "Alarm evaluation is failing")
    expect(alert).to_contain_text("System alarm: Alarm evaluation is failing", timeout=POLL_MS)
    page.screenshot(path=artifacts / "status-bar.png", full_page=True)

    daphne.stop(kill=True)  # the page's own connection goes too: it says so
    expect(status).to_have_text("connection lost · reconnecting")
    expect(alert).to_contain_text("not running")  # a failed poll leaves the bar as it was
    daphne.start()
    beat()
    expect(status).to_have_text("live", timeout=20_000)
    expect(bar).to_contain_text("System alarm: Alarm evaluation is failing")
    expect(bar).not_to_contain_text("Values not updating")
    do_clear_system_alarm("ingest.alarms")
    expect(bar.locator(".system-status")).to_have_count(0, timeout=POLL_MS)
