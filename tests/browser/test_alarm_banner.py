"""The gas leak end to end: simulator → ingest worker → alarm journal → emergency writes on the
broker, confirmed by the simulator → full-screen banner in every browser → a supervisor
acknowledges → the banner leaves the other browser too. An operator's forged post is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from plant.models import AlarmJournalEntry, Plant, SetpointWrite, Tag
from tests.browser.conftest import PASSWORD, make_server_user
from tests.devices import recording, running_simulator, worker_in_thread
from tests.waiting import run_until

pytestmark = pytest.mark.browser


def logged_in_page(browser: Browser, server_url: str, user: User) -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{server_url}/accounts/login/?next=/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server_url}/")
    return page


def test_a_gas_leak_raises_the_emergency_everywhere_until_a_supervisor_acknowledges(
    browser: Browser, server_url: str, demo_plant: Plant, topic_root: str, artifacts: Path
) -> None:
    supervisor = make_server_user("supervisor-user", "supervisor", demo_plant)
    operator = make_server_user("operator-user", "operator", demo_plant)
    boss = logged_in_page(browser, server_url, supervisor)
    worker_page = logged_in_page(browser, server_url, operator)
    gas_line = demo_plant.lines.get(slug="gas")
    worker_page.goto(f"{server_url}/lines/{gas_line.pk}/")
    expect(worker_page.locator(".alarm-bar")).to_be_visible()  # the banner and its socket
    fan, valve = (Tag.objects.get(key=k).topic for k in ("fan", "valve_open"))

    with (
        worker_in_thread(topic_root),
        recording(topic_root) as recorder,
        running_simulator(demo_plant.slug, faults=["gas_leak"]),
    ):
        banner = worker_page.locator("#emergency-banner")
        expect(banner).to_be_visible(timeout=30_000)
        expect(banner).to_contain_text("Methane high-high")
        expect(boss.locator("#emergency-banner")).to_be_visible()
        activation = AlarmJournalEntry.objects.filter(event="activate", priority="critical")
        assert activation.filter(tag__key="methane", user=None).exists()
        run_until(lambda: {f"{fan}/set", f"{valve}/set"} <= {t for t, _ in recorder.seen()})
        run_until(lambda: SetpointWrite.objects.filter(state="confirmed").count() >= 2)
        confirmed = SetpointWrite.objects.filter(state="confirmed", user=None)
        assert {(w.tag.key, w.readback) for w in confirmed} >= {("fan", 1.0), ("valve_open", 0.0)}
        worker_page.screenshot(path=artifacts / "alarm-emergency-banner.png")

        # The operator sees no button; a forged post is refused and journals nothing.
        expect(banner).to_contain_text("A supervisor must acknowledge")
        alarm_id = re.search(r"emergency-(\d+)", banner.inner_html()).group(1)
        token = next(c["value"] for c in worker_page.context.cookies() if c["name"] == "csrftoken")
        forged = worker_page.request.post(
            f"{server_url}/alarms/{alarm_id}/acknowledge/",
            form={"comment": "forged"}, headers={"X-CSRFToken": token, "Referer": server_url},
            max_redirects=0,
        )  # fmt: skip
        assert forged.status == 403
        assert not AlarmJournalEntry.objects.filter(event="acknowledge").exists()

        boss.screenshot(path=artifacts / "alarm-emergency-banner-supervisor.png")
        ack_buttons = boss.locator("#emergency-banner .emergency-ack button")

        def acknowledge_one() -> None:
            # After an acknowledgement the page reloads and fetches its banner: wait for it,
            # then look again (the last acknowledgement leaves no form to fill).
            boss.locator(".alarm-bar").first.wait_for(timeout=15_000)
            if not ack_buttons.count():
                return
            comment = boss.locator("#emergency-banner input[name=comment]").first
            try:
                comment.fill("fan and valve OK", timeout=5_000)
                if comment.input_value() == "fan and valve OK":  # else a push swapped the form
                    ack_buttons.first.click(timeout=5_000)
                    boss.wait_for_load_state()
            except PlaywrightTimeoutError:  # a push or the reload swapped the form: look again
                return

        def all_acknowledged() -> bool:  # once the banner has come (it is fetched after load)
            return bool(boss.locator(".alarm-bar").count()) and not ack_buttons.count()

        # One emergency alarm after another (the leak may raise more than one), within bounds.
        run_until(all_acknowledged, acknowledge_one, timeout=60)
        expect(worker_page.locator("#emergency-banner")).to_have_count(0, timeout=15_000)
        entry = AlarmJournalEntry.objects.filter(event="acknowledge").last()
        assert (entry.user.username, entry.comment) == ("supervisor-user", "fan and valve OK")
        expect(worker_page.locator(".alarm-bar")).to_contain_text("critical")
        worker_page.screenshot(path=artifacts / "alarm-banner-after-ack.png")

    boss.goto(f"{server_url}/alarms/")
    expect(boss.locator(".alarm-table")).to_contain_text("Methane")
    expect(boss.locator(".alarm-bar")).to_be_visible()
    boss.screenshot(path=artifacts / "alarm-summary.png", full_page=True)
    boss.goto(f"{server_url}/alarms/kpis/")
    expect(boss.locator("#kpi-average")).to_be_visible()
    boss.screenshot(path=artifacts / "alarm-kpis.png", full_page=True)
    boss.goto(f"{server_url}/alarms/history/")
    expect(boss.locator(".alarm-bar")).to_be_visible()
    boss.screenshot(path=artifacts / "alarm-history.png", full_page=True)
    boss.context.close()
    worker_page.context.close()
