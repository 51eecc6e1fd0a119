"""The shift calendar's admin pages: a plant admin adds shifts by weekday with their breaks."""

from __future__ import annotations

from datetime import time

import pytest
from django.contrib.auth.models import User
from django.test import Client

from plant.models import ConfigChange, Plant, Shift

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client, users_by_role: dict[str, User]) -> Client:
    client.force_login(users_by_role["admin"])
    return client


def shift_form(plant: Plant, *breaks: tuple[str, str], **fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "plant": str(plant.pk), "name": "Weekend", "start_time": "08:00", "end_time": "16:00",
        "weekdays": ["6", "7"], "valid_from": "", "valid_until": "",
        "breaks-TOTAL_FORMS": str(len(breaks)), "breaks-INITIAL_FORMS": "0",
    }  # fmt: skip
    for i, (start, end) in enumerate(breaks):
        data |= {f"breaks-{i}-name": "Break", f"breaks-{i}-start_time": start,
                 f"breaks-{i}-end_time": end}  # fmt: skip
    return data | fields


def test_an_admin_adds_a_weekend_shift_with_its_break(
    admin_client: Client, demo_plant: Plant
) -> None:
    Shift.objects.filter(plant=demo_plant).update(weekdays="12345")
    response = admin_client.post("/admin/plant/shift/add/",
                                 shift_form(demo_plant, ("12:00", "12:30")))  # fmt: skip
    assert response.status_code == 302, response.context["adminform"].form.errors
    shift = Shift.objects.get(plant=demo_plant, name="Weekend")
    assert shift.weekdays == "67"
    assert [(b.start_time, b.end_time) for b in shift.breaks.all()] == [(time(12), time(12, 30))]
    change = ConfigChange.objects.get(model="plant.shift", object_id=str(shift.pk))
    assert (change.action, change.actor) == ("create", "admin-user")
    assert change.plant_id == demo_plant.pk
    page = admin_client.get(f"/admin/plant/shift/{shift.pk}/change/")
    assert page.context["adminform"].form["weekdays"].value() == ["6", "7"]


def test_a_shift_over_the_existing_ones_is_refused_with_both_named(
    admin_client: Client, demo_plant: Plant
) -> None:
    response = admin_client.post("/admin/plant/shift/add/", shift_form(demo_plant))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["start_time"]
    assert "Weekend (Sat,Sun 08:00-16:00) overlaps Late" in " ".join(errors)
    assert not Shift.objects.filter(name="Weekend").exists()


@pytest.mark.parametrize(
    ("breaks", "message"),
    [((("07:30", "08:30"),), "not inside the shift 08:00-16:00"),
     ((("10:00", "11:00"), ("10:30", "10:45")), "Two breaks of the shift overlap.")],
)  # fmt: skip
def test_breaks_outside_the_shift_or_over_each_other_are_refused(
    admin_client: Client, demo_plant: Plant, breaks: tuple[tuple[str, str], ...], message: str
) -> None:
    Shift.objects.filter(plant=demo_plant).delete()
    response = admin_client.post("/admin/plant/shift/add/", shift_form(demo_plant, *breaks))
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    found = [str(e) for form_errors in formset.errors for errs in form_errors.values()
             for e in errs] + [str(e) for e in formset.non_form_errors()]  # fmt: skip
    assert any(message in text for text in found), found
    assert not Shift.objects.filter(name="Weekend").exists()
