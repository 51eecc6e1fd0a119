"""In a real browser, what a trend draws: a y-axis per unit, a gap where nothing was recorded,
the min-max band that keeps a short spike visible in a week, and the setpoint write marked on
the time axis."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from plant.models import SetpointWrite
from tests.browser.test_trend import chosen_tags, log_in, wait_for_load

pytestmark = pytest.mark.browser
__all__ = ["chosen_tags"]  # the fixture: a week of fill and tank level, and a setpoint write


def drawn(page: Page) -> dict[str, Any]:
    return page.evaluate(
        """() => {
          const u = trend.plot;
          return {
            axes: u.axes.slice(1).map((a) => a.label),
            scales: u.series.slice(1).map((s) => s.scale),
            bands: u.bands.map((b) => b.series),
            times: Array.from(u.data[0]),
            fill: [Array.from(u.data[1]), Array.from(u.data[2]), Array.from(u.data[3])],
          };
        }"""
    )


def test_a_week_of_trend_has_an_axis_per_unit_a_gap_a_band_and_its_markers(
    chosen_tags: list[int], page: Page, server_url: str
) -> None:
    now = timezone.now()
    log_in(page, server_url, "/trend/?range=week&" + "&".join(f"tag={pk}" for pk in chosen_tags))
    wait_for_load(page, 0)
    expect(page.locator("#trend-status")).to_contain_text("buckets of 10 min")
    chart = drawn(page)
    # Fill level (ml), tank level (%) and the fill-level setpoint (ml): two units, two axes,
    # and each tag's three lines (average, minimum, maximum) on its unit's axis.
    assert sorted(chart["axes"]) == ["%", "ml"]
    assert chart["scales"] == ["ml"] * 3 + ["%"] * 3 + ["ml"] * 3
    assert chart["bands"] == [[3, 2], [6, 5], [9, 8]]  # between each tag's max and min
    times, (avg, low, high) = chart["times"], chart["fill"]
    # The two hours with nothing recorded: the line breaks (a null) and draws nothing inside.
    gap_start = (now - timedelta(days=2, hours=2)).timestamp()
    gap_end = (now - timedelta(days=2)).timestamp()
    inside = [i for i, t in enumerate(times) if gap_start + 900 < t < gap_end - 900]
    assert inside and all(avg[i] is None for i in inside)
    # A spike of one sample (+40 ml over 500 ml) is inside one 10-minute bucket: the average
    # hardly moves, the band's maximum shows it.
    spikes = [i for i, h in enumerate(high) if h is not None and h >= 535]
    assert spikes and all(avg[i] < 510 and low[i] < 505 for i in spikes)
    # The setpoint write is marked on the time axis (an "S" in the plot's top edge) and listed.
    expect(page.locator("#trend-markers")).to_contain_text("setpoint → 501")
    written = SetpointWrite.objects.get().requested_at.timestamp()
    marker_pixel = page.evaluate(
        """(at) => {
          const u = trend.plot;
          const ctx = u.ctx;
          const x = Math.round(u.valToPos(at, "x", true));
          let dark = 0;
          for (let dx = -3; dx <= 3; dx++) {
            const [r, g, b] = ctx.getImageData(x + dx, u.bbox.top + 4, 1, 1).data;
            if (r < 120 && g < 120 && b < 130) dark++;
          }
          return dark;
        }""",
        written,
    )
    assert marker_pixel > 0, "no marker line at the write's time"
