"""The MQTT contract as pure functions: decode telemetry, encode telemetry and setpoint writes.

No Django, no I/O: the worker, the writer and the simulator share these, and hypothesis tests
them. Decoding never raises anything but `PayloadError`, whose text is the stored reason.

Telemetry on a tag's topic is a bare JSON scalar or {"v": value, "ts": ..., "q": ..., "id": ...};
`id`, only in a device's readback, is the id of the setpoint write it has applied.
A machine's gateway may batch on the machine's topic: {"ts": ..., "values": {key: value, ...}}.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from plant.quality import LABELS

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_FUTURE = timedelta(minutes=5)  # clocks drift; more than this is a device with a wrong clock
# Epoch milliseconds of years 2000..2200; anything else is not a plausible timestamp in ms.
MIN_EPOCH_MS, MAX_EPOCH_MS = 946_684_800_000, 7_258_118_400_000

Scalar = float | int | bool | str


class PayloadError(ValueError):
    """A message that does not follow the contract; its text is the reason stored for it."""


@dataclass(frozen=True, slots=True)
class DeviceReading:
    """One value as the device sent it; `ts` is None when the time of receipt applies.

    `write_id` is the id of the setpoint write the device echoes with its readback, if any.
    """

    value: Scalar
    ts: datetime | None = None
    quality: str = "good"
    write_id: str | None = None


def _no_constants(name: str) -> Any:
    raise PayloadError(f"{name} is not a valid value")


# One decoder for every message: json.loads(..., parse_constant=...) would build a new one each
# call, a third of the decoding time at tens of thousands of messages a second.
_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def _loads(payload: bytes) -> Any:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"payload is not UTF-8 (byte {exc.start})") from None
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"payload is not JSON: {exc.msg} at {exc.pos}") from None
    except RecursionError:
        raise PayloadError("payload is nested too deeply") from None
    except PayloadError:
        raise  # NaN or Infinity, refused by _no_constants (a PayloadError is a ValueError)
    except ValueError:
        # Python refuses to convert an integer of more than 4,300 digits (sys.int_info); the
        # json module lets that plain ValueError through.
        raise PayloadError("payload holds a number too long to read") from None


def parse_ts(raw: Any, now: datetime) -> datetime:
    """An ISO-8601 string (with a zone, or UTC assumed) or epoch milliseconds, as aware UTC."""
    if isinstance(raw, bool):
        raise PayloadError("ts must be ISO-8601 or epoch milliseconds, not a boolean")
    if isinstance(raw, int | float):
        if not (isinstance(raw, int) or math.isfinite(raw)) or not (
            MIN_EPOCH_MS <= raw <= MAX_EPOCH_MS
        ):
            raise PayloadError(f"ts {raw!r} is not epoch milliseconds between 2000 and 2200")
        ts = datetime.fromtimestamp(raw / 1000, tz=UTC)
    elif isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw)
            ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        except (ValueError, OverflowError):
            raise PayloadError(f"ts {raw[:40]!r} is not ISO-8601") from None
        if not 2000 <= ts.year <= 2200:
            raise PayloadError(f"ts {raw[:40]!r} is outside the years 2000 to 2200")
    else:
        raise PayloadError("ts must be ISO-8601 or epoch milliseconds")
    if ts - now > MAX_FUTURE:
        raise PayloadError(f"ts {ts.isoformat()} is more than {MAX_FUTURE} in the future")
    return ts


def _reading(raw: Any, now: datetime, default_ts: datetime | None) -> DeviceReading:
    if isinstance(raw, dict):
        if "v" not in raw:
            raise PayloadError('object without "v"')
        value = raw["v"]
        quality = raw.get("q", "good")
        if quality not in LABELS:  # a tuple: a list or object as q is refused, not a crash
            raise PayloadError(f"q must be one of {', '.join(LABELS)}")
        ts = parse_ts(raw["ts"], now) if raw.get("ts") is not None else default_ts
        write_id = raw.get("id")
        if write_id is not None and (not isinstance(write_id, str) or not write_id):
            raise PayloadError("id must be the id of a setpoint write, as a non-empty string")
    else:
        value, quality, ts, write_id = raw, "good", default_ts, None
    if value is None or isinstance(value, list | dict):
        raise PayloadError(f"value must be a number, bool or string, not {_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise PayloadError("value is not finite")
    return DeviceReading(value, ts, quality, write_id)


def _kind(value: Any) -> str:
    return {type(None): "null", list: "an array", dict: "an object"}.get(type(value), "?")


def decode(payload: bytes, now: datetime) -> DeviceReading:
    """Decode a message on a tag's topic."""
    raw = _loads(payload)
    if isinstance(raw, dict) and "values" in raw:
        raise PayloadError("a batch of values belongs on the machine's topic, not a tag's")
    return _reading(raw, now, None)


def decode_batch(payload: bytes, now: datetime) -> dict[str, DeviceReading | PayloadError]:
    """Decode a machine's batch; each key maps to its reading or to the reason it is refused."""
    raw = _loads(payload)
    if not isinstance(raw, dict) or not isinstance(raw.get("values"), dict):
        raise PayloadError('a machine topic takes {"ts": ..., "values": {key: value}}')
    if not raw["values"]:
        raise PayloadError("batch has no values")
    default_ts = parse_ts(raw["ts"], now) if raw.get("ts") is not None else None
    out: dict[str, DeviceReading | PayloadError] = {}
    for key, item in raw["values"].items():
        try:
            out[key] = _reading(item, now, default_ts)
        except PayloadError as exc:
            out[key] = exc
    return out


def coerce(value: Scalar, data_type: str) -> float | str:
    """Check a value against a tag's data type; return what the historian stores.

    Numbers and bools are stored as floats (bools as 0/1); strings as text.
    """
    if data_type == "string":
        if not isinstance(value, str):
            raise PayloadError(f"string tag got {type(value).__name__} {value!r}"[:120])
        if "\x00" in value or len(value) > 1000:
            raise PayloadError("string value holds a NUL character or exceeds 1000 characters")
        if not value.isascii():
            _check_unicode(value)
        return value
    if isinstance(value, str):
        raise PayloadError(f"{data_type} tag got a string {value[:40]!r}")
    if data_type == "bool":
        if isinstance(value, bool) or value in (0, 1):
            return float(value)
        raise PayloadError(f"bool tag got {value!r}; send true/false or 0/1")
    if isinstance(value, bool):
        raise PayloadError(f"{data_type} tag got a boolean")
    if data_type == "int" and isinstance(value, float) and not value.is_integer():
        raise PayloadError(f"int tag got a fraction {value!r}")
    if abs(value) > 1e300:
        raise PayloadError("value is out of the range of a double")
    return float(value)


def _check_unicode(value: str) -> None:
    # JSON may spell a lone surrogate ("\ud800"); Python keeps it, but it is not Unicode
    # text, so it cannot be encoded as UTF-8 for PostgreSQL.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PayloadError(f"string value holds a lone surrogate at {exc.start}") from None


def encode_value(
    value: Scalar, ts: datetime | None = None, quality: str = "good", write_id: str | None = None
) -> bytes:
    """A telemetry message as devices (and the simulator) send it; a readback echoes the
    write's id."""
    message: dict[str, Any] = {"v": value}
    if ts is not None:
        message["ts"] = int(ts.timestamp() * 1000)
    if quality != "good":
        message["q"] = quality
    if write_id is not None:
        message["id"] = write_id
    return json.dumps(message, separators=(",", ":")).encode()


def encode_batch(values: dict[str, Scalar], ts: datetime) -> bytes:
    return json.dumps(
        {"ts": int(ts.timestamp() * 1000), "values": values}, separators=(",", ":")
    ).encode()


@dataclass(frozen=True, slots=True)
class SetpointCommand:
    """A setpoint write as published on `<tag topic>/set`."""

    value: Scalar
    id: str
    ts: datetime
    expires: datetime


def encode_setpoint(command: SetpointCommand) -> bytes:
    return json.dumps(
        {
            "v": command.value,
            "id": command.id,
            "ts": command.ts.isoformat(),
            "expires": command.expires.isoformat(),
        },
        separators=(",", ":"),
    ).encode()


def decode_setpoint(payload: bytes, now: datetime) -> SetpointCommand:
    """What a device does with a write: check it is whole and not expired."""
    raw = _loads(payload)
    if not isinstance(raw, dict) or not {"v", "id", "expires"} <= raw.keys():
        raise PayloadError('a setpoint write needs "v", "id" and "expires"')
    reading = _reading({"v": raw["v"]}, now, None)
    if not isinstance(raw["id"], str) or not raw["id"]:
        raise PayloadError("id must be a non-empty string")
    ts = parse_ts(raw["ts"], now) if raw.get("ts") is not None else now
    expires = _parse_any_ts(raw["expires"])
    return SetpointCommand(reading.value, raw["id"], ts, expires)


def _parse_any_ts(raw: Any) -> datetime:
    # Expiry lies in the future by design, so the future check of parse_ts does not apply.
    return parse_ts(raw, datetime(2200, 1, 1, tzinfo=UTC))


def utcnow() -> datetime:
    return datetime.now(UTC)
