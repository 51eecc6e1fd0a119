"""The MQTT contract as pure code: no input makes decoding raise anything but its refusal."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.payloads import (
    MAX_PAYLOAD_BYTES,
    PayloadError,
    Reading,
    SetpointCommand,
    coerce,
    decode,
    decode_batch,
    decode_setpoint,
    encode_setpoint,
    encode_value,
)

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
        (b"12.5", Reading(12.5)),
        (b"true", Reading(True)),
        (b'"running"', Reading("running")),
        (b'{"v": 3, "q": "bad"}', Reading(3, None, "bad")),
        (
            b'{"v": 3, "ts": "2026-11-24T10:00:00Z"}',
            Reading(3, datetime(2026, 11, 24, 10, tzinfo=UTC)),
        ),
        (b'{"v": 3, "ts": 1790000000000}', Reading(3, datetime.fromtimestamp(1_790_000_000, UTC))),
    ],
)
def test_each_form_of_the_contract_decodes(payload: bytes, expected: Reading) -> None:
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
    assert readings["a"] == Reading(1, datetime.fromtimestamp(1_790_000_000, UTC))
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
