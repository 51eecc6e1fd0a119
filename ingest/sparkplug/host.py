"""The Sparkplug B 3.0 host application inside the ingest worker.

The worker subscribes `spBv1.0/#` beside its own topics and hands each batch to `prepare()`
before decoding it. There, in arrival order, births define (and with discovery create) the
tags of a node's metrics, data messages are resolved through the birth's aliases into
readings of those tags, and deaths turn the node's tags bad. What `prepare` finds is set on
each message as a `Resolved`, which ingest.batch stores through the same lossless path as the
JSON contract: one transaction, acknowledged after commit, a refusal kept with its reason.

Data from a node or device we hold no birth for, an alias its birth did not define, or a gap
in `seq` that the Reorder Timeout did not close asks the edge node for a rebirth (NCMD
`Node Control/Rebirth`, at most once every REBIRTH_HOLDOFF_S per node).

Out-of-order messages (Sparkplug 3.0 section 5.9, ingest.sparkplug.reorder): a message whose
`seq` is ahead of the expected one is held, unacknowledged, for SPARKPLUG_REORDER_TIMEOUT_S
([tck-id-operational-behavior-host-reordering-param], [...-start]). When the missing one comes
in time, the held ones are processed after it, in order, in the same batch
([...-reordering-success]). When the time passes, `overdue()` hands the held ones to the
worker's next batch, in seq order with the gap skipped, and asks for a rebirth
([...-reordering-rebirth]). The spec leaves the held messages to the host (Cirrus Link's MQTT
Engine flushes them away); we store them rather than lose them: they belong to the session
whose birth we hold, and each is acknowledged only once its batch has committed, so a worker
that stops while holding some gets them again from the broker.

As the primary host, the worker keeps a retained
`spBv1.0/STATE/<SPARKPLUG_HOST_ID>` saying {"online": true, "timestamp": t}, with a will
saying false (QoS 1, retained), so edge nodes know whether anyone stores their data.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

from django.conf import settings
from django.db import InterfaceError, OperationalError

from ingest.batch import Message, Resolved
from ingest.payloads import DeviceReading, PayloadError, parse_ts
from ingest.sparkplug import codec
from ingest.sparkplug.codec import D, SparkplugError
from ingest.sparkplug.reorder import Reorder
from ingest.tagcache import TagCache
from plant import sparkplug as model
from plant.models import LatestValue, SparkplugNode

log = logging.getLogger(__name__)

NAMESPACE = "spBv1.0"
TOPIC_FILTER = f"{NAMESPACE}/#"
STATE_PREFIX = f"{NAMESPACE}/STATE/"
REBIRTH_HOLDOFF_S = 5.0
REBIRTH = "Node Control/Rebirth"
KINDS = {"NBIRTH", "NDEATH", "DBIRTH", "DDEATH", "NDATA", "DDATA", "NCMD", "DCMD"}
Key = tuple[str, str, str]  # (group, edge node, device or "")
Publish = Callable[..., Any]  # paho's Client.publish(topic, payload, qos, retain)
Step = Callable[[], Resolved]  # what processing a decoded message does, run in seq order
Pending = tuple[Message, Step]


@dataclass(frozen=True, slots=True)
class Topic:
    """spBv1.0/<group>/<kind>/<edge node>[/<device>]"""

    group: str
    kind: str
    edge: str
    device: str = ""

    @property
    def key(self) -> Key:
        return (self.group, self.edge, self.device)


def parse_topic(topic: str) -> Topic | None:
    """The parts of a Sparkplug topic; None for STATE; SparkplugError for anything else."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[1] == "STATE":
        return None
    if len(parts) not in (4, 5) or parts[2] not in KINDS or not all(parts[1:]):
        raise SparkplugError(f"not a Sparkplug B topic: {topic[:120]!r}")
    device_kind = parts[2].startswith("D")
    if device_kind != (len(parts) == 5):
        raise SparkplugError(f"{parts[2]} {'needs' if device_kind else 'takes no'} device id")
    return Topic(parts[1], parts[2], parts[3], parts[4] if device_kind else "")


class Deferred(OperationalError):
    """The database went away during `prepare`: `batch` is what to keep and retry (resolved
    messages stay resolved; the rest, held ones released included, are resolved again)."""

    def __init__(self, batch: list[Message]) -> None:
        super().__init__("the database is unreachable")
        self.batch = batch


@dataclass(slots=True)
class Session:
    """What the host holds of a node or device between its birth and its death."""

    by_alias: dict[int, model.Mapped]
    by_name: dict[str, model.Mapped]


class Host:
    """Resolves Sparkplug messages of a batch, keeps node sessions, asks for rebirths."""

    def __init__(self, host_id: str, tags: TagCache, publish: Publish,
                 reorder_timeout_s: float | None = None) -> None:  # fmt: skip
        self.host_id = host_id
        self.state_topic = f"{NAMESPACE}/STATE/{host_id}"
        self.tags = tags
        self.publish = publish
        self.timestamp = int(time.time() * 1000)  # the STATE birth's and will's, alike
        self.sessions: dict[Key, Session] = {}
        timeout = settings.SPARKPLUG_REORDER_TIMEOUT_S
        self.reorder: Reorder[Pending] = Reorder(
            timeout if reorder_timeout_s is None else reorder_timeout_s
        )
        self.released: dict[int, Step] = {}  # id(message) → its step, for messages `overdue` gave
        self.rebirth_at: dict[tuple[str, str], float] = {}
        self.loaded = ""  # the tag table's fingerprint the sessions were last read with

    # --- STATE -------------------------------------------------------------------------

    def state(self, online: bool) -> bytes:
        return json.dumps({"online": online, "timestamp": self.timestamp}).encode()

    def will(self) -> tuple[str, bytes]:
        return self.state_topic, self.state(False)

    def on_connect(self, client: Any) -> None:
        """After subscribing: say we are online (retained), as the spec's host must."""
        client.publish(self.state_topic, self.state(True), qos=1, retain=True)

    def offline(self, client: Any) -> None:
        """A clean stop sends no will: say offline ourselves."""
        if client.is_connected():
            info = client.publish(self.state_topic, self.state(False), qos=1, retain=True)
            info.wait_for_publish(2.0)

    # --- a batch -------------------------------------------------------------------------

    def prepare(self, batch: list[Message]) -> list[Message]:
        """Resolve every Sparkplug message of the batch, in order (births first define what
        the data after them means); return the batch to store: without the messages held for
        their turn, with the held ones whose turn came. With the database unreachable it
        raises Deferred, which carries what the worker must keep for its retry."""
        out: list[Message] = []
        for i, message in enumerate(batch):
            if message.resolved is not None or not message.topic.startswith(NAMESPACE + "/"):
                out.append(message)
                continue
            step = self.released.pop(id(message), None)
            try:
                ready = [(message, step)] if step else self._arrive(message)
            except (OperationalError, InterfaceError) as exc:
                if step:
                    self.released[id(message)] = step
                raise Deferred(out + batch[i:]) from exc
            for j, (each, run) in enumerate(ready):
                try:
                    each.resolved = _guarded(each, run)
                except (OperationalError, InterfaceError) as exc:
                    # What left the reorder buffer must not be lost with the connection.
                    self.released.update((id(m), r) for m, r in ready[j:])
                    raise Deferred(out + [m for m, _ in ready[j:]] + batch[i + 1 :]) from exc
                out.append(each)
        return out

    def overdue(self) -> list[Message]:
        """The held messages whose Reorder Timeout has passed, in seq order, for the worker's
        next batch; each of their nodes is asked for a rebirth."""
        out = []
        for node, pending in self.reorder.overdue(time.monotonic()):
            log.info("seq gap from %s/%s not closed in %.1fs", *_node(node), self.reorder.timeout_s)
            self._ask_rebirth(_node(node))
            for message, step in pending:
                self.released[id(message)] = step
                out.append(message)
        return out

    def _arrive(self, message: Message) -> list[Pending]:
        """Decode one message; what may be processed now, in order (it may be held)."""
        try:
            return self._sequence(message)
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            return [(message, partial(_failed, message, exc))]

    def _reload(self) -> None:
        """Read the sessions again when the worker's tag table changed (an admin approved a
        birth, deleted a tag), and at the start: a restarted worker resolves queued data."""
        if self.loaded == self.tags.fingerprint and self.loaded:
            return
        online = set(
            SparkplugNode.objects.filter(online=True).values_list(
                "group__group_id", "edge_node_id", "device_id"
            )
        )
        self.sessions = {
            key: _session(mapped) for key, mapped in model.mappings().items() if key in online
        }
        for key in online - self.sessions.keys():
            self.sessions[key] = _session([])
        self.loaded = self.tags.fingerprint

    def _sequence(self, message: Message) -> list[Pending]:
        topic = parse_topic(message.topic)
        if topic is None:
            return [(message, partial(self._state, message))]
        if topic.kind in ("NCMD", "DCMD"):
            return [(message, Resolved)]  # commands to edge nodes (ours among them): not telemetry
        self._reload()
        step: Step
        if topic.kind.endswith("DATA"):
            timestamp, seq, metrics = codec.decode_data(message.payload)
            step = partial(self._data, topic, timestamp, metrics, message)
        else:
            payload = codec.decode(message.payload)
            seq = payload.seq
            handle = self._birth if topic.kind.endswith("BIRTH") else self._death
            step = partial(handle, topic, payload, message)
        node = (topic.group, topic.edge)
        if topic.kind == "NBIRTH":  # a new session: the old one's held messages go first
            return [*self.reorder.restart(node, seq), (message, step)]
        if topic.kind == "NDEATH":  # no seq: it ends the session after what it held
            return [*self.reorder.flush(node), (message, step)]
        offered = self.reorder.offer(node, seq, (message, step), time.monotonic())
        if offered.stray:
            log.info("seq %s from %s/%s far from the expected one", seq, *node)
            self._rebirth(topic)
        return offered.ready

    def _state(self, message: Message) -> Resolved:
        self.on_state(message.topic, message.payload)
        return Resolved()

    def on_state(self, topic: str, payload: bytes) -> None:
        """A host's STATE (the worker hands them over outside its batches: not telemetry).
        Ours saying offline (our will, or someone else's) while we are here: say online."""
        if topic != self.state_topic:
            return
        try:
            online = json.loads(payload).get("online")
        except (ValueError, AttributeError):
            online = None
        if online is not True:
            self.publish(self.state_topic, self.state(True), 1, True)

    # --- births, data, deaths --------------------------------------------------------------

    def _birth(self, topic: Topic, payload: codec.Payload, message: Message) -> Resolved:
        node = (topic.group, topic.edge)
        if topic.device and (topic.group, topic.edge, "") not in self.sessions:
            self._rebirth(topic)
            return Resolved(reason="DBIRTH before the edge node's NBIRTH: rebirth requested")
        bd_seq = None
        metrics = []
        for m in payload.metrics:
            if m.name is None or m.datatype is None:
                raise SparkplugError(f"birth metric without name or datatype (alias {m.alias})")
            if m.name == "bdSeq" and isinstance(m.value, int):
                bd_seq = m.value
            metrics.append(_described(m))
        when = _time(payload.timestamp, message)
        mapped, pending = model.do_birth(
            topic.group, topic.edge, topic.device, metrics, bd_seq=bd_seq, at=when
        )
        if not topic.device:
            # A node's birth starts its session anew: its devices are born after it.
            for key in [k for k in self.sessions if k[:2] == node and k[2]]:
                del self.sessions[key]
        self.sessions[topic.key] = _session(mapped)
        self.tags.refresh()
        self.loaded = self.tags.fingerprint
        values = [codec.as_data(m) for m in payload.metrics]
        out = self._values(topic, payload.timestamp, values, message, by_name=True)
        self._status(out, model.status_tags(*topic.key), online=True, at=when)
        if pending:
            out.reason = (
                f"discovery is off for group {topic.group[:60]!r}: the {topic.kind} waits for "
                f"approval under Sparkplug pending births; {out.reason}"
            )
        return out

    def _data(
        self,
        topic: Topic,
        timestamp: int | None,
        metrics: list[codec.DataMetric],
        message: Message,
    ) -> Resolved:
        if topic.key not in self.sessions:
            self._rebirth(topic)
            return Resolved(
                reason=f"{topic.kind} before any birth of {'/'.join(topic.key).strip('/')[:120]}"
                ": rebirth requested"
            )
        out = self._values(topic, timestamp, metrics, message, by_name=False)
        if out.reason and "no tag" in out.reason and self.tags.refresh():
            # An admin may have approved the birth since the worker last read the tag table
            # (it does every 2 s): read it now rather than refuse data it could store.
            self._reload()
            out = self._values(topic, timestamp, metrics, message, by_name=False)
        return out

    def _values(
        self,
        topic: Topic,
        default_ts: int | None,
        metrics: list[codec.DataMetric],
        message: Message,
        *,
        by_name: bool,
    ) -> Resolved:
        session = self.sessions[topic.key]
        out = Resolved()
        unknown: list[str] = []
        untagged = 0
        times: dict[int | None, datetime] = {}
        for m in metrics:
            mapped = session.by_name.get(m.name) if m.name is not None else None
            if mapped is None and m.alias is not None and not by_name:
                mapped = session.by_alias.get(m.alias)
            if mapped is None:
                if not (m.name and model.is_control(m.name)):
                    unknown.append(m.name or f"alias {m.alias}")
                continue
            tag = self.tags.by_id.get(mapped.tag_id) if mapped.tag_id is not None else None
            if tag is None:
                # Arrays, DataSets, templates are not kept; a tag awaiting approval (or that
                # an admin deleted) is refused, so the admin sees what is not stored.
                untagged += mapped.datatype in model.TAG_TYPES
                continue
            ms = m.timestamp if m.timestamp is not None else default_ts
            at = times.get(ms) or times.setdefault(ms, _time(ms, message))
            value = _historian_value(codec.data_value(m, mapped.datatype))
            if value is None:
                out.nulls.append((tag, at))  # no value (is_null, NaN): shown as none, bad
            else:
                out.readings.append((tag, DeviceReading(value, at, _quality(m))))
        reasons = []
        if unknown:
            self._rebirth(topic)
            reasons.append(
                f"{len(unknown)} of {len(metrics)} metrics unknown to the birth "
                f"({', '.join(unknown[:5])[:120]}): rebirth requested"
            )
        if untagged:
            reasons.append(
                f"{untagged} metrics have no tag (awaiting approval under Sparkplug pending "
                "births, or their tag was deleted)"
            )
        out.reason = "; ".join(reasons) or None
        return out

    def _death(self, topic: Topic, payload: codec.Payload, message: Message) -> Resolved:
        bd_seq = next(
            (m.value for m in payload.metrics if m.name == "bdSeq" and isinstance(m.value, int)),
            None,
        )
        when = datetime.fromtimestamp(message.received, UTC)
        tag_ids = model.do_death(topic.group, topic.edge, topic.device, bd_seq=bd_seq, at=when)
        if tag_ids is None:
            return Resolved()  # an older session's will: the node was born again since
        for key in [k for k in self.sessions if k[:2] == topic.key[:2]]:
            if not topic.device or key == topic.key:
                del self.sessions[key]
        out = Resolved()
        died = model.status_tags(*topic.key, with_devices=not topic.device)
        self._status(out, died, online=False, at=when)
        for tag_id, value, text in LatestValue.objects.filter(tag_id__in=tag_ids).values_list(
            "tag_id", "value", "text"
        ):
            tag = self.tags.by_id.get(tag_id)
            held = text if text is not None else value
            if tag is not None and held is not None:
                out.readings.append((tag, DeviceReading(held, when, "bad")))
        return out

    def _status(self, out: Resolved, tag_ids: list[int], *, online: bool, at: datetime) -> None:
        """The nodes' status tags: 1 from a birth, 0 from a death (their comm-loss alarms).
        Good quality: the value is the host's own knowledge, not a stale reading."""
        for tag_id in tag_ids:
            tag = self.tags.by_id.get(tag_id)
            if tag is not None:
                out.readings.append((tag, DeviceReading(online, at, "good")))

    # --- seq and rebirth ---------------------------------------------------------------------

    def _rebirth(self, topic: Topic) -> None:
        self._ask_rebirth((topic.group, topic.edge))

    def _ask_rebirth(self, node: tuple[str, str]) -> None:
        now = time.monotonic()
        if now < self.rebirth_at.get(node, 0.0):
            return
        self.rebirth_at[node] = now + REBIRTH_HOLDOFF_S
        request = codec.Payload(
            timestamp=int(time.time() * 1000),
            metrics=(codec.Metric(name=REBIRTH, datatype=int(D.Boolean), value=True),),
        )
        log.info("asking %s/%s for a rebirth", *node)
        self.publish(f"{NAMESPACE}/{node[0]}/NCMD/{node[1]}", codec.encode(request), 0, False)


def _guarded(message: Message, step: Step) -> Resolved:
    """Run one message's step; a bad payload or a bug refuses that message with its reason."""
    try:
        return step()
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        return _failed(message, exc)


def _failed(message: Message, exc: Exception) -> Resolved:
    if isinstance(exc, PayloadError):
        return Resolved(reason=str(exc))
    log.exception("internal error on Sparkplug message %.200r", message.topic, exc_info=exc)
    return Resolved(reason=f"internal error: {type(exc).__name__}: {exc}")


def _node(node: Hashable) -> tuple[str, str]:
    group, edge = cast("tuple[object, object]", node)  # Host keys the reorder by (group, edge)
    return str(group), str(edge)


def _session(mapped: list[model.Mapped]) -> Session:
    return Session(
        by_alias={m.alias: m for m in mapped if m.alias is not None},
        by_name={m.name: m for m in mapped},
    )


def _described(m: codec.Metric) -> model.BirthMetric:
    props = m.properties

    def number(key: str) -> float | None:
        p = props.get(key)
        ok = p is not None and isinstance(p.value, int | float) and not isinstance(p.value, bool)
        return float(p.value) if ok else None  # type: ignore[union-attr]

    unit = props.get("engUnit")
    return model.BirthMetric(
        name=m.name or "",
        alias=m.alias,
        datatype=m.datatype or 0,
        unit=unit.value if unit is not None and isinstance(unit.value, str) else "",
        low=number("engLow"),
        high=number("engHigh"),
    )


def _time(ms: int | None, message: Message) -> datetime:
    if ms is None:
        return datetime.fromtimestamp(message.received, UTC)
    return parse_ts(ms, datetime.now(UTC))  # years 2000..2200, at most 5 minutes ahead


def _historian_value(value: Any) -> float | int | bool | str | None:
    """What the historian keeps of a metric's value; None for none (is_null, NaN, ±inf)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, float) and (value != value or abs(value) == float("inf")):
        return None
    kept: float | int | bool | str = value  # the codec decodes to these
    return kept


def _quality(m: codec.DataMetric) -> str:
    """A value's OPC quality from the metric's `Quality` property (Ignition's convention):
    192 good, below 64 bad, between them uncertain. Good when absent."""
    prop = m.properties.get("Quality") if m.properties else None
    if prop is None or not isinstance(prop.value, int):
        return "good"
    code = prop.value
    return "good" if code >= 192 else ("bad" if code < 64 else "uncertain")
