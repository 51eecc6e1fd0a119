"""In a real browser: the OEE screen of a past shift (the worked check), tagging a stop, and the
live shift refreshing itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from plant.models import MachineStop, OeeMachine, Plant
from tests.browser.conftest import PASSWORD, make_server_user
from tests.oee_data import DAY, worked_example

pytestmark = pytest.mark.browser


@pytest.fixture
def filler(committed_db: None, demo_plant: Plant, operator: User) -> OeeMachine:
    config = OeeMachine.objects.select_related("machine").get(machine__line__plant=demo_plant)
    worked_example(config)
    make_server_user("viewer-user", "viewer", demo_plant)
    return config


def log_in(page: Page, server_url: str, path: str, username: str = "operator-user") -> None:
    page.goto(f"{server_url}{path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_past_shifts_oee_and_an_operator_tagging_its_breakdown(
    filler: OeeMachine, page: Page, server_url: str, artifacts: Path
) -> None:
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    query = f"?period=shift&date={DAY.isoformat()}&shift=Early"
    log_in(page, server_url, f"/oee/machines/{filler.machine_id}/{query}")

    expect(page.locator("#oee-availability")).to_contain_text("90.0 %")
    expect(page.locator("#oee-performance")).to_contain_text("90.0 %")
    expect(page.locator("#oee-quality")).to_contain_text("98.0 %")
    expect(page.locator("#oee-oee")).to_contain_text("79.4 %")
    expect(page.locator("#oee-timeline rect")).to_have_count(7)
    expect(page.locator("#oee-losses tbody tr")).to_have_count(2)
    expect(page.locator("#oee-losses tbody tr").first).to_contain_text("Breakdown")
    page.screenshot(path=artifacts / "oee-machine.png", full_page=True)

    breakdown = page.locator("#oee-stops tbody tr").filter(has_text="Breakdown")
    breakdown.get_by_label("Reason").select_option(label="Nozzle fault")
    breakdown.get_by_label("Comment").fill("nozzle 4 blocked")
    breakdown.get_by_role("button", name="Tag").click()
    expect(page.locator("#oee-stops")).to_contain_text("Nozzle fault")
    expect(page.locator("#oee-stops")).to_contain_text("operator-user")
    assert MachineStop.objects.get().reason.name == "Nozzle fault"
    assert failures == []


def test_the_current_shift_refreshes_itself_and_a_viewer_sees_no_forms(
    filler: OeeMachine, page: Page, server_url: str, artifacts: Path
) -> None:
    log_in(page, server_url, f"/oee/machines/{filler.machine_id}/", username="viewer-user")
    panel = page.locator("#oee-panel")
    expect(panel).to_have_attribute("hx-trigger", "every 15s")
    expect(panel.locator(".oee-live")).to_contain_text("running")
    with page.expect_response(lambda r: "/panel/" in r.url, timeout=30_000) as refreshed:
        pass
    assert refreshed.value.status == 200
    expect(page.locator("form.oee-tag-form")).to_have_count(0)
    page.goto(f"{server_url}/oee/")
    expect(page.locator(f"#oee-row-{filler.machine_id}")).to_contain_text("shift of")
    page.screenshot(path=artifacts / "oee-overview.png", full_page=True)
