"""What the gas emergency screen shows of an emergency alarm: the values of its area's gas
tags, where each of its area's emergency actions stands in this activation, and since when.

Read only: the actions are written, retried and journaled by plant.actions.alarms, whose
rules (which write belongs to which activation, how an action reads in words) this shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.db.models import QuerySet

from plant.actions.alarms import (
    ACTION_FAILED,
    ACTIVATION_SLACK,
    action_label,
    emergency_actions_of,
    latest_emergency_write,
)
from plant.models import Alarm, AlarmJournalEntry, EmergencyAction, SetpointWrite, Tag

# How an action stands: not yet on its way, on its way (sent, no readback yet), confirmed by
# the device's readback, or failed (refused, read back otherwise, timed out, expired: retried).
Standing = Literal["waiting", "sent", "confirmed", "failed"]
OPEN_WORDS: dict[str, tuple[Standing, str]] = {
    SetpointWrite.State.PENDING: ("waiting", "waiting to be sent"),
    SetpointWrite.State.SENT: ("sent", "sent, waiting for the device to confirm"),
}


@dataclass(frozen=True)
class ActionState:
    """One emergency action as the screen shows it: its words, state and the time of it."""

    action: EmergencyAction
    label: str  # e.g. "Ventilation fan ← on"
    state: Standing
    words: str  # e.g. "confirmed by the device", "timed out (no readback); tried again"
    at: datetime | None


def action_states(alarm: Alarm) -> list[ActionState]:
    """Each emergency action of the alarm's area, in order, as it stands in this activation;
    the alarm's definition__tag__machine is preloaded."""
    return [_state(alarm, action) for action in emergency_actions_of(alarm)]


def _state(alarm: Alarm, action: EmergencyAction) -> ActionState:
    label = action_label(action)
    write = latest_emergency_write(alarm, action)
    if write is None:
        refusal = _refusal(alarm, label)
        if refusal is not None:
            why = refusal.comment[len(label) + 2 :]  # the comment is "<label>: refused: …"
            return ActionState(action, label, "failed", f"{why}; tried again", refusal.at)
        return ActionState(action, label, "waiting", "not sent yet", None)
    if write.state in OPEN_WORDS:
        state, words = OPEN_WORDS[write.state]
        return ActionState(action, label, state, words, write.sent_at or write.requested_at)
    if write.state == SetpointWrite.State.CONFIRMED:
        return ActionState(action, label, "confirmed", "confirmed by the device", write.finished_at)
    detail = f" ({write.detail})" if write.detail else ""
    words = f"{write.get_state_display()}{detail}; tried again"  # failed, timed out, expired
    return ActionState(action, label, "failed", words, write.finished_at)


def _refusal(alarm: Alarm, label: str) -> AlarmJournalEntry | None:
    """The newest refusal of this action journaled in this activation, if any."""
    since = alarm.activated_at or alarm.changed_at
    entries = AlarmJournalEntry.objects.filter(
        alarm=alarm, event=ACTION_FAILED, comment__startswith=f"{label}: refused"
    )
    if since is not None:
        entries = entries.filter(at__gte=since - ACTIVATION_SLACK)
    return entries.order_by("-at", "-id").first()


def gas_tags(alarm: Alarm) -> QuerySet[Tag]:
    """The tags of the alarm's area whose alarms run emergency actions (the gas detectors),
    with their latest values."""
    line_id = alarm.definition.tag.machine.line_id
    return (
        Tag.objects.filter(machine__line_id=line_id, alarm_definitions__runs_emergency_actions=True)
        .distinct()
        .select_related("latest", "setpoint_tag__latest")
        .order_by("machine__position", "id")
    )
