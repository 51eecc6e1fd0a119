"""How the OEE screens write their figures: shares as percentages, seconds as durations."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """0.7938 as "79.4 %"; a dash for no value."""
    return "—" if value is None else f"{value * 100:.1f} %"


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds as a person reads them: "45 s", "12 min 5 s", "3 h 07 min"."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


@register.filter
def svg_number(value: float) -> str:
    """A number for an SVG attribute: a dot for the decimal point in every language."""
    return f"{value:.3f}"


@register.filter
def svg_inverse(value: float) -> str:
    """A height in % as the y of its top in a 0..105 viewBox drawn from the bottom (105)."""
    return f"{105 - value:.3f}"
