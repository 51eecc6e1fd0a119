"""Vibration monitors on the real database: the class's zone alarms, their updates, the checks,
and the machines' health read from the historian (plant.maintenance)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client

from plant.actions.vibration import do_apply_vibration_class
from plant.demo import load_demo_plant
from plant.historian import Bucket
from plant.maintenance import DAY_S, daily_points, plant_health
from plant.models import (
    AlarmDefinition,
    ConfigChange,
    Machine,
    Plant,
    Tag,
    VibrationMonitor,
)
from tests.builders import demo_tag, record_value
from tests.history_data import T0, add_series

pytestmark = pytest.mark.django_db


def zone_alarms(tag: Tag) -> dict[str, tuple[float, float, float, str]]:
    rows = AlarmDefinition.objects.filter(tag=tag).values_list(
        "kind", "limit", "deadband", "on_delay_s", "priority"
    )
    return {kind: rest for kind, *rest in rows}  # type: ignore[misc]


def test_the_demo_pump_has_its_class_alarms_in_place_of_the_old_fixed_one(
    demo_plant: Plant,
) -> None:
    vibration = demo_tag(demo_plant, "vibration_rms")
    monitor = VibrationMonitor.objects.get(tag=vibration)
    assert (monitor.machine_group, monitor.foundation) == (2, "rigid")
    assert monitor.bearing_temperature_tag == demo_tag(demo_plant, "bearing_temp")
    assert zone_alarms(vibration) == {
        "h": [2.8, 0.14, 5.0, "medium"], "hh": [4.5, 0.225, 5.0, "high"],
    }  # fmt: skip
    message = AlarmDefinition.objects.get(tag=vibration, kind="h").message
    assert message == (
        "Transfer pump: Vibration RMS in zone C (from 2.8 mm/s, ISO 10816-3 group 2, rigid)"
    )


def test_loading_the_demo_again_records_no_change_of_its_zone_alarms(demo_plant: Plant) -> None:
    last = ConfigChange.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    load_demo_plant(topic_root="again/", slug=demo_plant.slug)
    assert ConfigChange.objects.filter(pk__gt=last, model="plant.tag").exists()  # topics moved
    recorded = ConfigChange.objects.filter(
        pk__gt=last, model__in=["plant.alarmdefinition", "plant.vibrationmonitor"]
    )
    assert list(recorded.values_list("model", "changes")) == []


def test_a_new_class_moves_the_limits_and_leaves_an_alarm_out_of_service_out(
    demo_plant: Plant,
) -> None:
    vibration = demo_tag(demo_plant, "vibration_rms")
    AlarmDefinition.objects.filter(tag=vibration, kind="hh").update(enabled=False)
    monitor = VibrationMonitor.objects.get(tag=vibration)
    monitor.machine_group, monitor.foundation, monitor.on_delay_s = 1, "flexible", 12.0
    monitor.save()
    do_apply_vibration_class(monitor)
    alarms = zone_alarms(vibration)
    assert (alarms["h"][0], alarms["hh"][0], alarms["h"][2]) == (7.1, 11.0, 12.0)
    assert not AlarmDefinition.objects.get(tag=vibration, kind="hh").enabled


def test_a_hand_made_high_alarm_takes_the_class_limit(demo_plant: Plant) -> None:
    machine = Machine.objects.get(line__plant=demo_plant, slug="pump")
    fan = Tag.objects.create(machine=machine, key="fan_vibration", unit="mm/s",
                             topic=f"{machine.topic}/fan_vibration")  # fmt: skip
    AlarmDefinition.objects.create(tag=fan, kind="h", limit=9.0, message="by hand")
    monitor = VibrationMonitor.objects.create(tag=fan, machine_group=1, foundation="rigid")
    do_apply_vibration_class(monitor)
    assert zone_alarms(fan) == {"h": [4.5, 0.225, 10.0, "medium"],
                                "hh": [7.1, 0.355, 10.0, "high"]}  # fmt: skip
    assert AlarmDefinition.objects.get(tag=fan, kind="h").message == "by hand"  # kept


@pytest.mark.parametrize(
    ("key", "field", "words"),
    [("fill_level", "tag", "this tag's unit is ml"), ("state", "tag", "is a number")],
)
def test_a_monitor_refuses_a_tag_that_is_not_a_velocity(
    demo_plant: Plant, key: str, field: str, words: str
) -> None:
    monitor = VibrationMonitor(tag=demo_tag(demo_plant, key))
    with pytest.raises(ValidationError) as refused:
        monitor.full_clean()
    assert words in " ".join(refused.value.message_dict[field])


def test_a_monitor_refuses_a_bearing_temperature_of_another_plant_or_a_text(
    demo_plant: Plant,
) -> None:
    other = load_demo_plant(topic_root="other/", slug="other")
    monitor = VibrationMonitor.objects.get(tag__machine__line__plant=demo_plant)
    monitor.bearing_temperature_tag = demo_tag(other, "bearing_temp")
    with pytest.raises(ValidationError, match="same plant"):
        monitor.full_clean()
    monitor.bearing_temperature_tag = demo_tag(demo_plant, "state")
    with pytest.raises(ValidationError, match="is a number"):
        monitor.full_clean()


def test_saving_a_monitor_in_the_admin_makes_its_zone_alarms(demo_plant: Plant) -> None:
    admin = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(admin)
    machine = Machine.objects.get(line__plant=demo_plant, slug="pump")
    motor = Tag.objects.create(machine=machine, key="motor_vibration", unit="mm/s",
                               topic=f"{machine.topic}/motor_vibration")  # fmt: skip
    response = client.post("/admin/plant/vibrationmonitor/add/", {
        "tag": motor.pk, "machine_group": "2", "foundation": "flexible", "on_delay_s": "8",
        "bearing_temperature_tag": "",
    })  # fmt: skip
    assert response.status_code == 302, response.content
    assert zone_alarms(motor) == {"h": [4.5, 0.225, 8.0, "medium"],
                                  "hh": [7.1, 0.355, 8.0, "high"]}  # fmt: skip
    assert ConfigChange.objects.filter(model="plant.vibrationmonitor", actor="root").exists()


# --- health from the historian ---------------------------------------------------------------


def rising_month(tag: Tag, *, level_now: float, share_at_start: float = 0.6) -> None:
    """30 days to T0 of exponential wear, a sample every 10 minutes, no noise."""
    rate = -math.log(share_at_start) / 30
    start = T0 - timedelta(days=30)
    add_series(tag.pk, start, 30 * 144, step_s=600,
               value=lambda i: level_now * math.exp(-rate * (30 - i / 144)))  # fmt: skip


def test_the_health_of_a_wearing_pump_says_zone_drift_and_days_to_zone_c(
    demo_plant: Plant,
) -> None:
    vibration = demo_tag(demo_plant, "vibration_rms")
    rising_month(vibration, level_now=2.0)
    record_value(vibration, 2.0)
    record_value(demo_tag(demo_plant, "bearing_temp"), 85.0)
    (card,) = plant_health(Plant.objects.filter(pk=demo_plant.pk), now=T0)
    (health,) = card.monitors
    assert health.zone == "B" and health.drifting
    assert health.drift is not None and health.drift.baseline == pytest.approx(1.6, abs=0.05)
    life = health.life
    assert life.shown and life.fit is not None and life.fit.model == "exponential"
    assert life.to_c == pytest.approx(math.log(2.8 / 2.0) / (-math.log(0.6) / 30), rel=0.02)
    assert health.to_c_text() == "about 20 days"
    assert health.bearing is not None and health.bearing.above_normal  # 85 °C, normal to 80


def test_a_machine_without_history_is_listed_with_its_estimates_withheld(
    demo_plant: Plant,
) -> None:
    record_value(demo_tag(demo_plant, "vibration_rms"), 1.2)
    (card,) = plant_health(Plant.objects.filter(pk=demo_plant.pk), now=T0)
    (health,) = card.monitors
    assert health.zone == "A" and health.drift is None
    assert health.life.withheld == "too few days of data (0 of 7)"


def test_the_list_puts_the_machine_in_zone_d_before_the_wearing_one(demo_plant: Plant) -> None:
    rising_month(demo_tag(demo_plant, "vibration_rms"), level_now=2.0)
    record_value(demo_tag(demo_plant, "vibration_rms"), 2.0)
    machine = Machine.objects.create(line=Machine.objects.get(line__plant=demo_plant,
                                                              slug="pump").line,
                                     name="Booster pump", slug="booster")  # fmt: skip
    booster = Tag.objects.create(machine=machine, key="vibration_rms", unit="mm/s",
                                 topic=f"{machine.topic}/vibration_rms")  # fmt: skip
    do_apply_vibration_class(VibrationMonitor.objects.create(tag=booster))
    record_value(booster, 5.2)
    cards = plant_health(Plant.objects.filter(pk=demo_plant.pk), now=T0)
    assert [c.machine.name for c in cards] == ["Booster pump", "Transfer pump"]
    assert cards[0].worst.zone == "D"


def test_daily_points_weigh_each_hour_by_its_samples() -> None:
    day = T0
    hours = [Bucket(day, 1, 1, 1.0, 3600), Bucket(day + timedelta(hours=1), 4, 4, 4.0, 1200),
             Bucket(day + timedelta(days=1), 2, 2, 2.0, 10)]  # fmt: skip
    (first, mean), (second, other) = daily_points(hours)
    assert mean == pytest.approx((3600 + 4 * 1200) / 4800)
    assert first == pytest.approx(T0.timestamp() / DAY_S + (0.5 * 3600 + 1.5 * 1200) / 4800 / 24)
    assert (second - first > 0.9, other) == (True, 2.0)
