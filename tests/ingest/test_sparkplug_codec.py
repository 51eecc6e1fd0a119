"""The Sparkplug B codec: every datatype round-trips, and bad input is refused with a reason."""

from __future__ import annotations

import base64
import gzip
import json
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.sparkplug import codec
from ingest.sparkplug import sparkplug_b_pb2 as pb
from ingest.sparkplug.codec import D, DataSet, Metric, Parameter, Payload, PropertyValue, Template
from tests.sparkplug_tahu import run_script

U64 = st.integers(0, 2**64 - 1)
TEXT = st.text(max_size=20)
NAME = st.text(min_size=1, max_size=20)


def _int(bits: int, signed: bool) -> st.SearchStrategy[int]:
    return (
        st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        if signed
        else st.integers(0, 2**bits - 1)
    )


F32 = st.floats(width=32, allow_nan=False)
F64 = st.floats(allow_nan=False)
BASIC = {
    D.Int8: _int(8, True), D.Int16: _int(16, True), D.Int32: _int(32, True),
    D.Int64: _int(64, True), D.UInt8: _int(8, False), D.UInt16: _int(16, False),
    D.UInt32: _int(32, False), D.UInt64: _int(64, False), D.Float: F32, D.Double: F64,
    D.Boolean: st.booleans(), D.String: TEXT, D.DateTime: _int(64, False), D.Text: TEXT,
}  # fmt: skip
ARRAY = {
    D.Int8Array: _int(8, True), D.Int16Array: _int(16, True), D.Int32Array: _int(32, True),
    D.Int64Array: _int(64, True), D.UInt8Array: _int(8, False), D.UInt16Array: _int(16, False),
    D.UInt32Array: _int(32, False), D.UInt64Array: _int(64, False), D.FloatArray: F32,
    D.DoubleArray: F64, D.BooleanArray: st.booleans(), D.DateTimeArray: _int(64, True),
    D.StringArray: st.text(
        st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=8
    ),
}  # fmt: skip


@st.composite
def datasets(draw: st.DrawFn) -> DataSet:
    types = draw(st.lists(st.sampled_from(list(BASIC)), min_size=1, max_size=4))
    columns = tuple(draw(st.lists(NAME, min_size=len(types), max_size=len(types))))
    rows = draw(st.lists(st.tuples(*(st.none() | BASIC[t] for t in types)), max_size=3).map(tuple))
    return DataSet(columns, tuple(int(t) for t in types), rows)


def _typed_value(types: dict[D, st.SearchStrategy]) -> st.SearchStrategy[tuple[D, object]]:
    return st.sampled_from(list(types)).flatmap(lambda t: st.tuples(st.just(t), types[t]))


SCALARS = {**BASIC, D.UUID: st.uuids().map(str), D.Bytes: st.binary(max_size=16),
           D.File: st.binary(max_size=16)}  # fmt: skip
ARRAYS = {t: st.lists(s, max_size=9).map(tuple) for t, s in ARRAY.items()}
properties = st.recursive(
    st.dictionaries(
        NAME, _typed_value(BASIC).map(lambda tv: PropertyValue(int(tv[0]), tv[1])), max_size=3
    ),
    lambda inner: st.dictionaries(
        NAME,
        inner.map(lambda ps: PropertyValue(int(D.PropertySet), ps))
        | st.lists(inner, max_size=2).map(
            lambda sets: PropertyValue(int(D.PropertySetList), tuple(sets))
        ),
        max_size=2,
    ),
    max_leaves=6,
)


def _metric(typed: tuple[D, object], **kw: object) -> Metric:
    return Metric(datatype=int(typed[0]), value=typed[1], **kw)


metric_kw = st.fixed_dictionaries(
    {
        "name": st.none() | NAME,
        "alias": st.none() | U64,
        "timestamp": st.none() | U64,
        "is_historical": st.booleans(),
        "is_transient": st.booleans(),
        "properties": properties,
    }
)
leaf_metrics = st.tuples(_typed_value({**SCALARS, **ARRAYS, D.DataSet: datasets()}), metric_kw).map(
    lambda a: _metric(a[0], **a[1])
)
null_metrics = st.builds(
    lambda t, name: Metric(name=name, datatype=int(t), is_null=True),
    st.sampled_from(list(SCALARS)),
    NAME,
)
templates = st.builds(
    Template,
    version=st.none() | TEXT,
    metrics=st.lists(leaf_metrics | null_metrics, max_size=3).map(tuple),
    parameters=st.lists(
        _typed_value(BASIC).flatmap(
            lambda tv: st.builds(Parameter, NAME, st.just(int(tv[0])), st.just(tv[1]))
        ),
        max_size=3,
    ).map(tuple),
    template_ref=st.none() | TEXT,
    is_definition=st.booleans(),
)
any_metric = (
    leaf_metrics
    | null_metrics
    | st.builds(
        lambda t, name: Metric(name=name, datatype=int(D.Template), value=t), templates, NAME
    )
)
payloads = st.builds(
    Payload,
    timestamp=st.none() | U64,
    metrics=st.lists(any_metric, max_size=6).map(tuple),
    seq=st.none() | st.integers(0, 255),
    uuid=st.none() | TEXT.filter(lambda u: u != codec.COMPRESSED_UUID),
    body=st.none() | st.binary(max_size=16),
)


@given(payloads)
def test_every_datatype_round_trips(payload: Payload) -> None:
    assert codec.decode(codec.encode(payload)) == payload


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_are_refused_with_a_reason(data: bytes) -> None:
    try:
        codec.decode(data)
    except codec.SparkplugError as exc:
        assert str(exc)


@given(st.sampled_from([D.Int8, D.Int16, D.Int32]), st.data())
def test_negative_small_integers_are_read_in_their_width_and_sign_extended(dt, data) -> None:
    bits = codec.SIGNED_BITS[dt]
    value = data.draw(st.integers(-(2 ** (bits - 1)), -1))
    for wire in (value + 2**bits, value + 2**32):
        m = pb.Payload.Metric(name="x", datatype=int(dt), int_value=wire)
        decoded = codec.decode(pb.Payload(metrics=[m]).SerializeToString())
        assert decoded.metrics[0].value == value


def test_an_integer_beyond_its_width_is_refused() -> None:
    m = pb.Payload.Metric(name="x", datatype=int(D.Int8), int_value=0x100)
    with pytest.raises(codec.SparkplugError, match="is not a Int8"):
        codec.decode(pb.Payload(metrics=[m]).SerializeToString())
    m = pb.Payload.Metric(name="y", datatype=int(D.UInt8), int_value=300)
    with pytest.raises(codec.SparkplugError, match="does not fit UInt8"):
        codec.decode(pb.Payload(metrics=[m]).SerializeToString())


def test_uint32_is_read_from_long_value_as_tahu_javascript_sends_it() -> None:
    m = pb.Payload.Metric(name="x", datatype=int(D.UInt32), long_value=4_000_000_000)
    assert codec.decode(pb.Payload(metrics=[m]).SerializeToString()).metrics[0].value == 4e9


def test_a_value_in_the_wrong_field_for_its_datatype_is_refused() -> None:
    m = pb.Payload.Metric(name="x", datatype=int(D.Boolean), string_value="true")
    with pytest.raises(codec.SparkplugError, match="Boolean value in string_value"):
        codec.decode(pb.Payload(metrics=[m]).SerializeToString())


def test_boolean_array_packs_the_first_element_as_the_highest_bit() -> None:
    flags = (False, False, True, True, False, True, False, False, True, True, False)
    packed = codec._pack_array(D.BooleanArray, flags)
    assert packed == struct.pack("<I", 11) + bytes([0b00110100, 0b11000000])
    assert codec._array("x", D.BooleanArray, packed) == flags


@pytest.mark.parametrize(
    ("dt", "data", "reason"),
    [
        (D.BooleanArray, b"\x09\x00\x00\x00\x01", "BooleanArray of 9"),
        (D.Int32Array, b"\x01\x02\x03", "Int32Array of 3 bytes"),
        (D.StringArray, b"abc", "not NUL-terminated"),
        (D.StringArray, b"\xff\x00", "not UTF-8"),
    ],
)
def test_malformed_arrays_are_refused(dt: D, data: bytes, reason: str) -> None:
    m = pb.Payload.Metric(name="x", datatype=int(dt), bytes_value=data)
    with pytest.raises(codec.SparkplugError, match=reason):
        codec.decode(pb.Payload(metrics=[m]).SerializeToString())


def test_a_data_message_value_is_read_with_the_births_datatype() -> None:
    data = codec.encode_data(1_700_000_000_000, 3, [(7, int(D.Int16), -2, 1_700_000_000_123)])
    payload = codec.decode(data)
    (metric,) = payload.metrics
    assert (metric.alias, metric.datatype, metric.value, metric.timestamp) == (
        7,
        None,
        None,
        1_700_000_000_123,
    )
    assert codec.value_as(metric, D.Int16) == -2


@pytest.mark.parametrize("algorithm", ["DEFLATE", "GZIP"])
def test_compressed_payloads_are_unpacked(algorithm: str) -> None:
    inner = Payload(
        timestamp=5, seq=1, metrics=(Metric(name="t", datatype=int(D.Double), value=1.5),)
    )
    raw = codec.encode(inner)
    body = gzip.compress(raw) if algorithm == "GZIP" else zlib.compress(raw)
    outer = Payload(
        uuid=codec.COMPRESSED_UUID,
        body=body,
        metrics=(Metric(name="algorithm", datatype=int(D.String), value=algorithm),),
    )
    assert codec.decode(codec.encode(outer)) == inner


def test_a_compressed_payload_that_unpacks_too_big_is_refused() -> None:
    bomb = zlib.compress(b"\x00" * (codec.MAX_INFLATED_BYTES + 1))
    outer = Payload(uuid=codec.COMPRESSED_UUID, body=bomb)
    with pytest.raises(codec.SparkplugError, match="unpacks to more than"):
        codec.decode(codec.encode(outer))


def test_an_oversized_payload_is_refused() -> None:
    with pytest.raises(codec.SparkplugError, match="exceeds"):
        codec.decode(b"\x00" * (codec.MAX_PAYLOAD_BYTES + 1))


# --- against Eclipse Tahu's JavaScript codec (sparkplug-payload), not ours ---------------


def test_we_read_every_datatype_tahu_writes() -> None:
    payload = codec.decode(base64.b64decode(run_script("codec_check.js", "encode")))
    values = {m.name: m.value for m in payload.metrics}
    assert (payload.seq, payload.timestamp) == (7, 1_700_000_000_000)
    assert values["i8"] == -100 and values["i16"] == -30000 and values["i32"] == -2_000_000_000
    assert values["i64"] == -9_000_000_000 and values["u32"] == 4_000_000_000
    assert values["u64"] == 9_000_000_000_000 and values["dt"] == 1_700_000_000_000
    assert (values["f"], values["d"], values["b"], values["s"]) == (1.5, 2.25, True, "running")
    assert values["bytes"] == b"\x01\x02\xff"
    assert values["table"] == DataSet(("a", "b"), (3, 12), ((1, "x"), (2, "y")))
    udt = values["udt"]
    assert udt.template_ref == "Motor" and udt.metrics[0].value == 1450.0
    assert udt.parameters == (Parameter("poles", 3, 4),)
    by_name = {m.name: m for m in payload.metrics}
    assert by_name["null"].is_null and by_name["null"].value is None
    assert by_name["f"].timestamp == 1_700_000_000_123
    level = by_name["level"].properties
    assert level["engUnit"].value == "ml" and level["engHigh"].value == 750.0


def test_tahu_reads_what_we_write() -> None:
    ours = Payload(
        timestamp=1_700_000_000_000,
        seq=3,
        metrics=(
            Metric(name="i8", alias=1, datatype=int(D.Int8), value=-5),
            Metric(name="i32", alias=2, datatype=int(D.Int32), value=-70_000),
            Metric(name="d", alias=3, datatype=int(D.Double), value=2.5, timestamp=17),
            Metric(name="s", alias=4, datatype=int(D.String), value="idle"),
            Metric(name="b", alias=5, datatype=int(D.Boolean), value=False),
            Metric(name="n", alias=6, datatype=int(D.Float), is_null=True),
            Metric(
                name="p",
                datatype=int(D.Double),
                value=1.0,
                properties={"engUnit": PropertyValue(int(D.String), "bar")},
            ),
        ),
    )
    tahu = json.loads(
        run_script("codec_check.js", "decode", base64.b64encode(codec.encode(ours)).decode())
    )
    metrics = {m["name"]: m for m in tahu["metrics"]}
    assert tahu["seq"] in (3, "3")
    assert metrics["i8"]["value"] == -5 and metrics["i32"]["value"] == -70_000
    assert metrics["d"]["value"] == 2.5 and metrics["d"]["timestamp"] in (17, "17")
    assert metrics["s"]["value"] == "idle" and metrics["b"]["value"] is False
    assert metrics["n"]["value"] is None  # Tahu shows is_null as a null value
    assert metrics["p"]["properties"]["engUnit"]["value"] == "bar"


@given(payloads)
def test_the_data_fast_path_reads_what_the_full_decoder_reads(payload: Payload) -> None:
    full = codec.decode(codec.encode(payload))
    timestamp, seq, fast = codec.decode_data(codec.encode(payload))
    assert (timestamp, seq) == (full.timestamp, full.seq)
    assert [(m.name, m.alias, m.timestamp, m.is_null) for m in fast] == [
        (m.name, m.alias, m.timestamp, m.is_null) for m in full.metrics
    ]
    for quick, metric in zip(fast, full.metrics, strict=True):
        assert (quick.properties or {}) == metric.properties
        if metric.datatype is not None:
            assert codec.data_value(quick, metric.datatype) == metric.value
