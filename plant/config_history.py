"""Record every change of the plant's configuration in plant.models.ConfigChange.

Changes are caught centrally, by Django's signals, so one made in the admin, by an import, a
management command or any code is recorded alike: pre_save reads the row as it was, post_save
and post_delete write what changed, m2m_changed the memberships. The row is written on the
same connection right after the change, so inside the change's transaction (the admin, the
do_* actions, load_demo and loaddata all run in one) it commits or rolls back with it.

Who: the user of the web request (hmi.actor_middleware sets it), a name set with
`acting_as(...)`, else the management command that runs (`manage.py load_demo` records
"load_demo"), else "system".
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth.models import Group, User
from django.db.models import Model, QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from plant.models import (
    AlarmDefinition,
    ApiToken,
    ConfigChange,
    ControlLoop,
    DeviceIdentity,
    DiscoveredSignal,
    EmergencyAction,
    EnergyMeter,
    Line,
    Machine,
    NeuronGateway,
    NeuronTag,
    NotificationRecipient,
    NotificationRoster,
    OeeMachine,
    OeeProduct,
    OeeState,
    PlannedDowntime,
    Plant,
    PlantEnergy,
    Shift,
    ShiftBreak,
    SparkplugGroup,
    SpcSettings,
    StopReason,
    Tag,
    VibrationMonitor,
)

SYSTEM = "system"
ANONYMOUS = "anonymous"
Actor = tuple[str, int | None]  # the name recorded, and the user's id if a person
SECRETS = {
    "password": "password",
    "key_hash": "secret",
    "password_hash": "password",
    "secret": "secret",  # a notification webhook's shared secret
}  # recorded as "changed", never shown
_actor: ContextVar[Callable[[], Actor] | None] = ContextVar("config_actor", default=None)


# --- who -----------------------------------------------------------------------------------


@contextmanager
def acting_as(who: str | User) -> Iterator[None]:
    """Record the changes made inside the block as made by `who` (a user, or a name)."""
    actor: Actor = (who, None) if isinstance(who, str) else (who.get_username(), who.pk)
    token = _actor.set(lambda: actor)
    try:
        yield
    finally:
        _actor.reset(token)


@contextmanager
def acting_for(request: Any) -> Iterator[None]:
    """Record the changes made inside the block as made by the request's user.

    The user is read when a change is recorded, not before: request.user is lazy (most
    requests change nothing), and an API view may authenticate it only later.
    """
    token = _actor.set(lambda: _user_of(request))
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> Actor:
    """Who the change being recorded now is by."""
    actor = _actor.get()
    return actor() if actor is not None else (_command_name() or SYSTEM, None)


def _user_of(request: Any) -> Actor:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ANONYMOUS, None
    return user.get_username(), user.pk


def _command_name() -> str:
    """The management command this process runs (`manage.py load_demo` → "load_demo")."""
    if Path(sys.argv[0]).name == "manage.py" and len(sys.argv) > 1:
        return sys.argv[1][:150]
    return ""


# --- what is recorded ----------------------------------------------------------------------


@dataclass(frozen=True)
class Tracked:
    """A model whose changes are recorded: the fields left out, and how to find its plant."""

    exclude: frozenset[str] = frozenset()
    plant: Callable[[Any], int | None] = lambda obj: None


def _plant_of(model: type[Model], lookup: str, attname: str) -> Callable[[Any], int | None]:
    """The plant of an object, read through one of its foreign keys in one query."""

    def plant(obj: Any) -> int | None:
        key = getattr(obj, attname)
        if key is None:
            return None
        return model._base_manager.filter(pk=key).values_list(lookup, flat=True).first()

    return plant


TRACKED: dict[type[Model], Tracked] = {
    Plant: Tracked(plant=lambda obj: obj.pk),
    Line: Tracked(plant=lambda obj: obj.plant_id),
    Machine: Tracked(plant=_plant_of(Line, "plant_id", "line_id")),
    Tag: Tracked(plant=_plant_of(Machine, "line__plant_id", "machine_id")),
    AlarmDefinition: Tracked(
        exclude=frozenset({"updated_at"}), plant=_plant_of(Tag, "machine__line__plant_id", "tag_id")
    ),
    EmergencyAction: Tracked(plant=_plant_of(Line, "plant_id", "line_id")),
    # The runtime fields have their own journal (ControlLoopEvent) or are the worker's own.
    ControlLoop: Tracked(
        exclude=frozenset(
            {"output", "output_at", "note", "changed_at", "runner", "lease_until", "mode"}
        ),
        plant=_plant_of(Tag, "machine__line__plant_id", "output_tag_id"),
    ),
    User: Tracked(exclude=frozenset({"last_login"})),
    Group: Tracked(),
    ApiToken: Tracked(exclude=frozenset({"last_used_at"})),  # its key_hash as a secret
    # Its discovery switch and plant; the nodes' sessions and aliases are the worker's own.
    SparkplugGroup: Tracked(plant=lambda obj: obj.plant_id),
    # A broker login: its password_hash recorded as "password changed", never its value.
    DeviceIdentity: Tracked(plant=lambda obj: obj.plant_id),
    # Neuron gateways, their tags' mapping, and the review list's decisions (its sightings,
    # count and last value, are the worker's own).
    NeuronGateway: Tracked(plant=lambda obj: obj.plant_id),
    NeuronTag: Tracked(plant=_plant_of(NeuronGateway, "plant_id", "gateway_id")),
    DiscoveredSignal: Tracked(
        exclude=frozenset({"last_seen_at", "count", "last_value", "data_type"}),
        plant=lambda obj: obj.plant_id,
    ),
    # The shift calendar: planned busy time, and so every OEE figure, follows from it.
    Shift: Tracked(plant=lambda obj: obj.plant_id),
    ShiftBreak: Tracked(plant=_plant_of(Shift, "plant_id", "shift_id")),
    PlannedDowntime: Tracked(plant=lambda obj: obj.plant_id),
    # Who is told of alarms; a webhook's shared secret recorded as "secret changed".
    NotificationRoster: Tracked(plant=lambda obj: obj.plant_id),
    NotificationRecipient: Tracked(plant=_plant_of(NotificationRoster, "plant_id", "roster_id")),
    # A tag's machine class; the zone alarms it makes are recorded as alarm definitions.
    VibrationMonitor: Tracked(
        exclude=frozenset({"updated_at"}), plant=_plant_of(Tag, "machine__line__plant_id", "tag_id")
    ),
    # A tag's specification limits, ℮ settings, run rules and the loop's own-move switch.
    SpcSettings: Tracked(
        exclude=frozenset({"updated_at"}), plant=_plant_of(Tag, "machine__line__plant_id", "tag_id")
    ),
    # How OEE is measured; the reasons given to stops have their own journal (MachineStopEntry).
    OeeMachine: Tracked(plant=_plant_of(Machine, "line__plant_id", "machine_id")),
    OeeState: Tracked(plant=_plant_of(OeeMachine, "machine__line__plant_id", "oee_machine_id")),
    OeeProduct: Tracked(plant=_plant_of(OeeMachine, "machine__line__plant_id", "oee_machine_id")),
    StopReason: Tracked(plant=lambda obj: obj.plant_id),
    # Energy monitoring: the demand contract and the meters.
    PlantEnergy: Tracked(plant=lambda obj: obj.plant_id),
    EnergyMeter: Tracked(plant=lambda obj: obj.plant_id),
}


def _names_of_users(users: QuerySet[Any]) -> list[str]:
    return sorted(users.values_list("username", flat=True))


def _names_of_groups(groups: QuerySet[Any]) -> list[str]:
    return sorted(groups.values_list("name", flat=True))


def _names_of_permissions(permissions: QuerySet[Any]) -> list[str]:
    rows = permissions.values_list("content_type__app_label", "codename")
    return sorted(f"{app}.{codename}" for app, codename in rows)


# Memberships: the through model → the model holding the field, the field, and how its
# related objects are named in the history.
M2M: dict[type[Model], tuple[type[Model], str, Callable[[QuerySet[Any]], list[str]]]] = {
    Plant.members.through: (Plant, "members", _names_of_users),
    User.groups.through: (User, "groups", _names_of_groups),
    User.user_permissions.through: (User, "user_permissions", _names_of_permissions),
    Group.permissions.through: (Group, "permissions", _names_of_permissions),
}


def connect() -> None:
    """Connect the handlers (plant.apps.PlantConfig.ready), to exactly the tracked models.

    Only these senders: migrations' historical models are other classes, so a migration
    (which may run before the history table exists) records nothing.
    """
    for model in TRACKED:
        pre_save.connect(_before_save, sender=model, dispatch_uid=f"config-pre-{model}")
        post_save.connect(_after_save, sender=model, dispatch_uid=f"config-post-{model}")
        pre_delete.connect(_before_delete, sender=model, dispatch_uid=f"config-pdel-{model}")
        post_delete.connect(_after_delete, sender=model, dispatch_uid=f"config-del-{model}")
    for through in M2M:
        m2m_changed.connect(_on_m2m, sender=through, dispatch_uid=f"config-m2m-{through}")


# --- saves and deletes ---------------------------------------------------------------------


def _fields(model: type[Model]) -> list[Any]:
    exclude = TRACKED[model].exclude
    return [f for f in model._meta.concrete_fields if not f.primary_key and f.name not in exclude]


def _snapshot(obj: Model, fields: list[Any]) -> dict[str, Any]:
    """The values of `fields` as Python values of their type (a form may leave a str)."""
    return {f.attname: f.to_python(getattr(obj, f.attname)) for f in fields}


SKIP = "skip"  # a save of untracked fields only (a loop's output, a user's last login)


def _before_save(sender: type[Model], instance: Model, using: str, **kwargs: Any) -> None:
    """Read the row as it is before the save: the old values (None: it is new)."""
    fields = _fields(sender)
    update_fields = kwargs.get("update_fields")
    if update_fields is not None:
        fields = [f for f in fields if f.name in update_fields or f.attname in update_fields]
    old: dict[str, Any] | str | None = None
    if update_fields is not None and not fields:
        old = SKIP
    elif instance.pk is not None:
        rows = sender._base_manager.using(using).filter(pk=instance.pk)
        row = rows.values(*[f.attname for f in fields]).first()
        old = None if row is None else {f.attname: f.to_python(row[f.attname]) for f in fields}
    instance._config_fields = fields  # type: ignore[attr-defined]
    instance._config_old = old  # type: ignore[attr-defined]


def _after_save(
    sender: type[Model], instance: Model, created: bool, using: str, **kwargs: Any
) -> None:
    """Record a create with its values, or an update with the fields that changed."""
    old: dict[str, Any] | str | None = getattr(instance, "_config_old", SKIP)
    instance._config_old = SKIP  # type: ignore[attr-defined]
    if isinstance(old, str):  # SKIP
        return
    new = _snapshot(instance, instance._config_fields)  # type: ignore[attr-defined]
    if old is None:
        changes = {name: _pair(name, None, value) for name, value in new.items() if _set(value)}
        _record(instance, ConfigChange.Action.CREATE, changes, using)
        return
    changes = {name: _pair(name, old[name], value) for name, value in new.items()
               if old[name] != value}  # fmt: skip
    if changes:
        _record(instance, ConfigChange.Action.UPDATE, changes, using)


def _before_delete(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """Before the collector deletes anything: the values, and the plant while it can be read."""
    instance._config_old = _snapshot(instance, _fields(sender))  # type: ignore[attr-defined]
    instance._config_plant = TRACKED[sender].plant(instance)  # type: ignore[attr-defined]


def _after_delete(sender: type[Model], instance: Model, using: str, **kwargs: Any) -> None:
    old = getattr(instance, "_config_old", None) or _snapshot(instance, _fields(sender))
    changes = {name: _pair(name, value, None) for name, value in old.items() if _set(value)}
    plant = getattr(instance, "_config_plant", None)
    _record(instance, ConfigChange.Action.DELETE, changes, using, plant=plant)


def _set(value: Any) -> bool:
    return value is not None and value != ""


def _pair(name: str, old: Any, new: Any) -> dict[str, Any]:
    """The old and new value of one field; a secret only says that it was set or changed."""
    if name in SECRETS:
        what = SECRETS[name]
        if old is None:
            return {"old": None, "new": f"{what} set" if _set(new) else None}
        return {"old": None, "new": f"{what} removed" if new is None else f"{what} changed"}
    return {"old": old, "new": new}


def _record(
    obj: Model, action: str, changes: dict[str, Any], using: str, *, plant: int | None = None
) -> None:
    name, user_id = current_actor()
    if plant is None and action != ConfigChange.Action.DELETE:
        plant = TRACKED[type(obj)].plant(obj)
    ConfigChange.objects.using(using).create(
        actor=name[:150], actor_user_id=user_id, model=obj._meta.label_lower,
        object_id=str(obj.pk)[:64], object_repr=str(obj)[:200], plant_id=plant, action=action,
        changes=changes,
    )  # fmt: skip


# --- memberships ---------------------------------------------------------------------------


def _on_m2m(
    sender: type[Model], instance: Model, action: str, reverse: bool, model: type[Model],
    pk_set: set[Any] | None, using: str, **kwargs: Any,
) -> None:  # fmt: skip
    """Record a membership change as an update of the object holding the field.

    A reverse change (user.plants.add(plant)) is recorded on each plant it touches, so
    the plant's history shows its members whichever side changed them.
    """
    owner_model, name, names_of = M2M[sender]
    stash = f"_config_m2m_{name}"
    if action.startswith("pre_"):
        owners = [instance] if not reverse else _reverse_owners(owner_model, name, instance,
                                                                 pk_set, using)  # fmt: skip
        before = {owner.pk: names_of(getattr(owner, name).using(using).all()) for owner in owners}
        setattr(instance, stash, (owners, before))
        return
    owners, before = getattr(instance, stash, ([], {}))
    for owner in owners:
        after = names_of(getattr(owner, name).using(using).all())
        if after != before[owner.pk]:
            change = {name: {"old": before[owner.pk], "new": after}}
            _record(owner, ConfigChange.Action.UPDATE, change, using)
    setattr(instance, stash, ([], {}))


def _reverse_owners(
    owner_model: type[Model], name: str, related: Model, pk_set: set[Any] | None, using: str
) -> list[Model]:
    owners = owner_model._base_manager.using(using)
    if pk_set is None:  # clear(): every object the related one belongs to now
        return list(owners.filter(**{name: related}))
    return list(owners.filter(pk__in=pk_set))
