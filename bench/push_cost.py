"""What one live push costs in daphne, and on the wire: an HTML push against a compact frame.

    python bench/push_cost.py

For each screen style (plant tiles, line faceplates, machine gauges) a screen of ten float tags
takes pushes of all ten values, as `hmi.screens.Screen.render_push` does: held, read and then
drawn as the elements' HTML (before, `hmi.readings.reading_html`) or as one compact frame
(`hmi.live_frames.encode`). It prints the CPU time per frame and per value (process time, the
two ways interleaved round by round, so a busy machine slows both alike) and the bytes per
frame and per value. The frame is made once per screen and sent as it is to each of its tabs,
so its bytes go out once per tab.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only")

import django

django.setup()
from django.utils import timezone  # noqa: E402

from hmi import live_frames  # noqa: E402
from hmi.readings import reading_html  # noqa: E402
from hmi.screens import Screen  # noqa: E402
from plant import live  # noqa: E402
from plant.models import Tag  # noqa: E402

ROUNDS = 3000
ZONE = "Europe/Berlin"


def screen(kind: str) -> Screen:
    """A screen of ten float tags with a range and a normal band, the first with a setpoint."""
    shown = Screen(kind, 1, ZONE)  # type: ignore[arg-type]
    for i in range(10):
        shown.tags[i + 1] = Tag(pk=i + 1, key=f"t{i}", unit="bar", range_min=0, range_max=1000,
                                normal_min=100, normal_max=900, precision=1,
                                expected_interval_s=30, data_type="float")  # fmt: skip
    return shown


def values(n: int) -> list[live.TagValue]:
    """A push of all ten values, each newer than the last round's."""
    ts = datetime.now(UTC).timestamp() + n * 0.001
    return [live.TagValue(tag=i + 1, v=100.0 + i + (n % 700), ts=ts, q=0, sent=ts)
            for i in range(10)]  # fmt: skip


def html_push(shown: Screen, pushed: list[live.TagValue]) -> str:
    """The push as it was: each changed element's HTML."""
    changed = shown._apply(pushed)
    with timezone.override(shown.time_zone):
        return "".join(reading_html(shown.reading(pk), shown.style) for pk in changed)


def frame_push(shown: Screen, pushed: list[live.TagValue]) -> str:
    """The push as it is: one compact frame."""
    changed = shown._apply(pushed)
    readings = [shown.reading(pk) for pk in changed]
    return live_frames.encode(readings, shown.style, shown.zone, timezone.now())


def main() -> None:
    print(f"{ROUNDS} pushes of 10 values a screen; load average {os.getloadavg()[0]:.1f}")
    for kind in ("plant", "line", "machine"):
        ways = {"html": (html_push, screen(kind)), "frame": (frame_push, screen(kind))}
        cpu = dict.fromkeys(ways, 0.0)
        size = dict.fromkeys(ways, 0)
        for n in range(ROUNDS):
            pushed = values(n)
            for name, (push, shown) in ways.items():
                started = time.process_time()
                out = push(shown, pushed)
                cpu[name] += time.process_time() - started
                size[name] += len(out.encode())
        for name in ways:
            frame_us = cpu[name] / ROUNDS * 1e6
            print(
                f"{kind:>7} {name:>5}: {frame_us:6.0f} µs a frame, {frame_us / 10:5.1f} µs a "
                f"value; {size[name] / ROUNDS:6.0f} bytes a frame, {size[name] / ROUNDS / 10:4.0f}"
                " bytes a value"
            )


if __name__ == "__main__":
    main()
