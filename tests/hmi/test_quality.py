"""The quality screens, API and export on the real database: the SQL's hours agree with the
pure plant.spc on the same values, bad parameters get a clear 400, another plant's or an
unconfigured tag a 404, and the recommended setpoint opens the audited write path pre-filled."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client

from plant import spc
from plant.models import Plant, Sample, SetpointWrite, SpcSettings, Tag
from tests.builders import demo_tag, record_value

pytestmark = pytest.mark.django_db
HOUR = datetime(2026, 11, 23, 8, tzinfo=UTC)  # a whole hour (UTC)


@pytest.fixture
def level(demo_plant: Plant) -> Tag:
    return demo_tag(demo_plant, "fill_level")


@pytest.fixture
def viewer(users_by_role: dict[str, User]) -> Client:
    client = Client()
    client.force_login(users_by_role["viewer"])
    return client


def hour_of_values(first: list[float], second: list[float]) -> None:
    """Two hours of fill levels, one value a second from HOUR."""
    tag = Tag.objects.get(key="fill_level")
    rows = [Sample(tag=tag, time=HOUR + timedelta(seconds=i), value=v) for i, v in enumerate(first)]
    rows += [Sample(tag=tag, time=HOUR + timedelta(hours=1, seconds=i), value=v)
             for i, v in enumerate(second)]  # fmt: skip
    Sample.objects.bulk_create(rows)


FIRST = [501.0, 499.0, 502.0, 500.5, 498.5] * 40  # 200 bottles in control
SECOND = [505.0] * 194 + [484.0] * 5 + [469.0]  # one below T2, six below T1


def test_the_api_gives_each_hours_capability_and_e_batch_as_plant_spc_does(
    viewer: Client, level: Tag
) -> None:
    hour_of_values(FIRST, SECOND)
    answer = viewer.get(
        "/api/quality/",
        {"tag": level.pk, "start": "2026-11-23T08:00:00Z", "end": "2026-11-23T10:00:00Z"},
    ).json()
    assert answer["spec"] | {"rules": None} == {
        "tag": level.pk, "unit": "ml", "lsl": 490.0, "usl": 510.0, "nominal": 500.0,
        "tne": 15.0, "t1": 485.0, "t2": 470.0, "e_marked": True, "subgroup_size": 5,
        "rules": None, "rules_chart": "xbar",
    }  # fmt: skip
    first, second = answer["hours"]
    assert first["hour"] == "2026-11-23T08:00:00Z" and second["hour"] == "2026-11-23T09:00:00Z"
    for got, values in ((first, FIRST), (second, SECOND)):
        expected = spc.capability(values, 490.0, 510.0, 5)
        batch = spc.e_rule(values, 500.0)
        assert got["n"] == len(values)
        assert got["mean"] == pytest.approx(expected.mean)
        assert got["sigma_within"] == pytest.approx(expected.sigma_within)
        assert got["sigma_overall"] == pytest.approx(expected.sigma_overall)
        for index in ("cp", "cpk", "pp", "ppk"):
            assert got[index] == pytest.approx(getattr(expected, index)), index
        assert got["e_rule"]["below_t1"] == batch.below_t1
        assert got["e_rule"]["below_t2"] == batch.below_t2
        assert got["e_rule"]["compliant"] == batch.compliant
    assert first["e_rule"]["compliant"] and first["e_rule"]["problems"] == []
    assert second["e_rule"] == {
        "compliant": False, "mean_ok": True, "below_t1": 6, "t1_ok": False, "below_t2": 1,
        "t2_ok": False, "problems": ["6 of 200 below T1 485 (over 2.5 %)", "1 below T2 470"],
    }  # fmt: skip
    assert first["recommended_target"] == pytest.approx(
        spc.recommended_target(500, spc.stdev(FIRST))
    )


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({}, "tag: This field is required."),
        ({"tag": "x"}, "tag: Enter a whole number."),
        ({"start": "2026-11-23T10:00:00Z", "end": "2026-11-23T09:00:00Z"},
         "start must be before end"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-01-03T01:00:00Z"},
         "end: a range spans at most 2 days; this one is longer"),
        ({"start": "yesterday"}, "start: Enter a valid date/time."),
    ],
)  # fmt: skip
def test_bad_parameters_are_refused_with_a_reason(
    viewer: Client, level: Tag, query: dict[str, str], reason: str
) -> None:
    if "tag" not in query and query:
        query = {"tag": str(level.pk), **query}
    response = viewer.get("/api/quality/", query)
    assert response.status_code == 400
    assert response.json()["error"] == reason


def test_a_tag_without_spc_settings_or_of_another_plant_is_not_found(
    viewer: Client, demo_plant: Plant, outsider: User, level: Tag
) -> None:
    methane = demo_tag(demo_plant, "methane")
    assert viewer.get("/api/quality/", {"tag": methane.pk}).status_code == 404
    assert viewer.get(f"/quality/{methane.pk}/").status_code == 404
    stranger = Client()
    stranger.force_login(outsider)
    assert stranger.get("/api/quality/", {"tag": level.pk}).status_code == 404
    assert stranger.get(f"/quality/{level.pk}/").status_code == 404
    assert level.description not in stranger.get("/quality/").content.decode()


def test_the_export_has_a_row_per_hour(viewer: Client, level: Tag) -> None:
    hour_of_values(FIRST, SECOND)
    response = viewer.get(
        "/quality/export.csv",
        {"tag": level.pk, "start": "2026-11-23T08:00:00Z", "end": "2026-11-23T10:00:00Z"},
    )
    text = streamed(response)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["hour"] for r in rows] == ["2026-11-23T08:00:00Z", "2026-11-23T09:00:00Z"]
    assert rows[0]["local_hour"] == "2026-11-23T09:00:00+01:00"  # Europe/Berlin
    assert [r["e_compliant"] for r in rows] == ["True", "False"]
    assert rows[1]["below_t2"] == "1"


def streamed(response: Any) -> str:
    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(read)().decode()


def test_the_chart_api_flags_the_point_that_breaks_a_rule(viewer: Client, level: Tag) -> None:
    """With the limits frozen at the fill in control (500 ml, σ 0.3 ml)."""
    SpcSettings.objects.filter(tag=level).update(center_line=500.0, sigma=0.3)
    values = [500.0, 500.4, 499.6, 500.2, 499.8] * 20 + [530.0] * 5  # the last subgroup jumps
    Sample.objects.bulk_create(
        [Sample(tag=level, time=HOUR + timedelta(seconds=i), value=v) for i, v in enumerate(values)]
    )
    answer = viewer.get(
        "/api/quality/charts/",
        {"tag": level.pk, "start": "2026-11-23T08:00:00Z", "end": "2026-11-23T09:00:00Z"},
    ).json()
    assert answer["n"] == 105
    xbar = answer["xbar"]
    assert len(xbar["points"]) == 21 and xbar["points"][-1] == 530.0
    assert xbar["flagged"] == {"20": "1"}
    assert answer["individuals"]["flagged"]["100"].startswith("1")
    assert answer["range"]["ucl"] == pytest.approx(2.114 * answer["range"]["center"])


def test_the_screen_shows_the_hours_and_the_recommended_setpoint(
    viewer: Client, level: Tag, users_by_role: dict[str, User]
) -> None:
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    Sample.objects.bulk_create(
        [
            Sample(tag=level, time=start + timedelta(seconds=i), value=v)
            for i, v in enumerate([490.0, 510.0] * 900)
        ]
    )
    record_value(demo_tag(level.machine.line.plant, "fill_level_sp"), 500.0)
    page = viewer.get(f"/quality/{level.pk}/").content.decode()
    assert "Individual values (I chart)" in page and "Recommended setpoint" in page
    # σ 10.003: 485 + 1.96σ is 504.605, rounded up to the setpoint's tenth of a millilitre.
    assert 'id="quality-target-' in page and "504.7 ml" in page
    assert "fail: mean" not in page  # 500.0 is not below the nominal
    match = re.search(r'hx-get="(/tags/\d+/setpoint/\?[^"]+)"', page)
    assert match, "the button opens the setpoint panel"
    operator = Client()
    operator.force_login(users_by_role["operator"])
    panel = operator.get(match.group(1).replace("&amp;", "&")).content.decode()
    assert 'value="504.7"' in panel and "SPC: σ" in panel


def test_the_recommended_setpoint_goes_through_the_operators_reviewed_write(
    level: Tag, users_by_role: dict[str, User]
) -> None:
    """Review, then send: the same audited path as a value typed in, with its limits."""
    setpoint = demo_tag(level.machine.line.plant, "fill_level_sp")
    record_value(setpoint, 500.0)
    operator = Client()
    operator.force_login(users_by_role["operator"])
    data = {"value": "504.6", "reason": "SPC: σ 10.00 asks for a mean of at least 504.6"}
    review = operator.post(f"/tags/{setpoint.pk}/setpoint/review/", data)
    assert review.status_code == 200 and not SetpointWrite.objects.exists()
    sent = operator.post(f"/tags/{setpoint.pk}/setpoint/write/", data)
    assert sent.status_code == 200
    write = SetpointWrite.objects.get(tag=setpoint)
    assert write.user == users_by_role["operator"] and write.value == 504.6
    assert write.reason.startswith("SPC: σ")


def test_the_index_lists_the_tags_with_spc(viewer: Client, level: Tag) -> None:
    page = viewer.get("/quality/").content.decode()
    assert f'href="/quality/{level.pk}/"' in page and "not evaluated yet" in page
    assert SpcSettings.objects.filter(tag=level).exists()
