"""The one review list of discovered signals, and the do_* functions that decide about them.

Three sources feed plant.models.DiscoveredSignal:
- Neuron tags: a gateway's upload names a (node, group, tag) no NeuronTag maps; the worker
  records it with `do_see_neuron` (datatype and last value as seen, a count).
- Sparkplug births waiting for approval (SparkplugPendingBirth, discovery off for a group).
- Unknown topics of our own JSON contract (UnknownTopic, recorded by the worker).
The last two keep their own tables (the Sparkplug host and the worker write them as before);
`sync_sources` copies what is new of them into the list when an admin opens it.

An admin accepts (creates the tag: one or many at once), maps onto an existing tag, or
ignores. Each decision changes the rows in one transaction under acting_as(by), so the
configuration history (plant.config_history) records it with who made it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from plant import sparkplug
from plant.config_history import acting_as
from plant.models import (
    DiscoveredSignal,
    Line,
    Machine,
    NeuronDevice,
    NeuronGateway,
    NeuronTag,
    SparkplugPendingBirth,
    Tag,
    UnknownTopic,
)

Kind = DiscoveredSignal.Kind
Status = DiscoveredSignal.Status
EXPECTED_INTERVAL_S = 60
VALUE_CHARS = 200


def neuron_key(app: str, node: str, group: str, name: str) -> str:
    return f"{app}/{node}/{group}/{name}"


def data_type_of(value: object) -> str:
    """The tag data type a seen value suggests (a Neuron error code suggests nothing)."""
    if isinstance(value, bool):
        return Tag.DataType.BOOL
    if isinstance(value, int):
        return Tag.DataType.INT
    if isinstance(value, float):
        return Tag.DataType.FLOAT
    if isinstance(value, str):
        return Tag.DataType.STRING
    return ""


# --- seeing --------------------------------------------------------------------------------


def do_see(
    kind: str, key: str, *, plant_id: int | None, at: datetime, data_type: str = "",
    unit: str = "", last_value: str = "", detail: dict[str, object] | None = None, count: int = 1,
) -> None:  # fmt: skip
    """Count a sighting of a signal; the first one adds it to the list as new."""
    fresh = {"last_seen_at": at, "count": F("count") + count}
    if data_type:
        fresh["data_type"] = data_type
    if last_value:
        fresh["last_value"] = last_value[:VALUE_CHARS]
    if DiscoveredSignal.objects.filter(kind=kind, key=key[:512]).update(**fresh):
        return
    try:
        with transaction.atomic():
            DiscoveredSignal.objects.create(
                kind=kind, key=key[:512], plant_id=plant_id, data_type=data_type, unit=unit,
                last_value=last_value[:VALUE_CHARS], first_seen_at=at, last_seen_at=at,
                count=count, detail=detail or {},
            )  # fmt: skip
    except IntegrityError:
        DiscoveredSignal.objects.filter(kind=kind, key=key[:512]).update(**fresh)


def do_see_neuron(
    gateway: NeuronGateway, node: str, group: str, seen: dict[str, tuple[object, str]],
    at: datetime,
) -> None:  # fmt: skip
    """Neuron tags of one upload that no NeuronTag maps: `seen` maps a name to its value (None
    for an error code) and the text shown for it."""
    for name, (value, shown) in seen.items():
        do_see(
            Kind.NEURON, neuron_key(gateway.app, node, group, name), plant_id=gateway.plant_id,
            at=at, data_type=data_type_of(value), last_value=shown,
            detail={"gateway": gateway.pk, "node": node, "group": group, "name": name},
        )  # fmt: skip


def sync_sources(now: datetime | None = None) -> int:
    """Copy pending Sparkplug births and unknown topics not yet listed into the list."""
    now = now or timezone.now()
    listed = {
        (kind, key)
        for kind, key in DiscoveredSignal.objects.filter(
            kind__in=[Kind.SPARKPLUG, Kind.TOPIC]
        ).values_list("kind", "key")
    }
    added = 0
    pending = SparkplugPendingBirth.objects.filter(state=SparkplugPendingBirth.State.PENDING)
    for birth in pending.select_related("group"):
        key = str(birth)
        if (Kind.SPARKPLUG, key) not in listed:
            do_see(Kind.SPARKPLUG, key, plant_id=birth.group.plant_id, at=birth.received_at,
                   last_value=f"{len(birth.metrics)} metrics",
                   detail={"pending": birth.pk})  # fmt: skip
            added += 1
    for topic in UnknownTopic.objects.all()[:1000]:
        if (Kind.TOPIC, topic.topic) not in listed:
            value = bytes(topic.last_payload).decode("utf-8", errors="replace")
            do_see(Kind.TOPIC, topic.topic, plant_id=_plant_of_topic(topic.topic),
                   at=topic.last_seen_at, last_value=value, count=topic.message_count)  # fmt: skip
            DiscoveredSignal.objects.filter(kind=Kind.TOPIC, key=topic.topic[:512]).update(
                first_seen_at=topic.first_seen_at
            )
            added += 1
    return added


def _plant_of_topic(topic: str) -> int | None:
    from plant.models import Plant

    slug = topic.split("/", 1)[0]
    return Plant.objects.filter(slug=slug).values_list("pk", flat=True).first()


# --- deciding ------------------------------------------------------------------------------


def do_accept(signals: Iterable[DiscoveredSignal], *, by: User | str) -> list[Tag]:
    """Create the tag of each new signal (in one transaction: all or none)."""
    created: list[Tag] = []
    with transaction.atomic(), acting_as(by):
        for signal in signals:
            _claim(signal)
            tag: Tag | None
            if signal.kind == Kind.NEURON:
                tag = _accept_neuron(signal)
            elif signal.kind == Kind.TOPIC:
                tag = _accept_topic(signal)
            else:
                tag = _accept_sparkplug(signal, by)
            _decide(signal, Status.ACCEPTED, tag)
            if tag is not None:
                created.append(tag)
    return created


def do_map(signal: DiscoveredSignal, tag: Tag, *, by: User | str) -> None:
    """Attach an existing tag to the signal: the tag stores its values from now on."""
    with transaction.atomic(), acting_as(by):
        _claim(signal)
        if signal.kind == Kind.NEURON:
            gateway, node, group, name = _neuron_detail(signal)
            if NeuronTag.objects.filter(tag=tag).exists():
                raise ValidationError({"tag": f"{tag} already stores another Neuron tag"})
            NeuronTag.objects.create(gateway=gateway, node=node, group=group, name=name, tag=tag)
        elif signal.kind == Kind.TOPIC:
            tag.topic = signal.key
            tag.full_clean()
            tag.save(update_fields=["topic"])
        else:
            raise ValidationError("a Sparkplug birth is accepted (approved), not mapped")
        _decide(signal, Status.MAPPED, tag)


def do_ignore(signals: Iterable[DiscoveredSignal], *, by: User | str) -> int:
    """Mark signals ignored (a pending Sparkplug birth is ignored with them)."""
    count = 0
    with transaction.atomic(), acting_as(by):
        for signal in signals:
            if signal.kind == Kind.SPARKPLUG and "pending" in signal.detail:
                SparkplugPendingBirth.objects.filter(
                    pk=signal.detail["pending"], state=SparkplugPendingBirth.State.PENDING
                ).update(state=SparkplugPendingBirth.State.IGNORED)
            _decide(signal, Status.IGNORED, None)
            count += 1
    return count


def _claim(signal: DiscoveredSignal) -> None:
    if signal.status not in (Status.NEW, Status.IGNORED):
        raise ValidationError(f"{signal} is already {signal.get_status_display()}")


def _decide(signal: DiscoveredSignal, status: str, tag: Tag | None) -> None:
    signal.status = status
    signal.tag = tag
    signal.save(update_fields=["status", "tag"])


def _neuron_detail(signal: DiscoveredSignal) -> tuple[NeuronGateway, str, str, str]:
    d = signal.detail
    gateway = NeuronGateway.objects.select_related("plant").get(pk=d["gateway"])
    return gateway, str(d["node"]), str(d["group"]), str(d["name"])


def _accept_neuron(signal: DiscoveredSignal) -> Tag:
    gateway, node, group, name = _neuron_detail(signal)
    device, _ = NeuronDevice.objects.get_or_create(gateway=gateway, node=node)
    if device.machine is None:
        device.machine = _neuron_machine(gateway, node)
        device.save(update_fields=["machine"])
    machine = device.machine
    assert machine is not None
    key = sparkplug._unique_slug(f"{group}_{name}", 64, machine.tags.all(), "key")
    data_type = signal.data_type or Tag.DataType.FLOAT
    tag = Tag.objects.create(
        machine=machine, key=key, description=f"Neuron {node}/{group}/{name}"[:200],
        data_type=data_type, precision=2 if data_type == Tag.DataType.FLOAT else 0,
        topic=_free_topic(f"{machine.line.plant.slug}/{machine.line.slug}/{machine.slug}/{key}"),
        expected_interval_s=EXPECTED_INTERVAL_S,
    )  # fmt: skip
    NeuronTag.objects.create(gateway=gateway, node=node, group=group, name=name, tag=tag)
    return tag


def _neuron_machine(gateway: NeuronGateway, node: str) -> Machine:
    plant = gateway.plant
    line = Line.objects.filter(plant=plant, name=gateway.app[:100]).first()
    if line is None:
        slug = sparkplug._unique_slug(gateway.app, 50, plant.lines.all(), "slug")
        line = Line.objects.create(plant=plant, name=gateway.app[:100], slug=slug)
    slug = sparkplug._unique_slug(node, 50, line.machines.all(), "slug")
    return Machine.objects.create(line=line, name=node[:100], slug=slug)


def _free_topic(base: str) -> str:
    topic = base
    for n in range(2, 1000):
        if not Tag.objects.filter(topic=topic).exists():
            return topic
        topic = f"{base}_{n}"
    raise ValidationError(f"no free topic for {base!r}")


def _accept_topic(signal: DiscoveredSignal) -> Tag:
    parts = signal.key.split("/")
    if len(parts) != 4:
        raise ValidationError(f"{signal.key!r} is not <plant>/<line>/<machine>/<tag>")
    machine = Machine.objects.filter(
        line__plant__slug=parts[0], line__slug=parts[1], slug=parts[2]
    ).first()
    if machine is None:
        raise ValidationError(f"no machine {'/'.join(parts[:3])!r} for topic {signal.key!r}")
    tag = Tag(machine=machine, key=parts[3][:64], topic=signal.key,
              data_type=signal.data_type or Tag.DataType.FLOAT)  # fmt: skip
    tag.full_clean()
    tag.save()
    return tag


def _accept_sparkplug(signal: DiscoveredSignal, by: User | str) -> Tag | None:
    pending = SparkplugPendingBirth.objects.get(pk=signal.detail["pending"])
    mapped = sparkplug.do_approve(pending, by)
    first = next((m.tag_id for m in mapped if m.tag_id is not None), None)
    return Tag.objects.get(pk=first) if first is not None else None
