"""Control charts drawn as SVG on the server (the I-MR and X̄–R charts of the quality screen).

ISA-101's way: grey lines on the panel's grey, the centre line solid and the control limits
dashed, labelled with their values; only a point that breaks a rule stands out, drawn as a
diamond in the alarm colour and named in its tooltip, so it reads without colour too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 720, 170
LEFT, RIGHT, TOP, BOTTOM = 8, 92, 10, 12  # room for the limits' labels on the right


@dataclass(frozen=True)
class Chart:
    """One control chart: its points, centre and limits, and the points that break a rule."""

    chart_id: str
    title: str
    points: Sequence[float]
    center: float
    ucl: float
    lcl: float | None
    precision: int = 1
    flagged: dict[int, str] = field(default_factory=dict)  # point index → the rules, in words


def svg(chart: Chart) -> SafeString:
    """The chart as inline SVG, with a title for screen readers."""
    values = [*chart.points, chart.center, chart.ucl, *([chart.lcl] if chart.lcl is not None
                                                        else [])]  # fmt: skip
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or 1.0
    low, high = low - pad, high + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / max(len(chart.points) - 1, 1))

    def y(v: float) -> float:
        return TOP + plot_h * (high - v) / (high - low)

    lines = [("cl", chart.center, "CL"), ("ucl", chart.ucl, "UCL")]
    if chart.lcl is not None:
        lines.append(("lcl", chart.lcl, "LCL"))
    # Numbers go in as text: format_html escapes its arguments before formatting them.
    limits = format_html_join(
        "", '<line class="spc-{}" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="spc-label" x="{}" y="{}">{} {}</text>',
        ((kind, LEFT, LEFT + plot_w, f"{y(v):.1f}", f"{y(v):.1f}", LEFT + plot_w + 4,
          f"{y(v) + 4:.1f}", label, f"{v:.{chart.precision + 1}f}") for kind, v, label in lines),
    )  # fmt: skip
    path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(chart.points))
    marks = format_html_join(
        "", '<path class="spc-flag" d="M{} {}l5 5l-5 5l-5 -5z"><title>{}</title></path>',
        ((f"{x(i):.1f}", f"{y(chart.points[i]) - 5:.1f}", f"point {i + 1}: {text}")
         for i, text in sorted(chart.flagged.items()) if i < len(chart.points)),
    )  # fmt: skip
    line = format_html('<polyline class="spc-line" points="{}"/>', path) if path else ""
    return format_html(
        '<svg id="{}" class="spc-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-t">'
        '<title id="{}-t">{}</title>{}{}{}</svg>',
        chart.chart_id, WIDTH, HEIGHT, chart.chart_id, chart.chart_id, chart.title, limits,
        line, marks,
    )  # fmt: skip


def empty(message: str) -> SafeString:
    return format_html('<p class="muted spc-empty">{}</p>', message)
