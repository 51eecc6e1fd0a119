"""The predicted-demand tag of a plant and its alarms: an alarm before the contracted peak.

The ingest worker's demand job (ingest/energy_job.py) writes the current block's predicted
demand (plant.energy's predictor) to a derived tag (plant.derived) beside the plant's meter, so
the alarm before the peak is an ordinary alarm definition the existing alarm engine evaluates:
high at the warning (the peak less the margin), high-high at the peak itself.
"""

from __future__ import annotations

from django.db import transaction

from plant.actions.alarms import do_create_missing_alarms
from plant.derived import ensure_derived_tag
from plant.energy_history import scopes
from plant.models import AlarmDefinition, PlantEnergy, Tag

JOB = "energy-demand"
KEY = "predicted_demand"


@transaction.atomic
def ensure_demand_alarm(contract: PlantEnergy) -> Tag | None:
    """The plant's predicted-demand tag and its two alarms, their limits from the contract;
    None while the plant has no meter to put the tag beside."""
    found = scopes(contract.plant)
    if not found or not found[-1].meters:
        return None
    source = found[-1].meters[0].energy_tag
    tag = ensure_derived_tag(
        source.machine, KEY, job=JOB, source=source, data_type=Tag.DataType.FLOAT, unit="kW",
        description="Predicted demand at the end of the demand block", precision=1,
        expected_interval_s=60,
    )  # fmt: skip
    if contract.predicted_demand_tag_id != tag.pk:
        PlantEnergy.objects.filter(pk=contract.pk).update(predicted_demand_tag=tag)
        contract.predicted_demand_tag = tag
    band = contract.contracted_peak_kw * 0.01  # a block's prediction wanders: 1 % to clear
    definitions = []
    for kind, limit, priority, message in (
        ("h", contract.warning_kw, "high", "Demand heading for the contracted peak"),
        ("hh", contract.contracted_peak_kw, "critical", "Demand over the contracted peak"),
    ):
        definition, _ = AlarmDefinition.objects.update_or_create(
            tag=tag, kind=kind,
            defaults={"limit": limit, "deadband": band, "priority": priority,
                      "message": message,
                      "response": "Delay or shed loads that can wait (compressors, chillers, "
                                  "heaters) until the next block starts."},
        )  # fmt: skip
        definition.full_clean()
        definitions.append(definition)
    do_create_missing_alarms(definitions)
    return tag
