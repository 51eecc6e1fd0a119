"""Per-plant administration: an admin sees and changes only what lies in their own plants.

The Django admin's permissions are per model, so by themselves they would let the admin of
one plant list every plant, change another plant's tag limits, or add themself to any plant
and write setpoints there. Every admin page of an object under a plant goes through
PlantScopedAdmin instead: its lists, its change pages and its foreign-key choices hold only
the plants the user is a member of. Superusers see every plant, and only they manage
memberships, users and groups.

Topics are scoped the same way. A plant's topics lie under `<MQTT_TOPIC_ROOT><plant slug>/`
(the MQTT contract): a plant admin sees the rejected messages and unknown topics there (and
on their own tags' topics), and gives their tags topics only there, so they cannot claim
another plant's devices, or a topic under no plant's slug, which only superusers see and map
(nor found or rename a plant onto a slug under which such topics already arrive).
"""

from __future__ import annotations

from typing import Any, TypeVar

from django import forms
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest

from plant.admin_base import ModelAdmin, ModelForm, TabularInline
from plant.models import (
    Alarm,
    AlarmDefinition,
    AlarmJournalEntry,
    ControlLoop,
    DeviceIdentity,
    DiscoveredSignal,
    EmergencyAction,
    EnergyMeter,
    Line,
    Machine,
    NeuronDevice,
    NeuronGateway,
    NotificationDelivery,
    NotificationRecipient,
    NotificationRoster,
    OeeMachine,
    OeeProduct,
    OeeState,
    PlannedDowntime,
    Plant,
    PlantEnergy,
    RejectedMessage,
    SetpointWrite,
    Shift,
    ShiftBreak,
    ShiftReportSettings,
    SpcSettings,
    StopReason,
    Tag,
    UnknownTopic,
    VibrationMonitor,
)

# Each scoped model → the path from it to its plant ("" for the plant itself).
PLANT_PATHS: dict[type[Model], str] = {
    Plant: "",
    Line: "plant",
    Machine: "line__plant",
    Tag: "machine__line__plant",
    AlarmDefinition: "tag__machine__line__plant",
    EmergencyAction: "line__plant",
    # A loop belongs where it writes: its output tag's plant.
    ControlLoop: "output_tag__machine__line__plant",
    SetpointWrite: "tag__machine__line__plant",
    Alarm: "definition__tag__machine__line__plant",
    AlarmJournalEntry: "tag__machine__line__plant",
    DeviceIdentity: "plant",
    NeuronGateway: "plant",
    NeuronDevice: "gateway__plant",
    DiscoveredSignal: "plant",
    Shift: "plant",
    ShiftBreak: "shift__plant",
    PlannedDowntime: "plant",
    NotificationRoster: "plant",
    NotificationRecipient: "roster__plant",
    NotificationDelivery: "plant",
    VibrationMonitor: "tag__machine__line__plant",
    SpcSettings: "tag__machine__line__plant",
    OeeMachine: "machine__line__plant",
    OeeState: "oee_machine__machine__line__plant",
    OeeProduct: "oee_machine__machine__line__plant",
    StopReason: "plant",
    PlantEnergy: "plant",
    EnergyMeter: "plant",
    ShiftReportSettings: "plant",
}


M = TypeVar("M", bound=Model)


def in_own_plants(queryset: QuerySet[M], user: User | AnonymousUser) -> QuerySet[M]:
    """The rows of `queryset` in plants `user` is a member of; all of them for a superuser."""
    if user.is_superuser:
        return queryset
    path = PLANT_PATHS[queryset.model]
    return queryset.filter(**{f"{path}__members" if path else "members": user})


class ScopedChoices:
    """Foreign keys of a form (admin page or inline) offer only objects of the user's plants,
    and a posted id of another plant's object is refused as an invalid choice."""

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if related in PLANT_PATHS and "queryset" not in kwargs:
            kwargs["queryset"] = in_own_plants(related._default_manager.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


class PlantScopedAdmin(ScopedChoices, ModelAdmin):
    """An admin page of a model under a plant, showing only the user's own plants' rows.

    Another plant's object is answered as if it did not exist (Django's "does not exist"
    redirect), so its id tells nothing.
    """

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return in_own_plants(super().get_queryset(request), request.user)


class ScopedInline(ScopedChoices, TabularInline):
    """An inline of a plant-scoped page: its parent is already one of the user's plants."""


def topic_prefix(plant: Plant) -> str:
    """Where a plant's topics lie: `<MQTT_TOPIC_ROOT><slug>/` (the MQTT contract)."""
    return f"{settings.MQTT_TOPIC_ROOT}{plant.slug}/"


def on_own_topics(queryset: QuerySet[M], user: User | AnonymousUser) -> QuerySet[M]:
    """The rows of `queryset` (with a `topic`) under the user's plants' slugs or on their own
    tags' topics; all of them for a superuser, who alone sees the topics of no plant."""
    if not user.is_authenticated:
        return queryset.none()  # unreachable behind the admin site's login; nothing, if it were
    if user.is_superuser:
        return queryset
    plants = Plant.objects.filter(members=user)
    mine = Q(topic__in=Tag.objects.filter(machine__line__plant__in=plants).values("topic"))
    for plant in plants:
        mine |= Q(topic__startswith=topic_prefix(plant))
    return queryset.filter(mine)


class TopicScopedAdmin(ModelAdmin):
    """An admin page of rows named by topic (rejected messages, unknown topics)."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return on_own_topics(super().get_queryset(request), request.user)


class OwnTopicForm(ModelForm):
    """A tag's form (admin page or a machine's tag rows): a plant admin's new or moved tag
    publishes under its own plant's slug. The admin page sets `user` on each request's class."""

    user: User | AnonymousUser | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        topic = data.get("topic")
        machine = data.get("machine") or getattr(self.instance, "machine", None)
        if self.user is None or self.user.is_superuser or not topic or machine is None:
            return data
        moved = self.instance.pk is None or {"topic", "machine"} & set(self.changed_data)
        prefix = topic_prefix(machine.line.plant)
        if moved and not topic.startswith(prefix):
            where = f"A tag of {machine.line.plant} publishes under {prefix}"
            self.add_error("topic", f"{where}: other topics are other plants' or a superuser's.")
        return data


class OwnSlugForm(ModelForm):
    """A plant's form: a plant admin's new or renamed plant takes no slug under which messages
    already arrive, since those topics are no plant's (or another's) until a superuser says."""

    user: User | AnonymousUser | None = None

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        if self.user is None or self.user.is_superuser or slug == self.instance.slug:
            return slug
        prefix = topic_prefix(Plant(slug=slug))
        tags = Tag.objects.filter(topic__startswith=prefix)
        if self.instance.pk is not None:
            tags = tags.exclude(machine__line__plant=self.instance)
        used = [q.filter(topic__startswith=prefix).exists() for q in
                (UnknownTopic.objects, RejectedMessage.objects)]  # fmt: skip
        if any(used) or tags.exists():
            raise forms.ValidationError(
                f"Messages already arrive under {prefix}; a superuser gives them a plant."
            )
        return slug
