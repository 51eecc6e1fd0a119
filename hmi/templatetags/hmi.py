"""Template tags of the screens: a tag's value with its gauge, sparklines, value formatting.

A value and its gauge are drawn by hmi.readings (plain Python, shared with the live push); the
sparkline, drawn only when a screen loads, keeps its template in templates/hmi/gauges/.
"""

from __future__ import annotations

import json
from datetime import datetime

from django import template
from django.conf import settings
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from hmi import readings
from hmi.screen_queries import SparkPoint
from plant import alarming
from plant.models import Tag

register = template.Library()

# Sparkline: a 200 by 40 box.
SPARK_W, SPARK_H = 200.0, 40.0


@register.simple_tag
def reading(value: readings.ScreenReading, style: str) -> SafeString:
    """The element of one value with its gauge; `style` is mini, bar or radial."""
    return SafeString(readings.reading_html(value, style))


@register.simple_tag
def sparkline(tag: Tag, points: list[SparkPoint], now: datetime, window_s: int) -> SafeString:
    """A sparkline of `points` over the last `window_s` seconds; hmi.js extends it on pushes."""
    context = {
        "tag": tag,
        "window_s": window_s,
        "points": spark_points(points, now, window_s),
        "data": json.dumps([[int(p.at.timestamp() * 1000), p.value] for p in points]),
    }
    return SafeString(render_to_string("hmi/gauges/sparkline.svg.html", context))


def spark_points(points: list[SparkPoint], now: datetime, window_s: int) -> str:
    """The polyline of a sparkline, scaled to its own range (hmi.js scales the same way)."""
    if not points:
        return ""
    values = [p.value for p in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    start = now.timestamp() - window_s
    return " ".join(
        f"{max(0.0, (p.at.timestamp() - start) / window_s * SPARK_W):.1f},"
        f"{SPARK_H - 2 - (p.value - low) / span * (SPARK_H - 4):.1f}"
        for p in points
    )


register.filter("clock", readings.clock)
register.filter("number", readings.number)
register.filter("alarm_state", alarming.state_label)
register.filter("alarm_event", alarming.event_label)


@register.simple_tag
def sso_provider() -> str:
    """The name of the plant's identity provider when single sign-on is set up, else ""."""
    return str(settings.OIDC_PROVIDER_NAME) if settings.OIDC_ISSUER else ""
