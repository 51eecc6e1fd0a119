"""The compact live frame: a pushed value as a few numbers, not its element's HTML.

A push used to carry each changed value as the whole element `tag-<pk>` of hmi.readings (its
gauge's SVG, its texts: about 900 bytes), rendered once per screen and sent to every tab. Most
pushes change only what a value is: its text, its condition, its time and where its pointer
sits. So a `tag.values` push is a JSON frame (static/hmi/live_frames.js applies it to the
elements the page already has) holding, per value, one row:

    [pk, status, text, ts_ms, value, position, setpoint_position, good, stale_s]

- `status`: ok, uncertain, stale or bad (the element's `is-<status>` class and its flag);
- `text`: the value as the tag's precision formats it (.reading-value);
- `ts_ms`: the device's time, epoch ms (data-ts; the title shows it in the plant's zone);
- `value`: the number (data-v, sparklines);
- `position`, `setpoint_position`: fractions (0..1) of the range for the gauge's pointer and
  setpoint marker, null where there is none;
- `good`: the last time the value had good quality, epoch ms; 0 when that is `ts_ms`, -1 when
  it never had ("no good value yet");
- `stale_s`: seconds after `ts_ms` when the value turns stale without a newer one (data-stale-at),
  0 when it is not ok or uncertain (not to be marked).

and once per frame `z`: [the plant's UTC offset in seconds, the zone's abbreviation], with which
live_frames.js writes the times as hmi.readings does. A value whose element may have to change shape
(no value yet, on/off and state tags, a time of good quality on another day, a time in another
UTC offset, e.g. across a DST change) travels as its element's HTML instead, in `h`, which
live_frames.js swaps in by id as htmx would.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, tzinfo

from django.utils import timezone

from hmi.readings import ScreenReading, gauge_kind, reading_html
from plant.models import Tag

COMPACT_GAUGES = ("radial", "bar", "")  # numeric tags: their elements keep their shape
NUMERIC = (Tag.DataType.FLOAT, Tag.DataType.INT)


def encode(readings: list[ScreenReading], style: str, zone: tzinfo, now: datetime) -> str:
    """The frame of a push that changes these readings ("" for none)."""
    if not readings:
        return ""
    offset = zone.utcoffset(now) or timedelta(0)
    today = now.astimezone(zone).date()
    rows, html = [], []
    for reading in readings:
        row = _row(reading, style, zone, offset, today)
        if row is None:
            html.append(reading)
        else:
            rows.append(row)
    frame: dict[str, object] = {"z": [int(offset.total_seconds()), now.astimezone(zone).tzname()]}
    if rows:
        frame["v"] = rows
    if html:
        with timezone.override(zone):
            frame["h"] = "".join(reading_html(reading, style) for reading in html)
    return json.dumps(frame, separators=(",", ":"))


def _row(
    reading: ScreenReading, style: str, zone: tzinfo, offset: timedelta, today: date
) -> list[object] | None:
    """The row of a reading, or None if its element must travel whole."""
    tag, time, value = reading.tag, reading.time, reading.value
    if reading.status == "none" or time is None or value is None or tag.data_type not in NUMERIC:
        return None
    if gauge_kind(tag, style) not in COMPACT_GAUGES or zone.utcoffset(time) != offset:
        return None
    ts_ms = int(time.timestamp() * 1000)
    good_at = reading.good_at
    if good_at is None:
        good = -1
    elif zone.utcoffset(good_at) != offset or good_at.astimezone(zone).date() != today:
        return None  # "last good 02 Dec 14:03": the date, as hmi.readings.clock writes it
    else:
        good = 0 if good_at == time else int(good_at.timestamp() * 1000)
    stale_s = 0
    if reading.status in ("ok", "uncertain") and reading.stale_at is not None:
        stale_s = tag.expected_interval_s
    return [
        tag.pk, reading.status, reading.text, ts_ms, value, _fraction(reading.position),
        _fraction(reading.setpoint_position), good, stale_s,
    ]  # fmt: skip


def _fraction(value: float | None) -> float | None:
    # Five places: a pointer on a 200-unit bar or a 240° arc moves less than a pixel's tenth.
    return None if value is None else round(value, 5)
