"""The gas emergency screen in the alarm banner: the live gas values of the alarm's area, each
emergency action's state in this activation (waiting, sent, confirmed, failed), the time since
the alarm, and the strip it collapses to; built with the product's own actions."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from hmi.emergency_screen import elapsed_words
from plant.actions.alarms import do_run_emergency_actions, do_set_alarm_condition
from plant.actions.setpoints import do_confirm_setpoint, do_fail_setpoint, do_mark_setpoint_sent
from plant.models import Alarm, EmergencyAction, Plant, Quality, SetpointWrite
from tests.builders import demo_tag, record_value

# The activation is a minute and a half ago, so the screen says how long since.
ACTIVATED_S_AGO = 90


@pytest.fixture
def gas_alarm(demo_plant: Plant) -> Alarm:
    """Methane high-high, active and unacknowledged, its emergency actions written."""
    alarm = Alarm.objects.select_related("definition__tag__machine__line").get(
        definition__tag__key="methane", definition__kind="hh"
    )
    at = timezone.now() - timedelta(seconds=ACTIVATED_S_AGO)
    do_set_alarm_condition(alarm.pk, True, value=45.0, at=at)
    alarm.refresh_from_db()
    do_run_emergency_actions(alarm)
    return alarm


def banner(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.get("/alarms/banner/").content.decode()


def element(html: str, element_id: str) -> str:
    """The text of the element with this id (tags stripped, spaces squeezed)."""
    match = re.search(rf'<li id="{element_id}"[^>]*>(.*?)</li>', html, re.S)
    assert match, f"no #{element_id} in the banner"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def action_id(alarm: Alarm, key: str) -> str:
    action = EmergencyAction.objects.get(tag__key=key)
    return f"emergency-{alarm.pk}-action-{action.pk}"


def write_to(key: str) -> SetpointWrite:
    return SetpointWrite.objects.get(tag__key=key)


@pytest.mark.django_db
def test_the_screen_shows_the_areas_gas_values_in_words_and_nothing_else(
    demo_plant: Plant, users_by_role: dict[str, User], gas_alarm: Alarm
) -> None:
    record_value(demo_tag(demo_plant, "methane"), 45.04)
    record_value(demo_tag(demo_plant, "h2s"), 3.2, quality=Quality.BAD)
    record_value(demo_tag(demo_plant, "fill_level"), 501.0)  # another area: not a gas value
    html = banner(users_by_role["viewer"])
    methane, h2s = (demo_tag(demo_plant, key).pk for key in ("methane", "h2s"))
    assert element(html, f"emergency-{gas_alarm.pk}-tag-{methane}") == "Methane 45.0 %LEL"
    assert element(html, f"emergency-{gas_alarm.pk}-tag-{h2s}") == "Hydrogen sulphide 3.2 ppm bad"
    assert "Fill level" not in html
    assert re.search(r'data-keys="\d+-\d+"', html)  # the activation alarms.js collapses


@pytest.mark.django_db
def test_each_action_reads_waiting_sent_confirmed_or_failed_as_its_write_moves(
    users_by_role: dict[str, User], gas_alarm: Alarm
) -> None:
    viewer = users_by_role["viewer"]
    fan, valve = action_id(gas_alarm, "fan"), action_id(gas_alarm, "valve_open")
    html = banner(viewer)
    assert element(html, fan).startswith("Ventilation fan ← on waiting to be sent")
    now = timezone.now()
    do_mark_setpoint_sent(write_to("fan").pk, now=now)
    do_mark_setpoint_sent(write_to("valve_open").pk, now=now)
    assert element(banner(viewer), fan).startswith(
        "Ventilation fan ← on sent, waiting for the device to confirm"
    )
    do_confirm_setpoint(write_to("fan").pk, 1.0, now=now)
    do_fail_setpoint(write_to("valve_open").pk, detail="read back open", now=now, readback=1.0)
    html = banner(viewer)
    assert re.fullmatch(r"Ventilation fan ← on confirmed by the device \d\d:\d\d:\d\d",
                        element(html, fan))  # fmt: skip
    assert element(html, valve).startswith(
        "Isolation valve ← closed failed (read back open); tried again"
    )
    assert f'id="emergency-strip-{gas_alarm.pk}-action-' in html
    assert "Isolation valve ← closed: failed" in html  # the strip says it too


@pytest.mark.django_db
def test_the_screen_says_since_when_in_the_plants_zone_and_for_how_long(
    demo_plant: Plant, users_by_role: dict[str, User], gas_alarm: Alarm
) -> None:
    html = banner(users_by_role["operator"])
    since = gas_alarm.activated_at
    assert since is not None
    local = since.astimezone(ZoneInfo(demo_plant.time_zone))
    assert f">{local:%H:%M:%S}</time>" in html
    assert re.search(r'data-since="\d+">1 min [3-5]\d s</span> ago', html)
    assert "A supervisor must acknowledge this alarm." in html
    assert "Collapse to a banner" in html and "Show the emergency screen" in html


@pytest.mark.django_db
def test_a_supervisors_acknowledgement_ends_the_screen_and_its_strip(
    users_by_role: dict[str, User], gas_alarm: Alarm
) -> None:
    supervisor = Client()
    supervisor.force_login(users_by_role["supervisor"])
    supervisor.post(f"/alarms/{gas_alarm.pk}/acknowledge/", {"comment": "seen"})
    html = banner(users_by_role["operator"])
    assert "emergency-banner" not in html and "emergency-strip" not in html


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 s"), (59.9, "59 s"), (60, "1 min 00 s"), (754, "12 min 34 s"),
     (3600, "1 h 00 min"), (7505, "2 h 05 min"), (-3, "0 s")],
)  # fmt: skip
def test_the_time_since_the_alarm_reads_in_seconds_minutes_and_hours(
    seconds: float, words: str
) -> None:
    assert elapsed_words(seconds) == words


@given(st.floats(min_value=0, max_value=10 * 86400, allow_nan=False))
def test_the_words_never_say_more_time_than_has_passed_nor_a_minute_less(seconds: float) -> None:
    numbers = [int(n) for n in re.findall(r"\d+", elapsed_words(seconds))]
    units = re.findall(r"[a-z]+", elapsed_words(seconds))
    scale = {"h": 3600, "min": 60, "s": 1}
    said = sum(n * scale[u] for n, u in zip(numbers, units, strict=True))
    assert said <= seconds < said + 60
