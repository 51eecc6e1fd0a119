"""The alarms of a vibration monitor: its machine class becomes the tag's zone C and D alarms.

They are ordinary alarm definitions (high at the B/C boundary, high-high at C/D), evaluated
by the ingest worker's alarm engine like any other, which reloads them when they change.
"""

from __future__ import annotations

from django.db import transaction

from plant import vibration
from plant.actions.alarms import do_create_missing_alarms
from plant.models import AlarmDefinition, VibrationMonitor

RESPONSES = {
    vibration.Zone.C: "Not for long-term operation: plan a bearing and alignment inspection, "
    "and the repair at the next planned stop.",
    vibration.Zone.D: "Vibration this high damages the machine: reduce its load or stop it, "
    "and call maintenance now.",
}


def zone_message(monitor: VibrationMonitor, alarm: vibration.ZoneAlarm) -> str:
    tag = monitor.tag
    name = tag.description or tag.key
    return (f"{tag.machine.name}: {name} in zone {alarm.zone} (from {alarm.limit:g} mm/s, "
            f"ISO 10816-3 {monitor.class_label})")[:200]  # fmt: skip


@transaction.atomic
def do_apply_vibration_class(monitor: VibrationMonitor) -> list[AlarmDefinition]:
    """Create or update the zone alarms of the monitor's tag from its class; return them.

    The class owns each alarm's limit, deadband, on-delay and priority, so a definition of
    the same kind already on the tag (a hand-made high alarm) takes them over. The message
    and response are written when an alarm is made and then left as an admin edits them;
    `enabled` stays as it is (an alarm taken out of service stays out). A definition that
    already matches is not saved again, so applying twice records nothing.
    """
    tag = monitor.tag
    definitions = []
    for alarm in vibration.zone_alarms(monitor.boundaries):
        owned = {"limit": alarm.limit, "deadband": alarm.deadband,
                 "on_delay_s": monitor.on_delay_s, "priority": alarm.priority}  # fmt: skip
        definition = AlarmDefinition.objects.filter(tag=tag, kind=alarm.kind).first()
        if definition is None:
            definition = AlarmDefinition(
                tag=tag, kind=alarm.kind, message=zone_message(monitor, alarm),
                response=RESPONSES[alarm.zone], **owned,
            )  # fmt: skip
            definition.full_clean()
            definition.save()
        else:
            changed = [name for name, value in owned.items() if getattr(definition, name) != value]
            if changed:
                for name in changed:
                    setattr(definition, name, owned[name])
                definition.full_clean()
                definition.save(update_fields=[*changed, "updated_at"])
        definitions.append(definition)
    do_create_missing_alarms(definitions)
    return definitions
