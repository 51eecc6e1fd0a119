"""Sparkplug B births and deaths in the asset model: discovery, approval, node sessions.

A birth (NBIRTH, DBIRTH) describes an edge node's or device's metrics. With its group's
discovery on, what is unknown is created: group → plant, edge node → line, device → machine
(the node's own metrics under a machine named after the edge node), metric → tag with its
data type, engineering unit and range. What exists keeps what an admin configured: a known
metric only learns its new alias. With discovery off, a birth that brings anything new waits
as a SparkplugPendingBirth until an admin approves it. Changes to plants, lines, machines and
tags are recorded in the configuration history as made by "sparkplug".

Each node and device with a machine also gets a status tag (`SparkplugNode.status_tag`, key
`sparkplug_online`, bool): the host stores 1 at its birth and 0 at its death (an NDEATH, its
will, a DDEATH), so an admin's digital alarm on it (limit 0) is its comm-loss alarm, journaled
and shown like any other, and the trend shows when it was away.

No MQTT here: ingest.sparkplug.host decodes the messages and calls these.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models, transaction
from django.utils.text import slugify

from plant.config_history import acting_as
from plant.models import Line, Machine, Plant, Tag
from plant.models.sparkplug import (
    SparkplugGroup,
    SparkplugMetric,
    SparkplugNode,
    SparkplugPendingBirth,
)

ACTOR = "sparkplug"
# Sparkplug datatype numbers → the historian's tag types; other datatypes (arrays, DataSet,
# Template, bytes, files, property sets) are kept as metrics without a tag.
TAG_TYPES = {
    **dict.fromkeys((1, 2, 3, 4, 5, 6, 7, 8, 13), Tag.DataType.INT),  # ints, DateTime (ms)
    9: Tag.DataType.FLOAT,
    10: Tag.DataType.FLOAT,
    11: Tag.DataType.BOOL,
    **dict.fromkeys((12, 14, 15), Tag.DataType.STRING),  # String, Text, UUID
}
# Report by exception: an edge node sends a value when it changes, and its death certificate,
# not silence, says its values are no longer current. A tag turns stale only after a day.
EXPECTED_INTERVAL_S = 24 * 3600


def is_control(name: str) -> bool:
    """Session metrics of the spec, not process values: never a tag."""
    return name == "bdSeq" or name.startswith(("Node Control/", "Device Control/"))


@dataclass(frozen=True, slots=True)
class BirthMetric:
    """One metric as a birth describes it (properties engUnit, engLow and engHigh)."""

    name: str
    alias: int | None
    datatype: int
    unit: str = ""
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True, slots=True)
class Mapped:
    """A metric of a node or device as the host resolves its data: tag_id None is not stored."""

    name: str
    alias: int | None
    datatype: int
    tag_id: int | None


def group_of(group_id: str) -> SparkplugGroup:
    group, _ = SparkplugGroup.objects.get_or_create(
        group_id=group_id, defaults={"discovery": settings.SPARKPLUG_DISCOVERY}
    )
    return group


def do_birth(
    group_id: str,
    edge_node_id: str,
    device_id: str,
    metrics: list[BirthMetric],
    *,
    bd_seq: int | None,
    at: datetime,
) -> tuple[list[Mapped], bool]:
    """Apply a birth; return its metrics as mapped now, and whether it waits for approval."""
    with transaction.atomic(), acting_as(ACTOR):
        group = group_of(group_id)
        node = _session(group, edge_node_id, device_id, bd_seq, at)
        known = {m.name: m for m in node.metrics.all()}
        new = [m for m in metrics if m.name not in known and not is_control(m.name)]
        pending = bool(new) and not group.discovery
        if pending:
            _hold(group, edge_node_id, device_id, metrics, at)
        elif new or node.machine_id is None:
            node.machine = _machine(group, node)
            node.save(update_fields=["machine"])
        _ensure_status_tag(node)
        rows = [
            _metric(node, m, known.get(m.name), create_tag=not pending)
            for m in metrics
            if not is_control(m.name)
        ]
    return [Mapped(r.name, r.alias, r.datatype, r.tag_id) for r in rows], pending


def _session(
    group: SparkplugGroup, edge: str, device: str, bd_seq: int | None, at: datetime
) -> SparkplugNode:
    node, _ = SparkplugNode.objects.get_or_create(group=group, edge_node_id=edge, device_id=device)
    node.online, node.birth_at = True, at
    if not device:
        node.bd_seq = bd_seq
        # A node's birth starts its session anew: its devices are online again at their births.
        SparkplugNode.objects.filter(group=group, edge_node_id=edge).exclude(device_id="").update(
            online=False
        )
    node.save(update_fields=["online", "birth_at", "bd_seq"])
    return node


def _hold(
    group: SparkplugGroup, edge: str, device: str, metrics: list[BirthMetric], at: datetime
) -> None:
    SparkplugPendingBirth.objects.update_or_create(
        group=group,
        edge_node_id=edge,
        device_id=device,
        state=SparkplugPendingBirth.State.PENDING,
        defaults={"received_at": at, "metrics": [asdict(m) for m in metrics]},
    )


def _metric(
    node: SparkplugNode, m: BirthMetric, row: SparkplugMetric | None, *, create_tag: bool
) -> SparkplugMetric:
    if row is not None:
        # Known: the admin's tag stays as it is; only the session's alias may change.
        if (row.alias, row.datatype) != (m.alias, m.datatype):
            row.alias, row.datatype = m.alias, m.datatype
            row.save(update_fields=["alias", "datatype"])
        return row
    if not create_tag:
        return SparkplugMetric(node=node, name=m.name, alias=m.alias, datatype=m.datatype)
    tag = _tag(node, m) if m.datatype in TAG_TYPES else None
    return SparkplugMetric.objects.create(
        node=node, name=m.name, alias=m.alias, datatype=m.datatype, tag=tag
    )


def _machine(group: SparkplugGroup, node: SparkplugNode) -> Machine:
    """The machine of a node or device, creating its plant, line and machine as needed."""
    if node.machine_id is not None:
        return node.machine  # type: ignore[return-value]
    if not node.device_id:
        line = _line(group, node.edge_node_id)
        return _create_machine(line, node.edge_node_id)
    edge = SparkplugNode.objects.get_or_create(
        group=group, edge_node_id=node.edge_node_id, device_id=""
    )[0]
    if edge.machine_id is None:
        edge.machine = _machine(group, edge)
        edge.save(update_fields=["machine"])
    return _create_machine(edge.machine.line, node.device_id)  # type: ignore[union-attr]


def _line(group: SparkplugGroup, edge: str) -> Line:
    if group.plant_id is None:
        slug = _unique_slug(group.group_id, 50, Plant.objects.all(), "slug")
        name = _unique_name(group.group_id, Plant.objects.all())
        group.plant = Plant.objects.create(name=name, slug=slug)
        group.save(update_fields=["plant"])
    plant = group.plant
    assert plant is not None
    slug = _unique_slug(edge, 50, plant.lines.all(), "slug")
    return Line.objects.create(plant=plant, name=edge[:100], slug=slug)


def _create_machine(line: Line, name: str) -> Machine:
    slug = _unique_slug(name, 50, line.machines.all(), "slug")
    return Machine.objects.create(line=line, name=name[:100], slug=slug)


def _tag(node: SparkplugNode, m: BirthMetric) -> Tag:
    machine = node.machine
    assert machine is not None
    key = _unique_slug(m.name, 64, machine.tags.all(), "key")
    base = f"{machine.line.plant.slug}/{machine.line.slug}/{machine.slug}/{key}"
    topic = base
    for n in range(2, 1000):
        if not Tag.objects.filter(topic=topic).exists():
            break
        topic = f"{base}_{n}"
    data_type = TAG_TYPES[m.datatype]
    numeric = data_type in (Tag.DataType.FLOAT, Tag.DataType.INT)
    ranged = numeric and _range_ok(m.low, m.high)
    return Tag.objects.create(
        machine=machine,
        key=key,
        description=m.name[:200],
        data_type=data_type,
        unit=m.unit[:16],
        range_min=m.low if ranged else None,
        range_max=m.high if ranged else None,
        precision=2 if data_type == Tag.DataType.FLOAT else 0,
        topic=topic,
        expected_interval_s=EXPECTED_INTERVAL_S,
    )


STATUS_KEY = "sparkplug_online"


def _ensure_status_tag(node: SparkplugNode) -> None:
    """The node's status tag, made once its machine exists (the machine's own name for it)."""
    if node.status_tag_id is not None or node.machine is None:
        return
    machine = node.machine
    key = _unique_slug(STATUS_KEY, 64, machine.tags.all(), "key")
    topic = f"{machine.line.plant.slug}/{machine.line.slug}/{machine.slug}/{key}"
    if Tag.objects.filter(topic=topic).exists():
        topic = f"{topic}_{node.pk}"
    node.status_tag = Tag.objects.create(
        machine=machine, key=key, data_type=Tag.DataType.BOOL, topic=topic,
        description=f"Sparkplug {'device' if node.device_id else 'edge node'} {node} online "
        "(1 from its birth, 0 from its death)"[:200],
        expected_interval_s=EXPECTED_INTERVAL_S,
    )  # fmt: skip
    node.save(update_fields=["status_tag"])


def status_tags(
    group_id: str, edge_node_id: str, device_id: str, *, with_devices: bool = False
) -> list[int]:
    """The status tags of a node or device; of an edge node's devices too `with_devices`."""
    nodes = SparkplugNode.objects.filter(
        group__group_id=group_id, edge_node_id=edge_node_id, status_tag__isnull=False
    )
    if device_id or not with_devices:
        nodes = nodes.filter(device_id=device_id)
    return list(nodes.values_list("status_tag_id", flat=True))


def _range_ok(low: float | None, high: float | None) -> bool:
    return (
        low is not None
        and high is not None
        and math.isfinite(low)
        and math.isfinite(high)
        and low < high
    )


def _unique_slug(text: str, limit: int, existing: models.QuerySet[Any], field: str) -> str:
    """A slug of `text` (levels and spaces as underscores) not yet taken in `existing`."""
    base = slugify(re.sub(r"[/\s.:]+", "_", text)).strip("_-")[:limit] or "sparkplug"
    slug = base
    for n in range(2, 10_000):
        if not existing.filter(**{field: slug}).exists():
            return slug
        suffix = f"_{n}"
        slug = base[: limit - len(suffix)] + suffix
    raise ValueError(f"no free slug for {text!r}")


def _unique_name(text: str, existing: models.QuerySet[Any]) -> str:
    name = text[:100]
    for n in range(2, 10_000):
        if not existing.filter(name=name).exists():
            return name
        name = f"{text[:90]} ({n})"
    raise ValueError(f"no free name for {text!r}")


def do_approve(pending: SparkplugPendingBirth, by: User | str) -> list[Mapped]:
    """Create what a held birth describes, as discovery would have (`by`: the admin)."""
    with transaction.atomic(), acting_as(by):
        claimed = SparkplugPendingBirth.objects.filter(
            pk=pending.pk, state=SparkplugPendingBirth.State.PENDING
        ).update(state=SparkplugPendingBirth.State.APPROVED)
        if not claimed:
            return []
        group = pending.group
        node, _ = SparkplugNode.objects.get_or_create(
            group=group, edge_node_id=pending.edge_node_id, device_id=pending.device_id
        )
        node.machine = _machine(group, node)
        node.save(update_fields=["machine"])
        _ensure_status_tag(node)
        known = {m.name: m for m in node.metrics.all()}
        rows = [
            _metric(node, BirthMetric(**m), known.get(m["name"]), create_tag=True)
            for m in pending.metrics
            if not is_control(m["name"])
        ]
    return [Mapped(r.name, r.alias, r.datatype, r.tag_id) for r in rows]


def do_death(
    group_id: str, edge_node_id: str, device_id: str, *, bd_seq: int | None, at: datetime
) -> list[int] | None:
    """A node's (or device's) death: its session and its devices' go offline. Return the
    tags whose values are no longer current, or None for an NDEATH whose bdSeq is not the
    current birth's (a stale will, sent after the node had already been born again)."""
    with transaction.atomic():
        nodes = SparkplugNode.objects.select_for_update().filter(
            group__group_id=group_id, edge_node_id=edge_node_id
        )
        if device_id:
            nodes = nodes.filter(device_id=device_id)
        else:
            edge = nodes.filter(device_id="").first()
            if edge is None or (
                bd_seq is not None and edge.bd_seq is not None and edge.bd_seq != bd_seq
            ):
                return None
        ids = list(nodes.values_list("pk", flat=True))
        SparkplugNode.objects.filter(pk__in=ids).update(online=False, death_at=at)
        return list(
            SparkplugMetric.objects.filter(node__in=ids, tag__isnull=False).values_list(
                "tag_id", flat=True
            )
        )


def mappings() -> dict[tuple[str, str, str], list[Mapped]]:
    """Every node's and device's metrics as the host resolves them, by (group, edge, device)."""
    out: dict[tuple[str, str, str], list[Mapped]] = {}
    rows = SparkplugMetric.objects.values_list(
        "node__group__group_id", "node__edge_node_id", "node__device_id",
        "name", "alias", "datatype", "tag_id",
    )  # fmt: skip
    for group, edge, device, name, alias, datatype, tag_id in rows:
        out.setdefault((group, edge, device), []).append(Mapped(name, alias, datatype, tag_id))
    return out
