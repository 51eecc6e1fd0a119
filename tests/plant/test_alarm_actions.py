"""Alarm actions on the real database: who may acknowledge and shelve, what is journaled, races."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from plant.actions.alarms import (
    do_acknowledge_alarm,
    do_acknowledge_all,
    do_expire_shelf,
    do_set_alarm_condition,
    do_shelve_alarm,
    do_sync_alarm_service,
)
from plant.models import Alarm, AlarmJournalEntry, Plant

pytestmark = pytest.mark.django_db


def gas_alarm(plant: Plant, kind: str = "hh") -> Alarm:
    return Alarm.objects.get(definition__tag__machine__line__plant=plant,
                             definition__tag__key="methane", definition__kind=kind)  # fmt: skip


@pytest.fixture
def active_alarm(demo_plant: Plant) -> Alarm:
    alarm = gas_alarm(demo_plant)
    do_set_alarm_condition(alarm.pk, True, value=45.0, at=timezone.now())
    alarm.refresh_from_db()
    return alarm


def test_the_demo_plant_has_its_alarms_and_loading_it_again_changes_nothing(
    demo_plant: Plant,
) -> None:
    assert Alarm.objects.count() == 10  # the pump's zone C and D, the SPC flag's, the demand's two
    assert gas_alarm(demo_plant).definition.runs_emergency_actions
    from plant.demo import load_demo_plant

    load_demo_plant(topic_root="x/", slug=demo_plant.slug)
    assert Alarm.objects.count() == 10  # the pump's zone C and D, the SPC flag's, the demand's two


def test_activation_is_journaled_by_the_system(active_alarm: Alarm) -> None:
    (entry,) = AlarmJournalEntry.objects.all()
    assert (entry.from_state, entry.to_state, entry.event) == ("normal", "unack", "activate")
    assert (entry.value, entry.user, entry.priority) == (45.0, None, "critical")
    assert active_alarm.state == "unack" and active_alarm.activated_at is not None


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("viewer", False), ("operator", False), ("supervisor", True), ("admin", True)],
)
def test_only_supervisors_and_admins_acknowledge(
    users_by_role: dict[str, User], active_alarm: Alarm, role: str, allowed: bool
) -> None:
    user = users_by_role[role]
    if allowed:
        assert do_acknowledge_alarm(active_alarm, by=user, comment="on it")
    else:
        with pytest.raises(PermissionDenied):
            do_acknowledge_alarm(active_alarm, by=user)
    assert AlarmJournalEntry.objects.filter(event="acknowledge").exists() == allowed


def test_a_supervisor_of_another_plant_cannot_acknowledge(
    outsider: User, active_alarm: Alarm
) -> None:
    with pytest.raises(PermissionDenied):
        do_acknowledge_alarm(active_alarm, by=outsider)


def test_acknowledging_twice_journals_once(
    users_by_role: dict[str, User], active_alarm: Alarm
) -> None:
    supervisor = users_by_role["supervisor"]
    assert do_acknowledge_alarm(active_alarm, by=supervisor)
    assert not do_acknowledge_alarm(active_alarm, by=users_by_role["admin"])
    (entry,) = AlarmJournalEntry.objects.filter(event="acknowledge")
    assert entry.user == supervisor


def test_acknowledge_all_acknowledges_every_waiting_alarm(
    users_by_role: dict[str, User], demo_plant: Plant, active_alarm: Alarm
) -> None:
    other = gas_alarm(demo_plant, "h")
    do_set_alarm_condition(other.pk, True, value=45.0, at=timezone.now())
    done = do_acknowledge_all(Alarm.objects.all(), by=users_by_role["supervisor"])
    assert done == 2
    assert set(Alarm.objects.standing().values_list("state", flat=True)) == {"ack"}


def test_a_shelved_alarm_needs_a_reason_and_comes_back_when_its_time_is_up(
    users_by_role: dict[str, User], active_alarm: Alarm
) -> None:
    supervisor = users_by_role["supervisor"]
    with pytest.raises(ValidationError):
        do_shelve_alarm(active_alarm, by=supervisor, reason=" ", duration_s=60)
    with pytest.raises(PermissionDenied):
        do_shelve_alarm(active_alarm, by=users_by_role["operator"], reason="x", duration_s=60)
    assert do_shelve_alarm(
        active_alarm, by=supervisor, reason="detector calibration", duration_s=60
    )
    active_alarm.refresh_from_db()
    assert active_alarm.is_shelved and active_alarm.shelve_reason == "detector calibration"
    later = timezone.now() + timedelta(seconds=61)
    assert do_expire_shelf(active_alarm.pk, now=later)
    active_alarm.refresh_from_db()
    assert active_alarm.state == "unack"  # still active: it returns unacknowledged


def test_disabling_a_definition_takes_its_alarm_out_of_service(active_alarm: Alarm) -> None:
    active_alarm.definition.enabled = False
    active_alarm.definition.save(update_fields=["enabled"])
    assert do_sync_alarm_service(active_alarm.pk, now=timezone.now())
    active_alarm.refresh_from_db()
    assert active_alarm.state == "suppressed"


def test_the_journal_cannot_be_edited_or_deleted(active_alarm: Alarm) -> None:
    entry = AlarmJournalEntry.objects.get()
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AlarmJournalEntry.objects.filter(pk=entry.pk).update(comment="rewritten")


# serialized_rollback: the flush after an earlier transactional test removed the role groups.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_supervisors_acknowledging_at_once_leave_one_journal_entry(
    demo_plant: Plant,
) -> None:
    alarm = gas_alarm(demo_plant)
    do_set_alarm_condition(alarm.pk, True, value=45.0, at=timezone.now())
    supervisors = [_supervisor(demo_plant, f"sup{i}") for i in range(2)]
    barrier, results = threading.Barrier(2), []

    def acknowledge(user: User) -> None:
        try:
            barrier.wait()
            results.append(do_acknowledge_alarm(alarm, by=user))
        finally:
            connection.close()  # each thread has its own database connection

    threads = [threading.Thread(target=acknowledge, args=(user,)) for user in supervisors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == [False, True]
    assert AlarmJournalEntry.objects.filter(event="acknowledge").count() == 1
    assert Alarm.objects.get(pk=alarm.pk).state == "ack"


def _supervisor(plant: Plant, name: str) -> User:
    from django.contrib.auth.models import Group

    user = User.objects.create_user(username=name, password="pw")
    user.groups.add(Group.objects.get(name="supervisor"))
    plant.members.add(user)
    return user
