"""The alarm KPIs count the alarms of the plants the user is a member of, and no others.

The permission matrix finds another plant's objects by the slug their names carry; a KPI is a
number, which carries none, so it is checked here by count."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from plant.models import AlarmJournalEntry
from tests.hmi.two_plants import World, built_once

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: object) -> Iterator[World]:
    yield from built_once(django_db_blocker)


def annunciations(plant_ids: list[int]) -> int:
    since = timezone.now() - timedelta(hours=24)
    entries = AlarmJournalEntry.objects.filter(
        to_state="unack", at__gte=since, tag__machine__line__plant__in=plant_ids
    ).exclude(event="action_fail")
    return entries.count()


@pytest.mark.parametrize(("role", "letters"), [("viewer", "A"), ("admin_b", "B"), ("super", "AB")])
def test_the_kpis_count_only_the_alarms_of_the_users_plants(
    world: World, role: str, letters: str
) -> None:
    client = Client()
    client.force_login(world.users[role])
    response = client.get("/alarms/kpis/")
    assert response.status_code == 200
    expected = annunciations([world.plants[letter].pk for letter in letters])
    assert (
        0
        < annunciations([world.plants["A"].pk])
        < annunciations([p.pk for p in world.plants.values()])
    )  # both plants have alarms: a count over all of them would differ
    assert response.context["kpis"].total == expected
