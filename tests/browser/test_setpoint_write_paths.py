"""A write's state reaches the page by either of its two paths alone: the push on the socket
(`setpoint.changed`), and the 2 s poll of the write's status for a tab whose socket is down.
Each test takes the other path away in the real browser, so each path is proven by itself."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, Route, WebSocketRoute, expect

from ingest.payloads import SetpointCommand
from plant.models import Plant, SetpointWrite
from tests.browser.test_setpoint_write import log_in, review
from tests.builders import demo_tag, record_value
from tests.devices import device, worker_in_thread
from tests.waiting import run_until

pytestmark = pytest.mark.browser


def write_and_see_confirmed(page: Page, server_url: str, demo_plant: Plant, topic_root: str,
                            polls: list[str]) -> None:  # fmt: skip
    """Write 505 ml and read it back only once the page shows the write open, so that the
    confirmation can come by no other way than the path under test (a slow POST answer
    could otherwise already say "confirmed")."""
    sp = demo_tag(demo_plant, "fill_level_sp")
    record_value(sp, 500.0)
    commands: list[SetpointCommand] = []
    with (
        device(sp.topic, lambda command: commands.append(command)) as dev,
        worker_in_thread(topic_root) as worker,
    ):
        worker.writer.timeout = timedelta(seconds=120)  # the readback comes when we say
        log_in(page, server_url, "operator-user")
        page.goto(f"{server_url}/machines/{sp.machine_id}/")
        review(page, sp, "505")
        page.locator(f"#setpoint-form-{sp.pk}.setpoint-confirm").get_by_role(
            "button", name="Send"
        ).click()
        status = page.locator(f"#setpoint-status-{sp.pk}")
        expect(status).to_have_attribute("data-state", re.compile("^(pending|sent)$"))
        run_until(lambda: commands, timeout=30)
        dev.publish(json.dumps({"v": 505.0, "id": commands[0].id}).encode())
        expect(status).to_have_attribute("data-state", "confirmed", timeout=15_000)
    write = SetpointWrite.objects.get()
    assert write.state == "confirmed"
    assert all(f"/setpoint-writes/{write.pk}/" in url for url in polls)


def test_a_confirmation_reaches_the_page_by_the_push_alone(
    page: Page, server_url: str, operator: User, demo_plant: Plant, topic_root: str
) -> None:
    polls: list[str] = []

    def refuse(route: Route) -> None:
        polls.append(route.request.url)
        route.abort()

    page.route(re.compile(r"/setpoint-writes/\d+/"), refuse)  # no poll gets an answer
    write_and_see_confirmed(page, server_url, demo_plant, topic_root, polls)


def test_a_confirmation_reaches_a_tab_without_its_socket_by_the_poll(
    page: Page, server_url: str, operator: User, demo_plant: Plant, topic_root: str
) -> None:
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/setpoint-writes/" in r.url else None)

    def silent(ws: WebSocketRoute) -> None:
        """The page's socket opens, but reaches no server: nothing is pushed to it."""

    page.route_web_socket(re.compile(r"/ws/"), silent)
    write_and_see_confirmed(page, server_url, demo_plant, topic_root, polls)
    assert polls, "the state came by the poll"
