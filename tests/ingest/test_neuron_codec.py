"""Neuron's payloads as pure functions (ingest.neuron.codec), no broker and no database.

The fixed examples are the documented ones of Neuron's MQTT north app
(https://docs.emqx.com/en/neuron/v2.10/configuration/north-apps/mqtt/api.html)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.neuron import codec
from ingest.payloads import PayloadError
from plant import neuron

TAGS_FORMAT = b"""{"timestamp": 1647497389075, "node": "modbus", "group": "grp",
  "tags": [{"name": "tag0", "value": 123}, {"name": "tag1", "error": 2014}]}"""
VALUES_FORMAT = b"""{"timestamp": 1650006388943, "node": "modbus", "group": "grp",
  "values": {"tag0": 123}, "errors": {"tag1": 2014}}"""


@pytest.mark.parametrize(("payload", "fmt"), [(TAGS_FORMAT, neuron.TAGS_FORMAT),
                                              (VALUES_FORMAT, neuron.VALUES_FORMAT)])  # fmt: skip
def test_both_documented_formats_decode_to_the_same_values_and_errors(
    payload: bytes, fmt: str
) -> None:
    upload = codec.decode_upload(payload)
    assert (upload.node, upload.group, upload.format) == ("modbus", "grp", fmt)
    assert (upload.values, upload.errors, upload.refused) == ({"tag0": 123}, {"tag1": 2014}, {})


def test_the_documented_write_response_and_status_report_decode() -> None:
    assert codec.decode_write_response(
        b'{"uuid": "cd32be1b-c8b1-3257-94af-77f847b1ed3e", "error": 0}'
    ) == ("cd32be1b-c8b1-3257-94af-77f847b1ed3e", 0)
    states = codec.decode_status(b'{"timestamp": 1658134132237, "states": [{"node": '
                                 b'"modbus-tcp", "link": 1, "running": 3}]}')  # fmt: skip
    assert states == [codec.LinkState("modbus-tcp", 1, 3)]


def test_the_write_request_is_the_documented_shape() -> None:
    body = codec.encode_write_request("cd32be1b", "modbus", "grp", "tag0", 1234)
    assert json.loads(body) == {"uuid": "cd32be1b", "node": "modbus", "group": "grp",
                                "tag": "tag0", "value": 1234}  # fmt: skip


def test_error_codes_are_named_and_an_unknown_one_keeps_its_number() -> None:
    assert neuron.error_name(3002) == "3002 plugin disconnected"
    assert neuron.error_name(3015) == "3015 plugin device not responding"
    assert neuron.error_name(12345) == "Neuron error 12345"


scalars = st.one_of(st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20),
                    st.floats(allow_nan=False, allow_infinity=False))  # fmt: skip
names = st.text(min_size=1, max_size=20)


@given(st.dictionaries(names, scalars, max_size=30), st.dictionaries(names, st.integers(0, 99999)))
def test_a_values_format_upload_round_trips(
    values: dict[str, float | int | bool | str], errors: dict[str, int]
) -> None:
    upload = codec.decode_upload(codec.encode_upload_values("n", "g", 1650006388943, values,
                                                            errors))  # fmt: skip
    assert (upload.values, upload.errors, upload.refused) == (values, errors, {})


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_a_payload_error_only(payload: bytes) -> None:
    for decode in (codec.decode_upload, codec.decode_write_response, codec.decode_status):
        try:
            result = decode(payload)
        except PayloadError as exc:
            assert str(exc).startswith("Neuron ")  # the reason stored names what it refused
        else:
            assert result is not None


@given(st.recursive(st.none() | scalars, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(names, inner, max_size=3), max_leaves=10))  # fmt: skip
def test_any_json_value_entry_is_kept_or_refused_alone_with_a_reason(value: object) -> None:
    payload = json.dumps({"node": "n", "group": "g", "values": {"x": value, "ok": 1}}).encode()
    upload = codec.decode_upload(payload)
    assert upload.values.get("ok") == 1
    assert ("x" in upload.values) != ("x" in upload.refused)
