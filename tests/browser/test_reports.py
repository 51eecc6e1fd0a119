"""Shift reports in a real Chromium against daphne: the report the job kept at the shift's
end is listed and downloads as a PDF and a CSV, and a report asked for on the page shows the
constructed shift's figures (tests/plant/test_shift_reports.py builds them)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from plant.actions.alarms import do_acknowledge_all
from plant.actions.reports import do_start_reporting
from plant.models import Alarm, Plant, ShiftReport
from plant.report_job import report_due_shifts
from tests.browser.conftest import PASSWORD, make_server_user
from tests.oee_data import SHIFT_START
from tests.plant.test_shift_reports import SHIFT_END, constructed_shift

pytestmark = pytest.mark.browser


@pytest.fixture
def supervisor(committed_db: None, demo_plant: Plant) -> User:
    return make_server_user("supervisor-user", "supervisor", demo_plant)


def log_in(page: Page, server_url: str) -> None:
    page.goto(f"{server_url}/accounts/login/?next=/reports/")
    page.get_by_label("Username").fill("supervisor-user")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server_url}/reports/")


def test_the_kept_report_downloads_and_one_asked_for_shows_the_shifts_figures(
    page: Page, server_url: str, demo_plant: Plant, supervisor: User, artifacts: Path
) -> None:
    constructed_shift(demo_plant)
    # The report job, at the Early shift's end, as `manage.py notify` runs it.
    do_start_reporting(demo_plant, now=SHIFT_START)
    assert report_due_shifts(SHIFT_END + timedelta(minutes=1)) == 1
    kept = ShiftReport.objects.get(plant=demo_plant)
    # The shift's methane high-high (a gas leak) is acknowledged: unacknowledged, its
    # emergency screen would hold every page (tests/browser/test_emergency_screen.py).
    do_acknowledge_all(Alarm.objects.all(), by=supervisor, comment="after the shift")

    log_in(page, server_url)  # one plant: its reports at once
    row = page.locator(f"#report-{kept.pk}")
    expect(row).to_contain_text("Early, 2026-12-02")
    expect(row).to_contain_text("2026-12-02 06:00 CET")
    with page.expect_download() as pdf:
        row.get_by_role("link", name="PDF of Early 2026-12-02").click()
    text = " ".join(p.extract_text() for p in PdfReader(pdf.value.path()).pages)
    assert "79.4 %" in text and "Early shift, 2026-12-02" in " ".join(text.split())
    with page.expect_download() as sheet:
        row.get_by_role("link", name="CSV of Early 2026-12-02").click()
    rows = list(csv.reader(io.StringIO(Path(sheet.value.path()).read_text())))
    assert ["oee", "Filling line / Filler", "oee_pct", "79.4", "%"] in rows

    # Asked for on the page: the same shift, its figures as a printable page.
    page.get_by_label("Day", exact=True).fill("2026-12-02")
    page.locator("#report-shift").select_option("Early")
    page.get_by_role("button", name="Make the report").click()
    expect(page.locator("#report-title")).to_have_text(
        "Demo Bottling Plant · Early shift, 2026-12-02"
    )
    expect(page.locator("#alarm-activations")).to_have_text("2")
    expect(page.locator("#setpoint-count")).to_have_text("4")
    expect(page.locator("#setpoint-not-applied")).to_have_text("2")
    expect(page.locator("#report-oee")).to_contain_text("79.4 %")
    page.screenshot(path=artifacts / "report-early-shift.png", full_page=True)

    # A day that cannot be: the page says why, and no report is made.
    page.goto(f"{server_url}/reports/build/?plant={demo_plant.pk}&date=2026-12-02&shift=Lunch")
    expect(page.locator("#report-error")).to_contain_text("no shift 'Lunch' starts on 2026-12-02")
    assert ShiftReport.objects.count() == 1
