"""Journals and logs are read-only in the admin, even for a superuser (plant.admin_base).

The journals are found in the database itself: every table an append-only trigger guards
(migrations 0006, 0012, 0018). A new journal whose admin page forgets the ReadOnly base fails
the first test; a log the product writes is named in LOGS. Each read-only page is then tried
the way a person would: its add page, a change posted, its delete page, the list's delete action.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test import Client

from plant.admin_base import ReadOnly, SystemWritten
from tests.hmi.two_plants import World, built_once

pytestmark = pytest.mark.django_db

# Rows only the product writes that are no journal: the alarms' present state, the product's
# own health, the rejection tallies, the Sparkplug sessions and births held for approval.
LOGS = {"plant.alarm", "plant.systemalarm", "plant.workerheartbeat", "plant.rejectiontally",
        "plant.sparkplugnode", "plant.sparkplugpendingbirth"}  # fmt: skip
# Each read-only page's model → the object of tests/hmi/two_plants.py it is tried on.
READ_ONLY = {
    "plant.ssoidentity": ("X", "ssoid"),
    "plant.alarmjournalentry": ("A", "journal"),
    "plant.setpointwrite": ("A", "write"),
    "plant.alarm": ("A", "alarm"),
    "plant.systemalarm": ("X", "systemalarm"),
    "plant.workerheartbeat": ("X", "heartbeat"),
    "plant.rejectiontally": ("X", "tally"),
    "plant.sparkplugnode": ("X", "spnode"),
    "plant.sparkplugpendingbirth": ("X", "sppending"),  # approved or ignored by list actions
    "plant.notificationdelivery": ("A", "delivery"),  # the outbox; a list action sends again
}
# Rows the product writes that an admin may delete, to tidy up, but never add or change.
SYSTEM_WRITTEN = {
    "plant.rejectedmessage": ("X", "rejected"),
    "plant.unknowntopic": ("X", "unknown"),
}
REGISTERED = {model._meta.label_lower: page for model, page in admin.site._registry.items()}
APPEND_ONLY_TABLES = """
SELECT DISTINCT c.relname FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
WHERE NOT t.tgisinternal AND p.proname LIKE '%append_only'
"""


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: object) -> Iterator[World]:
    yield from built_once(django_db_blocker)


def journals() -> set[str]:
    """The models whose tables the database keeps append-only."""
    with connection.cursor() as cursor:
        cursor.execute(APPEND_ONLY_TABLES)
        tables = {table for (table,) in cursor.fetchall()}
    return {m._meta.label_lower for m in apps.get_models() if m._meta.db_table in tables}


def superuser(world: World) -> Client:
    client = Client()
    client.force_login(world.users["super"])
    return client


def test_every_journal_and_log_page_is_read_only_and_no_other_is(world: World) -> None:
    found = journals()
    # The query finds the triggers at all: these three are journals since migrations 0006-0018.
    assert {"plant.alarmjournalentry", "plant.configchange", "plant.securityevent"} <= found
    should = (found | LOGS) & set(REGISTERED)
    assert [m for m in sorted(should) if not isinstance(REGISTERED[m], ReadOnly)] == []
    read_only = {m for m, page in REGISTERED.items() if isinstance(page, ReadOnly)}
    assert read_only == set(READ_ONLY), "a read-only page without its row in READ_ONLY"


def url(model: str, pk: int | None = None, page: str = "") -> str:
    base = "/admin/{}/{}/".format(*model.split("."))
    return base if pk is None else f"{base}{pk}/{page}"


def row(world: World, model: str) -> tuple[int, dict[str, object]]:
    """The pk of the model's object in the world, and its columns now."""
    whose, kind = (READ_ONLY | SYSTEM_WRITTEN)[model]
    pk = world.ids[whose][kind]
    return pk, apps.get_model(model)._default_manager.filter(pk=pk).values().get()


@pytest.mark.parametrize("model", sorted(READ_ONLY | SYSTEM_WRITTEN))
def test_not_even_a_superuser_adds_or_changes_a_row_the_product_writes(
    world: World, model: str
) -> None:
    assert isinstance(REGISTERED[model], SystemWritten)
    pk, before = row(world, model)
    client = superuser(world)
    assert client.get(url(model) + "add/").status_code == 403
    assert client.post(url(model) + "add/", {}).status_code == 403
    page = client.get(url(model, pk, "change/"))
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert client.post(url(model, pk, "change/"), {"topic": "rewritten"}).status_code == 403
    assert row(world, model) == (pk, before)


@pytest.mark.parametrize("model", sorted(READ_ONLY))
def test_not_even_a_superuser_deletes_a_journal_or_log_row(world: World, model: str) -> None:
    pk, before = row(world, model)
    client = superuser(world)
    assert client.get(url(model, pk, "delete/")).status_code == 403
    assert client.post(url(model, pk, "delete/"), {"post": "yes"}).status_code == 403
    client.post(url(model), {"action": "delete_selected", "_selected_action": [str(pk)],
                             "post": "yes"})  # fmt: skip
    assert row(world, model) == (pk, before)
