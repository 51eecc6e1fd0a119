"""In a real browser: no page of the HMI or its admin leaves an error in the console or a
failed request behind (a 404 for the favicon was the first one found)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Page, Response, expect

from plant.models import Line, Machine, Plant, Tag
from tests.browser.conftest import PASSWORD, make_server_user

pytestmark = pytest.mark.browser


def screens(plant: Plant) -> list[str]:
    line = Line.objects.filter(plant=plant).first()
    machine = Machine.objects.filter(line__plant=plant).first()
    tag = Tag.objects.get(machine__line__plant=plant, key="fill_level")
    assert line and machine
    return [
        "/",
        f"/plants/{plant.pk}/",
        f"/lines/{line.pk}/",
        f"/machines/{machine.pk}/",
        f"/tags/{tag.pk}/",
        f"/trend/?tags={tag.pk}",
        "/alarms/",
        "/alarms/history/",
        "/alarms/kpis/",
        "/audit/setpoints/",
        "/audit/configuration/",
        "/audit/security/",
        "/admin/",
        "/admin/plant/tag/",
        f"/admin/plant/tag/{tag.pk}/change/",
    ]


def test_no_page_leaves_a_console_error_or_a_failed_request(
    page: Page, server_url: str, demo_plant: Plant
) -> None:
    admin = make_server_user("admin-user", "admin", demo_plant)
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"{page.url}: console: {message.text}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            problems.append(f"{page.url}: {response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.goto(f"{server_url}/accounts/login/", wait_until="networkidle")
    page.get_by_label("Username").fill("admin-user")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server_url}/")
    for path in screens(demo_plant):
        page.goto(f"{server_url}{path}", wait_until="networkidle")
        # Each page really rendered (a login redirect or an error page would not count).
        expect(page).to_have_url(re.compile(re.escape(path.split("?")[0])))
    assert problems == []


def test_the_favicon_is_served_where_browsers_look_for_it(page: Page, server_url: str) -> None:
    response = page.goto(f"{server_url}/favicon.ico")
    assert response is not None and response.ok
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "hmi/favicon" in response.url
