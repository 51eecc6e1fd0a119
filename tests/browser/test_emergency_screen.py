"""The gas emergency screen end to end, on a phone (390 px) and a desktop: simulator → ingest
worker → alarm → emergency writes (the fan's confirmed, the valve's refused by its device) →
the screen in every browser, whole and readable, with the live gas values, each action's state
and the time since the alarm → an operator collapses it to a strip that stays on every page →
a supervisor's acknowledgement ends it everywhere. axe-core finds nothing on it in either
theme (the desktop operator chose dark)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from plant.actions.preferences import do_set_theme
from plant.models import Alarm, EmergencyAction, Plant, Sample, Tag
from tests.browser.conftest import PASSWORD, make_server_user
from tests.browser.test_accessibility import axe_violations
from tests.devices import running_simulator, worker_in_thread
from tests.waiting import run_until

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
# Only the banner's fetches bring a new value or state into the screen: a generous wait still
# fails when they stop.
FETCHED_WITHIN_MS = 20_000


def logged_in(browser: Browser, server_url: str, user: User, viewport: dict[str, int]) -> Page:
    # Without the screen's pulse (prefers-reduced-motion): three full-screen repaints a frame
    # in software would hold up a shared two-core box, and the screenshots come out steady.
    context = browser.new_context(viewport=viewport, reduced_motion="reduce")  # type: ignore[arg-type]
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{server_url}/accounts/login/?next=/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server_url}/")
    return page


# Every block of text on the screen: none may reach past the viewport's sides or be cut.
CUT_OFF = """() => {
  const blocks = document.querySelectorAll(
    "#emergency-banner :is(h1, h2, h3, p, li, button, label, form)");
  return [...blocks].filter((e) => {
    const box = e.getBoundingClientRect();
    return box.left < 0 || box.right > innerWidth + 0.5 || e.scrollWidth > e.clientWidth + 1;
  }).map((e) => e.textContent.trim().slice(0, 50));
}"""


def assert_whole(page: Page, viewport: dict[str, int]) -> None:
    """The screen covers the whole viewport, however long the page beneath and wherever it
    was scrolled; no word of it runs off a side; the title and first message are in view, and
    the last of it is reached by scrolling the screen itself."""
    screen = page.locator("#emergency-banner")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert screen.bounding_box() == {"x": 0, "y": 0, **viewport}
    assert screen.evaluate("(e) => e.scrollWidth <= e.clientWidth")  # nothing sideways
    assert page.evaluate(CUT_OFF) == []
    for heading in (page.locator("#emergency-title"), screen.locator("h2").first):
        box = heading.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]
    last = screen.locator(".emergency-alarm").last.locator(".emergency-wait, .emergency-ack")
    last.scroll_into_view_if_needed()
    box = last.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]
    assert screen.bounding_box() == {"x": 0, "y": 0, **viewport}  # it scrolled, not the page


@pytest.mark.timeout(600)  # three browsers, a simulated leak and its acknowledgements
def test_the_gas_emergency_screen_helps_collapses_to_a_strip_and_ends_with_the_ack(
    browser: Browser, server_url: str, demo_plant: Plant, topic_root: str, artifacts: Path
) -> None:
    supervisor = make_server_user("supervisor-user", "supervisor", demo_plant)
    on_phone = make_server_user("operator-phone", "operator", demo_plant)
    at_desk = make_server_user("operator-desk", "operator", demo_plant)
    do_set_theme("dark", by=at_desk)
    phone = logged_in(browser, server_url, on_phone, PHONE)
    desk = logged_in(browser, server_url, at_desk, DESKTOP)
    boss = logged_in(browser, server_url, supervisor, DESKTOP)
    filling = demo_plant.lines.get(slug="filling")
    phone.goto(f"{server_url}/lines/{filling.pk}/")  # a long page on a phone
    expect(phone.locator(".alarm-bar")).to_be_visible()
    methane = Tag.objects.get(machine__line__plant=demo_plant, key="methane")
    fan, valve = (EmergencyAction.objects.get(tag__key=k) for k in ("fan", "valve_open"))

    # The valve's device refuses (reads back "open"): one action confirmed, one failed.
    faults = ["gas_leak", "reject_writes:valve_open"]
    with worker_in_thread(topic_root), running_simulator(demo_plant.slug, faults=faults):
        for page in (phone, desk, boss):
            expect(page.locator("#emergency-banner")).to_be_visible(timeout=30_000)
        # The leak raises methane high-high, then H2S high-high as the gas keeps rising (the
        # valve stays open). A new gas alarm opens a collapsed screen again, by design, so
        # both are up before anyone collapses it (a CI run collapsed it between the two).
        for name in ("Methane high-high: gas leak", "H2S high-high: toxic gas"):
            expect(phone.get_by_role("region", name=name)).to_be_visible(timeout=60_000)
        alarm = Alarm.objects.get(definition__tag=methane, definition__kind="hh")
        screen = f"#emergency-{alarm.pk}"

        # Whole and readable on the phone and the desktop.
        assert_whole(phone, PHONE)
        assert_whole(desk, DESKTOP)
        expect(phone.locator("#emergency-title")).to_have_text("Gas emergency")

        # The live gas value: it moves as the worker stores new ones, and is the historian's.
        value = desk.locator(f"{screen}-tag-{methane.pk} strong")
        first = value.inner_text()
        run_until(lambda: value.inner_text() != first, timeout=FETCHED_WITHIN_MS / 1000)
        shown = value.inner_text()
        stored = Sample.objects.filter(tag=methane).values_list("value", flat=True)
        assert shown in {f"{v:.1f}" for v in stored}  # a value the worker stored

        # Each action's state: the fan confirmed by its device, the refused valve failed.
        fan_state = desk.locator(f"{screen}-action-{fan.pk}")
        valve_state = desk.locator(f"{screen}-action-{valve.pk}")
        expect(fan_state).to_have_attribute("data-state", "confirmed", timeout=FETCHED_WITHIN_MS)
        expect(fan_state).to_contain_text("Ventilation fan ← on confirmed by the device")
        expect(valve_state).to_have_attribute("data-state", "failed", timeout=FETCHED_WITHIN_MS)
        expect(valve_state).to_contain_text("Isolation valve ← closed")
        expect(valve_state).to_contain_text("tried again")

        # The time since the alarm counts on.
        elapsed = phone.locator(f"{screen} .emergency-elapsed")
        said = elapsed.inner_text()
        run_until(lambda: elapsed.inner_text() != said, timeout=5)
        phone.screenshot(path=artifacts / "emergency-phone.png")
        desk.screenshot(path=artifacts / "emergency-desktop-dark.png")
        boss.screenshot(path=artifacts / "emergency-desktop-light.png")
        assert [*axe_violations(phone), *axe_violations(desk)] == []

        # The phone's operator collapses it: a strip, the page usable beneath it, and the strip
        # on every page (and in view when the page scrolls) until the acknowledgement.
        phone.get_by_role("button", name="Collapse to a banner").click()
        strip = phone.locator("#emergency-strip")
        expect(phone.locator("#emergency-banner")).to_be_hidden()
        expect(strip).to_be_visible()
        expect(strip).to_contain_text("Methane high-high: gas leak")
        expect(strip).to_contain_text("Isolation valve ← closed: failed")
        assert phone.evaluate("document.getElementById('content').inert") is False
        phone.goto(f"{server_url}/alarms/history/")
        expect(strip).to_be_visible()
        expect(phone.locator("#emergency-banner")).to_be_hidden()
        phone.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        box = strip.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]
        phone.screenshot(path=artifacts / "emergency-phone-collapsed.png")
        expect(desk.locator("#emergency-banner")).to_be_visible()  # one browser's choice

        # A supervisor acknowledges (the leak may raise more than one emergency alarm).
        acknowledge_every_emergency(boss)
        expect(strip).to_have_count(0, timeout=FETCHED_WITHIN_MS)
        expect(desk.locator("#emergency-banner")).to_have_count(0, timeout=FETCHED_WITHIN_MS)
        expect(desk.locator(".alarm-bar")).to_contain_text("critical")
    for page in (phone, desk, boss):
        page.context.close()


def acknowledge_every_emergency(boss: Page) -> None:
    ack_buttons = boss.locator("#emergency-banner .emergency-ack button")

    def acknowledge_one() -> None:
        # After an acknowledgement the page reloads and fetches its banner: wait for it,
        # then look again (the last acknowledgement leaves no form to fill).
        boss.locator(".alarm-bar").first.wait_for(timeout=15_000)
        if not ack_buttons.count():
            return
        comment = boss.locator("#emergency-banner input[name=comment]").first
        try:
            comment.fill("fan on, valve refused: closing by hand", timeout=5_000)
            ack_buttons.first.click(timeout=5_000)
            boss.wait_for_load_state()
        except PlaywrightTimeoutError:  # a new emergency swapped the form: look again
            return

    def all_acknowledged() -> bool:
        return bool(boss.locator(".alarm-bar").count()) and not ack_buttons.count()

    run_until(all_acknowledged, acknowledge_one, timeout=60)
