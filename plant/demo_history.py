"""Past days of the demo plant, so its analytics screens show something on a fresh `make run`.

The remaining-life fit wants weeks of daily vibration averages, the energy baseline weeks of
days; a new demo has minutes. Each backfill writes only the days before its tags' first stored
value, so a second run, or one after live values came in, changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from plant.demo_energy import backfill_energy
from plant.demo_vibration import backfill_vibration
from plant.models import Plant

# Each takes the plant and a number of days and returns the rows it wrote.
BACKFILLS: dict[str, Callable[[Plant, int], int]] = {
    "vibration": backfill_vibration,
    "energy": backfill_energy,
}


def backfill_demo_history(plant: Plant, days: int) -> dict[str, int]:
    """Write `days` of past values of every backfilled part of the demo; rows written by part."""
    return {name: backfill(plant, days) for name, backfill in BACKFILLS.items()}
