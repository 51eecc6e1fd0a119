"""The filler's state for the simulator: running, or stopped by a fault (for the OEE screens).

Pure and repeatable for a seed, like the plant model that steps it. While `filler_stops` is
active the filler stops by itself now and then, as a real one does: mostly short stops (a
jammed bottle, 10-90 s: microstops), now and then a longer one (starved or blocked for
3-6 minutes), on average one stop every two minutes of running.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

HELD = {"filler_stop": "fault", "starved": "starved", "slow": "slow"}  # fault → state
MEAN_RUN_S = 120.0
SHORT_STOP_S, LONG_STOP_S = (10.0, 90.0), (180.0, 360.0)
LONG_SHARE = 0.15


class FillerStops:
    """Decides the filler's state each step: a held fault's, or its own stops, or running."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.stopped_until = 0.0
        self.stop_state = "running"
        self.next_stop_at: float | None = None

    def state(self, t: float, faults: Mapping[str, float]) -> str:
        """The state at simulated time `t`, given the active faults."""
        for fault, held in HELD.items():
            if fault in faults:
                return held
        if "filler_stops" not in faults:
            self.next_stop_at = None
            return "running"
        if t < self.stopped_until:
            return self.stop_state
        if self.next_stop_at is None:
            self.next_stop_at = t + self.rng.expovariate(1 / MEAN_RUN_S)
        if t >= self.next_stop_at:
            self._stop(t)
            return self.stop_state
        return "running"

    def _stop(self, t: float) -> None:
        if self.rng.random() < LONG_SHARE:
            self.stop_state = self.rng.choice(["starved", "blocked"])
            low, high = LONG_STOP_S
        else:
            self.stop_state = "jammed"
            low, high = SHORT_STOP_S
        self.stopped_until = t + self.rng.uniform(low, high)
        self.next_stop_at = self.stopped_until + self.rng.expovariate(1 / MEAN_RUN_S)
