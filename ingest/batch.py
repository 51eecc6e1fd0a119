"""Turn a batch of raw MQTT messages into historian rows: decode, resolve, filter.

Pure apart from the clock it is given: no I/O. The worker stores what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest.payloads import PayloadError, Reading, coerce, decode, decode_batch
from ingest.tagcache import TagCache, TagInfo

QUALITY_CODE = {"good": 0, "uncertain": 1, "bad": 2}
PAYLOAD_COPY_BYTES = 1024  # how much of a refused payload we keep


@dataclass(slots=True)
class Message:
    """One MQTT message as paho handed it over, with the time it arrived."""

    topic: str
    payload: bytes
    received: float  # epoch seconds
    mid: int = 0
    qos: int = 0
    generation: int = 0  # which broker connection delivered it (acks go to the same one)


# (tag_id, time, value, text, quality)
Row = tuple[int, datetime, float | None, str | None, int]


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
    latest: dict[int, Row] = field(default_factory=dict)
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
    """Decode every message; every one ends as rows, a filtered value or a rejection."""
    out = Decoded()
    now = datetime.now(UTC)
    for message in messages:
        tag = tags.by_topic.get(message.topic)
        if tag is not None:
            try:
                reading = decode(message.payload, now)
            except PayloadError as exc:
                _reject(out, message, str(exc))
                continue
            _add(out, message, tag, reading, deadband)
        elif message.topic in tags.by_machine_topic:
            _add_batch(out, message, tags.by_machine_topic[message.topic], now, deadband)
        else:
            _reject(out, message, "unknown topic: no tag has it", unknown=True)
    return out


def _add_batch(
    out: Decoded, message: Message, machine: dict[str, TagInfo], now: datetime, deadband: Deadband
) -> None:
    try:
        readings = decode_batch(message.payload, now)
    except PayloadError as exc:
        _reject(out, message, str(exc))
        return
    for key, reading in readings.items():
        tag = machine.get(key)
        if tag is None:
            _reject(out, message, f"unknown tag key {key[:60]!r} in batch")
        elif isinstance(reading, PayloadError):
            _reject(out, message, f"{key[:60]}: {reading}")
        else:
            _add(out, message, tag, reading, deadband)


def _add(
    out: Decoded, message: Message, tag: TagInfo, reading: Reading, deadband: Deadband
) -> None:
    try:
        stored = coerce(reading.value, tag.data_type)
    except PayloadError as exc:
        _reject(out, message, str(exc))
        return
    ts = reading.ts or datetime.fromtimestamp(message.received, UTC)
    quality = QUALITY_CODE[reading.quality]
    value, text = (None, stored) if isinstance(stored, str) else (stored, None)
    row: Row = (tag.id, ts, value, text, quality)
    at = ts.timestamp()
    previous = out.latest.get(tag.id)
    if previous is None or previous[1] <= ts:
        out.latest[tag.id] = row
    if at > out.newest:
        out.newest = at
    if at < out.oldest:
        out.oldest = at
    if deadband.keep(tag, stored, at, quality):
        out.rows.append(row)
    else:
        out.filtered += 1


def _reject(out: Decoded, message: Message, reason: str, unknown: bool = False) -> None:
    out.rejected.append(
        Rejection(
            topic=message.topic,
            reason=reason[:300],
            payload=message.payload[:PAYLOAD_COPY_BYTES],
            size=len(message.payload),
            received=datetime.fromtimestamp(message.received, UTC),
            unknown_topic=unknown,
        )
    )
