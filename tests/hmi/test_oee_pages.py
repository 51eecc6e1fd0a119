"""The OEE screens, API and CSV export on the worked example; stops tagged from the screen."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User
from django.test import Client

from plant.models import MachineStop, MachineStopEntry, OeeMachine, Plant, StopReason
from tests.oee_data import DAY, at, worked_example

pytestmark = pytest.mark.django_db
EARLY = {"period": "shift", "date": DAY.isoformat(), "shift": "Early"}


@pytest.fixture
def filler(demo_plant: Plant) -> OeeMachine:
    config = OeeMachine.objects.select_related("machine__line").get(
        machine__line__plant=demo_plant, machine__slug="filler"
    )
    worked_example(config)
    return config


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_api_answers_the_worked_example(
    filler: OeeMachine, users_by_role: dict[str, User]
) -> None:
    response = client_of(users_by_role["viewer"]).get(
        "/api/oee/", {"machine": filler.machine_id, **EARLY}
    )
    assert response.status_code == 200
    body = response.json()
    figures = body["oee"]
    assert [round(figures[k], 3) for k in ("availability", "performance", "quality", "oee")] == [
        0.9, 0.9, 0.98, 0.794]  # fmt: skip
    assert (figures["produced"], figures["good"], figures["rejected"]) == (72_900, 71_442, 1458)
    assert body["period"] == {"kind": "shift", "label": "Early shift of Wednesday 2026-12-02",
                              "start": "2026-12-02T05:00:00Z", "end": "2026-12-02T13:00:00Z",
                              "live": False}  # fmt: skip
    assert [(p["category"], p["seconds"]) for p in body["pareto"]] == [("breakdown", 1800),
                                                                      ("starved", 900)]  # fmt: skip
    assert [s["category"] for s in body["stops"]] == ["breakdown", "starved"]
    assert body["timeline"][0]["category"] == "running"


def test_the_lines_oee_is_its_bottlenecks(
    filler: OeeMachine, users_by_role: dict[str, User]
) -> None:
    body = (
        client_of(users_by_role["viewer"])
        .get("/api/oee/", {"line": filler.machine.line_id, **EARLY})
        .json()
    )
    assert body["method"] == "bottleneck"
    assert round(body["oee"]["oee"], 3) == 0.794
    assert [m["machine"]["name"] for m in body["machines"]] == ["Filler"]


@pytest.mark.parametrize(
    ("query", "message"),
    [({"machine": "x"}, "machine: Enter a whole number."),
     ({}, "give machine=<id> or line=<id> (one of them)"),
     ({"machine": "1", "period": "range", "start": "2026-12-01T00:00:00Z"},
      "a range needs a start and an end"),
     ({"machine": "1", "period": "range", "start": "2026-11-01T00:00:00Z",
       "end": "2026-12-15T00:00:00Z"}, "end: a range spans at most 31 days"),
     ({"machine": "1", "shift": "Early"}, "date: a named shift needs the date it starts on"),
     ({"machine": "1", "period": "month"}, "period: Select a valid choice.")],
)  # fmt: skip
def test_bad_parameters_get_a_reason(
    users_by_role: dict[str, User], query: dict[str, str], message: str
) -> None:
    response = client_of(users_by_role["viewer"]).get("/api/oee/", query)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_the_csv_has_each_shift_and_the_total(
    filler: OeeMachine, users_by_role: dict[str, User]
) -> None:
    response = client_of(users_by_role["viewer"]).get(
        "/oee/export.csv", {"machine": filler.machine_id, "period": "day", "date": DAY.isoformat()}
    )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["shift"] for r in rows] == ["Early", "Late", "Night", "total: Wednesday 2026-12-02"]
    assert round(float(rows[0]["oee"]), 3) == 0.794
    assert float(rows[0]["breakdown_s"]) == 1800


def test_the_machine_screen_shows_the_figures_timeline_pareto_and_stops(
    filler: OeeMachine, users_by_role: dict[str, User]
) -> None:
    response = client_of(users_by_role["viewer"]).get(f"/oee/machines/{filler.machine_id}/",
                                                      EARLY)  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="oee-availability"' in html and "90.0 %" in html and "79.4 %" in html
    assert html.count("<rect") >= 7 + 2  # the timeline's intervals and the Pareto's bars
    assert 'id="loss-breakdown"' in html and "30 min" in html
    assert "No shift" not in html
    assert 'name="reason"' not in html  # a viewer gives no reasons
    operator = client_of(users_by_role["operator"]).get(f"/oee/machines/{filler.machine_id}/",
                                                        EARLY).content.decode()  # fmt: skip
    assert operator.count('name="reason"') == 2


def test_the_overview_lists_the_current_shift_of_each_machine(
    filler: OeeMachine, users_by_role: dict[str, User]
) -> None:
    html = client_of(users_by_role["viewer"]).get("/oee/").content.decode()
    assert f'id="oee-row-{filler.machine_id}"' in html and "shift of" in html


def test_an_operator_tags_a_stop_and_the_api_shows_its_reason(
    filler: OeeMachine, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    client = client_of(users_by_role["operator"])
    jam = StopReason.objects.get(plant=demo_plant, name="Nozzle fault")
    url = f"/oee/machines/{filler.machine_id}/stops/"
    response = client.post(url, {"started_at": at(60).isoformat(), "reason": jam.pk,
                                 "comment": "nozzle 4", "back": "period=day"})  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == f"/oee/machines/{filler.machine_id}/?period=day"
    stop = MachineStop.objects.get()
    assert (stop.started_at, stop.ended_at, stop.reason) == (at(60), at(90), jam)
    body = client.get("/api/oee/", {"machine": filler.machine_id, **EARLY}).json()
    assert body["stops"][0]["reason"] == "Nozzle fault"
    assert body["stops"][0]["tagged_by"] == "operator-user"
    # Not a stop this machine had, a reason of no plant's: refused, nothing stored.
    for data in ({"started_at": at(61).isoformat(), "reason": jam.pk},
                 {"started_at": "yesterday", "reason": jam.pk},
                 {"started_at": at(400).isoformat(), "reason": 99999}):  # fmt: skip
        assert client.post(url, data).status_code == 400
    assert MachineStopEntry.objects.count() == 1


def test_a_reason_with_a_category_moves_the_stops_loss(
    filler: OeeMachine, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    change = StopReason.objects.get(plant=demo_plant, name="Product change")
    client_of(users_by_role["operator"]).post(
        f"/oee/machines/{filler.machine_id}/stops/",
        {"started_at": at(400).isoformat(), "reason": change.pk},
    )
    body = (
        client_of(users_by_role["viewer"])
        .get("/api/oee/", {"machine": filler.machine_id, **EARLY})
        .json()
    )
    assert {p["category"]: p["seconds"] for p in body["pareto"]} == {"breakdown": 1800,
                                                                    "changeover": 900}  # fmt: skip
