"""How long drawing one tag's value (its element and gauge) takes, per screen style.

    python bench/render_readings.py

A live push redraws every changed value of a screen, several times a second for every screen
open in a daphne process, so this cost bounds how many screens one process can feed. Prints
the time per value drawn by `hmi.readings.reading_html` (what a push does) and through the
page's template include (what a page load does).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "false")  # the cached template loader, as in production
os.environ.setdefault("SECRET_KEY", "bench-only")

import django

django.setup()
from django.template.loader import render_to_string  # noqa: E402
from django.utils import timezone  # noqa: E402

from hmi.readings import STYLES, ScreenReading, read_value, reading_html  # noqa: E402
from plant.models import Tag, VibrationMonitor  # noqa: E402

ROUNDS = 2000


def sample_readings(zones: bool = False) -> list[ScreenReading]:
    """Ten analog values of a machine, one with a setpoint marker, as a machine screen has;
    with `zones`, each a vibration tag whose ISO 10816-3 zones the gauge draws."""
    now = timezone.now()
    readings = []
    for i in range(10):
        tag = Tag(pk=i + 1, key=f"t{i}", unit="bar", range_min=0, range_max=1000,
                  normal_min=100, normal_max=900, precision=1, expected_interval_s=30,
                  data_type="float")  # fmt: skip
        if zones:  # as reading_tags() reads it: the monitor with the tag
            tag.vibration_monitor = VibrationMonitor(machine_group=1, foundation="flexible")
        readings.append(
            read_value(tag, value=500.5 + i, text=None, quality=0, time=now, now=now,
                       good_at=now - timedelta(seconds=1), setpoint=480.0 if i == 0 else None)
        )  # fmt: skip
    return readings


def per_value_us(draw: Callable[[], object], values: int) -> float:
    started = time.perf_counter()
    for _ in range(ROUNDS):
        draw()
    return (time.perf_counter() - started) / ROUNDS / values * 1e6


def draw_all(readings: list[ScreenReading], style: str) -> str:
    return "".join(reading_html(reading, style) for reading in readings)


def main() -> None:
    readings = sample_readings()
    with timezone.override("Europe/Berlin"):
        for style in STYLES:
            context = {"readings": readings, "gauge": style, "sparks": []}
            direct = per_value_us(partial(draw_all, readings, style), len(readings))
            page = per_value_us(
                partial(render_to_string, "hmi/fragments/tag_values.html", context), len(readings)
            )
            print(f"{style:>6}: push {direct:5.1f} µs a value, page include {page:5.1f} µs a value")
        zoned = sample_readings(zones=True)
        for style in ("bar", "radial"):
            direct = per_value_us(partial(draw_all, zoned, style), len(zoned))
            print(f"{style:>6} with vibration zones: push {direct:5.1f} µs a value")


if __name__ == "__main__":
    main()
