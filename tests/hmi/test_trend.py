"""The trend page: which tags it offers, and the range it hands to trend.js, in UTC."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client

from plant.models import Plant, Tag
from tests.builders import demo_tag

pytestmark = pytest.mark.django_db


def config_of(html: str) -> dict[str, object]:
    match = re.search(r'<script id="trend-config" type="application/json">(.*?)</script>', html)
    assert match, "the page hands trend.js its configuration"
    return json.loads(match[1])


def test_the_picker_offers_the_plants_numeric_and_bool_tags(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    client.force_login(users_by_role["viewer"])
    html = client.get("/trend/").content.decode()
    offered = set(map(int, re.findall(r'name="tag" value="(\d+)"', html)))
    drawable = Tag.objects.filter(machine__line__plant=demo_plant).exclude(data_type="string")
    assert offered == set(drawable.values_list("pk", flat=True))
    assert "Times in Europe/Berlin" in html
    assert '<a class="button" href="/trend/">Trends</a>' in html  # in every page's top bar


def test_a_user_of_another_plant_is_offered_nothing_and_cannot_chart_its_tags(
    client: Client, outsider: User, demo_plant: Plant
) -> None:
    client.force_login(outsider)
    level = demo_tag(demo_plant, "tank_level")
    html = client.get(f"/trend/?tag={level.pk}").content.decode()
    assert 'name="tag"' not in html
    assert "trend-config" not in html
    assert "There are no tags you may see." in html


@pytest.mark.parametrize(
    ("span_range", "hours"), [("hour", 1), ("shift", 8), ("day", 24), ("week", 168)]
)
def test_a_relative_range_ends_now_and_follows_the_tail(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, span_range: str, hours: int
) -> None:
    level = demo_tag(demo_plant, "tank_level")
    client.force_login(users_by_role["viewer"])
    config = config_of(client.get(f"/trend/?tag={level.pk}&range={span_range}").content.decode())
    start, end = (_utc(config["start"]), _utc(config["end"]))
    assert (end - start).total_seconds() == hours * 3600
    assert config["live"] is True
    assert [t["id"] for t in config["tags"]] == [level.pk]


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("2031-03-03T08:00", "2031-03-03T07:00:00Z"),  # winter: CET, UTC+1
        ("2031-07-01T08:00", "2031-07-01T06:00:00Z"),  # summer: CEST, UTC+2
    ],
)
def test_a_custom_range_is_read_in_the_plants_time_zone(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, local: str, utc: str
) -> None:
    level = demo_tag(demo_plant, "tank_level")
    client.force_login(users_by_role["viewer"])
    end = local[:11] + "16:00"
    page = client.get(f"/trend/?tag={level.pk}&range=custom&start={local}&end={end}")
    config = config_of(page.content.decode())
    assert (config["start"], config["live"], config["timeZone"]) == (utc, False, "Europe/Berlin")
    assert f'value="{local}"' in page.content.decode()  # shown back as the plant's clocks read


def test_a_custom_range_without_an_end_is_refused_with_the_reason(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    client.force_login(users_by_role["viewer"])
    response = client.get("/trend/?range=custom&start=2031-03-03T08:00")
    assert response.status_code == 400
    assert "a custom range needs a start and an end" in response.content.decode()


def _utc(text: object) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
