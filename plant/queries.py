"""Read helpers shared by the core and hmi: which plants a user may see, and a value as text.

What a screen reads (a tag's reading and gauge, the overview tiles, sparklines) is hmi's:
hmi/readings.py and hmi/screen_queries.py.
"""

from __future__ import annotations

from typing import Literal

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import F, Q, QuerySet

from plant.models import Machine, NeuronDevice, Plant, Tag

NO_VALUE = "—"
ScreenKind = Literal["plant", "line", "machine", "tag"]
SCREEN_KINDS: tuple[ScreenKind, ...] = ("plant", "line", "machine", "tag")
# How a screen of each kind finds the plant it belongs to (access is by plant).
PLANT_PATH = {
    "plant": "pk",
    "line": "lines",
    "machine": "lines__machines",
    "tag": "lines__machines__tags",
}


def visible_plants(user: User | AnonymousUser) -> QuerySet[Plant]:
    """Every plant for a superuser; otherwise the plants the user is a member of and may view."""
    if not user.is_active:
        return Plant.objects.none()
    if user.is_superuser:
        return Plant.objects.all()
    if not user.has_perm("plant.view_tag"):
        return Plant.objects.none()
    return Plant.objects.filter(members=user)


def screen_plant(user: User | AnonymousUser, kind: ScreenKind, pk: int) -> Plant | None:
    """The plant of a plant, line, machine or tag the user may see; None if they may not."""
    return visible_plants(user).filter(**{PLANT_PATH[kind]: pk}).first()


def format_value(tag: Tag, value: float | None, text: str | None) -> str:
    """The value as text: the tag's precision, its bool labels, the device's error, or "—"
    when there is none."""
    if tag.data_type == Tag.DataType.STRING:
        return text if text else NO_VALUE
    if value is None:
        # A number's text is a device's error (a Neuron tag's "3002 plugin disconnected").
        return text or NO_VALUE
    if tag.data_type == Tag.DataType.BOOL:
        return (tag.true_label or "true") if value else (tag.false_label or "false")
    formatted = f"{value:.{tag.precision}f}"
    # A small negative value rounds to "-0.0", which reads like a sign error on a screen.
    return formatted.lstrip("-") if float(formatted) == 0 else formatted


def neuron_links(machine: Machine) -> list[NeuronDevice]:
    """The Neuron south nodes that fill `machine` (its own, or those whose tags map onto its
    tags), with the link state their gateway's driver status last reported."""
    return list(
        NeuronDevice.objects.filter(
            Q(machine=machine)
            | Q(gateway__tags__tag__machine=machine, gateway__tags__node=F("node"))
        )
        .select_related("gateway")
        .distinct()
        .order_by("gateway__app", "node")
    )
