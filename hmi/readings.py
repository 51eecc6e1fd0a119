"""One tag's value on a screen: how it reads (`ScreenReading`) and its HTML, with its gauge.

`ScreenReading` is a value's text, its condition (ok, uncertain, stale, bad) and where it sits
on its gauge (`fraction`, `band`). A page builds it from a tag's LatestValue (`read_latest`),
and a websocket push builds it from a pushed value (`read_value`). A page (through the
`{% reading %}` tag), an htmx response and a websocket push all draw it with `reading_html`,
so a value looks the same at page load and after a push. It is Python rather than a template
because a busy screen redraws thousands of values a second: the Django templates this replaces
took 190-300 µs a value, this takes about 30 (bench/render_readings.py). The markup is the
contract with hmi.css, hmi.js and the tests; change it here only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

from django.utils import timezone
from django.utils.html import escape

from plant import vibration
from plant.models import Quality, Tag
from plant.queries import NO_VALUE, format_value

# Radial gauge: a 240° arc open at the bottom, in a 120 by 96 box.
CX, CY, R = 60.0, 54.0, 42.0
START_DEG, SWEEP_DEG = 150.0, 240.0
# Bar gauge: a horizontal track in a 200-wide box.
BAR_W = 200.0
# Words that make a state abnormal (drawn inverted with a warning shape).
FAULT_WORDS = ("fault", "error", "alarm", "trip", "emergency", "estop")
RUN_WORDS = ("run", "auto", "on", "producing", "filling")
STOP_WORDS = ("stop", "idle", "off", "ready", "standby", "paused", "manual")
STYLES = ("mini", "bar", "radial")  # plant tiles, line faceplates, machine and tag screens
Status = Literal["ok", "uncertain", "stale", "bad", "none"]


@dataclass(frozen=True)
class ScreenReading:
    """How one tag's value reads on a screen: its text, its condition and where it sits."""

    tag: Tag
    text: str
    status: Status
    value: float | None = None
    time: datetime | None = None
    # When an "ok" value turns stale if nothing newer arrives; hmi.js marks it then.
    stale_at: datetime | None = None
    good_at: datetime | None = None  # the last time the value had good quality
    setpoint: float | None = None  # the latest value of the tag's setpoint tag, if it has one

    @property
    def flag(self) -> str:
        """The condition in words, so it never rests on colour alone ("" when nothing to say)."""
        return "" if self.status in ("ok", "none") else self.status

    @property
    def ts_ms(self) -> int | None:
        """The device's time of the value in epoch milliseconds (hmi.js and the benchmark)."""
        return None if self.time is None else int(self.time.timestamp() * 1000)

    @property
    def position(self) -> float | None:
        """The value as a fraction (0..1) of the engineering range, for gauges."""
        return fraction(self.tag, self.value)

    @property
    def setpoint_position(self) -> float | None:
        return fraction(self.tag, self.setpoint)

    @property
    def band(self) -> tuple[float, float] | None:
        """The normal operating band as (low, high) fractions of the engineering range."""
        tag = self.tag
        if not has_range(tag) or (tag.normal_min is None and tag.normal_max is None):
            return None
        low = fraction(tag, tag.normal_min if tag.normal_min is not None else tag.range_min)
        high = fraction(tag, tag.normal_max if tag.normal_max is not None else tag.range_max)
        assert low is not None and high is not None
        return low, high


MONITOR = Tag.vibration_monitor  # the reverse one-to-one's descriptor


def vibration_class(tag: Tag) -> tuple[int, str] | None:
    """The ISO 10816-3 class (group, foundation) of a vibration tag, when its monitor was read
    with it (reading_tags' select_related); drawing never runs a query."""
    if not MONITOR.is_cached(tag):
        return None
    monitor = getattr(tag, "vibration_monitor", None)
    return None if monitor is None else (monitor.machine_group, monitor.foundation)


def vibration_limits(tag: Tag) -> vibration.Boundaries | None:
    """The zone boundaries of a vibration tag read with its monitor (see vibration_class)."""
    found = vibration_class(tag)
    return None if found is None else vibration.boundaries(*found)


def read_value(
    tag: Tag,
    *,
    value: float | None,
    text: str | None,
    quality: int,
    time: datetime,
    now: datetime,
    good_at: datetime | None = None,
    setpoint: float | None = None,
) -> ScreenReading:
    """The reading of one value of `tag` taken at `time`, as seen at `now`."""
    formatted = format_value(tag, value, text)
    if formatted == NO_VALUE:
        return ScreenReading(tag, NO_VALUE, "none", time=time, good_at=good_at, setpoint=setpoint)
    stale_at = time + timedelta(seconds=tag.expected_interval_s)
    status: Status = "ok"
    if quality == Quality.BAD:
        status = "bad"
    elif now > stale_at:
        status = "stale"
    elif quality == Quality.UNCERTAIN:
        status = "uncertain"
    return ScreenReading(tag, formatted, status, value, time, stale_at, good_at, setpoint)


def read_latest(tag: Tag, now: datetime) -> ScreenReading:
    """The reading of a tag's LatestValue; select_related("latest",
    "setpoint_tag__latest") saves the queries."""
    # A missing reverse one-to-one raises an AttributeError subclass, so getattr's default works.
    latest = getattr(tag, "latest", None)
    setpoint = latest_number(tag.setpoint_tag) if tag.setpoint_tag_id else None
    if latest is None:
        return ScreenReading(tag, NO_VALUE, "none", setpoint=setpoint)
    return read_value(
        tag,
        value=latest.value,
        text=latest.text,
        quality=latest.quality,
        time=latest.time,
        now=now,
        good_at=latest.good_at,
        setpoint=setpoint,
    )


def latest_number(tag: Tag | None) -> float | None:
    latest = getattr(tag, "latest", None)
    return None if latest is None else latest.value


def has_range(tag: Tag) -> bool:
    return tag.is_numeric and tag.range_min is not None and tag.range_max is not None


def fraction(tag: Tag, value: float | None) -> float | None:
    """Where `value` sits in the engineering range, clamped to 0..1; None without a range."""
    if value is None or not has_range(tag):
        return None
    assert tag.range_min is not None and tag.range_max is not None
    share = (value - tag.range_min) / (tag.range_max - tag.range_min)
    return min(max(share, 0.0), 1.0)


def polar(fraction: float, radius: float = R) -> tuple[float, float]:
    """The point at `fraction` of the radial gauge's sweep, `radius` from its centre."""
    angle = math.radians(START_DEG + SWEEP_DEG * fraction)
    return round(CX + radius * math.cos(angle), 2), round(CY + radius * math.sin(angle), 2)


def arc(start: float, end: float, radius: float = R) -> str:
    """An SVG path along the gauge's arc from one fraction of the sweep to another."""
    (x0, y0), (x1, y1) = polar(start, radius), polar(end, radius)
    large = 1 if SWEEP_DEG * (end - start) > 180 else 0
    return f"M{x0} {y0}A{radius} {radius} 0 {large} 1 {x1} {y1}"


TRACK = arc(0, 1)
LOW_LABEL = polar(0, R + 11)
HIGH_LABEL = polar(1, R + 11)


def gauge_kind(tag: Tag, style: str) -> str:
    """Which gauge draws `tag` in a screen of `style` ("" for a bare readout)."""
    if tag.data_type == Tag.DataType.BOOL:
        return "onoff"
    if tag.data_type == Tag.DataType.STRING:
        return "state"
    if tag.range_min is None or tag.range_max is None:
        return ""
    return "radial" if style == "radial" else "bar"


def state_shape(text: str) -> str:
    """The shape of a state indicator: run, stop, fault or other (never colour alone)."""
    word = text.lower()
    for shape, words in (("fault", FAULT_WORDS), ("run", RUN_WORDS), ("stop", STOP_WORDS)):
        if any(w in word for w in words):
            return shape
    return "other"


def number(value: float | None) -> str:
    """A scale label: no trailing zeros, no localisation (SVG wants a plain number)."""
    return "" if value is None else f"{value:g}"


def clock(value: datetime | None) -> str:
    """A time of day in the active time zone, with the date when it is not today."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    if local.date() == timezone.localtime().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%d %b %H:%M")


def reading_html(reading: ScreenReading, style: str) -> str:
    """The element `tag-<pk>` of one value, drawn as a screen of `style` draws it."""
    tag, status = reading.tag, reading.status
    attrs = [f'id="tag-{tag.pk}" class="reading reading-{style} is-{status}"']
    if reading.ts_ms:
        attrs.append(f'data-ts="{reading.ts_ms}"')
    if reading.value is not None:
        attrs.append(f'data-v="{reading.value!r}"')
    if status in ("ok", "uncertain") and reading.stale_at is not None:
        attrs.append(f'data-stale-at="{timezone.localtime(reading.stale_at).isoformat()}"')
    if reading.time is not None:
        local = timezone.localtime(reading.time)
        attrs.append(f'title="{local.strftime("%Y-%m-%d %H:%M:%S")} {escape(local.tzname())}"')
    else:
        attrs.append('title="no value received yet"')
    unit = ""
    if tag.unit and status != "none" and tag.is_numeric:
        unit = f' <abbr class="reading-unit">{escape(tag.unit)}</abbr>'
    since = ""
    if status != "none":
        good = f"last good {clock(reading.good_at)}" if reading.good_at else "no good value yet"
        since = f'<span class="reading-since">{good}</span>'
    return (
        f"<div {' '.join(attrs)}>\n"
        f'  <span class="gauge-face">{gauge_html(reading, style)}\n'
        f'  <span class="reading-text"><span class="reading-value">{escape(reading.text)}</span>'
        f"{unit}</span></span>\n"
        f'  <span class="reading-flag">{reading.flag}</span>\n'
        f"  {since}\n</div>\n"
    )


def gauge_html(reading: ScreenReading, style: str) -> str:
    """The SVG gauge or indicator of one reading ("" for a tag without one)."""
    kind = gauge_kind(reading.tag, style)
    return GAUGES[kind](reading, style) if kind else ""


def _radial(reading: ScreenReading, style: str) -> str:
    tag = reading.tag
    parts = [
        '<svg class="gauge gauge-radial" viewBox="0 0 120 96" aria-hidden="true" '
        f'focusable="false">\n  <path class="gauge-track" d="{TRACK}"/>'
    ]
    band = reading.band
    if band and band[1] > band[0]:
        parts.append(f'<path class="gauge-band" d="{arc(*band)}"/>')
    machine_class = vibration_class(tag)
    if machine_class is not None and tag.range_min is not None and tag.range_max is not None:
        parts.append(radial_zones(tag.range_min, tag.range_max, *machine_class))
    setpoint = reading.setpoint_position
    if setpoint is not None:
        tip, left, right = (
            polar(setpoint, R + 5),
            polar(setpoint - 0.025, R + 13),
            polar(setpoint + 0.025, R + 13),
        )
        points = " ".join(f"{x},{y}" for x, y in (tip, left, right))
        parts.append(f'<polygon class="gauge-setpoint" points="{points}"/>')
    position = reading.position
    if position is not None:
        (x1, y1), (x2, y2) = polar(position, R - 13), polar(position, R + 6)
        parts.append(f'<line class="gauge-pointer" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/>')
    (lx, ly), (hx, hy) = LOW_LABEL, HIGH_LABEL
    parts.append(
        f'<text class="gauge-scale" x="{lx}" y="{ly + 4}" text-anchor="middle">'
        f"{number(tag.range_min)}</text>\n"
        f'  <text class="gauge-scale" x="{hx}" y="{hy + 4}" text-anchor="middle">'
        f"{number(tag.range_max)}</text>\n</svg>"
    )
    return "\n  ".join(parts)


def _bar(reading: ScreenReading, style: str) -> str:
    band, position = reading.band, reading.position
    if style == "mini":
        parts = [
            '<svg class="gauge gauge-bar gauge-mini" viewBox="0 -1 200 12" '
            'preserveAspectRatio="none" aria-hidden="true" focusable="false">\n'
            '  <rect class="gauge-track" x="0" y="3" width="200" height="5"/>'
        ]
        if band:
            parts.append(_bar_rect("gauge-band", band, 3, 5))
        if position is not None:
            parts.append(_bar_pointer(position, -1, 12, 3))
        return "\n  ".join(parts) + "\n</svg>"
    parts = [
        '<svg class="gauge gauge-bar" viewBox="-6 0 212 34" aria-hidden="true" '
        'focusable="false">\n  <rect class="gauge-track" x="0" y="10" width="200" height="10"/>'
    ]
    if band:
        parts.append(_bar_rect("gauge-band", band, 10, 10))
    tag = reading.tag
    machine_class = vibration_class(tag)
    if machine_class is not None and tag.range_min is not None and tag.range_max is not None:
        parts.append(bar_zones(tag.range_min, tag.range_max, *machine_class))
    setpoint = reading.setpoint_position
    if setpoint is not None:
        x = setpoint * BAR_W
        points = f"{x:.1f},9 {x - 4.5:.1f},1 {x + 4.5:.1f},1"
        parts.append(f'<polygon class="gauge-setpoint" points="{points}"/>')
    if position is not None:
        parts.append(_bar_pointer(position, 6, 18, 4))
    parts.append(
        f'<text class="gauge-scale" x="0" y="32" text-anchor="start">{number(tag.range_min)}'
        f'</text>\n  <text class="gauge-scale" x="200" y="32" text-anchor="end">'
        f"{number(tag.range_max)}</text>\n</svg>"
    )
    return "\n  ".join(parts)


def _zone_spans(
    low: float, high: float, limits: vibration.Boundaries
) -> list[tuple[str, float, float]]:
    """Zones C and D as (css class, start, end) fractions of the range [low, high]."""

    def at(value: float) -> float:
        return min(max((value - low) / (high - low), 0.0), 1.0)

    spans = [("gauge-zone gauge-zone-c", at(limits.bc), at(limits.cd)),
             ("gauge-zone gauge-zone-d", at(limits.cd), 1.0)]  # fmt: skip
    return [span for span in spans if span[2] > span[1]]


@lru_cache(maxsize=1024)
def radial_zones(low: float, high: float, group: int, foundation: str) -> str:
    """Zones C and D as arcs inside the track, and a tick at each boundary (drawn once per
    range and class: a push redraws it from the cache)."""
    limits = vibration.boundaries(group, foundation)
    parts = [f'<path class="{css}" d="{arc(start, end, R - 8)}"/>'
             for css, start, end in _zone_spans(low, high, limits)]  # fmt: skip
    for value in (limits.ab, limits.bc, limits.cd):
        share = (value - low) / (high - low)
        if 0 < share < 1:
            (x1, y1), (x2, y2) = polar(share, R - 11), polar(share, R - 3)
            parts.append(f'<line class="gauge-zone-tick" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/>')
    return "\n  ".join(parts)


@lru_cache(maxsize=1024)
def bar_zones(low: float, high: float, group: int, foundation: str) -> str:
    """Zones C and D as a strip under the bar's track, with a tick at each boundary."""
    limits = vibration.boundaries(group, foundation)
    spans = _zone_spans(low, high, limits)
    parts = [_bar_rect(css, (start, end), 21, 3) for css, start, end in spans]
    for value in (limits.ab, limits.bc, limits.cd):
        share = (value - low) / (high - low)
        if 0 < share < 1:
            x = share * BAR_W
            parts.append(f'<rect class="gauge-zone-tick" x="{x - 0.5:.1f}" y="20" width="1" '
                         'height="5"/>')  # fmt: skip
    return "\n  ".join(parts)


def _bar_rect(css: str, band: tuple[float, float], y: int, height: int) -> str:
    x, width = band[0] * BAR_W, (band[1] - band[0]) * BAR_W
    return f'<rect class="{css}" x="{x:.1f}" y="{y}" width="{width:.1f}" height="{height}"/>'


def _bar_pointer(position: float, y: int, height: int, width: int) -> str:
    x = round(position * BAR_W, 1)
    return (
        f'<rect class="gauge-pointer" x="{x:.1f}" y="{y}" width="{width}" height="{height}" '
        f'transform="translate({-width / 2:g} 0)"/>'
    )


def _onoff(reading: ScreenReading, style: str) -> str:
    on = reading.value is not None and bool(reading.value)
    state = "onoff-none" if reading.status == "none" else "onoff-on" if on else "onoff-off"
    core = '<circle class="onoff-core" cx="10" cy="10" r="3"/>' if on else ""
    return (
        f'<svg class="gauge gauge-onoff {state}" viewBox="0 0 20 20" aria-hidden="true" '
        f'focusable="false">\n  <circle cx="10" cy="10" r="7.5"/>{core}\n</svg>'
    )


STATE_SHAPES = {
    "run": '<polygon points="5,3 17,10 5,17"/>',
    "stop": '<rect x="4" y="4" width="12" height="12"/>',
    "fault": '<polygon points="10,1.5 19,18 1,18"/><rect class="state-mark" x="9" y="7" '
    'width="2" height="6"/><rect class="state-mark" x="9" y="14.5" width="2" height="2"/>',
    "other": '<circle cx="10" cy="10" r="6"/>',
}


def _state(reading: ScreenReading, style: str) -> str:
    shape = state_shape(reading.text) if reading.status != "none" else "other"
    return (
        f'<svg class="gauge gauge-state state-{shape}" viewBox="0 0 20 20" aria-hidden="true" '
        f'focusable="false">\n  {STATE_SHAPES[shape]}\n</svg>'
    )


GAUGES: dict[str, Callable[[ScreenReading, str], str]] = {
    "radial": _radial,
    "bar": _bar,
    "onoff": _onoff,
    "state": _state,
}
