"""The configuration history: who changed what, with old and new values; and the journals'
append-only protection, by the database itself, against the owner and the application's role.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.models import Model
from django.forms import CheckboxInput, MultiWidget, SelectMultiple
from django.test import AsyncClient, Client, RequestFactory
from django.utils import timezone
from pytest_django.fixtures import Settings

from plant import security_events
from plant.actions.alarms import do_set_alarm_condition, do_sync_alarm_service
from plant.actions.setpoints import do_request_setpoint
from plant.config_history import acting_as
from plant.models import (
    Alarm,
    AlarmDefinition,
    AlarmJournalEntry,
    ConfigChange,
    ControlLoop,
    ControlLoopEvent,
    EmergencyAction,
    Line,
    Machine,
    Plant,
    SetpointWrite,
    Tag,
)

MIDDLEWARE = "hmi.actor_middleware.config_actor_middleware"
APP_ROLE = "scada_app"


@pytest.fixture
def root(db: None, settings: Settings) -> User:
    """A superuser, and the middleware that names the request's user in the history."""
    if MIDDLEWARE not in settings.MIDDLEWARE:
        auth = settings.MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
        settings.MIDDLEWARE = [*settings.MIDDLEWARE[: auth + 1], MIDDLEWARE,
                               *settings.MIDDLEWARE[auth + 1 :]]  # fmt: skip
    return User.objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def root_client(client: Client, root: User) -> Client:
    client.force_login(root)
    return client


def admin_form_data(model: type[Model], obj: Model | None, user: User, **changes: Any) -> dict:
    """What the admin's change (or add) form of `obj` posts, with `changes` typed in.

    Built from the ModelAdmin's own form and inlines, so the test posts what a browser would.
    """
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/")
    request.user = user
    form = model_admin.get_form(request, obj)(instance=obj)
    data: dict[str, Any] = {}
    for name, bound in form.fields.items():
        if bound.disabled:
            continue
        value = changes[name] if name in changes else form[name].value()
        _put(data, name, bound.widget, value)
    for inline in model_admin.get_inline_instances(request, obj):
        prefix = inline.get_formset(request, obj).get_default_prefix()
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


def _put(data: dict[str, Any], name: str, widget: Any, value: Any) -> None:
    if isinstance(widget, RelatedFieldWidgetWrapper):
        widget = widget.widget
    if isinstance(widget, MultiWidget):
        for sub, part, suffix in zip(
            widget.widgets, widget.decompress(value), widget.widgets_names, strict=True
        ):
            data[name + suffix] = sub.format_value(part) or ""
    elif isinstance(widget, CheckboxInput):
        if value:
            data[name] = "on"
    elif isinstance(widget, SelectMultiple):
        data[name] = [str(getattr(v, "pk", v)) for v in value or []]
    else:
        data[name] = "" if value is None else str(getattr(value, "pk", value))


def post_admin(client: Client, url: str, data: dict[str, Any]) -> None:
    response = client.post(url, data)
    errors = response.context and [
        f.errors for f in response.context.get("adminform", []) if hasattr(f, "errors")
    ]
    assert response.status_code == 302, (response.status_code, errors)


def latest(obj: Model) -> ConfigChange:
    return ConfigChange.objects.filter(model=obj._meta.label_lower, object_id=str(obj.pk)).latest(
        "at", "id"
    )


def _loop(plant: Plant) -> ControlLoop:
    return ControlLoop.objects.get(output_tag__machine__line__plant=plant)


# name, the object in the demo plant, the field typed in, its new value as posted
UPDATES: list[tuple[str, Callable[[Plant], Model], str, Any]] = [
    ("plant", lambda p: p, "description", "Bottles and cans"),
    ("line", lambda p: p.lines.get(slug="filling"), "name", "Filling line 1"),
    ("machine", lambda p: Machine.objects.get(line__plant=p, slug="filler"), "position", "7"),
    ("tag limits", lambda p: Tag.objects.get(machine__line__plant=p, key="fill_level_sp"),
     "setpoint_max", "510"),
    ("tag writable", lambda p: Tag.objects.get(machine__line__plant=p, key="fill_level_sp"),
     "writable", False),
    ("alarm definition", lambda p: AlarmDefinition.objects.filter(tag__machine__line__plant=p)
     .first(), "priority", "low"),
    ("emergency action", lambda p: EmergencyAction.objects.filter(line__plant=p).first(),
     "position", "9"),
    ("loop tuning", _loop, "kp", "0.75"),
    ("loop limits", _loop, "output_max", "58"),
    ("user", lambda p: p.members.get(username="operator-user"), "email", "op@example.com"),
    ("group", lambda p: Group.objects.get(name="viewer"), "name", "watchers"),
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "target", "field", "typed"), UPDATES, ids=[u[0] for u in UPDATES])
def test_a_change_in_the_admin_records_who_and_the_old_and_new_value(
    root_client: Client, root: User, users_by_role: dict[str, User], demo_plant: Plant,
    case: str, target: Callable[[Plant], Model], field: str, typed: Any,
) -> None:  # fmt: skip
    obj = target(demo_plant)
    model = type(obj)
    attname = model._meta.get_field(field).attname
    old = getattr(obj, attname)
    url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/{obj.pk}/change/"
    post_admin(root_client, url, admin_form_data(model, obj, root, **{field: typed}))
    obj.refresh_from_db()
    change = latest(obj)
    assert (change.actor, change.actor_user_id, change.action) == ("root", root.pk, "update")
    assert change.changes[attname] == {"old": old, "new": getattr(obj, attname)}
    assert change.changes[attname]["old"] != change.changes[attname]["new"]
    assert change.object_repr == str(obj)
    expected_plant = None if model in (User, Group) else demo_plant.pk
    assert change.plant_id == expected_plant


@pytest.mark.asyncio
@pytest.mark.usefixtures("committed_db")
async def test_a_change_served_as_daphne_serves_it_records_the_user(
    async_client: AsyncClient, root: User, topic_root: str
) -> None:
    from plant.demo import load_demo_plant

    plant = await database_sync_to_async(load_demo_plant)(topic_root=topic_root)
    data = await database_sync_to_async(admin_form_data)(Plant, plant, root, description="via ASGI")
    await async_client.aforce_login(root)
    response = await async_client.post(f"/admin/plant/plant/{plant.pk}/change/", data)
    assert response.status_code == 302
    change = await database_sync_to_async(latest)(plant)
    assert (change.actor, change.changes["description"]["new"]) == ("root", "via ASGI")


@pytest.mark.django_db
def test_loop_runtime_fields_are_left_to_the_loop_journal(demo_plant: Plant) -> None:
    loop = _loop(demo_plant)
    before = ConfigChange.objects.count()
    loop.output, loop.note, loop.runner = 50.0, "stepped", "worker-1"
    loop.save(update_fields=["output", "note", "runner"])
    loop.kp = 0.8
    loop.save()
    change = ConfigChange.objects.latest("id")
    assert ConfigChange.objects.count() == before + 1
    assert set(change.changes) == {"kp"}


@pytest.mark.django_db
def test_creating_and_deleting_in_the_admin_are_recorded_with_the_plant(
    root_client: Client, root: User, demo_plant: Plant
) -> None:
    data = admin_form_data(Line, None, root, plant=demo_plant.pk, name="Packing",
                           slug="packing", position="4")  # fmt: skip
    post_admin(root_client, "/admin/plant/line/add/", data)
    line = Line.objects.get(slug="packing")
    created = latest(line)
    assert (created.action, created.actor, created.plant_id) == ("create", "root", demo_plant.pk)
    assert created.changes["name"] == {"old": None, "new": "Packing"}
    response = root_client.post(f"/admin/plant/line/{line.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    deleted = ConfigChange.objects.get(model="plant.line", object_id=str(line.pk), action="delete")
    assert (deleted.actor, deleted.plant_id, deleted.object_repr) == (
        "root", demo_plant.pk, f"{demo_plant.name} / Packing"
    )  # fmt: skip
    assert deleted.changes["slug"] == {"old": "packing", "new": None}


@pytest.mark.django_db
def test_a_password_change_is_recorded_without_the_hash(
    root_client: Client, root: User, users_by_role: dict[str, User]
) -> None:
    operator = users_by_role["operator"]
    response = root_client.post(
        f"/admin/auth/user/{operator.pk}/password/",
        {"password1": "a new long passphrase", "password2": "a new long passphrase"},
    )
    assert response.status_code == 302
    change = latest(operator)
    assert change.actor == "root"
    assert change.changes == {"password": {"old": None, "new": "password changed"}}
    operator.refresh_from_db()
    assert operator.password not in str(ConfigChange.objects.values_list("changes"))


@pytest.mark.django_db
def test_adding_a_plant_member_in_the_admin_records_the_members_before_and_after(
    root_client: Client, root: User, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    newcomer = User.objects.create_user("newcomer")
    members = [*demo_plant.members.all(), newcomer]
    data = admin_form_data(Plant, demo_plant, root, members=members)
    post_admin(root_client, f"/admin/plant/plant/{demo_plant.pk}/change/", data)
    change = latest(demo_plant)
    assert change.actor == "root" and change.plant_id == demo_plant.pk
    old = sorted(u.username for u in members[:-1])
    assert change.changes == {"members": {"old": old, "new": sorted([*old, "newcomer"])}}


@pytest.mark.django_db
def test_memberships_changed_from_the_user_side_are_recorded_on_each_plant_and_the_user(
    users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    operator = users_by_role["operator"]
    with acting_as("import"):
        operator.plants.remove(demo_plant)
        operator.groups.set([Group.objects.get(name="supervisor")])
    on_plant = latest(demo_plant)
    assert on_plant.actor == "import" and on_plant.plant_id == demo_plant.pk
    assert "operator-user" in on_plant.changes["members"]["old"]
    assert "operator-user" not in on_plant.changes["members"]["new"]
    groups = ConfigChange.objects.filter(
        model="auth.user", object_id=str(operator.pk), changes__has_key="groups", actor="import"
    )
    assert [c.changes["groups"] for c in groups.order_by("id")] == [
        {"old": ["operator"], "new": []}, {"old": [], "new": ["supervisor"]}
    ]  # fmt: skip


@pytest.mark.django_db
def test_code_outside_a_request_records_the_system_and_a_repeat_load_records_nothing(
    demo_plant: Plant, topic_root: str
) -> None:
    assert set(ConfigChange.objects.values_list("actor", flat=True)) == {"system"}
    before = ConfigChange.objects.count()
    from plant.demo import load_demo_plant

    load_demo_plant(topic_root=topic_root)
    assert ConfigChange.objects.count() == before


@pytest.mark.usefixtures("committed_db")
def test_a_load_demo_run_records_the_command_as_who() -> None:
    url = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict)
    env = {**os.environ, "DATABASE_URL": url, "DB_POOL_MAX": "0"}
    subprocess.run(
        [sys.executable, "manage.py", "load_demo", "--no-users", "--topic-root", "t/demo/"],
        cwd=django_settings.BASE_DIR, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    # (The auth rows restored by serialized rollback are recorded too, as the system's.)
    actors = set(ConfigChange.objects.filter(model__startswith="plant.").values_list("actor"))
    assert actors == {("load_demo",)}
    # 16 device tags, the fill level's two derived SPC tags and the derived predicted demand
    # (plant.energy_alarm); the SPC settings too.
    assert ConfigChange.objects.filter(model="plant.tag", action="create").count() == 19
    assert ConfigChange.objects.filter(model="plant.spcsettings", action="create").count() == 1


@pytest.mark.django_db
def test_taking_an_alarm_out_of_service_names_the_admin_in_its_journal(
    root_client: Client, root: User, demo_plant: Plant
) -> None:
    definition = AlarmDefinition.objects.filter(tag__machine__line__plant=demo_plant).first()
    alarm, _ = Alarm.objects.get_or_create(definition=definition)
    url = f"/admin/plant/alarmdefinition/{definition.pk}/change/"
    post_admin(root_client, url, admin_form_data(AlarmDefinition, definition, root, enabled=False))
    assert do_sync_alarm_service(alarm.pk, now=timezone.now())
    entry = AlarmJournalEntry.objects.filter(alarm=alarm).latest("id")
    assert (entry.event, entry.comment, entry.user) == (
        "suppress", "definition changed by root", root
    )  # fmt: skip


# --- append-only, by the database -----------------------------------------------------------


@pytest.fixture
def journals(demo_plant: Plant) -> dict[str, int]:
    """One row in each journal, and the id of each."""
    alarm, _ = Alarm.objects.get_or_create(
        definition=AlarmDefinition.objects.filter(tag__machine__line__plant=demo_plant).first()
    )
    do_set_alarm_condition(alarm.pk, True, value=1.0, at=timezone.now())
    tag = Tag.objects.get(machine__line__plant=demo_plant, key="fill_level_sp")
    write = do_request_setpoint(tag, 500.0, by=None, reason="test", emergency=True)
    event = ControlLoopEvent.objects.create(
        loop=_loop(demo_plant), at=timezone.now(), from_mode="manual", to_mode="auto"
    )
    return {
        "plant_configchange": ConfigChange.objects.latest("id").pk,
        "plant_alarmjournalentry": AlarmJournalEntry.objects.latest("id").pk,
        "plant_setpointwrite": write.pk,
        "plant_controlloopevent": event.pk,
        "plant_securityevent": security_events.record("login_failed", username="x").pk,
    }


REFUSED = [(table, statement) for table in
           ("plant_configchange", "plant_alarmjournalentry", "plant_controlloopevent",
            "plant_securityevent")
           for statement in ("UPDATE", "DELETE", "TRUNCATE")] + [
    ("plant_setpointwrite", "DELETE"), ("plant_setpointwrite", "TRUNCATE")
]  # fmt: skip
SQL = {
    "UPDATE": "UPDATE {table} SET id = id WHERE id = %s",
    "DELETE": "DELETE FROM {table} WHERE id = %s",
    # CASCADE: tables that refer to a journal (notification deliveries) cannot hold it up, so
    # only the journal's own trigger refuses, and even a cascading TRUNCATE is refused.
    "TRUNCATE": "TRUNCATE {table} CASCADE",
}


@pytest.mark.django_db
@pytest.mark.parametrize(("table", "statement"), REFUSED)
def test_the_database_refuses_to_rewrite_a_journal(
    journals: dict[str, int], table: str, statement: str
) -> None:
    refused = pytest.raises(DatabaseError, match="append-only")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        # The test database's sessions may TRUNCATE (Django's flush); this one may not.
        cursor.execute("SET LOCAL scada.allow_truncate = off")
        # The rows above were added in this transaction: check their deferred foreign
        # keys now, or PostgreSQL refuses the TRUNCATE for that before any trigger.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        query = SQL[statement].format(table=table)
        cursor.execute(query, [journals[table]] if "%s" in query else None)


@pytest.mark.django_db
def test_a_setpoint_write_still_moves_its_state_by_update(journals: dict[str, int]) -> None:
    moved = SetpointWrite.objects.filter(pk=journals["plant_setpointwrite"]).update(state="sent")
    assert moved == 1


@pytest.mark.django_db
def test_the_model_refuses_to_edit_or_delete_a_change(demo_plant: Plant) -> None:
    change = ConfigChange.objects.first()
    with pytest.raises(ValueError, match="append-only"):
        change.save()
    with pytest.raises(ValueError, match="append-only"):
        change.delete()


# --- the application's role ------------------------------------------------------------------


@contextmanager
def connected_as(role: str) -> Iterator[None]:
    """Django's own connection, logged in as `role` (a fresh pool), then back as the owner."""
    params = connection.settings_dict
    owner = params["USER"]
    connection.close()
    connection.close_pool()
    params["USER"] = role
    try:
        yield
    finally:
        connection.close()
        connection.close_pool()
        params["USER"] = owner


def _as_app(statement: str) -> None:
    params = connection.settings_dict
    with (
        psycopg.connect(
            dbname=params["NAME"], user=APP_ROLE, host=params["HOST"], port=params["PORT"]
        ) as app,
        app.cursor() as cursor,
    ):
        cursor.execute(statement)


ATTACKS = [
    "UPDATE plant_configchange SET actor = 'nobody'",
    "DELETE FROM plant_configchange",
    "TRUNCATE plant_configchange",
    "SET scada.allow_truncate = on; TRUNCATE plant_alarmjournalentry",
    "DROP TRIGGER plant_configchange_append_only ON plant_configchange",
    "ALTER TABLE plant_alarmjournalentry DISABLE TRIGGER ALL",
    "DELETE FROM plant_setpointwrite",
    "UPDATE plant_controlloopevent SET reason = ''",
    "DELETE FROM plant_securityevent",
    "UPDATE plant_securityevent SET detail = ''",
    "DELETE FROM django_migrations",
    "CREATE TABLE plant_mine (id int)",
]


@pytest.mark.usefixtures("committed_db")
def test_the_application_role_cannot_rewrite_history_but_does_its_own_work(
    client: Client, settings: Settings, topic_root: str
) -> None:
    from plant.demo import load_demo_plant

    plant = load_demo_plant(topic_root=topic_root)
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    call_command("create_app_role", stdout=open(os.devnull, "w"))  # noqa: SIM115
    for statement in ATTACKS:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as_app(statement)
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]
    tag = Tag.objects.get(machine__line__plant=plant, key="fill_level_sp")
    data = admin_form_data(Tag, tag, root, setpoint_max="515")
    with connected_as(APP_ROLE):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == APP_ROLE
        client.force_login(root)  # a session row
        post_admin(client, f"/admin/plant/tag/{tag.pk}/change/", data)  # + the history
        write = do_request_setpoint(tag, 505.0, by=None, reason="app role", emergency=True)
        SetpointWrite.objects.filter(pk=write.pk).update(state="sent")
        alarm, _ = Alarm.objects.get_or_create(
            definition=AlarmDefinition.objects.filter(tag__machine__line__plant=plant).first()
        )
        do_set_alarm_condition(alarm.pk, True, value=1.0, at=timezone.now())
    assert latest(tag).changes["setpoint_max"]["new"] == 515.0
    assert AlarmJournalEntry.objects.filter(alarm=alarm).exists()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, (SELECT count(*) FROM pg_class WHERE relowner = r.oid) "
            "FROM pg_roles r WHERE rolname = %s",
            [APP_ROLE],
        )
        assert cursor.fetchone() == (False, 0)
