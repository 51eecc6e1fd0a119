"""The OEE tests' data: the issue's worked check as stored samples of the demo filler."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from plant.models import OeeMachine, Quality, Sample, Tag

BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2026, 12, 2)
SHIFT_START = datetime(2026, 12, 2, 5, tzinfo=UTC)  # Early: 06:00 in Berlin


def at(minutes: float) -> datetime:
    return SHIFT_START + timedelta(seconds=round(minutes * 60, 6))


def record(tag: Tag, *points: tuple[float, object], quality: int = Quality.GOOD) -> None:
    rows = []
    for minutes, value in points:
        text = value if isinstance(value, str) else None
        number = None if isinstance(value, str) else float(value)  # type: ignore[arg-type]
        rows.append(Sample(tag=tag, time=at(minutes), value=number, text=text, quality=quality))
    Sample.objects.bulk_create(rows)


def worked_example(filler: OeeMachine) -> None:
    """The issue's check as samples: 45 min of unplanned stops, 72,900 made, 71,442 good."""
    state = filler.state_tag
    # Every 5 s a sample, as the simulator sends: the state holds between them.
    minutes = [m / 12 for m in range(-12, 480 * 12)]
    timeline = {0: "running", 60: "fault", 90: "running", 240: "break", 270: "running",
                400: "starved", 415: "running"}  # fmt: skip
    current, points = "running", []
    for m in minutes:
        current = timeline.get(int(m), current) if m == int(m) else current
        points.append((m, current))
    record(state, *points)
    record(filler.produced_tag, (-1, 10_000), (200, 40_000), (479.9, 82_900))
    record(filler.rejected_tag, (-1, 100), (479.9, 100 + 72_900 - 71_442))  # type: ignore[arg-type]
