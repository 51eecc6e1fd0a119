"""The setpoint panel, its two-step write, the loop switch and the audit trail, through Django's
test client on the real database: who may do what, and what each refusal says."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db.models import F
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from plant.actions.setpoints import (
    do_claim_setpoint,
    do_confirm_setpoint,
    do_mark_setpoint_sent,
    do_request_setpoint,
)
from plant.models import ControlLoop, Plant, SetpointWrite, Tag
from tests.builders import demo_tag, record_value

pytestmark = pytest.mark.django_db


@pytest.fixture
def fill_level_sp(demo_plant: Plant) -> Tag:
    tag = demo_tag(demo_plant, "fill_level_sp")
    record_value(tag, 500.0)
    return tag


def as_user(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def post_write(client: Client, tag: Tag, value: str, reason: str = "") -> tuple[int, str]:
    response = client.post(f"/tags/{tag.pk}/setpoint/write/", {"value": value, "reason": reason})
    return response.status_code, response.content.decode()


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("viewer", False), ("operator", True), ("supervisor", True), ("admin", True)],
)
def test_only_operators_and_above_can_write_setpoints(
    client: Client, users_by_role: dict[str, User], fill_level_sp: Tag, role: str, allowed: bool
) -> None:
    status, html = post_write(as_user(client, users_by_role[role]), fill_level_sp, "502")
    assert status == (200 if allowed else 403)
    assert SetpointWrite.objects.exists() == allowed  # a refusal stores and sends nothing
    if allowed:
        assert 'data-state="pending"' in html and "500.0 ml → 502.0 ml" in html


def test_a_supervisor_of_another_plant_finds_no_such_tag(
    client: Client, outsider: User, fill_level_sp: Tag
) -> None:
    assert post_write(as_user(client, outsider), fill_level_sp, "502")[0] == 404
    assert not SetpointWrite.objects.exists()


def test_review_shows_tag_current_and_new_value_units_and_limits_and_stores_nothing(
    client: Client, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    response = as_user(client, users_by_role["operator"]).post(
        f"/tags/{fill_level_sp.pk}/setpoint/review/", {"value": "503.5", "reason": "new bottle"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    for text in ("Fill level setpoint", "500.0 ml", "503.5 ml", "480.0 to 520.0 ml",
                 "at most 5.0 ml per write", "new bottle", "Send", "Cancel"):  # fmt: skip
        assert text in html
    assert not SetpointWrite.objects.exists()


REFUSALS = [
    ("530", "530.0 ml is outside the limits 480.0 to 520.0 ml: nothing was sent."),
    ("506", "A change of 6.0 ml from 500.0 ml is larger than the largest allowed step"),
    ("lots", "Enter a number."),
]


@pytest.mark.parametrize(("value", "message"), REFUSALS)
@pytest.mark.parametrize("step", ["review", "write"])
def test_a_refused_value_comes_back_with_its_reason_next_to_the_field(
    client: Client, users_by_role: dict[str, User], fill_level_sp: Tag, value: str, message: str,
    step: str,
) -> None:  # fmt: skip
    response = as_user(client, users_by_role["operator"]).post(
        f"/tags/{fill_level_sp.pk}/setpoint/{step}/", {"value": value}
    )
    html = response.content.decode()
    assert response.status_code == 422  # hmi.js has htmx swap 422 responses in place
    error_block = html.split(f'id="setpoint-error-{fill_level_sp.pk}"')[1].split("</div>")[0]
    assert message in error_block
    assert not SetpointWrite.objects.exists()


def test_a_second_write_within_the_rate_limit_is_refused(
    client: Client, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    as_user(client, users_by_role["operator"])
    assert post_write(client, fill_level_sp, "502")[0] == 200
    status, html = post_write(client, fill_level_sp, "503")
    assert status == 422 and "between writes to one tag" in html
    assert SetpointWrite.objects.count() == 1


def test_a_tag_that_is_not_writable_has_no_setpoint_endpoints(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    fill_level = demo_tag(demo_plant, "fill_level")
    as_user(client, users_by_role["operator"])
    assert post_write(client, fill_level, "500")[0] == 404
    assert client.get(f"/tags/{fill_level.pk}/setpoint/").status_code == 404


def test_the_panel_offers_the_form_only_to_those_who_may_write(
    client: Client, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    url = f"/tags/{fill_level_sp.pk}/setpoint/"
    viewer_html = as_user(client, users_by_role["viewer"]).get(url).content.decode()
    assert "Your role may not write setpoints" in viewer_html
    assert "setpoint-form-" not in viewer_html and 'name="mode"' not in viewer_html
    operator_html = as_user(client, users_by_role["operator"]).get(url).content.decode()
    assert f'id="setpoint-form-{fill_level_sp.pk}"' in operator_html


def test_the_fill_level_setpoint_panel_carries_the_loop_faceplate(
    client: Client, users_by_role: dict[str, User], fill_level_sp: Tag, demo_plant: Plant
) -> None:
    loop = ControlLoop.objects.get(sp_tag=fill_level_sp)
    as_user(client, users_by_role["operator"])
    html = client.get(f"/tags/{fill_level_sp.pk}/setpoint/").content.decode()
    assert f'id="loop-{loop.pk}"' in html and "MANUAL" in html and 'value="auto"' in html
    flow_sp = demo_tag(demo_plant, "flow_rate_sp")
    html = client.get(f"/tags/{flow_sp.pk}/setpoint/").content.decode()
    assert "Set by the fill-level loop while it is in auto" in html


def test_an_operator_switches_the_loop_and_a_stale_measurement_is_refused(
    client: Client, users_by_role: dict[str, User], fill_level_sp: Tag, demo_plant: Plant
) -> None:
    loop = ControlLoop.objects.get(sp_tag=fill_level_sp)
    record_value(loop.pv_tag, 500.0, age_s=60)
    as_user(client, users_by_role["operator"])
    response = client.post(f"/loops/{loop.pk}/mode/", {"mode": "auto"})
    assert response.status_code == 422
    assert "Cannot switch to auto: the measurement is stale" in response.content.decode()
    record_value(loop.pv_tag, 500.0)
    response = client.post(f"/loops/{loop.pk}/mode/", {"mode": "auto"})
    assert response.status_code == 200 and "AUTO" in response.content.decode()
    assert ControlLoop.objects.get(pk=loop.pk).mode == "auto"


def test_a_viewer_cannot_switch_the_loop(
    client: Client, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    loop = ControlLoop.objects.get(sp_tag=fill_level_sp)
    as_user(client, users_by_role["viewer"])
    assert client.post(f"/loops/{loop.pk}/mode/", {"mode": "auto"}).status_code == 403
    assert ControlLoop.objects.get(pk=loop.pk).mode == "manual"


def make_writes(users_by_role: dict[str, User], demo_plant: Plant) -> list[SetpointWrite]:
    """Three writes: an operator's, a supervisor's (confirmed) and the system's."""
    fan, valve = demo_tag(demo_plant, "fan"), demo_tag(demo_plant, "valve_open")
    # The rate limit allows one write per tag every 0.5 s: earlier writes are made older.
    age_writes()
    first = do_request_setpoint(fan, 1, by=users_by_role["operator"], reason="=cmd()")
    second = do_request_setpoint(valve, 0, by=users_by_role["supervisor"])
    age_writes()
    third = do_request_setpoint(fan, 0, by=None, reason="gas emergency")
    now = timezone.now()
    do_claim_setpoint(second.pk, now=now)
    do_mark_setpoint_sent(second.pk, now=now)
    do_confirm_setpoint(second.pk, 0.0, now=now)
    return [first, second, third]


def age_writes() -> None:
    SetpointWrite.objects.update(requested_at=F("requested_at") - timedelta(minutes=10))


AUDIT_FILTERS = [
    ({}, 3),
    ({"user": "operator-user"}, 1),
    ({"user": "system"}, 1),
    ({"state": "confirmed"}, 1),
    ({"since": "2000-01-01T00:00", "until": "2000-01-02T00:00"}, 0),
]


@pytest.mark.parametrize(("filters", "count"), AUDIT_FILTERS)
def test_the_audit_trail_lists_every_write_and_filters_it(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, filters: dict[str, str],
    count: int,
) -> None:  # fmt: skip
    make_writes(users_by_role, demo_plant)
    response = as_user(client, users_by_role["viewer"]).get("/audit/setpoints/", filters)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('<tr id="setpoint-') == count
    assert f"{count} write" in html


def test_the_audit_trail_filters_by_tag_and_shows_values_with_units(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, fill_level_sp: Tag
) -> None:
    make_writes(users_by_role, demo_plant)
    do_request_setpoint(fill_level_sp, 504, by=users_by_role["operator"])
    as_user(client, users_by_role["viewer"])
    html = client.get("/audit/setpoints/", {"tag": fill_level_sp.pk}).content.decode()
    assert html.count('<tr id="setpoint-') == 1
    assert "500.0 ml" in html and "504.0 ml" in html


def test_the_audit_trail_shows_another_plants_writes_to_no_one(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, outsider: User
) -> None:
    make_writes(users_by_role, demo_plant)
    html = as_user(client, outsider).get("/audit/setpoints/").content.decode()
    assert '<tr id="setpoint-' not in html


def test_the_audit_page_needs_a_constant_number_of_queries(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant,
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:  # fmt: skip
    make_writes(users_by_role, demo_plant)
    as_user(client, users_by_role["viewer"])
    with django_assert_max_num_queries(12):
        client.get("/audit/setpoints/")
    make_writes(users_by_role, demo_plant)
    with django_assert_max_num_queries(12):
        client.get("/audit/setpoints/")


def test_the_audit_trail_exports_as_csv_with_formulas_defused(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    writes = make_writes(users_by_role, demo_plant)
    response = as_user(client, users_by_role["viewer"]).get("/audit/setpoints.csv")
    assert response.streaming and response["Content-Type"] == "text/csv"
    body = b"".join(response.streaming_content).decode()  # type: ignore[arg-type]
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 3
    by_id = {row["command_id"]: row for row in rows}
    first = by_id[str(writes[0].command_id)]
    assert (first["tag"], first["value"], first["user"], first["reason"]) == (
        "fan",
        "1.0",
        "operator-user",
        "'=cmd()",
    )
    confirmed = by_id[str(writes[1].command_id)]
    assert confirmed["state"] == "confirmed" and confirmed["confirmed_at"]
    assert confirmed["state_code"] == "confirmed"
    assert by_id[str(writes[2].command_id)]["user"] == "system"


@pytest.mark.parametrize("reason", ["\t=cmd()", "\r=cmd()", "+1+cmd()", "@SUM(A1)"])
def test_an_audit_csv_cell_never_starts_a_formula_even_after_a_tab_or_carriage_return(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, reason: str
) -> None:
    operator = User.objects.create_user(username="-ops", password="pw")
    operator.groups.add(*users_by_role["operator"].groups.all())
    demo_plant.members.add(operator)
    do_request_setpoint(demo_tag(demo_plant, "fan"), 1, by=operator, reason=reason)
    response = as_user(client, users_by_role["viewer"]).get("/audit/setpoints.csv")
    body = b"".join(response.streaming_content).decode()  # type: ignore[arg-type]
    (row,) = csv.DictReader(io.StringIO(body))
    assert (row["reason"], row["user"], row["value"]) == (f"'{reason}", "'-ops", "1.0")


def test_nothing_can_edit_or_delete_the_audit_trail_in_the_admin(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    write = make_writes(users_by_role, demo_plant)[0]
    as_user(client, users_by_role["admin"])
    assert client.get(f"/admin/plant/setpointwrite/{write.pk}/change/").status_code == 200
    assert client.post(f"/admin/plant/setpointwrite/{write.pk}/delete/").status_code == 403
    assert client.get("/admin/plant/setpointwrite/add/").status_code == 403
    assert SetpointWrite.objects.filter(pk=write.pk).exists()
