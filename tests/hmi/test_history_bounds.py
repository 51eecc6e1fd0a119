"""Every history range is bounded (2000 to 2200, at most 400 days), and every legal one is
answered: no request of the history API, the markers or the export ends in a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmi.history_forms import HistoryForm
from plant.historian import MAX_POINTS
from plant.models import Plant, Tag
from tests.builders import demo_tag
from tests.history_data import T0, add_series

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_SPAN = timedelta(days=400)
MAX_BUCKET_S = 400 * 86400
# A random range rarely meets the data, so half of them lie around it: the bucketed paths run.
NEAR_DATA = st.datetimes(
    min_value=(T0 - timedelta(days=1)).replace(tzinfo=None),
    max_value=(T0 + timedelta(days=1)).replace(tzinfo=None),
)
STARTS = st.one_of(
    NEAR_DATA,
    st.datetimes(min_value=EARLIEST.replace(tzinfo=None), max_value=LATEST.replace(tzinfo=None)),
)
SPANS = st.timedeltas(min_value=timedelta(microseconds=1), max_value=MAX_SPAN)
SIZES = st.one_of(
    st.just({}),
    st.builds(lambda n: {"points": n}, st.integers(2, MAX_POINTS)),
    st.builds(lambda n: {"bucket": n}, st.integers(1, MAX_BUCKET_S)),
)
API_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def viewer_client(client: Client, users_by_role: dict[str, User]) -> Client:
    client.force_login(users_by_role["viewer"])
    return client


@pytest.fixture
def level(demo_plant: Plant) -> Tag:
    tag = demo_tag(demo_plant, "tank_level")
    add_series(tag.pk, T0, 3600, value=lambda i: 50.0 + i % 10)
    return tag


def z(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/history/", "/api/markers/", "/history/export.csv"])
def test_a_range_of_millennia_is_refused_at_once_with_the_field_named(
    viewer_client: Client, level: Tag, path: str
) -> None:
    query = {"tag": level.pk, "start": "2000-01-01T00:00:00Z", "end": "9000-01-01T00:00:00Z"}
    response = viewer_client.get(f"{path}?{urlencode(query)}")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "end": ["give a time between 2000-01-01 and 2200-01-01 (UTC)"]
    }


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/history/", "/history/export.csv"])
def test_a_range_longer_than_400_days_is_refused(
    viewer_client: Client, level: Tag, path: str
) -> None:
    query = {"tag": level.pk, "start": "2031-01-01T00:00:00Z", "end": "2032-02-05T00:00:01Z"}
    response = viewer_client.get(f"{path}?{urlencode(query)}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["end"]


@pytest.mark.django_db
@API_SETTINGS
@given(start=STARTS, span=SPANS, size=SIZES)
def test_every_legal_range_of_the_history_api_is_answered(
    viewer_client: Client, level: Tag, start: datetime, span: timedelta, size: dict[str, int]
) -> None:
    end = min(start + span, LATEST.replace(tzinfo=None))
    query = {"tag": level.pk, "start": z(start), "end": z(end), **size}
    response = viewer_client.get(f"/api/history/?{urlencode(query)}")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:  # only too many buckets for an explicit width, or no range
        assert "buckets" in response.json()["error"] or start >= end


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end"),
    [("0001-01-01T00:00", "0001-01-02T00:00"), ("2031-01-01T00:00", "2033-01-01T00:00")],
)
def test_the_trend_page_refuses_a_custom_range_out_of_bounds(
    viewer_client: Client, level: Tag, start: str, end: str
) -> None:
    query = {"tag": level.pk, "range": "custom", "start": start, "end": end}
    response = viewer_client.get(f"/trend/?{urlencode(query)}")
    assert response.status_code == 400
    assert "config" not in response.context


@given(
    start=st.one_of(st.text(max_size=40), st.datetimes().map(z)),
    end=st.one_of(st.text(max_size=40), st.datetimes().map(z)),
    points=st.one_of(st.text(max_size=12), st.integers().map(str)),
    bucket=st.one_of(st.text(max_size=12), st.integers().map(str)),
)
def test_the_history_form_refuses_or_bounds_any_input_and_never_raises(
    start: str, end: str, points: str, bucket: str
) -> None:
    form = HistoryForm(
        {"tag": ["1"], "start": start, "end": end, "points": points, "bucket": bucket}
    )
    if form.is_valid():
        data = form.cleaned_data
        assert EARLIEST <= data["start"] < data["end"] <= LATEST
        assert data["end"] - data["start"] <= MAX_SPAN
