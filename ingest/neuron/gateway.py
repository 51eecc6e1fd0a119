"""Neuron gateways inside the ingest worker: uploads, write responses and driver status.

The worker subscribes NEURON_FILTER beside its own topics and hands each batch to
`prepare()` before decoding it, as it does to the Sparkplug host (ingest.sparkplug.host).
Each message on a gateway's topics is resolved there into a `Resolved`, which ingest.batch
stores through the same lossless path as the JSON contract: one transaction, acknowledged
after commit, a refusal kept in the rejected-message journal with its reason.

- An upload (/neuron/{app}/{driver}/{group}, https://docs.emqx.com/en/neuron/v2.10/
  configuration/north-apps/mqtt/api.html#data-upload) in tags- or values-format: each value
  of a mapped tag is a reading; each error code is a bad value whose text names the code
  (plant.neuron.error_name, https://docs.emqx.com/en/neuron/latest/api/error-code.html), so
  the screens show "3002 plugin disconnected" with the bad flag. Tags no NeuronTag maps go
  to the discovery review list (plant.discovery) and the message's rejection says so.
- A write response {"uuid", "error"} is queued in `responses` for the setpoint writer.
- A driver status report {"timestamp", "states"} sets each south node's link state.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from django.db import InterfaceError, OperationalError

from ingest.batch import Message, Resolved
from ingest.neuron import codec
from ingest.payloads import DeviceReading, PayloadError, parse_ts
from ingest.tagcache import TagCache
from plant import discovery, neuron
from plant.models import NeuronDevice, NeuronGateway, NeuronTag

log = logging.getLogger(__name__)

NEURON_FILTER = "/neuron/#"
PREFIX = "/neuron/"
RELOAD_S = 2.0  # how often an unknown gateway makes us read the gateway table again
Group = tuple[int, str, str]  # (gateway id, node, group): one upload's tags, by name → tag id


class Gateways:
    """Resolves the Neuron messages of a batch; keeps the gateway and mapping tables."""

    def __init__(self, tags: TagCache) -> None:
        self.tags = tags
        self.by_app: dict[str, NeuronGateway] = {}
        self.by_topic: dict[str, tuple[str, NeuronGateway]] = {}  # resp/status/req topics
        self.mapping: dict[Group, dict[str, int]] = {}
        self.loaded = ""
        self.loaded_at = 0.0
        self.responses: list[tuple[str, int, float]] = []  # (uuid, error, received)

    def prepare(self, batch: list[Message]) -> None:
        """Resolve every Neuron message of the batch. Raises only when the database is down."""
        for message in batch:
            if message.resolved is not None or not message.topic.startswith(PREFIX):
                continue
            try:
                message.resolved = self._resolve(message)
            except (OperationalError, InterfaceError):
                raise
            except PayloadError as exc:
                message.resolved = Resolved(reason=str(exc))
            except Exception as exc:
                log.exception("internal error on Neuron message %.200r", message.topic)
                message.resolved = Resolved(reason=f"internal error: {type(exc).__name__}: {exc}")

    def take_responses(self) -> list[tuple[str, int, float]]:
        out, self.responses = self.responses, []
        return out

    def reload(self, force: bool = False) -> None:
        """Read gateways and mappings again when the tag table changed, or when forced (an
        unknown gateway or tag, at most every RELOAD_S)."""
        now = time.monotonic()
        fresh = self.loaded == self.tags.fingerprint and self.loaded
        if fresh and (not force or now - self.loaded_at < RELOAD_S):
            return
        gateways = list(NeuronGateway.objects.all())
        self.by_app = {g.app: g for g in gateways}
        self.by_topic = {}
        for g in gateways:
            for kind in ("write_response", "status", "write_request"):
                self.by_topic[g.topic(kind)] = (kind, g)
        self.mapping = {}
        rows = NeuronTag.objects.values_list("gateway_id", "node", "group", "name", "tag_id")
        for gw, node, group, name, tag in rows:
            self.mapping.setdefault((gw, node, group), {})[name] = tag
        self.loaded, self.loaded_at = self.tags.fingerprint, now

    def _resolve(self, message: Message) -> Resolved:
        self.reload()
        known = self.by_topic.get(message.topic)
        if known is None and not self._upload_gateway(message.topic):
            self.reload(force=True)
            known = self.by_topic.get(message.topic)
        if known is not None:
            kind, own = known
            if kind == "write_response":
                uuid, error = codec.decode_write_response(message.payload)
                self.responses.append((uuid, error, message.received))
            elif kind == "status":
                self._status(own, message)
            return Resolved()  # a write request: our own command, not telemetry
        gateway = self._upload_gateway(message.topic)
        if gateway is None:
            parts = message.topic.split("/")
            app = parts[2] if len(parts) > 2 else ""
            return Resolved(reason=f"unknown Neuron gateway {app[:60]!r}: no NeuronGateway has "
                                   "this app name (add it in the admin)")  # fmt: skip
        return self._upload(gateway, codec.decode_upload(message.payload), message)

    def _upload_gateway(self, topic: str) -> NeuronGateway | None:
        parts = topic.split("/")  # ["", "neuron", app, driver, group]
        if len(parts) != 5 or parts[1] != "neuron" or not all(parts[2:]):
            return None
        return self.by_app.get(parts[2])

    def _upload(self, gateway: NeuronGateway, upload: codec.Upload, message: Message) -> Resolved:
        at = _time(upload.timestamp, message)
        out = Resolved()
        unmapped: dict[str, tuple[object, str]] = {}
        # One lookup per upload, then one per tag: this loop is the hot path (bench/neuron_ingest).
        names = self.mapping.get((gateway.pk, upload.node, upload.group), {})
        by_id, readings = self.tags.by_id, out.readings
        for name, raw in upload.values.items():
            tag_id = names.get(name)
            tag = by_id.get(tag_id) if tag_id is not None else None
            if tag is None:
                unmapped[name] = (raw, str(raw))
            else:
                readings.append((tag, DeviceReading(raw, at, "good")))
        for name, code in upload.errors.items():
            tag_id = names.get(name)
            tag = by_id.get(tag_id) if tag_id is not None else None
            shown = neuron.error_name(code)
            if tag is None:
                unmapped[name] = (None, shown)
            else:
                out.errors.append((tag, at, shown))
        reasons = [f"{name[:60]!r}: {why}" for name, why in list(upload.refused.items())[:5]]
        if upload.refused:
            reasons.insert(0, f"{len(upload.refused)} tags refused")
        if unmapped and not self._remap(gateway, upload, unmapped, out, at):
            discovery.do_see_neuron(gateway, upload.node, upload.group, unmapped,
                                    datetime.fromtimestamp(message.received, UTC))  # fmt: skip
            listed = ", ".join(list(unmapped)[:5])
            reasons.append(f"{len(unmapped)} tags not mapped ({listed[:120]}): listed for review "
                           "under Discovered signals")  # fmt: skip
        out.reason = "; ".join(reasons) or None
        return out

    def _remap(
        self, gateway: NeuronGateway, upload: codec.Upload, unmapped: dict[str, tuple[object, str]],
        out: Resolved, at: datetime,
    ) -> bool:  # fmt: skip
        """An admin may have accepted or mapped the tags since we last read the mapping: look
        them up (one query; only uploads with unmapped tags pay it) and take what is mapped
        now. True if nothing is left unmapped."""
        found = NeuronTag.objects.filter(
            gateway=gateway, node=upload.node, group=upload.group, name__in=list(unmapped)
        ).values_list("name", "tag_id")
        if found and any(tag_id not in self.tags.by_id for _, tag_id in found):
            self.tags.refresh()  # a tag created since the worker's last read
        for name, tag_id in found:
            self.mapping.setdefault((gateway.pk, upload.node, upload.group), {})[name] = tag_id
            tag = self.tags.by_id.get(tag_id)
            if tag is None:
                continue
            if name in upload.errors:
                out.errors.append((tag, at, unmapped[name][1]))
            else:
                out.readings.append((tag, DeviceReading(upload.values[name], at, "good")))
            del unmapped[name]
        return not unmapped

    def _status(self, gateway: NeuronGateway, message: Message) -> None:
        states = codec.decode_status(message.payload)
        at = datetime.fromtimestamp(message.received, UTC)
        for state in states:
            updated = NeuronDevice.objects.filter(gateway=gateway, node=state.node).update(
                link=state.link, running=state.running, state_at=at
            )
            if not updated:
                NeuronDevice.objects.get_or_create(
                    gateway=gateway, node=state.node,
                    defaults={"link": state.link, "running": state.running, "state_at": at},
                )  # fmt: skip


def _time(ms: int | None, message: Message) -> datetime:
    if ms is None:
        return datetime.fromtimestamp(message.received, UTC)
    return parse_ts(ms, datetime.now(UTC))
