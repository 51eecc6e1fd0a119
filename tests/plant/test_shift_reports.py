"""A shift report of a constructed shift: known samples, alarms, setpoint writes and counters
stored in the real database, and the exact figures asserted in the figures, the page, the
CSV and the PDF's own text (read back with pypdf)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pypdf import PdfReader

from plant.actions.alarms import do_set_alarm_condition
from plant.models import (
    Alarm,
    OeeMachine,
    Plant,
    SetpointWrite,
    ShiftReportSettings,
    Tag,
)
from plant.report_pdf import csv_rows, pdf_of
from plant.shift_reports import ReportError, active_seconds, figures, resolve_period
from tests.history_data import add_samples
from tests.oee_data import DAY, SHIFT_START, at, worked_example

pytestmark = pytest.mark.django_db
SHIFT_END = SHIFT_START + timedelta(hours=8)


def tag(plant: Plant, key: str) -> Tag:
    return Tag.objects.get(machine__line__plant=plant, key=key)


def alarm(plant: Plant, key: str, kind: str) -> Alarm:
    return Alarm.objects.get(definition__tag__machine__line__plant=plant,
                             definition__tag__key=key, definition__kind=kind)  # fmt: skip


def constructed_shift(plant: Plant) -> dict[str, object]:
    """The Early shift of 2 Dec 2026 (06:00-14:00 Berlin) with known figures."""
    filler = OeeMachine.objects.get(machine__line__plant=plant, machine__slug="filler")
    worked_example(filler)  # OEE: A 90.0 %, P 90.0 %, Q 98.0 %, 79.4 %; 72,900 made
    level = tag(plant, "fill_level")
    # One fill a minute over the shift: 498, 500, 502, ... (avg 500, min 498, max 502), and
    # values outside it that must not count.
    add_samples(level.pk, [(at(m), 500.0 + 2 * (m % 3 - 1)) for m in range(480)])
    add_samples(level.pk, [(at(-1), 400.0), (at(480), 600.0)])
    settings = ShiftReportSettings.objects.create(plant=plant, recipients="shift@example.com")
    settings.key_tags.set([level])
    # The energy meter: 1,000 kWh before the shift, 1,200 kWh at its end.
    add_samples(tag(plant, "energy").pk, [(at(-1), 1000.0), (at(479.9), 1200.0)])
    # Alarms: methane high-high twice (30 min and 10 min), methane high active from before
    # the shift until 20 minutes into it.
    hh, high = alarm(plant, "methane", "hh"), alarm(plant, "methane", "h")
    do_set_alarm_condition(high.pk, True, value=12.0, at=at(-60))
    do_set_alarm_condition(high.pk, False, value=5.0, at=at(20))
    for on, off in ((10, 40), (100, 110)):
        do_set_alarm_condition(hh.pk, True, value=45.0, at=at(on))
        do_set_alarm_condition(hh.pk, False, value=5.0, at=at(off))
    # Setpoint writes: 3 by alice (one failed), 1 by the system (timed out), 1 after the shift.
    alice = User.objects.create_user("alice")
    sp = tag(plant, "fill_level_sp")
    for minutes, user, state, detail in (
        (5, alice, "confirmed", ""), (50, alice, "confirmed", ""),
        (70, alice, "failed", "read back 499"), (300, None, "timed_out", "no readback"),
        (481, alice, "confirmed", ""),
    ):  # fmt: skip
        SetpointWrite.objects.create(
            tag=sp, value=500.5, user=user, state=state, detail=detail,
            requested_at=at(minutes), expires_at=at(minutes + 1), finished_at=at(minutes + 0.5),
        )  # fmt: skip
    return {"level": level}


def test_the_figures_of_a_constructed_shift(demo_plant: Plant) -> None:
    made = constructed_shift(demo_plant)
    period = resolve_period(demo_plant, DAY, "Early")
    assert (period.start, period.end) == (SHIFT_START, SHIFT_END)
    f = figures(demo_plant, period, now=SHIFT_END + timedelta(minutes=1))

    assert f["start_local"] == "2026-12-02 06:00 CET"
    assert f["end_local"] == "2026-12-02 14:00 CET"
    assert f["alarms"]["activations"] == 2
    assert f["alarms"]["by_priority"] == {"critical": 2, "high": 0, "medium": 0, "low": 0}
    assert f["alarms"]["most_activations"] == [
        {"alarm": "Methane high-high: gas leak (methane)", "times": 2}
    ]
    assert f["alarms"]["longest_active"] == [
        {"alarm": "Methane high-high: gas leak (methane)", "active_s": 2400.0,
         "active": "0:40:00"},
        {"alarm": "Methane high (methane)", "active_s": 1200.0, "active": "0:20:00"},
    ]  # fmt: skip
    assert f["setpoints"]["count"] == 4
    assert f["setpoints"]["not_applied"] == 2
    assert f["setpoints"]["by_user"] == [{"user": "alice", "count": 3},
                                         {"user": "system", "count": 1}]  # fmt: skip
    assert [(r["user"], r["state"], r["detail"]) for r in f["setpoints"]["refused"]] == [
        ("alice", "failed", "read back 499"), ("system", "timed out", "no readback")
    ]  # fmt: skip
    level = made["level"]
    assert isinstance(level, Tag)
    (value,) = f["values"]
    assert (value["tag_id"], value["min"], value["max"], value["count"]) == (
        level.pk, 498.0, 502.0, 480
    )  # fmt: skip
    assert value["avg"] == pytest.approx(500.0)
    (oee,) = f["oee"]
    assert (oee["availability_pct"], oee["performance_pct"], oee["quality_pct"],
            oee["oee_pct"]) == (90.0, 90.0, 98.0, 79.4)  # fmt: skip
    assert (oee["produced"], oee["good"]) == (72_900, 71_442)
    (fill,) = f["quality"]
    assert len(fill["hours"]) == 8
    assert {h["n"] for h in fill["hours"]} == {60}
    assert {h["mean"] for h in fill["hours"]} == {500.0}
    energy = {e["scope"]: e for e in f["energy"]}
    line = energy["Filling line"]
    assert (line["kwh"], line["units"], line["kwh_per_1000"]) == (200.0, 72_900, 2.743)


def test_the_page_the_csv_and_the_pdf_show_the_same_figures(demo_plant: Plant) -> None:
    constructed_shift(demo_plant)
    f = figures(demo_plant, resolve_period(demo_plant, DAY, "Early"),
                now=SHIFT_END + timedelta(minutes=1))  # fmt: skip

    rows = list(csv.reader(io.StringIO(_csv_text(f))))
    assert rows[0] == ["section", "item", "measure", "value", "unit"]
    cells = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
    assert cells[("alarms", "all", "activations")] == "2"
    assert cells[("alarms_longest_active", "Methane high (methane)", "active_s")] == "1200.0"
    assert cells[("setpoints", "all", "writes")] == "4"
    assert cells[("setpoints", "all", "not_applied")] == "2"
    assert cells[("setpoints_by_user", "alice", "writes")] == "3"
    assert cells[("values", "Filler / fill_level", "min")] == "498.0"
    assert cells[("values", "Filler / fill_level", "max")] == "502.0"
    assert cells[("oee", "Filling line / Filler", "oee_pct")] == "79.4"
    assert cells[("energy", "Filling line", "kwh")] == "200.0"

    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf_of(f))).pages)
    text = " ".join(text.split())
    for expected in (
        "Demo Bottling Plant · Early shift, 2026-12-02",
        "2026-12-02 06:00 CET – 2026-12-02 14:00 CET",
        "Activations 2", "Methane high-high: gas leak (methane) 0:40:00",
        "Methane high (methane) 0:20:00", "Writes 4", "Not applied 2", "alice 3", "system 1",
        "Filler / fill_level", "498.0 502.0 500.0 ml 480",
        "90.0 % 90.0 % 98.0 % 79.4 % 72900 71442", "Filling line 200.0 72900 2.74",
    ):  # fmt: skip
        assert expected in text, f"{expected!r} not in the PDF's text: {text}"


def _csv_text(f: dict[str, object]) -> str:
    from hmi.csv_safety import csv_text

    return csv_text(csv_rows(f))


def test_a_report_asked_on_the_page_shows_the_constructed_figures(
    demo_plant: Plant, client: Client
) -> None:
    constructed_shift(demo_plant)
    client.force_login(User.objects.create_superuser("boss"))
    asked = f"/reports/build/?plant={demo_plant.pk}&date=2026-12-02&shift=Early"
    page = client.get(asked)
    assert page.status_code == 200
    html = page.content.decode()
    assert '<dd id="alarm-activations">2</dd>' in html
    assert '<dd id="setpoint-count">4</dd>' in html
    assert '<dd id="setpoint-not-applied">2</dd>' in html
    cells = '<td class="num">498.0</td><td class="num">502.0</td><td class="num">500.0</td>'
    assert cells in html
    assert "<strong>79.4 %</strong>" in html
    assert "0:40:00" in html

    pdf = client.get(asked + "&format=pdf")
    assert pdf["Content-Type"] == "application/pdf"
    pages = PdfReader(io.BytesIO(pdf.content)).pages
    assert "79.4 %" in " ".join(p.extract_text() for p in pages)
    sheet = client.get(asked + "&format=csv")
    assert "oee,Filling line / Filler,oee_pct,79.4,%" in sheet.content.decode()


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("date=2026-12-02", "plant: name a plant"),
        ("plant={plant}", "date: give a day"),
        ("plant={plant}&date=2026-13-45", "date: give a day as YYYY-MM-DD"),
        ("plant={plant}&date=1999-12-31", "give a day between 2000-01-01 and 2199-12-31"),
        ("plant={plant}&date=2026-12-02&shift=Lunch",
         "no shift &#x27;Lunch&#x27; starts on 2026-12-02 (shifts: Early, Late, Night)"),
        ("plant={plant}&date=2026-12-02&format=docx", "format: Select a valid choice"),
    ],
)  # fmt: skip
def test_a_bad_request_is_a_400_that_says_what_is_wrong(
    demo_plant: Plant, client: Client, query: str, says: str
) -> None:
    client.force_login(User.objects.create_superuser("boss"))
    answer = client.get("/reports/build/?" + query.format(plant=demo_plant.pk))
    assert answer.status_code == 400
    assert says in answer.content.decode()


def test_an_unknown_plant_is_a_404(demo_plant: Plant, client: Client) -> None:
    client.force_login(User.objects.create_superuser("boss"))
    assert client.get("/reports/build/?plant=999999&date=2026-12-02").status_code == 404
    assert client.get("/reports/?plant=999999").status_code == 404
    assert client.get("/reports/999999/").status_code == 404
    answer = client.get("/reports/?plant=abc")
    assert answer.status_code == 400
    assert "plant must be a number, not &#x27;abc&#x27;" in answer.content.decode()


def test_an_unknown_shift_names_the_days_shifts(demo_plant: Plant) -> None:
    with pytest.raises(ReportError, match=r"no shift 'Lunch' starts on 2026-12-02"):
        resolve_period(demo_plant, date(2026, 12, 2), "Lunch")


def test_a_day_report_covers_the_plants_local_day(demo_plant: Plant) -> None:
    period = resolve_period(demo_plant, DAY)
    assert (period.kind, period.name) == ("day", "2026-12-02")
    assert period.end - period.start == timedelta(hours=24)
    assert [w.name for w in period.windows] == ["Early", "Late", "Night"]


def test_active_time_is_cut_to_the_period() -> None:
    start, end = SHIFT_START, SHIFT_END
    assert active_seconds(False, [], start, end) == 0
    assert active_seconds(True, [], start, end) == 8 * 3600
    changes = [(at(10), "unack"), (at(20), "ack"), (at(40), "normal"), (at(470), "unack")]
    assert active_seconds(False, changes, start, end) == (30 + 10) * 60
    assert active_seconds(True, [(at(5), "rtn_unack")], start, end) == 5 * 60
    assert active_seconds(True, [(at(5), "shelved"), (at(6), "unack")], start, end) == (
        5 * 60 + 474 * 60
    )
