"""The demo plant of a test's transaction (tests/snapshot.py) is what a real load makes."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, transaction

from plant.demo import load_demo_plant
from plant.models import ConfigChange, Plant, Tag
from tests.snapshot import DemoSnapshot


def row_counts() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            if model._meta.managed and not model._meta.proxy:
                table = connection.ops.quote_name(model._meta.db_table)
                cursor.execute(f"SELECT count(*) FROM {table}")
                counts[model._meta.db_table] = cursor.fetchone()[0]
    return counts


@pytest.mark.django_db
def test_the_inserted_demo_plant_has_the_rows_of_a_real_load_under_the_tests_root(
    demo_snapshot: DemoSnapshot, topic_root: str
) -> None:
    with transaction.atomic():
        load_demo_plant(topic_root=topic_root)
        loaded = row_counts()
        transaction.set_rollback(True)
    demo_snapshot.insert(topic_root)
    assert row_counts() == loaded
    # 16 device tags, the fill level's two derived SPC tags (plant.spc_tags) and the derived
    # predicted demand (plant.energy_alarm).
    assert loaded["plant_tag"] == 19 and loaded["plant_configchange"] > 19
    assert loaded["plant_derivedtag"] == 3 and loaded["plant_spcsettings"] == 1

    plant = Plant.objects.get(slug="bottling")
    tags = Tag.objects.filter(machine__line__plant=plant)
    assert all(t.topic.startswith(f"{topic_root}bottling/") for t in tags)
    changes = list(ConfigChange.objects.values_list("changes", flat=True))
    assert all(isinstance(c, dict) for c in changes)  # JSON, as the signals wrote it
    tag_created = ConfigChange.objects.filter(model="plant.tag", action="create").first()
    assert tag_created.changes["topic"]["new"].startswith(topic_root)
    assert demo_snapshot.marker not in str(changes)
    # Loading again finds every row as the loader would leave it: nothing changes.
    load_demo_plant(topic_root=topic_root)
    assert row_counts() == loaded
