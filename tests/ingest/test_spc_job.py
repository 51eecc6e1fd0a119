"""The SPC run rules live in the ingest worker (ingest.spc_job) on the real broker and database:
the simulator's fill_drift trips a rule, which raises the demo's ordinary run-rule alarm and
reaches the API; a fill in control breaks none; a restarted job goes on where it stopped; the
system's own bounded setpoint move, where an admin enabled it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from ingest.derived import DerivedRunner
from ingest.sim.plant_model import PlantModel
from ingest.spc_job import SpcJob
from ingest.tagcache import TagCache
from ingest.worker import Worker
from plant.models import (
    Alarm,
    DerivedJob,
    LatestValue,
    Plant,
    Sample,
    SetpointWrite,
    SpcSettings,
    Tag,
)
from plant.spc_tags import SpcTags, ensure_spc_tags
from tests.builders import record_value
from tests.devices import connected_worker, running_simulator
from tests.waiting import run_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def spc(demo_plant: Plant) -> SpcSettings:
    return SpcSettings.objects.select_related("tag__machine__line__plant", "tag__setpoint_tag").get(
        tag__key="fill_level", tag__machine__line__plant=demo_plant
    )


@pytest.fixture
def tags(spc: SpcSettings) -> SpcTags:
    return ensure_spc_tags(spc)


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = connected_worker(topic_root)
    yield worker
    worker.close()


def flag_values(tags: SpcTags) -> list[tuple[datetime, float | None]]:
    return list(Sample.objects.filter(tag=tags.flag).order_by("time").values_list("time", "value"))


def add_fill(tag: Tag, values: list[float], start: datetime) -> None:
    Sample.objects.bulk_create(
        [Sample(tag=tag, time=start + timedelta(seconds=i), value=v) for i, v in enumerate(values)]
    )


def in_control(count: int, seed: int = 3) -> list[float]:
    rng = random.Random(seed)
    return [round(500 + rng.gauss(0, 0.3), 2) for _ in range(count)]


def runner() -> DerivedRunner:
    cache = TagCache()
    cache.refresh()
    return DerivedRunner([SpcJob()], cache, client_id="test-spc")


def test_the_simulators_fill_drift_trips_a_rule_and_raises_the_run_rule_alarm(
    worker: Worker, spc: SpcSettings, tags: SpcTags, demo_plant: Plant,
    users_by_role: dict[str, User],
) -> None:  # fmt: skip
    """Simulator → broker → worker → SPC job → flag tag → the demo's alarm, and the API.

    The limits are frozen at the fill in control (500 ml, σ 0.3 ml), so the drift's first
    seconds are judged at once, without an hour of history first.
    """
    SpcSettings.objects.filter(pk=spc.pk).update(center_line=500.0, sigma=0.3)
    alarm = Alarm.objects.get(definition__tag=tags.flag)
    with running_simulator(demo_plant.slug, faults=["fill_drift"]):
        run_until(lambda: alarm_active(alarm), worker.run_once, timeout=60)
    broken = LatestValue.objects.get(tag=tags.rules).text or ""
    assert flag_values(tags)[-1][1] == 1.0
    assert "1" in broken.split(", ")  # a subgroup mean beyond 3σ, at least
    level = Sample.objects.filter(tag=spc.tag).order_by("-time").first()
    assert level is not None and level.value is not None and level.value < 499.0
    client = Client()
    client.force_login(users_by_role["viewer"])
    answer = client.get(f"/api/quality/?tag={spc.tag_id}").json()
    assert answer["rule"]["broken"] is True and "1" in answer["rule"]["rules"]
    assert answer["hours"][-1]["n"] > 0 and answer["spec"]["t1"] == 485.0


def alarm_active(alarm: Alarm) -> bool:
    alarm.refresh_from_db()
    return alarm.active


def test_a_fill_in_control_is_judged_by_the_hour_before_and_its_flag_written_once_a_minute(
    spc: SpcSettings, tags: SpcTags
) -> None:
    """Subgroups whose means all lie on the centre break none of rules 1 to 3: the flag is 0
    from the first point of the last 15 minutes, written again once a minute, not per point."""
    now = timezone.now()
    pattern = [499.8, 500.2, 500.0, 500.1, 499.9]  # every subgroup's mean is 500.0
    add_fill(spc.tag, pattern * (4500 // 5), now - timedelta(seconds=4500))
    runner().step(now)
    flags = flag_values(tags)
    assert {v for _, v in flags} == {0.0}
    assert 15 <= len(flags) <= 16  # 15 minutes judged (START_BACK), one row a minute
    cursor = DerivedJob.objects.get(name="spc").cursors[str(spc.tag_id)]
    assert cursor["center"] == pytest.approx(500.0)  # from the hour before the points


def test_a_drift_in_the_simulated_fill_breaks_rule_1_within_seconds(
    spc: SpcSettings, tags: SpcTags
) -> None:
    """The plant model's own fill_drift (0.2 ml/s), after an hour in control."""
    model = PlantModel(seed=7)
    values = []
    for second in range(3600 + 60):
        if second == 3600:
            model.inject("fill_drift")
        model.step(1.0)
        values.append(float(model.values["fill_level"]))
    now = timezone.now()
    start = now - timedelta(seconds=len(values))
    add_fill(spc.tag, values, start)
    runner().step(now)
    drift_at = start + timedelta(seconds=3600)
    # However the minutes before went (a rule breaks by chance now and then), 15 s into the
    # drift the flag says broken, for rule 1 among others.
    assert state_at(tags.flag, drift_at + timedelta(seconds=15)) == 1.0
    rules = Sample.objects.filter(tag=tags.rules, time__lte=drift_at + timedelta(seconds=15))
    assert "1" in (rules.order_by("-time").values_list("text", flat=True).first() or "")


def state_at(tag: Tag, moment: datetime) -> float | None:
    """The value a derived tag held at a moment: its last row at or before it."""
    rows = Sample.objects.filter(tag=tag, time__lte=moment).order_by("-time")
    return rows.values_list("value", flat=True).first()


def test_a_restarted_job_goes_on_where_its_last_commit_left_off(
    spc: SpcSettings, tags: SpcTags
) -> None:
    now = timezone.now()
    values = in_control(3600) + [502.5] * 30  # a shift of 8σ: every point beyond 3σ
    start = now - timedelta(seconds=len(values))
    add_fill(spc.tag, values[:3600], start)
    first = runner()
    first.step(now - timedelta(seconds=30))
    before = flag_values(tags)
    cursor = DerivedJob.objects.get(name="spc").cursors[str(spc.tag_id)]
    add_fill(spc.tag, values[3600:], start + timedelta(seconds=3600))
    restarted = runner()  # nothing in memory: only the committed cursor
    restarted.step(now)
    after = flag_values(tags)
    assert after[: len(before)] == before  # nothing written twice or rewritten
    assert after[-1][1] == 1.0
    assert after[len(before)][0] > datetime.fromisoformat(cursor["since"])


def test_the_system_moves_the_setpoint_by_at_most_the_admins_bound(spc: SpcSettings) -> None:
    """Where the admin enabled it: once an hour, towards the target the last hour asks for."""
    setpoint = spc.tag.setpoint_tag
    assert setpoint is not None
    record_value(setpoint, 500.0)
    SpcSettings.objects.filter(pk=spc.pk).update(loop_may_apply=True, max_loop_change=1.0)
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    rng = random.Random(5)
    add_fill(spc.tag, [500 + rng.gauss(0, 10.0) for _ in range(3600)], hour)  # σ 10: 504.6
    derived = runner()
    derived.step(now)
    write = SetpointWrite.objects.get(tag=setpoint)
    assert write.user is None and write.value == 501.0  # 500 + at most 1.0
    assert "SPC" in write.reason and "asks for a mean" in write.reason
    derived.due.clear()
    derived.step(now)  # the same hour is not applied twice
    assert SetpointWrite.objects.filter(tag=setpoint).count() == 1


def test_no_move_without_the_admins_consent(spc: SpcSettings) -> None:
    setpoint = spc.tag.setpoint_tag
    assert setpoint is not None
    record_value(setpoint, 500.0)
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    rng = random.Random(5)
    add_fill(spc.tag, [500 + rng.gauss(0, 10.0) for _ in range(3600)], hour)
    runner().step(now)
    assert not SetpointWrite.objects.filter(tag=setpoint).exists()
