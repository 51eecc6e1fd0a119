"""Turn a batch of raw MQTT messages into historian rows: decode, resolve, filter.

Pure apart from the clock it is given: no I/O. The worker stores what this returns.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from ingest import metrics
from ingest.payloads import DeviceReading, PayloadError, coerce, decode, decode_batch
from ingest.tagcache import TagCache, TagInfo
from plant.quality import CODES, Quality

log = logging.getLogger(__name__)

PAYLOAD_COPY_BYTES = 1024  # how much of a refused payload we keep
REASON_CHARS = 300  # RejectedMessage.reason
# (exception type, file, line) of internal errors already logged with their traceback: a flood
# of messages that trip one bug logs the traceback once, then one line each.
_LOGGED: set[tuple[str, str, int]] = set()


@dataclass(slots=True)
class Message:
    """One MQTT message as paho handed it over, with the time it arrived."""

    topic: str
    payload: bytes
    received: float  # epoch seconds
    mid: int = 0
    qos: int = 0
    generation: int = 0  # which broker connection delivered it (acks go to the same one)
    # Set by a decoder that reads the message before the batch does (ingest.sparkplug.host).
    resolved: Resolved | None = None


@dataclass(slots=True)
class Resolved:
    """A message already read by another decoder (Sparkplug, Neuron): its readings per tag,
    its values with no value to keep (stored as none, bad), its values a device reported as
    an error (stored bad, with no value and the error's text: a Neuron tag's error code), and
    why it is refused, if it is."""

    readings: list[tuple[TagInfo, DeviceReading]] = field(default_factory=list)
    nulls: list[tuple[TagInfo, datetime]] = field(default_factory=list)
    errors: list[tuple[TagInfo, datetime, str]] = field(default_factory=list)
    reason: str | None = None


class Row(NamedTuple):
    """One historian row, in the column order of the COPY into plant_sample (store.py)."""

    tag_id: int
    time: datetime
    value: float | None
    text: str | None
    quality: int  # plant.quality.Quality


@dataclass(frozen=True, slots=True)
class Echo:
    """A readback that names the setpoint write it answers (the `id` of its `/set` command)."""

    tag_id: int
    write_id: str
    value: float | None
    quality: int
    received: float  # epoch seconds


class Latest(dict[int, Row]):
    """The newest row of each tag in a batch, and beside it what the setpoint writer needs.

    `received` is when the message that gave each row arrived: a device's own `ts` cannot
    show that a readback came after the write was sent. `echoes` holds, in arrival order,
    every reading that carried a write's id, so that a later plain value cannot hide one.
    The worker hands this to `Writer.on_values` as the latest rows, so nothing in between
    needs to know about readbacks.
    """

    __slots__ = ("echoes", "received")

    def __init__(self) -> None:
        super().__init__()
        self.received: dict[int, float] = {}
        self.echoes: list[Echo] = []


@dataclass(slots=True)
class Rejection:
    topic: str
    reason: str
    payload: bytes
    size: int
    received: datetime
    unknown_topic: bool = False


@dataclass(slots=True)
class Decoded:
    """The outcome of one batch: rows to store, the newest row per tag, what was refused."""

    rows: list[Row] = field(default_factory=list)
    latest: Latest = field(default_factory=Latest)
    rejected: list[Rejection] = field(default_factory=list)
    filtered: int = 0  # inside the historian deadband: live value only
    newest: float = 0.0  # epoch seconds of the newest sample time, for the lag metric
    oldest: float = float("inf")  # and of the oldest: its wait is the batch's worst latency


class Deadband:
    """Per-tag historian deadband with a heartbeat, as classic historians apply it.

    `pending` holds what a batch would record; `commit()` makes it the new reference once the
    batch is stored, so a failed transaction does not leave the filter ahead of the table.
    """

    def __init__(self) -> None:
        self.last: dict[int, tuple[float | str | None, float, int]] = {}
        self.pending: dict[int, tuple[float | str | None, float, int]] = {}

    def keep(self, tag: TagInfo, value: float | str | None, at: float, quality: int) -> bool:
        if tag.deadband <= 0:
            return True  # every sample is history; nothing to remember
        ref = self.pending.get(tag.id) or self.last.get(tag.id)
        if ref is not None:
            ref_value, ref_at, ref_quality = ref
            same_band = (
                quality == ref_quality
                and isinstance(value, float)
                and isinstance(ref_value, float)
                and abs(value - ref_value) <= tag.deadband
            )
            if same_band and 0 <= at - ref_at < tag.heartbeat_s:
                return False
        self.pending[tag.id] = (value, at, quality)
        return True

    def commit(self) -> None:
        self.last.update(self.pending)
        self.pending.clear()

    def rollback(self) -> None:
        self.pending.clear()


def decode_messages(messages: list[Message], tags: TagCache, deadband: Deadband) -> Decoded:
    """Decode every message; every one ends as rows, a filtered value or a rejection.

    Never raises: a message that trips a bug of ours becomes a rejection of its own.
    """
    out = Decoded()
    now = datetime.now(UTC)
    for message in messages:
        rows, rejected = len(out.rows), len(out.rejected)
        try:
            _decode_one(out, message, tags, now, deadband)
        except Exception as exc:
            # Undo what the message had added, so it ends as one thing: its rejection.
            del out.rows[rows:], out.rejected[rejected:]
            _internal_error(out, message, exc)
    return out


def _decode_one(
    out: Decoded, message: Message, tags: TagCache, now: datetime, deadband: Deadband
) -> None:
    if message.resolved is not None:
        _add_resolved(out, message, message.resolved, deadband)
        return
    tag = tags.by_topic.get(message.topic)
    if tag is not None:
        try:
            reading = decode(message.payload, now)
        except PayloadError as exc:
            _reject(out, message, str(exc))
            return
        if (reason := _add(out, message, tag, reading, deadband)) is not None:
            _reject(out, message, reason)
    elif message.topic in tags.by_machine_topic:
        _add_batch(out, message, tags.by_machine_topic[message.topic], now, deadband)
    elif message.topic in tags.derived_topics:
        _reject(out, message, "a derived tag: its values are computed by the worker, not sent")
    else:
        _reject(out, message, "unknown topic: no tag has it", unknown=True)


def _internal_error(out: Decoded, message: Message, exc: Exception) -> None:
    """Log a bug met while decoding (its traceback once per kind and place) and refuse."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = (
        type(exc).__name__,
        frame.filename if frame else "",
        (frame.lineno or 0) if frame else 0,
    )
    if where in _LOGGED:
        log.error("internal error decoding a message on %.200r: %r", message.topic, exc)
    else:
        _LOGGED.add(where)
        log.exception("internal error decoding a message on %.200r", message.topic)
    metrics.INTERNAL_ERRORS.inc()
    _reject(out, message, f"internal error: {type(exc).__name__}: {exc}")


def _add_batch(
    out: Decoded, message: Message, machine: dict[str, TagInfo], now: datetime, deadband: Deadband
) -> None:
    try:
        readings = decode_batch(message.payload, now)
    except PayloadError as exc:
        _reject(out, message, str(exc))
        return
    refused: list[str] = []
    for key, reading in readings.items():
        tag = machine.get(key)
        if tag is None:
            refused.append(f"{key[:60]!r}: unknown tag key")
        elif isinstance(reading, PayloadError):
            refused.append(f"{key[:60]!r}: {reading}")
        elif (reason := _add(out, message, tag, reading, deadband)) is not None:
            refused.append(f"{key[:60]!r}: {reason}")
    if refused:
        # One rejection per message, however many of its values are refused: a batch of
        # thousands of bad keys must not become thousands of stored copies of its payload.
        _reject(
            out,
            message,
            f"{len(refused)} of {len(readings)} values refused: " + "; ".join(refused[:5]),
        )


def _add_resolved(out: Decoded, message: Message, resolved: Resolved, deadband: Deadband) -> None:
    refused = [f"{tag.key[:60]!r}: {reason}" for tag, reading in resolved.readings
               if (reason := _add(out, message, tag, reading, deadband)) is not None]  # fmt: skip
    bad: list[tuple[TagInfo, datetime, str | None]] = [(t, at, None) for t, at in resolved.nulls]
    bad.extend(resolved.errors)
    for tag, at, text in bad:
        row = Row(tag.id, at, None, text, Quality.BAD)
        out.rows.append(row)
        previous = out.latest.get(tag.id)
        if previous is None or previous.time <= at:
            out.latest[tag.id] = (
                row if at.timestamp() <= message.received
                else row._replace(time=_received(message))
            )  # fmt: skip
            out.latest.received[tag.id] = message.received
    reasons = [r for r in (resolved.reason, "; ".join(refused[:5]) if refused else None) if r]
    if reasons:
        _reject(out, message, "; ".join(reasons))


def _add(
    out: Decoded, message: Message, tag: TagInfo, reading: DeviceReading, deadband: Deadband
) -> str | None:
    """Add one reading of `tag`; return the reason when its value does not fit the tag."""
    try:
        stored = coerce(reading.value, tag.data_type)
    except PayloadError as exc:
        return str(exc)
    ts = reading.ts or datetime.fromtimestamp(message.received, UTC)
    quality = CODES[reading.quality]
    value, text = (None, stored) if isinstance(stored, str) else (stored, None)
    row = Row(tag.id, ts, value, text, quality)
    at = ts.timestamp()
    # History keeps the device's time; the latest value is timed no later than its receipt,
    # so a device clock running ahead can neither hide newer values nor keep one from going
    # stale (see LATEST_SQL in store.py for the same rule in the table).
    live = row if at <= message.received else row._replace(time=_received(message))
    latest = out.latest
    previous = latest.get(tag.id)
    if previous is None or previous.time <= live.time:
        latest[tag.id] = live
        latest.received[tag.id] = message.received
    if reading.write_id is not None:
        latest.echoes.append(Echo(tag.id, reading.write_id, value, quality, message.received))
    if at > out.newest:
        out.newest = at
    if at < out.oldest:
        out.oldest = at
    if deadband.keep(tag, stored, at, quality):
        out.rows.append(row)
    else:
        out.filtered += 1
    return None


def _received(message: Message) -> datetime:
    return datetime.fromtimestamp(message.received, UTC)


def refusal(message: Message, reason: str) -> Decoded:
    """A batch holding only the rejection of `message`, for a message the database refused."""
    out = Decoded()
    _reject(out, message, reason)
    return out


def _reject(out: Decoded, message: Message, reason: str, unknown: bool = False) -> None:
    out.rejected.append(
        Rejection(
            topic=message.topic,
            reason=reason[:REASON_CHARS],
            payload=message.payload[:PAYLOAD_COPY_BYTES],
            size=len(message.payload),
            received=datetime.fromtimestamp(message.received, UTC),
            unknown_topic=unknown,
        )
    )
