"""The gas emergency screen of the alarm banner (hmi/fragments/emergency.html): for each open
emergency alarm the live gas values of its area, each emergency action's state and the time
since the alarm. Every page shows it through the banner, which alarms.js fetches again every
few seconds while an emergency is open (over HTTP, so it keeps speaking while Redis or the
websocket is down) and patches in place; an operator may collapse it to a banner strip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hmi.readings import ScreenReading, read_latest
from plant.emergency import ActionState, action_states, gas_tags
from plant.models import Alarm


@dataclass(frozen=True)
class Emergency:
    """One open emergency alarm as the screen shows it."""

    alarm: Alarm
    since: datetime
    elapsed: str  # e.g. "3 min 12 s": alarms.js counts it on every second
    gas: list[ScreenReading]
    actions: list[ActionState]

    @property
    def key(self) -> str:
        """Names this activation: a collapsed screen opens again for a new one."""
        return f"{self.alarm.pk}-{int(self.since.timestamp())}"

    @property
    def since_epoch(self) -> int:
        return int(self.since.timestamp())

    @property
    def time_zone(self) -> str:
        return self.alarm.definition.tag.machine.line.plant.time_zone


def emergency(alarm: Alarm, now: datetime) -> Emergency:
    """The screen of one emergency alarm; its definition__tag__machine__line__plant is
    preloaded."""
    since = alarm.activated_at or alarm.changed_at or now
    return Emergency(
        alarm=alarm,
        since=since,
        elapsed=elapsed_words((now - since).total_seconds()),
        gas=[read_latest(tag, now) for tag in gas_tags(alarm)],
        actions=action_states(alarm),
    )


def elapsed_words(seconds: float) -> str:
    """A duration as the screen says it: "45 s", "3 min 12 s", "2 h 05 min" (alarms.js says
    it the same way)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
