"""Words, not codes: every state, event and kind a person reads is a phrase (issue 16), on
the screens, in the CSV exports and in the API's human-readable fields."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from plant import alarming, security_events
from plant.actions.alarms import do_set_alarm_condition
from plant.actions.setpoints import (
    do_claim_setpoint,
    do_mark_setpoint_sent,
    do_request_setpoint,
    do_time_out_setpoint,
)
from plant.models import Alarm, Plant, SecurityEvent, Tag

pytestmark = pytest.mark.django_db

CODE = re.compile(r"\b(?:rtn_unack|unack|suppressed)\b")


class VisibleText(HTMLParser):
    """The text a person sees: text nodes outside <script> and <style>, no attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def test_every_state_and_event_has_words_of_its_own() -> None:
    assert set(alarming.STATE_LABELS) == set(alarming.State)
    for code, words in [*alarming.STATE_LABELS.items(), *alarming.EVENT_LABELS.items()]:
        assert words != code and "_" not in words and words[0].isupper()
    # Every event the state machine can journal is named (read from its own source).
    with open(alarming.__file__) as file:
        source = file.read()
    journaled = set(re.findall(r'"([a-z]+)", (?:None|user|status)', source))
    journaled |= set(re.findall(r'event = State\.\w+, "([a-z]+)"', source))
    assert len(journaled) == 8  # the eight events the state machine journals today
    assert journaled and journaled <= set(alarming.EVENT_LABELS)


def test_the_summary_and_the_history_show_words_for_states_and_events(
    users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    alarm = Alarm.objects.get(definition__tag__key="methane", definition__kind="hh")
    now = timezone.now()
    do_set_alarm_condition(alarm.pk, True, value=45.0, at=now)
    do_set_alarm_condition(alarm.pk, False, value=1.0, at=now)
    alarm.refresh_from_db()
    assert alarm.state == "rtn_unack"
    client = Client()
    client.force_login(users_by_role["supervisor"])

    summary = visible(client.get("/alarms/").content.decode())
    assert "Returned, unacknowledged" in summary
    assert "Active, unacknowledged" in summary  # the state filter's choices
    assert not CODE.search(summary), CODE.search(summary)

    history = visible(client.get("/alarms/history/").content.decode())
    assert "Activated (Normal → Active, unacknowledged)" in history
    assert "Returned to normal (Active, unacknowledged → Returned, unacknowledged)" in history
    assert not CODE.search(history), CODE.search(history)


def test_the_state_filter_still_filters_by_code(
    users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    alarm = Alarm.objects.get(definition__tag__key="methane", definition__kind="hh")
    do_set_alarm_condition(alarm.pk, True, value=45.0, at=timezone.now())
    client = Client()
    client.force_login(users_by_role["supervisor"])
    html = client.get("/alarms/?state=rtn_unack").content.decode()
    assert f'id="alarm-{alarm.pk}"' not in html
    html = client.get("/alarms/?state=unack").content.decode()
    assert f'id="alarm-{alarm.pk}"' in html
    assert '<option value="unack" selected>Active, unacknowledged</option>' in html


def test_the_markers_api_names_alarm_events_in_words(
    users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    alarm = Alarm.objects.get(definition__tag__key="methane", definition__kind="hh")
    now = timezone.now()
    do_set_alarm_condition(alarm.pk, True, value=45.0, at=now)
    do_set_alarm_condition(alarm.pk, False, value=1.0, at=now)
    client = Client()
    client.force_login(users_by_role["viewer"])
    start = (now - timedelta(minutes=5)).isoformat()
    end = (now + timedelta(minutes=5)).isoformat()
    response = client.get(
        "/api/markers/", {"tag": alarm.definition.tag_id, "start": start, "end": end}
    )
    texts = [m["text"] for m in response.json()["markers"] if m["kind"] == "alarm"]
    assert texts == [
        "Activated (critical): Methane high-high: gas leak",
        "Returned to normal (critical): Methane high-high: gas leak",
    ]


def test_the_exports_give_states_and_kinds_in_words_and_keep_the_codes_beside_them(
    users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    fan = Tag.objects.get(machine__line__plant=demo_plant, key="fan")
    write = do_request_setpoint(fan, 1, by=users_by_role["operator"])
    now = timezone.now()
    do_claim_setpoint(write.pk, now=now)
    do_mark_setpoint_sent(write.pk, now=now)
    do_time_out_setpoint(write.pk, now=now)
    security_events.record(SecurityEvent.Kind.LOGIN_FAILED, username="mallory", source="10.1.1.1")
    client = Client()
    client.force_login(User.objects.create_superuser("root"))

    body = b"".join(client.get("/audit/setpoints.csv").streaming_content).decode()
    (row,) = csv.DictReader(io.StringIO(body))
    assert (row["state"], row["state_code"]) == ("timed out", "timed_out")

    body = b"".join(client.get("/audit/security.csv").streaming_content).decode()
    rows = [r for r in csv.DictReader(io.StringIO(body)) if r["username"] == "mallory"]
    assert [(r["kind"], r["kind_code"]) for r in rows] == [("login failed", "login_failed")]
