"""Gauge geometry for the SVG templates in templates/hmi/gauges/, and small display helpers.

Each gauge is drawn by its own template; the numbers it needs (arc paths, positions) are
computed here, so templates stay declarative and a push draws exactly what a page load does.
Positions arrive as fractions (0..1) of the tag's engineering range (plant.queries.Reading).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString

from plant.models import Tag
from plant.queries import Reading

register = template.Library()

# Radial gauge: a 240° arc open at the bottom, in a 120 by 96 box.
CX, CY, R = 60.0, 54.0, 42.0
START_DEG, SWEEP_DEG = 150.0, 240.0
# Bar gauge: a horizontal track in a 200-wide box.
BAR_W = 200.0
# Sparkline: a 200 by 40 box.
SPARK_W, SPARK_H = 200.0, 40.0
# Words that make a state abnormal (drawn inverted with a warning shape).
FAULT_WORDS = ("fault", "error", "alarm", "trip", "emergency", "estop")
RUN_WORDS = ("run", "auto", "on", "producing", "filling")
STOP_WORDS = ("stop", "idle", "off", "ready", "standby", "paused", "manual")


def polar(fraction: float, radius: float = R) -> tuple[float, float]:
    """The point at `fraction` of the radial gauge's sweep, `radius` from its centre."""
    angle = math.radians(START_DEG + SWEEP_DEG * fraction)
    return round(CX + radius * math.cos(angle), 2), round(CY + radius * math.sin(angle), 2)


def arc(start: float, end: float, radius: float = R) -> str:
    """An SVG path along the gauge's arc from one fraction of the sweep to another."""
    (x0, y0), (x1, y1) = polar(start, radius), polar(end, radius)
    large = 1 if SWEEP_DEG * (end - start) > 180 else 0
    return f"M{x0} {y0}A{radius} {radius} 0 {large} 1 {x1} {y1}"


def gauge_kind(tag: Tag, style: str) -> str:
    """Which gauge template draws `tag` in a screen of `style` ("" for a bare readout)."""
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


@register.simple_tag
def gauge(reading: Reading, style: str) -> SafeString:
    """Draw the gauge or indicator of one reading; `style` is mini, bar or radial."""
    kind = gauge_kind(reading.tag, style)
    if not kind:
        return SafeString("")
    context: dict[str, Any] = {"reading": reading, "mini": style == "mini"}
    context.update(GEOMETRY[kind](reading, style))
    return SafeString(render_to_string(f"hmi/gauges/{kind}.svg.html", context))


def _radial(reading: Reading, style: str) -> dict[str, Any]:
    band = reading.band
    position, setpoint = reading.position, reading.setpoint_position
    x0, y0 = polar(0, R + 11)
    x1, y1 = polar(1, R + 11)
    return {
        "track": arc(0, 1),
        "band": arc(*band) if band and band[1] > band[0] else "",
        "pointer": _radial_pointer(position) if position is not None else None,
        "setpoint": _radial_marker(setpoint) if setpoint is not None else "",
        "low": (x0, y0 + 4),
        "high": (x1, y1 + 4),
    }


def _radial_pointer(position: float) -> tuple[float, float, float, float]:
    return (*polar(position, R - 13), *polar(position, R + 6))


def _radial_marker(position: float) -> str:
    """A hollow triangle outside the arc pointing at the setpoint."""
    tip = polar(position, R + 5)
    left = polar(position - 0.025, R + 13)
    right = polar(position + 0.025, R + 13)
    return " ".join(f"{x},{y}" for x, y in (tip, left, right))


def _bar(reading: Reading, style: str) -> dict[str, Any]:
    band = reading.band
    position, setpoint = reading.position, reading.setpoint_position
    return {
        "band": (band[0] * BAR_W, (band[1] - band[0]) * BAR_W) if band else None,
        "pointer": None if position is None else round(position * BAR_W, 1),
        "setpoint": "" if setpoint is None else _bar_marker(setpoint * BAR_W),
    }


def _bar_marker(x: float) -> str:
    """A hollow triangle above the track pointing down at the setpoint."""
    return f"{x:.1f},9 {x - 4.5:.1f},1 {x + 4.5:.1f},1"


def _onoff(reading: Reading, style: str) -> dict[str, Any]:
    return {"on": reading.value is not None and bool(reading.value)}


def _state(reading: Reading, style: str) -> dict[str, Any]:
    return {"shape": state_shape(reading.text) if reading.status != "none" else "other"}


GEOMETRY = {"radial": _radial, "bar": _bar, "onoff": _onoff, "state": _state}


@register.simple_tag
def sparkline(
    tag: Tag, points: list[tuple[datetime, float]], now: datetime, window_s: int
) -> SafeString:
    """A sparkline of `points` over the last `window_s` seconds; hmi.js extends it on pushes."""
    context = {
        "tag": tag,
        "window_s": window_s,
        "points": spark_points(points, now, window_s),
        "data": json.dumps([[int(t.timestamp() * 1000), v] for t, v in points]),
    }
    return SafeString(render_to_string("hmi/gauges/sparkline.svg.html", context))


def spark_points(points: list[tuple[datetime, float]], now: datetime, window_s: int) -> str:
    """The polyline of a sparkline, scaled to its own range (hmi.js scales the same way)."""
    if not points:
        return ""
    values = [v for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    start = now.timestamp() - window_s
    return " ".join(
        f"{max(0.0, (t.timestamp() - start) / window_s * SPARK_W):.1f},"
        f"{SPARK_H - 2 - (v - low) / span * (SPARK_H - 4):.1f}"
        for t, v in points
    )


@register.filter
def clock(value: datetime | None) -> str:
    """A time of day in the active time zone, with the date when it is not today."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    if local.date() == timezone.localtime().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%d %b %H:%M")


@register.filter
def number(value: float | None) -> str:
    """A scale label: no trailing zeros, no localisation (SVG wants a plain number)."""
    return "" if value is None else f"{value:g}"
