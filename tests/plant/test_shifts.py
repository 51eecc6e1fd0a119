"""A plant's shift calendar read from the database: shifts, breaks, planned downtime, checks."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from plant.models import Line, PlannedDowntime, Plant, Shift, ShiftBreak
from plant.shifts import day_window, shift_at, shifts_between

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")


def local(moment: datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%m-%d %H:%M")


def test_the_demo_plant_runs_three_shifts_a_day_with_a_break_each(demo_plant: Plant) -> None:
    start, end = day_window(demo_plant, date(2026, 12, 3))
    assert (local(start), local(end)) == ("12-03 00:00", "12-04 00:00")
    found = shifts_between(demo_plant, start, end)
    assert [(w.name, local(w.start), local(w.end)) for w in found] == [
        ("Night", "12-02 22:00", "12-03 06:00"),
        ("Early", "12-03 06:00", "12-03 14:00"),
        ("Late", "12-03 14:00", "12-03 22:00"),
        ("Night", "12-03 22:00", "12-04 06:00"),
    ]
    assert [w.planned_busy_s / 3600 for w in found] == [7.5, 7.5, 7.5, 7.5]
    assert {w.plant_id for w in found} == {demo_plant.pk}


def test_the_shift_at_an_instant_is_the_one_running_then(demo_plant: Plant) -> None:
    at = datetime(2026, 12, 3, 12, 59, 59, tzinfo=UTC)  # 13:59:59 in Berlin
    assert shift_at(demo_plant, at).name == "Early"  # type: ignore[union-attr]
    assert shift_at(demo_plant, at + timedelta(seconds=1)).name == "Late"  # type: ignore[union-attr]
    Shift.objects.filter(plant=demo_plant, name="Late").delete()
    assert shift_at(demo_plant, at + timedelta(seconds=1)) is None
    Shift.objects.filter(plant=demo_plant).delete()
    assert shifts_between(demo_plant, at, at + timedelta(days=1)) == []


def test_planned_downtime_of_the_plant_and_of_a_line_is_not_planned_busy_time(
    demo_plant: Plant,
) -> None:
    filling = Line.objects.get(plant=demo_plant, slug="filling")
    gas = Line.objects.get(plant=demo_plant, slug="gas")
    early_start = datetime(2026, 12, 3, 5, tzinfo=UTC)  # 06:00 in Berlin
    PlannedDowntime.objects.create(plant=demo_plant, reason="all", start_at=early_start,
                                   end_at=early_start + timedelta(hours=1))  # fmt: skip
    PlannedDowntime.objects.create(plant=demo_plant, line=filling, reason="filler service",
                                   start_at=early_start + timedelta(hours=6),
                                   end_at=early_start + timedelta(hours=7))  # fmt: skip
    PlannedDowntime.objects.create(plant=demo_plant, line=gas, reason="not this line",
                                   start_at=early_start + timedelta(hours=2),
                                   end_at=early_start + timedelta(hours=3))  # fmt: skip
    at = early_start + timedelta(minutes=30)
    assert shift_at(demo_plant, at).planned_busy_s == 6.5 * 3600  # type: ignore[union-attr]
    on_filling = shift_at(demo_plant, at, line=filling)
    assert on_filling is not None and on_filling.planned_busy_s == 5.5 * 3600
    assert [(local(a), local(b)) for a, b in on_filling.planned_downtime] == [
        ("12-03 06:00", "12-03 07:00"), ("12-03 12:00", "12-03 13:00"),
    ]  # fmt: skip


def test_naive_times_are_refused(demo_plant: Plant) -> None:
    with pytest.raises(ValueError, match="aware"):
        shifts_between(demo_plant, datetime(2026, 1, 1), datetime(2026, 1, 2))  # noqa: DTZ001


def test_a_shift_over_another_is_refused_naming_both(demo_plant: Plant) -> None:
    extra = Shift(plant=demo_plant, name="Overtime", start_time=time(21), end_time=time(23),
                  weekdays="6")  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        extra.full_clean()
    messages = refused.value.message_dict["start_time"]
    assert messages == [
        "Late (Mon,Tue,Wed,Thu,Fri,Sat,Sun 14:00-22:00) overlaps Overtime (Sat 21:00-23:00).",
        "Overtime (Sat 21:00-23:00) overlaps Night (Mon,Tue,Wed,Thu,Fri,Sat,Sun 22:00-06:00).",
    ]
    # Another plant's shifts are no concern of this one's.
    other = Plant.objects.create(name="Other", slug="other", time_zone="UTC")
    Shift(plant=other, name="Overtime", start_time=time(21), end_time=time(23)).full_clean()


def test_a_shift_valid_only_before_another_begins_may_take_its_hours(demo_plant: Plant) -> None:
    Shift.objects.filter(plant=demo_plant).update(valid_from=date(2027, 1, 1))
    old = Shift(plant=demo_plant, name="Old day", start_time=time(7), end_time=time(15),
                weekdays="12345", valid_until=date(2026, 12, 30))  # fmt: skip
    old.full_clean()
    old.save()
    found = shifts_between(demo_plant, *day_window(demo_plant, date(2026, 12, 30)))
    assert [w.name for w in found] == ["Old day"]
    assert "Old day" not in [w.name for w in shifts_between(
        demo_plant, *day_window(demo_plant, date(2027, 1, 1)))]  # fmt: skip


@pytest.mark.parametrize(
    ("weekdays", "ok"), [("12345", True), ("7", True), ("", False), ("118", False), ("0", False)]
)
def test_weekdays_are_iso_numbers_each_at_most_once(
    demo_plant: Plant, weekdays: str, ok: bool
) -> None:
    Shift.objects.filter(plant=demo_plant).delete()
    shift = Shift(plant=demo_plant, name="Day", start_time=time(6), end_time=time(14),
                  weekdays=weekdays)  # fmt: skip
    if ok:
        shift.full_clean()
    else:
        with pytest.raises(ValidationError) as refused:
            shift.full_clean()
        assert "weekdays" in refused.value.message_dict


def test_a_break_outside_its_shift_is_refused(demo_plant: Plant) -> None:
    night = Shift.objects.get(plant=demo_plant, name="Night")
    ShiftBreak(shift=night, start_time=time(5, 30), end_time=time(6)).full_clean()
    with pytest.raises(ValidationError) as refused:
        ShiftBreak(shift=night, start_time=time(5, 45), end_time=time(6, 15)).full_clean()
    assert refused.value.message_dict["end_time"] == [
        "The break 05:45-06:15 is not inside the shift 22:00-06:00."
    ]


def test_planned_downtime_ends_after_it_starts_on_a_line_of_its_plant(demo_plant: Plant) -> None:
    other = Plant.objects.create(name="Other", slug="other", time_zone="UTC")
    foreign = Line.objects.create(plant=other, name="L", slug="l")
    at = datetime(2026, 12, 3, tzinfo=UTC)
    with pytest.raises(ValidationError) as refused:
        PlannedDowntime(plant=demo_plant, line=foreign, start_at=at, end_at=at,
                        reason="x").full_clean()  # fmt: skip
    assert set(refused.value.message_dict) == {"line", "end_at"}
