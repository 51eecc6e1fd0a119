"""The energy API, its CSV export and the energy screen, on the real database."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from plant.models import ApiToken, EnergyMeter, Plant, Sample
from plant.shifts import day_window

pytestmark = pytest.mark.django_db
DAY = date(2026, 6, 4)
SECOND = timedelta(seconds=1)


def meter_of(plant: Plant) -> EnergyMeter:
    return EnergyMeter.objects.select_related("energy_tag", "production_tag").get(plant=plant)


def a_day_of_readings(plant: Plant, day: date, kwh: float, bottles: float) -> None:
    """Readings a second before the day and before its end: `kwh` used, `bottles` made."""
    meter = meter_of(plant)
    start, end = day_window(plant, day)
    assert meter.production_tag is not None
    Sample.objects.bulk_create([
        Sample(tag=meter.energy_tag, time=start - SECOND, value=10_000.0),
        Sample(tag=meter.energy_tag, time=end - SECOND, value=10_000.0 + kwh),
        Sample(tag=meter.production_tag, time=start - SECOND, value=0.0),
        Sample(tag=meter.production_tag, time=end - SECOND, value=bottles),
    ])  # fmt: skip


def body(response: HttpResponse) -> str:
    """A streamed (asynchronous) response's text."""

    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])  # type: ignore[union-attr]

    return async_to_sync(read)().decode()


@pytest.fixture
def viewer(client: Client, users_by_role: dict[str, User]) -> Client:
    client.force_login(users_by_role["viewer"])
    return client


def test_the_api_gives_each_days_consumption_output_and_specific_energy(
    viewer: Client, demo_plant: Plant
) -> None:
    a_day_of_readings(demo_plant, DAY, 4_800.0, 240_000.0)
    response = viewer.get(f"/api/energy/?plant={demo_plant.pk}&first={DAY}&last={DAY}")
    assert response.status_code == 200
    body = response.json()
    assert body["plant"]["time_zone"] == "Europe/Berlin"
    line, whole = body["scopes"]
    assert line["name"] == "Filling line" and whole["line"] is None
    for scope in (line, whole):
        (day,) = scope["days"]
        assert day["label"] == "2026-06-04" and day["start"] == "2026-06-03T22:00:00Z"
        assert day["kwh"] == pytest.approx(4_800.0)
        assert day["units"] == pytest.approx(240_000.0)
        assert day["kwh_per_1000"] == pytest.approx(20.0)
    assert line["baseline"] is None  # no earlier days to fit
    # The demo's calendar: each shift that begins on the day, together all the day used.
    assert [s["label"] for s in line["shifts"]] == ["Early", "Late", "Night"]
    assert sum(s["kwh"] for s in line["shifts"]) == pytest.approx(4_800.0)


def test_a_bearer_token_reads_the_api(client: Client, users_by_role: dict[str, User],
                                      demo_plant: Plant) -> None:  # fmt: skip
    _, secret = ApiToken.issue(users_by_role["viewer"], "energy script")
    response = client.get(f"/api/energy/?plant={demo_plant.pk}",
                          headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
    assert response.status_code == 200
    assert response.json()["first"] == response.json()["last"]  # today


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "plant: This field is required."),
        ("plant=x", "plant: Enter a whole number."),
        ("plant={plant}&first=2026-13-01", "first: Enter a valid date."),
        ("plant={plant}&first=2026-06-05&last=2026-06-01", "first must not be after last"),
        ("plant={plant}&first=2020-01-01&last=2026-01-01", "last: at most 400 days at once"),
        ("plant={plant}&first=1999-01-01", "first: give a day between 2000-01-01 and 2199-12-31"),
    ],
)
def test_bad_parameters_get_a_clear_400(
    viewer: Client, demo_plant: Plant, query: str, reason: str
) -> None:
    response = viewer.get("/api/energy/?" + query.format(plant=demo_plant.pk))
    assert response.status_code == 400
    assert response.json()["error"] == reason


def test_another_plant_is_answered_as_if_it_did_not_exist(viewer: Client) -> None:
    other = Plant.objects.create(name="Other", slug="other")
    for path in ("/api/energy/", "/api/energy/demand/", "/energy/export.csv"):
        response = viewer.get(f"{path}?plant={other.pk}")
        assert response.status_code == 404
        assert response.json() == {"error": f"no plant {other.pk} that you may see"}


def test_the_demand_api_gives_the_days_blocks_and_the_contract(
    viewer: Client, demo_plant: Plant
) -> None:
    meter = meter_of(demo_plant)
    start, _ = day_window(demo_plant, DAY)
    # 200 kW for the day's first hour, a reading a second.
    Sample.objects.bulk_create(
        Sample(tag=meter.energy_tag, time=start + timedelta(seconds=i), value=500 + 200 * i / 3600)
        for i in range(-60, 3601)
    )
    body = viewer.get(f"/api/energy/demand/?plant={demo_plant.pk}&day={DAY}").json()
    assert body["interval_min"] == 15
    assert body["contracted_peak_kw"] == 215.0
    assert body["warning_kw"] == pytest.approx(204.25)
    assert [b["kw"] for b in body["blocks"][:4]] == pytest.approx([200.0] * 4, rel=1e-6)
    assert body["blocks"][0]["start"] == "2026-06-03T22:00:00Z"
    assert len(body["blocks"]) == 96 and body["blocks"][4]["kw"] < 1  # its last second
    assert body["now"] is None  # a past day has no live block


def test_today_the_demand_api_predicts_the_current_block(viewer: Client, demo_plant: Plant) -> None:
    meter = meter_of(demo_plant)
    now = timezone.now()
    Sample.objects.bulk_create(
        Sample(tag=meter.energy_tag, time=now - timedelta(seconds=i), value=900 - 230 * i / 3600)
        for i in range(0, 1200)
    )
    body = viewer.get(f"/api/energy/demand/?plant={demo_plant.pk}").json()
    assert body["now"]["predicted_kw"] == pytest.approx(230.0, rel=0.03)
    assert body["now"]["state"] == "over"  # above the demo's 215 kW peak


def test_the_export_has_a_row_per_line_and_day(viewer: Client, demo_plant: Plant) -> None:
    a_day_of_readings(demo_plant, DAY, 4_800.0, 240_000.0)
    response = viewer.get(f"/energy/export.csv?plant={demo_plant.pk}&first={DAY}")
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('20260604-20260604.csv"')
    text = body(response)
    head, *rows = list(csv.reader(io.StringIO(text)))
    line, whole = (row for row in rows if row[1] == "day")  # the calendar's shifts beside them
    assert {row[2] for row in rows if row[1] == "shift"} >= {"Early"}
    assert head[:3] == ["scope", "kind", "label"] and head[6] == "kwh"
    assert line[:3] == ["Filling line", "day", "2026-06-04"]
    assert float(line[6]) == pytest.approx(4_800.0) and float(line[8]) == pytest.approx(20.0)
    assert whole[0] == "Demo Bottling Plant"


def test_the_screen_shows_the_day_the_baseline_and_the_demand(
    viewer: Client, demo_plant: Plant
) -> None:
    meter = meter_of(demo_plant)
    assert meter.production_tag is not None
    kwh, bottles, rows = 10_000.0, 0.0, []
    for n in range(7):  # a reading a second before each of 7 days: 6 days of differing output
        start = day_window(demo_plant, DAY - timedelta(days=6 - n))[0] - SECOND
        rows += [Sample(tag=meter.energy_tag, time=start, value=kwh),
                 Sample(tag=meter.production_tag, time=start, value=bottles)]  # fmt: skip
        kwh, bottles = kwh + 4000 + 100 * n, bottles + 200_000 + 10_000 * n
    Sample.objects.bulk_create(rows)
    response = viewer.get(f"/energy/plants/{demo_plant.pk}/?day={DAY - timedelta(days=1)}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Filling line" in html and 'id="demand-panel"' in html
    assert "Contracted peak" in html and "215.0" in html
    assert 'id="baseline-line-' in html and "kWh a day of base load" in html
    fragment = viewer.get(f"/energy/plants/{demo_plant.pk}/demand/")
    assert fragment.status_code == 200 and 'id="demand-panel"' in fragment.content.decode()


def test_a_plant_without_meters_says_so(client: Client, db: None) -> None:
    plant = Plant.objects.create(name="Bare", slug="bare")
    root = User.objects.create_superuser("root")
    client.force_login(root)
    html = client.get(f"/energy/plants/{plant.pk}/").content.decode()
    assert "no energy meters yet" in html
    assert client.get("/energy/").status_code == 200
    body = client.get(f"/api/energy/?plant={plant.pk}").json()
    assert body["scopes"] == []


def test_the_energy_index_lists_the_users_plants(viewer: Client, demo_plant: Plant) -> None:
    html = viewer.get("/energy/").content.decode()
    assert f"/energy/plants/{demo_plant.pk}/" in html
