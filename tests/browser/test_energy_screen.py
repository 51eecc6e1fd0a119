"""In a real browser: the energy screen shows a day's consumption, kWh per 1,000 bottles and the
baseline, and its demand panel follows the live prediction over the contracted peak, no reload."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from hmi.energy_views import today_of
from plant.models import EnergyMeter, Plant, Sample
from plant.shifts import day_window
from tests.browser.conftest import Daphne
from tests.browser.test_login_overview import log_in

pytestmark = pytest.mark.browser
POLL_MS = 45_000  # the panel polls every 10 s


def readings(meter: EnergyMeter, plant: Plant) -> float:
    """Five earlier days of differing output (one reading at each day's edge), then today at
    100 kW a reading a second up to now; the meter's reading now."""
    assert meter.production_tag is not None
    today = today_of(plant)
    kwh, bottles, rows = 10_000.0, 0.0, []
    for n in range(5, 0, -1):
        start = day_window(plant, today - timedelta(days=n))[0] - timedelta(seconds=1)
        rows += [Sample(tag=meter.energy_tag, time=start, value=kwh),
                 Sample(tag=meter.production_tag, time=start, value=bottles)]  # fmt: skip
        made = 100_000 + 40_000 * (n % 3)
        kwh, bottles = kwh + 3_000 + 0.005 * made, bottles + made
    start = day_window(plant, today)[0] - timedelta(seconds=1)
    rows += [Sample(tag=meter.energy_tag, time=start, value=kwh),
             Sample(tag=meter.production_tag, time=start, value=bottles)]  # fmt: skip
    now = timezone.now().replace(microsecond=0)
    since = max(start + timedelta(seconds=1), now - timedelta(minutes=16))
    seconds = int((now - start).total_seconds())
    # A reading a minute from the day's start, then a reading a second for the last 16 minutes.
    steps = [
        s for s in range(1, seconds + 1) if s % 60 == 0 or start + timedelta(seconds=s) >= since
    ]
    for s in steps:
        rows.append(Sample(tag=meter.energy_tag, time=start + timedelta(seconds=s),
                           value=kwh + 100 * s / 3600))  # fmt: skip
    Sample.objects.bulk_create(rows)
    return kwh + 100 * seconds / 3600


def test_the_energy_screen_shows_the_day_and_follows_the_demand_over_the_peak(
    page: Page, daphne: Daphne, operator: User, demo_plant: Plant, artifacts: Path
) -> None:
    meter = EnergyMeter.objects.select_related("energy_tag", "production_tag").get(plant=demo_plant)
    reading = readings(meter, demo_plant)
    log_in(page, daphne.url, "operator-user")
    page.get_by_role("link", name="Energy", exact=True).click()
    page.get_by_role("link", name=demo_plant.name).click()
    expect(page.locator("#energy-usage")).to_contain_text("Filling line")
    expect(page.locator("#baseline-line-" + str(meter.line_id))).to_contain_text(
        "kWh a day of base load"
    )
    panel = page.locator("#demand-panel")
    expect(panel).to_have_attribute("data-state", "normal")
    expect(page.locator("#demand-predicted")).to_contain_text("kW")
    expect(page.locator("#demand-peak")).to_contain_text("215.0 kW")
    page.screenshot(path=artifacts / "energy.png", full_page=True)

    # From 5 s on the meter turns at 5 MW (a short circuit, say): within seconds the last
    # minute's power lifts the prediction over the peak, wherever in its block the clock is.
    now = timezone.now().replace(microsecond=0)
    Sample.objects.bulk_create(
        Sample(
            tag=meter.energy_tag,
            time=now + timedelta(seconds=i),
            value=reading + 100 * 5 / 3600 + 5000 * (i - 5) / 3600,
        )
        for i in range(5, 121)
    )
    expect(panel).to_have_attribute("data-state", "over", timeout=POLL_MS)
    expect(page.locator("#demand-predicted")).to_contain_text("over the contracted peak")
    page.screenshot(path=artifacts / "energy-over-peak.png", full_page=True)
