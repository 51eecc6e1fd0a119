"""The history and current-values API: who may read what, with a session or a token, what a
bad request is told, and the times in UTC."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from plant.actions.setpoints import do_request_setpoint
from plant.models import ApiToken, Plant, Quality, Tag
from tests.builders import demo_tag, record_value
from tests.history_data import T0, add_samples, add_series, at

pytestmark = pytest.mark.django_db
ROLES = ["viewer", "operator", "supervisor", "admin"]


@pytest.fixture
def level(demo_plant: Plant) -> Tag:
    tag = demo_tag(demo_plant, "tank_level")
    add_series(tag.pk, T0, 3600, value=lambda i: 50.0 + i % 10)  # one hour at 1 Hz
    return tag


def url(path: str, **params: object) -> str:
    pairs = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
    return f"{path}?{urlencode(pairs)}"


def history_url(
    tag: Tag | list[Tag], start: object = T0, end: object = None, **more: object
) -> str:
    ids = [t.pk for t in tag] if isinstance(tag, list) else tag.pk
    end = end or at(hours=1)
    return url("/api/history/", tag=ids, start=iso(start), end=iso(end), **more)


def iso(moment: object) -> str:
    return moment.isoformat() if hasattr(moment, "isoformat") else str(moment)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_of_the_plant_reads_its_history(
    client: Client, users_by_role: dict[str, User], level: Tag, role: str
) -> None:
    client.force_login(users_by_role[role])
    response = client.get(history_url(level, points=100))
    assert response.status_code == 200
    (series,) = response.json()["series"]
    assert (series["tag"], series["unit"], series["bucket_s"]) == (level.pk, "%", 60)
    assert len(series["time"]) == 60
    assert series["min"][0] == 50.0 and series["max"][0] == 59.0


def test_a_user_of_another_plant_is_told_the_tag_does_not_exist(
    client: Client, outsider: User, level: Tag
) -> None:
    client.force_login(outsider)
    for path in (history_url(level), url("/api/current/", tag=level.pk)):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {"error": f"no tag {level.pk} that you may see"}


def test_without_a_session_or_token_the_api_answers_401_not_a_login_form(
    client: Client, level: Tag
) -> None:
    for path in (
        history_url(level),
        url("/api/current/", tag=level.pk),
        url("/api/markers/", tag=level.pk),
    ):
        response = client.get(path)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert "Bearer" in response.json()["error"]


def test_the_trend_page_sends_anonymous_visitors_to_the_login_form(client: Client) -> None:
    response = client.get("/trend/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_bearer_token_reads_as_its_user_and_notes_its_use(
    client: Client, users_by_role: dict[str, User], level: Tag
) -> None:
    token, secret = ApiToken.issue(users_by_role["viewer"], "report")
    response = client.get(history_url(level), headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert secret not in str(ApiToken.objects.values_list().get())  # only its hash is stored


@pytest.mark.parametrize("header", ["Bearer scada_not-a-token", "Bearer nonsense", "Bearer "])
def test_a_wrong_token_is_refused(client: Client, level: Tag, header: str) -> None:
    response = client.get(history_url(level), headers={"Authorization": header})
    assert response.status_code == 401


def test_a_token_sees_only_what_its_user_may_see(
    client: Client, outsider: User, users_by_role: dict[str, User], level: Tag
) -> None:
    _, secret = ApiToken.issue(outsider, "elsewhere")
    response = client.get(history_url(level), headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 404
    viewer = users_by_role["viewer"]
    _, secret = ApiToken.issue(viewer, "report")
    viewer.is_active = False
    viewer.save(update_fields=["is_active"])
    response = client.get(history_url(level), headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"tag": []}, "tag: This field is required."),
        ({"tag": "fill"}, "tag: tag ids are whole numbers"),
        ({"start": "yesterday"}, "start: Enter a valid date/time."),
        ({"start": at(hours=2).isoformat()}, "start must be before end"),
        ({"points": 1}, "points: Ensure this value is greater than or equal to 2."),
        ({"points": 10_001}, "points: Ensure this value is less than or equal to 10000."),
        ({"points": "many"}, "points: Enter a whole number."),
        ({"bucket": 0}, "bucket: Ensure this value is greater than or equal to 1."),
        ({"bucket": 60, "points": 100}, "give points or bucket, not both"),
        ({"bucket": 1, "end": at(days=1).isoformat()}, "cuts this range into 86400 buckets"),
        ({"tag": list(range(1, 10))}, "tag: at most 8 tags at once"),
        ({"start": "1999-12-31T23:59:59Z"}, "start: give a time between 2000-01-01 and 2200-01-01"),
        ({"end": "9000-01-01T00:00:00Z"}, "end: give a time between 2000-01-01 and 2200-01-01"),
        ({"start": "2031-01-01T00:00:00Z", "end": "2032-02-05T00:00:01Z"}, "end: a range spans"),
        ({"bucket": 34_560_001}, "bucket: Ensure this value is less than or equal to 34560000."),
    ],
)
def test_bad_parameters_get_a_400_with_the_reason(
    client: Client,
    users_by_role: dict[str, User],
    level: Tag,
    params: dict[str, object],
    reason: str,
) -> None:
    client.force_login(users_by_role["viewer"])
    query = {"tag": level.pk, "start": T0.isoformat(), "end": at(hours=1).isoformat(), **params}
    response = client.get(url("/api/history/", **query))
    assert response.status_code == 400
    assert reason in response.json()["error"]


def test_text_tags_cannot_be_bucketed_and_say_so(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    client.force_login(users_by_role["viewer"])
    response = client.get(history_url(demo_tag(demo_plant, "state"), bucket=60))
    assert response.status_code == 400
    assert "holds text" in response.json()["error"]


def test_times_are_utc_and_a_range_may_be_given_in_any_offset(
    client: Client, users_by_role: dict[str, User], level: Tag
) -> None:
    client.force_login(users_by_role["viewer"])
    berlin_start = "2031-03-03T01:00:00+01:00"  # T0 in Central European Time
    response = client.get(history_url(level, start=berlin_start, end="2031-03-03T00:00:10Z"))
    series = response.json()["series"][0]
    assert response.json()["start"] == "2031-03-03T00:00:00Z"
    assert (series["bucket_s"], series["time"][0]) == (None, "2031-03-03T00:00:00Z")
    assert len(series["value"]) == 10
    naive = client.get(history_url(level, start="2031-03-03T00:00:00", end="2031-03-03T00:00:10"))
    assert naive.json()["series"][0]["time"] == series["time"]  # no offset: UTC


def test_raw_history_carries_quality_and_leaves_gaps_to_the_chart(
    client: Client, users_by_role: dict[str, User], level: Tag
) -> None:
    add_samples(level.pk, [(at(hours=3), 1.0, Quality.BAD), (at(hours=3, seconds=1), 2.0)])
    client.force_login(users_by_role["viewer"])
    response = client.get(history_url(level, start=at(hours=2), end=at(hours=4)))
    series = response.json()["series"][0]
    assert series["quality"] == ["bad", "good"]
    assert series["max_gap_s"] == level.heartbeat_s  # the demo's tank level has a deadband


def test_several_tags_come_back_in_the_order_asked(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, level: Tag
) -> None:
    power = demo_tag(demo_plant, "power")
    client.force_login(users_by_role["viewer"])
    response = client.get(history_url([power, level], points=10))
    assert [s["tag"] for s in response.json()["series"]] == [power.pk, level.pk]
    assert [s["unit"] for s in response.json()["series"]] == ["kW", "%"]


def test_current_values_are_read_with_their_time_and_quality(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, level: Tag
) -> None:
    record_value(level, 72.25, quality=Quality.UNCERTAIN)
    power = demo_tag(demo_plant, "power")
    client.force_login(users_by_role["viewer"])
    response = client.get(url("/api/current/", tag=[level.pk, power.pk]))
    first, second = response.json()["values"]
    assert (first["value"], first["quality"], first["formatted"]) == (72.25, "uncertain", "72.2")
    assert first["time"].endswith("Z")
    assert second == {"tag": power.pk, "time": None, "value": None, "text": None, "quality": None}


def test_markers_list_setpoint_writes_in_the_range(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    sp = demo_tag(demo_plant, "fill_level_sp")
    record_value(sp, 500.0)
    write = do_request_setpoint(sp, 502.0, by=users_by_role["operator"], reason="trial")
    client.force_login(users_by_role["viewer"])
    now = timezone.now()
    response = client.get(
        url(
            "/api/markers/",
            tag=sp.pk,
            start=(now - timedelta(hours=1)).isoformat(),
            end=(now + timedelta(minutes=1)).isoformat(),
        )
    )
    (marker,) = response.json()["markers"]
    assert (marker["tag"], marker["kind"]) == (sp.pk, "setpoint")
    assert marker["time"] == write.requested_at.isoformat().replace("+00:00", "Z")
    assert "502" in marker["text"] and "operator-user" in marker["text"]


def test_a_superuser_makes_a_token_in_the_admin_and_sees_its_secret_once(
    client: Client, users_by_role: dict[str, User], level: Tag
) -> None:
    client.force_login(User.objects.create_superuser("root", password="pw"))
    form = {"user": users_by_role["viewer"].pk, "name": "energy report"}
    page = client.post("/admin/plant/apitoken/add/", form, follow=True).content.decode()
    match = re.search(r"scada_[A-Za-z0-9_-]{20,}", page)
    assert match, "the new token's secret is shown"
    token = ApiToken.objects.get()
    assert (
        client.get(f"/admin/plant/apitoken/{token.pk}/change/").content.decode().count(match[0])
        == 0
    )
    client.logout()
    response = client.get(history_url(level), headers={"Authorization": f"Bearer {match[0]}"})
    assert response.status_code == 200
