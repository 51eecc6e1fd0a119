"""Sparkplug B 3.0 payloads as plain Python: decode and encode, every datatype of the spec.

The wire format is the spec's protobuf schema (sparkplug_b.proto beside this file), read and
written by Google's `protobuf` runtime through the generated sparkplug_b_pb2.py; this module
turns its messages into frozen dataclasses and back, and applies what the schema alone does
not say: how each datatype sits in the `value` oneof, signed integers in unsigned fields,
the packed arrays of chapter 6.4.17, and compressed payloads. Pure: no Django, no I/O.
Decoding raises only `SparkplugError`, whose text is the reason stored for a refused message.

Regenerate sparkplug_b_pb2.py (only when the protobuf runtime's major version changes):
    pip install grpcio-tools==1.85.1   # in a scratch venv, not the product's
    python -m grpc_tools.protoc -I ingest/sparkplug --python_out=ingest/sparkplug \
        --pyi_out=ingest/sparkplug ingest/sparkplug/sparkplug_b.proto
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError

from ingest.payloads import PayloadError
from ingest.sparkplug import sparkplug_b_pb2 as pb

MAX_PAYLOAD_BYTES = 64 * 1024  # as for JSON telemetry (ingest.payloads)
MAX_INFLATED_BYTES = 1024 * 1024  # a compressed payload may not unpack to more than this
COMPRESSED_UUID = "SPBV1.0_COMPRESSED"
MAX_DEPTH = 8  # templates and property sets nest; deeper is refused, not recursed into


class SparkplugError(PayloadError):
    """A Sparkplug message that cannot be read; its text is the reason stored for it."""


class DataType(IntEnum):
    """The spec's datatypes (6.4.16), by their wire numbers."""

    Unknown = 0
    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14
    UUID = 15
    DataSet = 16
    Bytes = 17
    File = 18
    Template = 19
    PropertySet = 20
    PropertySetList = 21
    Int8Array = 22
    Int16Array = 23
    Int32Array = 24
    Int64Array = 25
    UInt8Array = 26
    UInt16Array = 27
    UInt32Array = 28
    UInt64Array = 29
    FloatArray = 30
    DoubleArray = 31
    BooleanArray = 32
    StringArray = 33
    DateTimeArray = 34


D = DataType
SIGNED_BITS = {D.Int8: 8, D.Int16: 16, D.Int32: 32, D.Int64: 64}
UNSIGNED_BITS = {D.UInt8: 8, D.UInt16: 16, D.UInt32: 32, D.UInt64: 64, D.DateTime: 64}
INTEGERS = {**SIGNED_BITS, **UNSIGNED_BITS}
# Where each scalar datatype sits in a metric's oneof (spec 6.4.16). UInt32 belongs in
# int_value; Tahu's JavaScript puts it in long_value, so decoding takes either.
SCALAR_FIELD = {
    **dict.fromkeys((D.Int8, D.Int16, D.Int32, D.UInt8, D.UInt16, D.UInt32), "int_value"),
    **dict.fromkeys((D.Int64, D.UInt64, D.DateTime), "long_value"),
    D.Float: "float_value",
    D.Double: "double_value",
    D.Boolean: "boolean_value",
    **dict.fromkeys((D.String, D.Text, D.UUID), "string_value"),
}
INT_FIELDS = ("int_value", "long_value")
# Packed little-endian arrays (6.4.17): struct code per element.
ARRAY_CODES = {D.Int8Array: "b", D.Int16Array: "h", D.Int32Array: "i", D.Int64Array: "q",
               D.UInt8Array: "B", D.UInt16Array: "H", D.UInt32Array: "I", D.UInt64Array: "Q",
               D.FloatArray: "f", D.DoubleArray: "d", D.DateTimeArray: "q"}  # fmt: skip
ARRAYS = (*ARRAY_CODES, D.BooleanArray, D.StringArray)


@dataclass(frozen=True, slots=True)
class DataSet:
    """A table (6.4.16 DataSet): column names, their datatypes, and rows of values."""

    columns: tuple[str, ...]
    types: tuple[int, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, slots=True)
class Parameter:
    """A template parameter: a name, a basic datatype and its value."""

    name: str
    type: int
    value: Any


@dataclass(frozen=True, slots=True)
class Template:
    """A user-defined type (UDT): a definition, or an instance of `template_ref`."""

    version: str | None = None
    metrics: tuple[Metric, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    template_ref: str | None = None
    is_definition: bool = False


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """One metric property: a datatype and a value (None when is_null)."""

    type: int
    value: Any = None


@dataclass(frozen=True, slots=True)
class MetaData:
    """A metric's metadata (files and multi-part bytes)."""

    is_multi_part: bool | None = None
    content_type: str | None = None
    size: int | None = None
    seq: int | None = None
    file_name: str | None = None
    file_type: str | None = None
    md5: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric as sent: in a birth with its name, datatype and properties; in data often
    only its alias and value. `datatype` is None when the message left it out; `value` is
    None when `is_null` or when the datatype is not known yet (see `value_as`)."""

    name: str | None = None
    alias: int | None = None
    timestamp: int | None = None  # epoch milliseconds
    datatype: int | None = None
    value: Any = None
    is_null: bool = False
    is_historical: bool = False
    is_transient: bool = False
    properties: dict[str, PropertyValue] = field(default_factory=dict)
    metadata: MetaData | None = None
    # (oneof field, wire value), for a data message's value read with its birth's datatype.
    raw: tuple[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Payload:
    """A whole Sparkplug B payload."""

    timestamp: int | None = None
    metrics: tuple[Metric, ...] = ()
    seq: int | None = None
    uuid: str | None = None
    body: bytes | None = None


# --- decoding ----------------------------------------------------------------------------


def decode(data: bytes) -> Payload:
    """Read a payload; a compressed one (uuid SPBV1.0_COMPRESSED) is unpacked first."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise SparkplugError(f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    message = _parse(data)
    if message.HasField("uuid") and message.uuid == COMPRESSED_UUID:
        message = _parse(_inflate(message), inflated=True)
    try:
        return Payload(
            timestamp=message.timestamp if message.HasField("timestamp") else None,
            metrics=tuple(_metric(m, 0) for m in message.metrics),
            seq=message.seq if message.HasField("seq") else None,
            uuid=message.uuid if message.HasField("uuid") else None,
            body=message.body if message.HasField("body") else None,
        )
    except RecursionError:
        raise SparkplugError("payload is nested too deeply") from None


def _parse(data: bytes, inflated: bool = False) -> pb.Payload:
    message = pb.Payload()
    try:
        message.ParseFromString(data)
    except (DecodeError, RecursionError) as exc:
        what = "compressed body" if inflated else "payload"
        raise SparkplugError(f"{what} is not a Sparkplug B protobuf ({exc})"[:200]) from None
    return message


def _inflate(message: pb.Payload) -> bytes:
    algorithm = "DEFLATE"
    for m in message.metrics:
        if m.name == "algorithm" and m.WhichOneof("value") == "string_value":
            algorithm = m.string_value.upper()
    if algorithm not in ("DEFLATE", "GZIP"):
        raise SparkplugError(f"compressed with {algorithm[:20]!r}: only DEFLATE and GZIP")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | (16 if algorithm == "GZIP" else 0))
    try:
        data = inflater.decompress(message.body, MAX_INFLATED_BYTES)
    except zlib.error as exc:
        raise SparkplugError(f"compressed body cannot be unpacked ({exc})") from None
    if inflater.unconsumed_tail:
        raise SparkplugError(f"compressed body unpacks to more than {MAX_INFLATED_BYTES} bytes")
    return data


def _metric(m: pb.Payload.Metric, depth: int) -> Metric:
    if depth > MAX_DEPTH:
        raise SparkplugError("payload is nested too deeply")
    name = m.name if m.HasField("name") else None
    datatype = m.datatype if m.HasField("datatype") else None
    kind = m.WhichOneof("value")
    raw = None if kind is None else (kind, getattr(m, kind))
    is_null = m.is_null if m.HasField("is_null") else False
    value = None
    if not is_null and raw is not None and datatype is not None:
        value = _wire_value(name or f"alias {m.alias}", datatype, raw, depth)
    elif not is_null and kind is None and datatype is not None:
        raise SparkplugError(f"metric {_label(name, m)}: no value and not is_null")
    return Metric(
        name=name,
        alias=m.alias if m.HasField("alias") else None,
        timestamp=m.timestamp if m.HasField("timestamp") else None,
        datatype=datatype,
        value=value,
        is_null=is_null,
        is_historical=m.is_historical,
        is_transient=m.is_transient,
        properties=_properties(m.properties, depth) if m.HasField("properties") else {},
        metadata=_metadata(m.metadata) if m.HasField("metadata") else None,
        raw=None if is_null else raw,
    )


def _label(name: str | None, m: pb.Payload.Metric) -> str:
    return repr(name[:60]) if name else f"alias {m.alias}"


def value_as(metric: Metric, datatype: int) -> Any:
    """The metric's value read as `datatype` (a data message's metric carries only its
    alias; the birth gave the datatype). None when is_null."""
    if metric.is_null:
        return None
    if metric.raw is None:
        raise SparkplugError(f"metric {metric.name or metric.alias}: no value and not is_null")
    return _wire_value(metric.name or f"alias {metric.alias}", datatype, metric.raw, 0)


def _wire_value(label: str, datatype: int, raw: tuple[str, Any], depth: int) -> Any:
    kind, wire = raw
    try:
        dt = DataType(datatype)
    except ValueError:
        raise SparkplugError(f"metric {label[:60]}: unknown datatype {datatype}") from None
    expected = _expected_field(dt)
    if kind not in expected:
        raise SparkplugError(f"metric {label[:60]}: {dt.name} value in {kind}")
    if dt in INTEGERS:
        return _integer(label, dt, wire, kind)
    if dt in ARRAYS:
        return _array(label, dt, wire)
    if dt is D.DataSet:
        return _dataset(wire)
    if dt is D.Template:
        return _template(wire, depth + 1)
    return wire  # float, double, boolean, string, text, uuid, bytes, file


def _expected_field(dt: DataType) -> tuple[str, ...]:
    if dt is D.UInt32:
        return INT_FIELDS
    if dt in SCALAR_FIELD:
        return (SCALAR_FIELD[dt],)
    if dt in (D.Bytes, D.File, *ARRAYS):
        return ("bytes_value",)
    if dt is D.DataSet:
        return ("dataset_value",)
    if dt is D.Template:
        return ("template_value",)
    raise SparkplugError(f"datatype {dt.name} is not a metric value")


def _integer(label: str, dt: DataType, wire: int, kind: str) -> int:
    """A signed or unsigned integer from its unsigned field, checked against its width.

    The spec leaves open whether a negative Int8/Int16 is sent in its own width or
    sign-extended to 32 bits (Tahu sign-extends); both are read, anything else is refused.
    """
    if dt in UNSIGNED_BITS:
        if wire >= 1 << UNSIGNED_BITS[dt]:
            raise SparkplugError(f"metric {label[:60]}: {wire} does not fit {dt.name}")
        return wire
    bits = SIGNED_BITS[dt]
    field_bits = 32 if kind == "int_value" else 64
    for width in dict.fromkeys((bits, field_bits)):
        if wire < 1 << width:
            value = wire - (1 << width) if wire >= 1 << (width - 1) else wire
            if -(1 << (bits - 1)) <= value < 1 << (bits - 1):
                return value
    raise SparkplugError(f"metric {label[:60]}: {wire} is not a {dt.name}")


def _array(label: str, dt: DataType, data: bytes) -> tuple[Any, ...]:
    if dt is D.BooleanArray:
        if len(data) < 4:
            raise SparkplugError(f"metric {label[:60]}: BooleanArray without its count")
        (count,) = struct.unpack_from("<I", data)
        if (count + 7) // 8 != len(data) - 4:
            raise SparkplugError(f"metric {label[:60]}: BooleanArray of {count} in {len(data)}")
        return tuple(bool(data[4 + i // 8] & (0x80 >> (i % 8))) for i in range(count))
    if dt is D.StringArray:
        if data and not data.endswith(b"\x00"):
            raise SparkplugError(f"metric {label[:60]}: StringArray not NUL-terminated")
        try:
            return tuple(s.decode("utf-8") for s in data.split(b"\x00")[:-1])
        except UnicodeDecodeError:
            raise SparkplugError(f"metric {label[:60]}: StringArray not UTF-8") from None
    code = ARRAY_CODES[dt]
    size = struct.calcsize(code)
    if len(data) % size:
        raise SparkplugError(f"metric {label[:60]}: {dt.name} of {len(data)} bytes")
    return struct.unpack(f"<{len(data) // size}{code}", data)


def _dataset(d: pb.Payload.DataSet) -> DataSet:
    types = tuple(d.types)
    columns = tuple(d.columns)
    if len(types) != len(columns) or (
        d.HasField("num_of_columns") and d.num_of_columns != len(columns)
    ):
        raise SparkplugError("DataSet: columns, types and num_of_columns disagree")
    rows = []
    for row in d.rows:
        if len(row.elements) != len(types):
            raise SparkplugError(f"DataSet row of {len(row.elements)} values, {len(types)} columns")
        rows.append(
            tuple(
                _basic(f"column {c[:40]!r}", t, e)
                for c, t, e in zip(columns, types, row.elements, strict=True)
            )
        )
    return DataSet(columns, types, tuple(rows))


def _basic(label: str, datatype: int, holder: Any) -> Any:
    """A value of a basic datatype in a DataSet cell, template parameter or property."""
    kind = holder.WhichOneof("value")
    if kind is None:
        return None
    return _wire_value(label, datatype, (kind, getattr(holder, kind)), 0)


def _template(t: pb.Payload.Template, depth: int) -> Template:
    return Template(
        version=t.version if t.HasField("version") else None,
        metrics=tuple(_metric(m, depth) for m in t.metrics),
        parameters=tuple(
            Parameter(p.name, p.type, _basic(f"parameter {p.name[:40]!r}", p.type, p))
            for p in t.parameters
        ),
        template_ref=t.template_ref if t.HasField("template_ref") else None,
        is_definition=t.is_definition,
    )


def _properties(ps: pb.Payload.PropertySet, depth: int) -> dict[str, PropertyValue]:
    if depth > MAX_DEPTH:
        raise SparkplugError("payload is nested too deeply")
    if len(ps.keys) != len(ps.values):
        raise SparkplugError(f"property set of {len(ps.keys)} keys and {len(ps.values)} values")
    return {key: _property(key, v, depth) for key, v in zip(ps.keys, ps.values, strict=True)}


def _property(key: str, v: pb.Payload.PropertyValue, depth: int) -> PropertyValue:
    if v.is_null:
        return PropertyValue(v.type, None)
    kind = v.WhichOneof("value")
    if v.type == D.PropertySet and kind == "propertyset_value":
        return PropertyValue(v.type, _properties(v.propertyset_value, depth + 1))
    if v.type == D.PropertySetList and kind == "propertysets_value":
        sets = v.propertysets_value.propertyset
        return PropertyValue(v.type, tuple(_properties(s, depth + 1) for s in sets))
    if v.type in (D.PropertySet, D.PropertySetList) or kind in (
        "propertyset_value",
        "propertysets_value",
    ):
        raise SparkplugError(f"property {key[:40]!r}: type {v.type} with {kind}")
    return PropertyValue(v.type, _basic(f"property {key[:40]!r}", v.type, v))


def _metadata(md: pb.Payload.MetaData) -> MetaData:
    names = ("is_multi_part", "content_type", "size", "seq", "file_name", "file_type", "md5",
             "description")  # fmt: skip
    return MetaData(**{n: getattr(md, n) if md.HasField(n) else None for n in names})


# --- the data fast path ------------------------------------------------------------------


class DataMetric(NamedTuple):
    """A metric of a data message as the host resolves it, without a Metric per value: most
    data metrics carry an alias, maybe a timestamp, and a value whose datatype the birth gave."""

    name: str | None
    alias: int | None
    timestamp: int | None
    is_null: bool
    kind: str | None  # the oneof field set
    wire: Any
    properties: dict[str, PropertyValue] | None


# Datatypes whose wire value is their value, and the field it must come in.
PLAIN = {D.Float: "float_value", D.Double: "double_value", D.Boolean: "boolean_value",
         D.String: "string_value", D.Text: "string_value", D.UUID: "string_value"}  # fmt: skip


def decode_data(data: bytes) -> tuple[int | None, int | None, list[DataMetric]]:
    """A data message's timestamp, seq and metrics, about three times faster than `decode`."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise SparkplugError(f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    message = _parse(data)
    if message.HasField("uuid") and message.uuid == COMPRESSED_UUID:
        message = _parse(_inflate(message), inflated=True)
    metrics = []
    for m in message.metrics:
        kind = m.WhichOneof("value")
        metrics.append(
            DataMetric(
                m.name if m.HasField("name") else None,
                m.alias if m.HasField("alias") else None,
                m.timestamp if m.HasField("timestamp") else None,
                m.is_null,
                kind,
                getattr(m, kind) if kind is not None else None,
                _properties(m.properties, 0) if m.HasField("properties") else None,
            )
        )
    timestamp = message.timestamp if message.HasField("timestamp") else None
    return timestamp, message.seq if message.HasField("seq") else None, metrics


def as_data(metric: Metric) -> DataMetric:
    """A decoded metric (of a birth) in the data path's form."""
    kind, wire = metric.raw if metric.raw is not None else (None, None)
    return DataMetric(metric.name, metric.alias, metric.timestamp, metric.is_null, kind, wire,
                      metric.properties or None)  # fmt: skip


def data_value(metric: DataMetric, datatype: int) -> Any:
    """The value of a data metric read as its birth's datatype; None when is_null."""
    if metric.is_null:
        return None
    if metric.kind is None:
        raise SparkplugError(f"metric {metric.name or metric.alias}: no value and not is_null")
    if PLAIN.get(datatype) == metric.kind:  # type: ignore[call-overload]
        return metric.wire
    label = metric.name or f"alias {metric.alias}"
    return _wire_value(label, datatype, (metric.kind, metric.wire), 0)


# --- encoding ----------------------------------------------------------------------------


def encode(payload: Payload) -> bytes:
    """Write a payload (uncompressed). Raises SparkplugError for a value its datatype
    cannot hold."""
    message = pb.Payload()
    if payload.timestamp is not None:
        message.timestamp = payload.timestamp
    if payload.seq is not None:
        message.seq = payload.seq
    if payload.uuid is not None:
        message.uuid = payload.uuid
    if payload.body is not None:
        message.body = payload.body
    for metric in payload.metrics:
        _put_metric(message.metrics.add(), metric)
    encoded: bytes = message.SerializeToString()  # protobuf's runtime has no types
    return encoded


def _put_metric(m: pb.Payload.Metric, metric: Metric) -> None:
    if metric.name is not None:
        m.name = metric.name
    if metric.alias is not None:
        m.alias = metric.alias
    if metric.timestamp is not None:
        m.timestamp = metric.timestamp
    if metric.datatype is not None:
        m.datatype = metric.datatype
    if metric.is_historical:
        m.is_historical = True
    if metric.is_transient:
        m.is_transient = True
    if metric.properties:
        _put_properties(m.properties, metric.properties)
    if metric.metadata is not None:
        for name in MetaData.__slots__:
            if (value := getattr(metric.metadata, name)) is not None:
                setattr(m.metadata, name, value)
    if metric.is_null or metric.value is None:
        m.is_null = True
        return
    if metric.datatype is None:
        raise SparkplugError(f"metric {metric.name or metric.alias}: a value needs a datatype")
    _put_value(m, DataType(metric.datatype), metric.value)


def encode_data(timestamp: int, seq: int, values: list[tuple[int, int, Any, int | None]]) -> bytes:
    """A data message as edge nodes send it after their birth: (alias, datatype, value,
    timestamp) per metric, the datatype only choosing the field (it is not sent)."""
    message = pb.Payload(timestamp=timestamp, seq=seq)
    for alias, datatype, value, ts in values:
        m = message.metrics.add(alias=alias)
        if ts is not None:
            m.timestamp = ts
        if value is None:
            m.is_null = True
        else:
            _put_value(m, DataType(datatype), value)
    encoded: bytes = message.SerializeToString()  # protobuf's runtime has no types
    return encoded


def _put_value(holder: Any, dt: DataType, value: Any) -> None:
    try:
        _put_typed(holder, dt, value)
    except (AttributeError, TypeError, ValueError) as exc:
        # A holder without the field (a DataSet cell of an array type), a wrong Python type.
        raise SparkplugError(f"cannot write {dt.name} {value!r}: {exc}"[:200]) from None


def _put_typed(holder: Any, dt: DataType, value: Any) -> None:
    if dt in INTEGERS:
        kind = SCALAR_FIELD[dt]
        bits = INTEGERS[dt]
        low = -(1 << (bits - 1)) if dt in SIGNED_BITS else 0
        high = (1 << (bits - 1)) if dt in SIGNED_BITS else (1 << bits)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
            raise SparkplugError(f"{value!r} is not a {dt.name}"[:120])
        # Negative values go sign-extended to the field's width, as Tahu sends them.
        setattr(holder, kind, value & ((1 << (32 if kind == "int_value" else 64)) - 1))
    elif dt in (D.Float, D.Double):
        setattr(holder, SCALAR_FIELD[dt], float(value))
    elif dt in SCALAR_FIELD:
        setattr(holder, SCALAR_FIELD[dt], value)
    elif dt in (D.Bytes, D.File):
        holder.bytes_value = value
    elif dt in ARRAYS:
        holder.bytes_value = _pack_array(dt, value)
    elif dt is D.DataSet:
        holder.dataset_value.SetInParent()
        _put_dataset(holder.dataset_value, value)
    elif dt is D.Template:
        holder.template_value.SetInParent()
        _put_template(holder.template_value, value)
    else:
        raise SparkplugError(f"datatype {dt.name} is not a metric value")


def _pack_array(dt: DataType, values: tuple[Any, ...]) -> bytes:
    if dt is D.BooleanArray:
        packed = bytearray((len(values) + 7) // 8)
        for i, flag in enumerate(values):
            if flag:
                packed[i // 8] |= 0x80 >> (i % 8)
        return struct.pack("<I", len(values)) + bytes(packed)
    if dt is D.StringArray:
        return b"".join(s.encode("utf-8") + b"\x00" for s in values)
    try:
        return struct.pack(f"<{len(values)}{ARRAY_CODES[dt]}", *values)
    except struct.error as exc:
        raise SparkplugError(f"{dt.name}: {exc}") from None


def _put_dataset(d: pb.Payload.DataSet, value: DataSet) -> None:
    d.num_of_columns = len(value.columns)
    d.columns.extend(value.columns)
    d.types.extend(value.types)
    for row in value.rows:
        r = d.rows.add()
        for t, cell in zip(value.types, row, strict=True):
            e = r.elements.add()
            if cell is not None:
                _put_value(e, DataType(t), cell)


def _put_template(t: pb.Payload.Template, value: Template) -> None:
    if value.version is not None:
        t.version = value.version
    if value.template_ref is not None:
        t.template_ref = value.template_ref
    if value.is_definition:
        t.is_definition = True
    for metric in value.metrics:
        _put_metric(t.metrics.add(), metric)
    for p in value.parameters:
        param = t.parameters.add()
        param.name, param.type = p.name, p.type
        if p.value is not None:
            _put_value(param, DataType(p.type), p.value)


def _put_properties(ps: pb.Payload.PropertySet, properties: dict[str, PropertyValue]) -> None:
    for key, prop in properties.items():
        ps.keys.append(key)
        v = ps.values.add()
        v.type = prop.type
        if prop.value is None:
            v.is_null = True
        elif prop.type == D.PropertySet:
            v.propertyset_value.SetInParent()  # an empty set is still a set
            _put_properties(v.propertyset_value, prop.value)
        elif prop.type == D.PropertySetList:
            v.propertysets_value.SetInParent()
            for item in prop.value:
                _put_properties(v.propertysets_value.propertyset.add(), item)
        else:
            _put_value(v, DataType(prop.type), prop.value)
