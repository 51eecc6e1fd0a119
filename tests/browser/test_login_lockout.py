"""In a real browser: five wrong passwords lock the login with a page saying when to retry,
and logging out in one tab signs the other tab of the same session out at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from plant.models import Line, Plant, SecurityEvent
from tests.browser.conftest import PASSWORD

pytestmark = pytest.mark.browser


def try_password(page: Page, server_url: str, password: str) -> None:
    page.goto(f"{server_url}/accounts/login/")
    page.get_by_label("Username").fill("operator-user")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_five_wrong_passwords_lock_the_login_with_a_page_saying_when_to_retry(
    page: Page, server_url: str, operator: User, artifacts: Path
) -> None:
    for _ in range(4):
        try_password(page, server_url, "wrong")
        expect(page.get_by_role("alert")).to_contain_text("enter a correct username")
    try_password(page, server_url, "wrong")
    expect(page.get_by_role("heading", name="Login locked for 15 minutes")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(re.compile(r"Try again after \d\d:\d\d"))
    page.screenshot(path=artifacts / "login-locked.png", full_page=True)
    try_password(page, server_url, PASSWORD)  # the right one, too late
    expect(page.get_by_role("heading", name="Login locked for 15 minutes")).to_be_visible()
    assert list(SecurityEvent.objects.values_list("kind", flat=True).order_by("id")) == (
        ["login_failed"] * 4 + ["login_locked_out"] * 2
    )


def test_logging_out_in_one_tab_sends_the_other_tab_to_the_login(
    page: Page, server_url: str, operator: User, demo_plant: Plant
) -> None:
    try_password(page, server_url, PASSWORD)
    expect(page).to_have_url(f"{server_url}/")
    line = Line.objects.filter(plant=demo_plant).first()
    other = page.context.new_page()
    # The other tab's status poll would also find the session gone; without it, only its
    # sockets' close (4401) can take it to the login.
    other.route(re.compile(r"/status/"), lambda route: route.abort())
    other.goto(f"{server_url}/lines/{line.pk}/")
    expect(other.locator("#live-status")).to_have_attribute(
        "data-state", re.compile("live|stalled")
    )
    page.get_by_role("button", name="Log out").click()
    # The close travels logout → channel layer → the tab's socket: slow on a loaded box.
    expect(other).to_have_url(re.compile(r"/accounts/login/\?next=/lines/"), timeout=20_000)
