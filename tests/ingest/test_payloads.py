"""The MQTT contract as pure code: no input makes decoding raise anything but its refusal,
and no message makes the batch decoder raise at all."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.batch import Deadband, Echo, Message, Row, decode_messages
from ingest.payloads import (
    MAX_PAYLOAD_BYTES,
    DeviceReading,
    PayloadError,
    SetpointCommand,
    coerce,
    decode,
    decode_batch,
    decode_setpoint,
    encode_setpoint,
    encode_value,
)
from ingest.tagcache import TagCache, TagInfo
from ingest.worker import merge_latest

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["v", "ts", "q", "values", "x"]) | st.text(), children, max_size=4
        )
    ),
    max_leaves=8,
)


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_are_refused_with_a_reason(payload: bytes) -> None:
    for decoder in (decode, decode_batch):
        try:
            decoder(payload, NOW)
        except PayloadError as exc:
            assert str(exc)


@given(json_values)
def test_any_json_decodes_or_is_refused_with_a_reason(value: object) -> None:
    payload = json.dumps(value).encode()
    try:
        reading = decode(payload, NOW)
    except PayloadError as exc:
        assert str(exc)
        return
    assert isinstance(reading.value, bool | int | float | str)
    assert not (isinstance(reading.value, float) and not math.isfinite(reading.value))
    for data_type in ("float", "int", "bool", "string"):
        try:
            coerce(reading.value, data_type)
        except PayloadError as exc:
            assert str(exc)


@given(
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**53), 2**53)
    | st.booleans()
    | st.text(max_size=50).filter(lambda s: "\x00" not in s),
    st.datetimes(
        min_value=datetime(2001, 1, 1),  # noqa: DTZ001
        max_value=datetime(2026, 1, 1),  # noqa: DTZ001 (hypothesis takes naive bounds)
        timezones=st.just(UTC),
    ),
    st.sampled_from(["good", "uncertain", "bad"]),
)
def test_what_a_device_encodes_the_worker_decodes(value: object, ts: datetime, q: str) -> None:
    reading = decode(encode_value(value, ts, q), NOW)  # type: ignore[arg-type]
    assert reading.value == value and reading.quality == q
    assert reading.ts is not None and abs(reading.ts - ts) < timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"12.5", DeviceReading(12.5)),
        (b"true", DeviceReading(True)),
        (b'"running"', DeviceReading("running")),
        (b'{"v": 3, "q": "bad"}', DeviceReading(3, None, "bad")),
        (
            b'{"v": 3, "ts": "2026-11-24T10:00:00Z"}',
            DeviceReading(3, datetime(2026, 11, 24, 10, tzinfo=UTC)),
        ),
        (
            b'{"v": 3, "ts": 1790000000000}',
            DeviceReading(3, datetime.fromtimestamp(1_790_000_000, UTC)),
        ),
    ],
)
def test_each_form_of_the_contract_decodes(payload: bytes, expected: DeviceReading) -> None:
    assert decode(payload, NOW) == expected


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xc3\x28", "not UTF-8"),
        (b"{", "not JSON"),
        (b"Infinity", "not a valid value"),
        (b"1e400", "not finite"),
        (b"null", "not null"),
        (b"[1, 2]", "an array"),
        (b'{"ts": 1}', 'without "v"'),
        (b'{"v": 1, "q": "great"}', "q must be one of"),
        (b'{"v": 1, "ts": "yesterday"}', "not ISO-8601"),
        (b'{"v": 1, "ts": 12}', "not epoch milliseconds"),
        (b'{"v": 1, "ts": "2026-11-24T13:00:00Z"}', "in the future"),
        (b" " * (MAX_PAYLOAD_BYTES + 1), "exceeds"),
        (b'{"values": {"a": 1}}', "machine's topic"),
    ],
)
def test_each_kind_of_bad_payload_is_refused_with_its_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode(payload, NOW)


def test_a_batch_refuses_bad_values_one_by_one() -> None:
    readings = decode_batch(b'{"ts": 1790000000000, "values": {"a": 1, "b": [2]}}', NOW)
    assert readings["a"] == DeviceReading(1, datetime.fromtimestamp(1_790_000_000, UTC))
    assert isinstance(readings["b"], PayloadError)


@pytest.mark.parametrize(
    ("value", "data_type", "stored"),
    [
        (1, "float", 1.0),
        (2.0, "int", 2.0),
        (True, "bool", 1.0),
        (0, "bool", 0.0),
        ("idle", "string", "idle"),
    ],
)
def test_values_are_checked_against_the_data_type(
    value: object, data_type: str, stored: object
) -> None:
    assert coerce(value, data_type) == stored  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "data_type"),
    [
        ("1", "float"),
        (True, "float"),
        (2.5, "int"),
        (2, "bool"),
        (1, "string"),
        ("a\x00", "string"),
    ],
)
def test_values_of_the_wrong_type_are_refused(value: object, data_type: str) -> None:
    with pytest.raises(PayloadError):
        coerce(value, data_type)  # type: ignore[arg-type]


def test_a_setpoint_write_round_trips() -> None:
    command = SetpointCommand(505.0, "abc", NOW, NOW + timedelta(seconds=10))
    assert decode_setpoint(encode_setpoint(command), NOW) == command


# --- hostile input: nothing a device sends makes decoding raise --------------------------------

# JSON text built directly, so it can hold what Python's json.dumps never writes: integers of
# thousands of digits, 1e400, NaN, escapes of NUL and of lone surrogates, deep nesting.
json_leaves = st.one_of(
    st.integers().map(str),
    st.integers(4000, 6000).map(lambda n: "9" * n),
    st.sampled_from(["1e400", "-1e400", "-0", "-0.0", "NaN", "Infinity", "-Infinity", "null"]),
    st.sampled_from(["true", "false", '"\\u0000"', '"\\ud800"', '"a\\udfffb"', '""']),
    st.sampled_from(['"2026-11-24T12:04:00Z"', '"9999-12-31T23:59:59-01:00"', '"1970-01-01"']),
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(lambda f: json.dumps(f)),
    st.text().map(json.dumps),
)
json_keys = st.sampled_from(['"v"', '"ts"', '"q"', '"id"', '"values"']) | st.text().map(json.dumps)
json_texts = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4).map(lambda items: f"[{','.join(items)}]")
        | st.lists(st.tuples(json_keys, children), max_size=5).map(
            lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"
        )
    ),
    max_leaves=12,
)
deep_nesting = st.integers(1, 40_000).map(lambda n: "[" * n + "]" * n) | st.integers(1, 9000).map(
    lambda n: '{"v":' * n + "1" + "}" * n
)
hostile_payloads = (
    json_texts.map(str.encode)
    | deep_nesting.map(str.encode)
    | json_texts.map(lambda t: f'{{"ts": 1790000000000, "values": {{"a": {t}, "b": 1}}}}'.encode())
    | st.binary(max_size=200)
)


@settings(max_examples=300)
@given(hostile_payloads)
def test_no_payload_makes_decoding_raise_anything_but_its_refusal(payload: bytes) -> None:
    for decoder in (decode, decode_batch):
        try:
            decoder(payload, NOW)
        except PayloadError as exc:
            assert str(exc)


def test_a_number_of_5000_digits_is_refused_not_raised() -> None:
    with pytest.raises(PayloadError, match="number too long"):
        decode(b'{"v": ' + b"9" * 5000 + b"}", NOW)


def test_a_string_with_a_lone_surrogate_is_refused_for_a_string_tag() -> None:
    reading = decode(b'{"v": "a\\ud800b"}', NOW)  # valid JSON: the escape of half a character
    with pytest.raises(PayloadError, match="lone surrogate"):
        coerce(reading.value, "string")


def tag_info(id: int, topic: str, key: str, data_type: str = "float", **extra: Any) -> TagInfo:
    return TagInfo(id, topic, key, data_type, extra.get("deadband", 0.0), 60, 1, 1, 1)


def tag_cache(*tags: TagInfo) -> TagCache:
    """A tag cache as TagCache.refresh() would fill it, without a database."""
    cache = TagCache()
    cache.by_topic = {tag.topic: tag for tag in tags}
    cache.by_id = {tag.id: tag for tag in tags}
    for tag in tags:
        cache.by_machine_topic.setdefault(tag.topic.rpartition("/")[0], {})[tag.key] = tag
    return cache


TAGS = tag_cache(
    tag_info(1, "p/l/m/level", "level"),
    tag_info(2, "p/l/m/state", "state", "string"),
    tag_info(3, "p/l/m/count", "count", "int", deadband=1.0),
    tag_info(4, "p/l/m/fan", "fan", "bool"),
)
hostile_topics = (
    st.sampled_from([*TAGS.by_topic, "p/l/m", "p/l/m/level/set", ""])
    | st.text(max_size=80)
    | st.integers(1000, 70_000).map(lambda n: "t" * n)
)


@settings(max_examples=200)
@given(st.lists(st.tuples(hostile_topics, hostile_payloads), max_size=8))
def test_no_message_makes_the_batch_decoder_raise_and_each_ends_somewhere(
    messages: list[tuple[str, bytes]],
) -> None:
    batch = [
        Message(topic, payload, 1_790_000_000.0 + i) for i, (topic, payload) in enumerate(messages)
    ]
    decode_messages(batch, TAGS, Deadband())
    for message in batch:
        out = decode_messages([message], TAGS, Deadband())
        assert out.rows or out.filtered or out.rejected
        assert all(r.reason for r in out.rejected)


def test_a_message_that_trips_a_bug_is_refused_alone_as_an_internal_error() -> None:
    broken = tag_info(9, "p/l/m/broken", "broken", deadband=None)  # a cache entry gone wrong
    tags = tag_cache(broken, tag_info(1, "p/l/m/level", "level"))
    out = decode_messages(
        [
            Message("p/l/m/broken", b"1.5", 1_790_000_000.0),
            Message("p/l/m/level", b"2", 1_790_000_001.0),
        ],
        tags,
        Deadband(),
    )
    (rejected,) = out.rejected
    assert rejected.topic == "p/l/m/broken" and rejected.reason.startswith(
        "internal error: TypeError"
    )
    assert [row[0] for row in out.rows] == [1]


def test_a_batch_of_thousands_of_bad_keys_is_one_rejection_not_thousands() -> None:
    values = ",".join(f'"k{i}":1' for i in range(6000))
    payload = f'{{"values": {{"level": 1.5, {values}}}}}'.encode()
    assert len(payload) <= MAX_PAYLOAD_BYTES
    out = decode_messages([Message("p/l/m", payload, 1_790_000_000.0)], TAGS, Deadband())
    (rejected,) = out.rejected
    assert rejected.reason.startswith("6000 of 6001 values refused: 'k0': unknown tag key")
    assert [row[2] for row in out.rows] == [1.5]


def test_a_value_stamped_ahead_of_its_receipt_keeps_its_time_in_history_only() -> None:
    received = 1_790_000_000.0
    ahead = int((received + 240) * 1000)  # 4 minutes ahead: accepted (the limit is 5)
    out = decode_messages(
        [
            Message("p/l/m/level", f'{{"v": 9, "ts": {ahead}}}'.encode(), received),
            Message("p/l/m/level", b"7", received + 1),  # a real value, a second later
        ],
        TAGS,
        Deadband(),
    )
    assert [row[1].timestamp() for row in out.rows] == [received + 240, received + 1]
    assert out.latest[1][1:3] == (datetime.fromtimestamp(received + 1, UTC), 7.0)


def test_the_worker_lets_a_held_value_timed_in_the_future_give_way() -> None:
    now = datetime.now(UTC)
    held = {1: Row(1, now + timedelta(minutes=4), 9.0, None, 0)}
    merge_latest(held, {1: Row(1, now - timedelta(seconds=1), 7.0, None, 0)})
    assert held[1].value == 7.0
    merge_latest(held, {1: Row(1, now - timedelta(seconds=2), 5.0, None, 0)})
    assert held[1].value == 7.0  # an older value still loses to a newer one


# --- a readback that echoes the id of the setpoint write it answers -----------------------------


def test_a_readback_carries_the_id_of_the_write_it_echoes() -> None:
    assert decode(b'{"v": 504, "id": "7c1e"}', NOW) == DeviceReading(504, None, "good", "7c1e")
    assert decode(encode_value(504.0, NOW, write_id="7c1e"), NOW).write_id == "7c1e"
    readings = decode_batch(b'{"values": {"sp": {"v": 1, "id": "w-9"}, "level": 2}}', NOW)
    assert [r.write_id for r in readings.values()] == ["w-9", None]  # type: ignore[union-attr]


@pytest.mark.parametrize("raw_id", ["5", '""', "true", '["w-1"]'])
def test_an_id_that_cannot_be_a_writes_id_is_refused(raw_id: str) -> None:
    with pytest.raises(PayloadError, match="id must be the id of a setpoint write"):
        decode(f'{{"v": 504, "id": {raw_id}}}'.encode(), NOW)


def test_the_batch_keeps_every_echo_and_when_each_latest_value_was_received() -> None:
    received = 1_790_000_000.0
    slow = int((received - 30) * 1000)  # a device clock half a minute slow
    out = decode_messages(
        [
            Message("p/l/m/level", b'{"v": 504, "ts": %d, "id": "w-1"}' % slow, received),
            Message("p/l/m/level", b'{"v": 503, "ts": %d}' % (slow + 1), received + 0.5),
        ],
        TAGS,
        Deadband(),
    )
    assert out.latest[1][1:3] == (datetime.fromtimestamp(received - 29.999, UTC), 503.0)
    assert out.latest.received == {1: received + 0.5}  # the time of receipt, not the device's
    assert out.latest.echoes == [Echo(1, "w-1", 504.0, 0, received)]  # not hidden by the next
