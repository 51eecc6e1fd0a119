"""The demand job of the ingest worker: each plant's predicted demand, every 10 s, as a value
of its derived tag (plant.energy_alarm), through the derived-value path (ingest.derived), so the
alarm engine raises its alarm before the contracted peak.

A restarted worker fills the gap from where its cursor stopped (at most the last demand
interval, every 10 s): the prediction at an instant reads only the meters' readings up to it,
so it is computed again exactly as it would have been, as far as the readings had arrived.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ingest.derived import DerivedValue, Output
from plant.energy_history import demand_now
from plant.models import PlantEnergy

PERIOD_S = 10.0


class DemandJob:
    """Writes every configured plant's predicted demand at the end of its current block."""

    name = "energy-demand"
    period_s = PERIOD_S

    def run(self, now: datetime, cursors: Mapping[str, Any]) -> Output:
        output = Output()
        contracts = PlantEnergy.objects.filter(predicted_demand_tag__isnull=False)
        for contract in contracts.select_related("plant"):
            key = str(contract.plant_id)
            for at in self._instants(contract, now, cursors.get(key)):
                found = demand_now(contract.plant, contract.interval_s, at)
                if found is not None and contract.predicted_demand_tag_id is not None:
                    output.values.append(DerivedValue(contract.predicted_demand_tag_id, at,
                                                      round(found.predicted_kw, 3)))  # fmt: skip
            output.cursors[key] = now.isoformat()
        return output

    def _instants(self, contract: PlantEnergy, now: datetime, cursor: str | None) -> list[datetime]:
        """Now, and the instants since the cursor that a stopped worker left out."""
        step = timedelta(seconds=PERIOD_S)
        earliest = now - timedelta(seconds=contract.interval_s)
        since = datetime.fromisoformat(cursor) if cursor else now - step
        at = max(since + step, earliest)
        found = []
        while at < now:
            found.append(at)
            at += step
        return [*found, now]
