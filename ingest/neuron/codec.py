"""Neuron's MQTT north-app payloads as pure functions: no Django, no I/O.

The shapes are the documented ones (https://docs.emqx.com/en/neuron/v2.10/configuration/
north-apps/mqtt/api.html): uploads in tags-format {"timestamp", "node", "group", "tags":
[{"name", "value" | "error"}]} or values-format {"timestamp", "node", "group", "values": {...},
"errors": {...}}, told apart per message; write responses {"uuid", "error"}; driver status
{"timestamp", "states": [{"node", "link", "running"}]}. Decoding raises only PayloadError,
whose text is the reason stored for the message; a single bad tag entry is refused alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ingest.payloads import PayloadError, Scalar
from plant import neuron

MAX_PAYLOAD_BYTES = 1024 * 1024  # a group of a few thousand tags in one upload


@dataclass(slots=True)
class Upload:
    """One group's upload: values and error codes by tag name, and what was refused."""

    node: str
    group: str
    timestamp: int | None  # epoch ms as Neuron sent it
    format: str  # plant.neuron.TAGS_FORMAT or VALUES_FORMAT
    values: dict[str, Scalar] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # tag name → why


@dataclass(frozen=True, slots=True)
class LinkState:
    node: str
    link: int
    running: int | None


_SCALARS = frozenset({float, int, bool, str})


def _no_constants(name: str) -> Any:
    raise PayloadError(f"{name} is not a valid value")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def _object(payload: bytes, what: str) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"Neuron {what} of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        data = _DECODER.decode(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PayloadError(f"Neuron {what} is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"Neuron {what} is not JSON: {exc.msg} at {exc.pos}") from None
    except (RecursionError, ValueError) as exc:
        if isinstance(exc, PayloadError):
            raise
        raise PayloadError(f"Neuron {what} cannot be read: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"Neuron {what} must be a JSON object, not {type(data).__name__}")
    return data


def _name(data: dict[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"Neuron {what} needs a non-empty string {key!r}")
    return value


def _code(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _scalar(value: Any) -> Scalar | None:
    return value if isinstance(value, float | int | bool | str) else None


def decode_upload(payload: bytes) -> Upload:
    """A group's upload in either format (detected by its `tags` or `values`/`errors`)."""
    data = _object(payload, "upload")
    ts = _code(data.get("timestamp"))
    if "timestamp" in data and ts is None:
        raise PayloadError("Neuron upload's timestamp must be epoch milliseconds (an integer)")
    node, group = _name(data, "node", "upload"), _name(data, "group", "upload")
    if "tags" in data:
        upload = Upload(node, group, ts, neuron.TAGS_FORMAT)
        _tags_format(data["tags"], upload)
    elif "values" in data or "errors" in data:
        upload = Upload(node, group, ts, neuron.VALUES_FORMAT)
        _values_format(data.get("values", {}), data.get("errors", {}), upload)
    else:
        raise PayloadError("Neuron upload has neither 'tags' (tags-format) nor 'values' "
                           "or 'errors' (values-format)")  # fmt: skip
    return upload


def _tags_format(tags: Any, upload: Upload) -> None:
    if not isinstance(tags, list):
        raise PayloadError("Neuron upload's 'tags' must be an array")
    for n, entry in enumerate(tags):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            upload.refused[f"#{n}"] = "tag entry without a name"
        elif "error" in entry:
            _add_error(upload, name, entry["error"])
        elif "value" in entry:
            _add_value(upload, name, entry["value"])
        else:
            upload.refused[name] = "neither value nor error"


def _values_format(values: Any, errors: Any, upload: Upload) -> None:
    if not isinstance(values, dict) or not isinstance(errors, dict):
        raise PayloadError("Neuron upload's 'values' and 'errors' must be objects")
    # JSON gives exact types: one pass over the types, and the dict itself when all are scalars.
    if all(type(value) in _SCALARS for value in values.values()):
        upload.values = values
    else:
        for name, value in values.items():
            _add_value(upload, name, value)
    for name, code in errors.items():
        _add_error(upload, name, code)


def _add_value(upload: Upload, name: str, value: Any) -> None:
    scalar = _scalar(value)
    if scalar is None:
        kind = "null" if value is None else type(value).__name__
        upload.refused[name] = f"value is {kind}, not a number, boolean or string"
    else:
        upload.values[name] = scalar


def _add_error(upload: Upload, name: str, code: Any) -> None:
    number = _code(code)
    if number is None:
        upload.refused[name] = f"error code {str(code)[:20]!r} is not an integer"
    else:
        upload.errors[name] = number


def decode_write_response(payload: bytes) -> tuple[str, int]:
    """The uuid of the write request answered, and its error (0: success)."""
    data = _object(payload, "write response")
    uuid = _name(data, "uuid", "write response")
    error = _code(data.get("error"))
    if error is None:
        raise PayloadError("Neuron write response needs an integer 'error'")
    return uuid, error


def decode_status(payload: bytes) -> list[LinkState]:
    """Each south node's link (and running) state of a driver status report."""
    data = _object(payload, "driver status")
    states = data.get("states")
    if not isinstance(states, list):
        raise PayloadError("Neuron driver status needs a 'states' array")
    out = []
    for entry in states:
        if not isinstance(entry, dict):
            raise PayloadError("Neuron driver status: each state must be an object")
        link = _code(entry.get("link"))
        if link is None:
            raise PayloadError("Neuron driver status: a state without an integer 'link'")
        out.append(LinkState(_name(entry, "node", "driver status"), link,
                             _code(entry.get("running"))))  # fmt: skip
    return out


def encode_write_request(uuid: str, node: str, group: str, tag: str, value: Scalar) -> bytes:
    """A documented single-tag write request."""
    body = {"uuid": uuid, "node": node, "group": group, "tag": tag, "value": value}
    return json.dumps(body, separators=(",", ":")).encode()


def encode_upload_values(
    node: str, group: str, timestamp: int, values: dict[str, Scalar], errors: dict[str, int]
) -> bytes:
    """A values-format upload (what a gateway sends; the benchmark and tests use it)."""
    body = {"timestamp": timestamp, "node": node, "group": group, "values": values,
            "errors": errors}  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()
