"""Stop reasons: operators give them, supervisors change them, every change journaled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction

from plant.actions.oee import do_tag_stop
from plant.models import Machine, MachineStop, MachineStopEntry, Plant, StopReason

pytestmark = pytest.mark.django_db
STARTED = datetime(2026, 12, 2, 6, 10, tzinfo=UTC)


@pytest.fixture
def filler(demo_plant: Plant) -> Machine:
    return Machine.objects.select_related("line").get(line__plant=demo_plant, slug="filler")


def reason(plant: Plant, name: str) -> StopReason:
    return StopReason.objects.get(plant=plant, name=name)


@pytest.mark.parametrize(("role", "allowed"), [("viewer", False), ("operator", True),
                                               ("supervisor", True), ("admin", True)])  # fmt: skip
def test_operators_and_above_give_a_stop_its_first_reason(
    users_by_role: dict[str, User], filler: Machine, demo_plant: Plant, role: str, allowed: bool
) -> None:
    jam = reason(demo_plant, "Bottle jam")
    if not allowed:
        with pytest.raises(PermissionDenied):
            do_tag_stop(filler, STARTED, jam, by=users_by_role[role])
        assert not MachineStop.objects.exists()
        return
    stop = do_tag_stop(filler, STARTED, jam, by=users_by_role[role], comment=" at the capper ",
                       ended_at=STARTED + timedelta(minutes=4))  # fmt: skip
    assert (stop.reason, stop.comment, stop.tagged_by) == (jam, "at the capper",
                                                          users_by_role[role])  # fmt: skip
    (entry,) = MachineStopEntry.objects.filter(stop=stop)
    assert (entry.from_reason, entry.to_reason, entry.user) == ("", "Bottle jam",
                                                               users_by_role[role])  # fmt: skip


@pytest.mark.parametrize(("role", "allowed"), [("operator", False), ("supervisor", True),
                                               ("admin", True)])  # fmt: skip
def test_only_supervisors_change_a_reason_someone_gave(
    users_by_role: dict[str, User], filler: Machine, demo_plant: Plant, role: str, allowed: bool
) -> None:
    do_tag_stop(filler, STARTED, reason(demo_plant, "Bottle jam"), by=users_by_role["operator"])
    change = reason(demo_plant, "Waiting for bottles")
    if not allowed:
        with pytest.raises(PermissionDenied):
            do_tag_stop(filler, STARTED, change, by=users_by_role[role])
        assert MachineStop.objects.get().reason.name == "Bottle jam"
        return
    do_tag_stop(filler, STARTED, change, by=users_by_role[role], comment="no bottles")
    stop = MachineStop.objects.get()
    assert (stop.reason, stop.tagged_by) == (change, users_by_role[role])
    journal = list(MachineStopEntry.objects.filter(stop=stop).values_list(
        "from_reason", "to_reason", "user__username", "comment"))  # fmt: skip
    assert journal == [
        ("", "Bottle jam", "operator-user", ""),
        ("Bottle jam", "Waiting for bottles", f"{role}-user", "no bottles"),
    ]


def test_giving_the_same_reason_again_changes_and_journals_nothing(
    users_by_role: dict[str, User], filler: Machine, demo_plant: Plant
) -> None:
    jam = reason(demo_plant, "Bottle jam")
    do_tag_stop(filler, STARTED, jam, by=users_by_role["operator"])
    do_tag_stop(filler, STARTED, jam, by=users_by_role["operator"])
    assert MachineStopEntry.objects.count() == 1


def test_a_reason_of_another_plant_or_one_withdrawn_is_refused(
    users_by_role: dict[str, User], filler: Machine, demo_plant: Plant
) -> None:
    other = Plant.objects.create(name="Other", slug="other")
    foreign = StopReason.objects.create(plant=other, name="Theirs")
    withdrawn = StopReason.objects.create(plant=demo_plant, name="Old", active=False)
    for refused in (foreign, withdrawn):
        with pytest.raises(ValidationError):
            do_tag_stop(filler, STARTED, refused, by=users_by_role["supervisor"])
    assert not MachineStop.objects.exists()


def test_the_stop_journal_is_append_only(
    users_by_role: dict[str, User], filler: Machine, demo_plant: Plant
) -> None:
    do_tag_stop(filler, STARTED, reason(demo_plant, "Bottle jam"), by=users_by_role["operator"])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        MachineStopEntry.objects.update(to_reason="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        MachineStopEntry.objects.all().delete()
