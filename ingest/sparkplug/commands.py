"""Setpoint writes to Sparkplug tags: an NCMD or DCMD instead of the JSON `<topic>/set`.

The writer (ingest.setpoint_writer) sends every write through the same audited outbox; for a
tag that a Sparkplug birth created, this says where and how: the node's or device's command
topic, the metric by the name and alias of its birth, in its datatype. The next NDATA/DDATA value
within the tag's readback tolerance confirms the write, as for any device that does not echo
write ids.
"""

from __future__ import annotations

import time

from ingest.sparkplug import codec
from ingest.sparkplug.codec import D
from ingest.sparkplug.host import NAMESPACE
from plant.models import SparkplugMetric

INTS = (D.Int8, D.Int16, D.Int32, D.Int64, D.UInt8, D.UInt16, D.UInt32, D.UInt64)


def command_for(tag_id: int, value: float) -> tuple[str, bytes] | None:
    """The topic and payload of a write of `value` to the tag, or None if it is no
    Sparkplug metric's tag."""
    fields = ("node__group__group_id", "node__edge_node_id", "node__device_id", "name",
              "alias", "datatype")  # fmt: skip
    row = SparkplugMetric.objects.filter(tag_id=tag_id).values_list(*fields).first()
    if row is None:
        return None
    group, edge, device, name, alias, datatype = row
    kind, device_level = ("DCMD", f"/{device}") if device else ("NCMD", "")
    topic = f"{NAMESPACE}/{group}/{kind}/{edge}{device_level}"
    metric = codec.Metric(name=name, alias=alias, datatype=datatype, value=typed(value, datatype))
    payload = codec.Payload(timestamp=int(time.time() * 1000), metrics=(metric,))
    return topic, codec.encode(payload)


def typed(value: float, datatype: int) -> float | int | bool:
    """The written number in the metric's own datatype."""
    if datatype == D.Boolean:
        return bool(value)
    if datatype in INTS:
        return round(value)
    return float(value)
