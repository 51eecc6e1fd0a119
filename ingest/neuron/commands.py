"""Setpoint writes to Neuron tags: a documented write request instead of the JSON `/set`.

The writer (ingest.setpoint_writer) sends every write through the same audited outbox; for a
tag a NeuronTag maps, this says where and how: {"uuid", "node", "group", "tag", "value"} on
the gateway's write-request topic (https://docs.emqx.com/en/neuron/v2.10/configuration/
north-apps/mqtt/api.html#write-tag), the write's command id as the uuid. The gateway's
{"uuid", "error"} response marks it accepted (0) or failed (the code named); the next
uploaded value within the tag's readback tolerance confirms it.
"""

from __future__ import annotations

from ingest.neuron import codec
from ingest.payloads import Scalar
from plant.models import NeuronTag, Tag


def request_for(tag_id: int, value: Scalar, uuid: str) -> tuple[str, bytes] | None:
    """The topic and payload of a write of `value` to the tag, or None if no Neuron tag."""
    row = NeuronTag.objects.filter(tag_id=tag_id).select_related("gateway").first()
    if row is None:
        return None
    return row.gateway.topic("write_request"), codec.encode_write_request(
        uuid, row.node, row.group, row.name, value
    )


def is_neuron_tag(tag: Tag) -> bool:
    return NeuronTag.objects.filter(tag=tag).exists()
