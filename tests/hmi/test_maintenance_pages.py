"""The maintenance list, the health cards, their API and CSV, and the zones on gauges and trends."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from hmi.readings import read_latest, reading_html
from hmi.screen_queries import reading_tags
from plant.models import Machine, Plant, Tag
from tests.builders import demo_tag, record_value

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client: Client, users_by_role: dict[str, User]) -> Client:
    client.force_login(users_by_role["viewer"])
    return client


def pump(plant: Plant) -> Machine:
    return Machine.objects.get(line__plant=plant, slug="pump")


def test_the_maintenance_list_shows_the_pump_card_with_its_zone_in_words(
    viewer: Client, demo_plant: Plant
) -> None:
    record_value(demo_tag(demo_plant, "vibration_rms"), 3.1)
    record_value(demo_tag(demo_plant, "bearing_temp"), 52.4)
    html = viewer.get("/maintenance/").content.decode()
    card = html[html.index(f'id="health-{pump(demo_plant).pk}"') :]
    assert 'data-zone="C"' in card
    assert "zone C</span>: not for long-term operation" in card
    assert "A/B 1.4 · B/C 2.8 · C/D 4.5 mm/s" in card
    assert "52.4 °C" in card
    assert "no estimate: too few days of data (0 of 7)" in card
    assert "not judged yet: needs 60 hours of history" in card


def test_the_machine_screen_loads_the_card_of_a_monitored_machine_only(
    viewer: Client, demo_plant: Plant
) -> None:
    pump_page = viewer.get(f"/machines/{pump(demo_plant).pk}/").content.decode()
    assert f'hx-get="/maintenance/machines/{pump(demo_plant).pk}/"' in pump_page
    filler = demo_tag(demo_plant, "fill_level").machine
    assert "/maintenance/machines/" not in viewer.get(f"/machines/{filler.pk}/").content.decode()
    assert viewer.get(f"/maintenance/machines/{filler.pk}/").status_code == 404
    card = viewer.get(f"/maintenance/machines/{pump(demo_plant).pk}/")
    assert card.status_code == 200 and b'class="panel health-card"' in card.content


def test_the_api_answers_each_monitor_with_its_class_and_boundaries(
    viewer: Client, demo_plant: Plant
) -> None:
    record_value(demo_tag(demo_plant, "vibration_rms"), 2.2)
    body = viewer.get("/api/maintenance/").json()
    (machine,) = body["machines"]
    (monitor,) = machine["monitors"]
    assert machine["name"] == "Transfer pump"
    assert (machine["plant"], machine["urgency"]) == (demo_plant.slug, 4)
    assert monitor["boundaries"] == {"ab": 1.4, "bc": 2.8, "cd": 4.5}
    assert (monitor["zone"], monitor["value"], monitor["unit"]) == ("B", 2.2, "mm/s")
    assert monitor["remaining_life"]["withheld"] == "too few days of data (0 of 7)"
    assert body["thresholds"]["remaining_life"] == {"min_days": 7, "min_r2": 0.7,
                                                    "max_extrapolation": 2.0}  # fmt: skip


@pytest.mark.parametrize(
    ("query", "status", "reason"),
    [({"plant": "pump"}, 400, "plant: Enter a whole number."), ({"plant": "0"}, 400, "plant: "),
     ({"plant": "999999"}, 404, "no plant 999999 that you may see")],
)  # fmt: skip
def test_a_bad_plant_is_refused_with_its_reason(
    viewer: Client, demo_plant: Plant, query: dict[str, str], status: int, reason: str
) -> None:
    response = viewer.get("/api/maintenance/", query)
    assert response.status_code == status
    assert response.json()["error"].startswith(reason)
    assert viewer.get("/maintenance/export.csv", query).status_code == status


def test_the_csv_has_a_line_per_monitor(viewer: Client, demo_plant: Plant) -> None:
    record_value(demo_tag(demo_plant, "vibration_rms"), 4.8)
    response = viewer.get("/maintenance/export.csv", {"plant": demo_plant.pk})
    assert response["Content-Disposition"] == 'attachment; filename="maintenance.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    row = rows[0]
    assert (row["machine"], row["tag"], row["zone"], row["class"]) == (
        "pump", "vibration_rms", "D", "group 2, rigid")  # fmt: skip
    assert row["withheld"] == "too few days of data (0 of 7)"


def zones_in(html: str) -> list[str]:
    return re.findall(r'class="gauge-zone gauge-zone-([cd])"', html)


def test_a_vibration_gauge_draws_zones_c_and_d_and_other_gauges_none(demo_plant: Plant) -> None:
    tags = {t.key: t for t in reading_tags().filter(machine__line__plant=demo_plant)}
    vibration = read_latest(tags["vibration_rms"], timezone.now())
    assert zones_in(reading_html(vibration, "radial")) == ["c", "d"]
    assert zones_in(reading_html(vibration, "bar")) == ["c", "d"]
    # The bar's range is 0 to 20 mm/s: zone C from 2.8 (x 28.0) to 4.5 (x 45.0).
    assert '<rect class="gauge-zone gauge-zone-c" x="28.0" y="21" width="17.0"' in reading_html(
        vibration, "bar"
    )
    assert zones_in(reading_html(read_latest(tags["fill_level"], timezone.now()), "radial")) == []


def test_drawing_a_tag_read_without_its_monitor_runs_no_query(
    demo_plant: Plant, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    bare = Tag.objects.select_related("latest").get(pk=demo_tag(demo_plant, "vibration_rms").pk)
    with django_assert_num_queries(0):
        html = reading_html(read_latest(bare, timezone.now()), "radial")
    assert zones_in(html) == []  # not known without the monitor: drawn without zones


def test_the_trend_of_a_vibration_tag_carries_its_zones(viewer: Client, demo_plant: Plant) -> None:
    vibration = demo_tag(demo_plant, "vibration_rms")
    html = viewer.get("/trend/", {"tag": vibration.pk}).content.decode()
    config = json.loads(re.search(r'id="trend-config"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert config["tags"][0]["zones"] == {"ab": 1.4, "bc": 2.8, "cd": 4.5}
    other = viewer.get("/trend/", {"tag": demo_tag(demo_plant, "fill_level").pk}).content.decode()
    assert '"zones": null' in other
