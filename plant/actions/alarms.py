"""The only code that changes alarms and their journal: each do_* applies a rule of
plant.alarming, moves the alarm with a conditional UPDATE, journals the change, and pushes
`alarm.changed` on commit.

The UPDATE matches only if the alarm is still in the state the rule started from, so when two
supervisors acknowledge at once, or a supervisor and the engine race, exactly one wins and
exactly one journal entry is written; the loser learns it from the return value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from plant import alarming, live, system_health
from plant.actions.loops import do_set_loop_mode
from plant.actions.setpoints import do_request_setpoint
from plant.models import (
    Alarm,
    AlarmDefinition,
    AlarmJournalEntry,
    ConfigChange,
    ControlLoop,
    EmergencyAction,
    SetpointWrite,
)
from plant.queries import visible_plants
from plant.setpoints import Person

log = logging.getLogger(__name__)

ACK_PERMISSION = "plant.acknowledge_alarm"
SHELVE_PERMISSION = "plant.shelve_alarm"
MAX_SHELVE_S = 24 * 3600  # a shelf is temporary by definition (ISA-18.2); a day at most
ACTION_FAILED = "action_fail"  # a journal event that is not a change of state


def check_alarm_permission(user: Person, alarm: Alarm, permission: str) -> None:
    """Raise PermissionDenied unless the user holds `permission` in the alarm's plant."""
    if not user.is_active or not user.has_perm(permission):
        raise PermissionDenied("Only supervisors acknowledge and shelve alarms.")
    if not visible_plants(user).filter(pk=plant_id(alarm)).exists():
        raise PermissionDenied("This alarm belongs to another plant.")


def plant_id(alarm: Alarm) -> int:
    return int(alarm.definition.tag.machine.line.plant_id)


def status_of(alarm: Alarm) -> alarming.Status:
    """The stored alarm as the pure state machine sees it."""
    return alarming.Status(
        state=alarming.State(alarm.state),
        active=alarm.active,
        shelved_until=alarm.shelved_until.timestamp() if alarm.shelved_until else None,
        last_value=alarm.value,
    )


def _load(alarm_id: int) -> Alarm:
    return Alarm.objects.select_related("definition__tag__machine__line").get(pk=alarm_id)


@transaction.atomic
def do_acknowledge_alarm(alarm: Alarm, *, by: Person, comment: str = "") -> bool:
    """Acknowledge one alarm; False if it needs none (any more): someone else was first."""
    check_alarm_permission(by, alarm, ACK_PERMISSION)
    alarm = _load(alarm.pk)
    try:
        status, record = alarming.acknowledge(status_of(alarm), _now(), by.get_username(), comment)
    except alarming.IllegalTransition:
        return False
    return _apply(alarm, status, record, by=by)


def do_acknowledge_all(alarms: QuerySet[Alarm], *, by: Person, comment: str = "") -> int:
    """Acknowledge every unacknowledged alarm of `alarms`; return how many this call did."""
    waiting = alarms.filter(state__in=[alarming.State.UNACK, alarming.State.RTN_UNACK])
    done = 0
    for alarm in waiting.select_related("definition__tag__machine__line"):
        done += do_acknowledge_alarm(alarm, by=by, comment=comment)
    return done


@transaction.atomic
def do_shelve_alarm(alarm: Alarm, *, by: Person, reason: str, duration_s: float) -> bool:
    """Shelve an alarm for a while, with a reason; it returns on its own when the time is up."""
    check_alarm_permission(by, alarm, SHELVE_PERMISSION)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the alarm is shelved."})
    if not 0 < duration_s <= MAX_SHELVE_S:
        raise ValidationError({"duration_s": "Shelve for between a minute and 24 hours."})
    alarm = _load(alarm.pk)
    now = _now()
    try:
        status, record = alarming.shelve(
            status_of(alarm), now, now + duration_s, by.get_username(), reason[:200]
        )
    except alarming.IllegalTransition:
        return False
    return _apply(alarm, status, record, by=by, shelve_reason=reason[:200])


@transaction.atomic
def do_unshelve_alarm(alarm: Alarm, *, by: Person, comment: str = "") -> bool:
    """Return a shelved alarm before its time."""
    check_alarm_permission(by, alarm, SHELVE_PERMISSION)
    alarm = _load(alarm.pk)
    try:
        status, record = alarming.unshelve(status_of(alarm), _now(), by.get_username(), comment)
    except alarming.IllegalTransition:
        return False
    return _apply(alarm, status, record, by=by)


@transaction.atomic
def do_set_alarm_condition(
    alarm_id: int, active: bool, *, value: float | None, at: datetime
) -> alarming.Transition | None:
    """The engine decided the alarm's condition changed (by the system); journal what shows."""
    alarm = _load(alarm_id)
    status, records = alarming.set_condition(status_of(alarm), active, at.timestamp(), value)
    if not records:
        # Shelved or out of service: the condition is remembered for the return, not shown.
        Alarm.objects.filter(pk=alarm_id, state=alarm.state).update(active=active, value=value)
        return None
    return records[0] if _apply(alarm, status, records[0], by=None) else None


@transaction.atomic
def do_expire_shelf(alarm_id: int, *, now: datetime) -> bool:
    """A shelf's time is up: the alarm returns (unack if still active, else normal)."""
    alarm = _load(alarm_id)
    try:
        status, record = alarming.expire(status_of(alarm), now.timestamp())
    except alarming.IllegalTransition:
        return False
    return _apply(alarm, status, record, by=None)


@transaction.atomic
def do_sync_alarm_service(alarm_id: int, *, now: datetime) -> bool:
    """Follow the definition's `enabled`: take the alarm out of service, or back into it."""
    alarm = _load(alarm_id)
    status, enabled = status_of(alarm), alarm.definition.enabled
    suppressed = status.state == alarming.State.SUPPRESSED
    if enabled != suppressed:
        return False
    change = alarming.restore if enabled else alarming.suppress
    # The worker notices the change; the configuration history knows who made it.
    who = (
        ConfigChange.objects.filter(
            model="plant.alarmdefinition", object_id=str(alarm.definition_id),
            changes__has_key="enabled",
        ).order_by("-at", "-id").values_list("actor", "actor_user_id").first()
    )  # fmt: skip
    name, user_id = who or ("an admin", None)
    by = User.objects.filter(pk=user_id, username=name).first() if user_id else None
    status, record = change(
        status, now.timestamp(), name if by else None, f"definition changed by {name}"
    )
    return _apply(alarm, status, record, by=by)


def _apply(
    alarm: Alarm, status: alarming.Status, record: alarming.Transition, *, by: Person | None,
    shelve_reason: str = "",
) -> bool:  # fmt: skip
    """Move the row if it is still where the rule started; journal and push if it moved."""
    at = datetime.fromtimestamp(record.at, UTC)
    fields: dict[str, object] = {
        "state": status.state.value, "active": status.active, "value": status.last_value,
        "changed_at": at, "shelved_until": _when(status.shelved_until),
        "shelve_reason": shelve_reason,
    }  # fmt: skip
    if record.event == "activate" or (record.to_state == alarming.State.UNACK and status.active):
        fields["activated_at"] = at
    if not Alarm.objects.filter(pk=alarm.pk, state=record.from_state).update(**fields):
        return False
    user = by if by is not None and by.is_authenticated else None
    definition = alarm.definition
    AlarmJournalEntry.objects.create(
        alarm=alarm, tag_id=definition.tag_id, at=at, value=record.value,
        from_state=record.from_state, to_state=record.to_state, event=record.event,
        priority=definition.priority, message=definition.message, user=user,
        comment=record.comment[:200],
    )  # fmt: skip
    message = live.alarm_changed(alarm, record, at, user.get_username() if user else "system")
    live.send_on_commit([live.plant_group(message["plant"])], message)
    return True


def do_create_missing_alarms(definitions: Iterable[AlarmDefinition]) -> dict[int, Alarm]:
    """Give each definition its alarm row (normal) if it has none; return every alarm by its
    definition's id. One INSERT for all, so the engine's reload stays one round trip."""
    Alarm.objects.bulk_create(
        [Alarm(definition=definition) for definition in definitions], ignore_conflicts=True
    )
    return {alarm.definition_id: alarm for alarm in Alarm.objects.all()}


def do_drop_alarm_state(definition: AlarmDefinition) -> None:
    """Remove the state row of a definition about to be removed. Only a definition whose alarm
    has no journal is ever removed (plant.config_file's prune), so no history goes with it."""
    Alarm.objects.filter(definition=definition).delete()


def do_set_alarm_pending(alarm_id: int, since: datetime | None) -> None:
    """Remember when a delay started counting (None: it stopped), so a restart resumes it.

    The engine calls it only when a delay starts or stops, not on every sample.
    """
    Alarm.objects.filter(pk=alarm_id).update(pending_since=since)


# --- emergency actions ---------------------------------------------------------------------

EMERGENCY_RETRY_S = 5.0  # a failed or refused emergency write is tried again this often
UNDONE = (SetpointWrite.State.FAILED, SetpointWrite.State.TIMED_OUT, SetpointWrite.State.EXPIRED)
# Device clocks may run up to 5 minutes ahead (the worker refuses later values), and an
# alarm's activation takes the sample's time: writes this much before it still count.
ACTIVATION_SLACK = timedelta(minutes=5)


def do_run_emergency_actions(alarm: Alarm, now: datetime | None = None) -> list[SetpointWrite]:
    """Write the emergency actions of the alarm's area now, in the name of the system.

    Each goes through the audited setpoint path (plant.actions.setpoints) as an emergency
    write, which only the hard limits can refuse; a refusal is journaled on the alarm and
    raises a system alarm, and do_ensure_emergency_actions tries it again while the alarm
    stays active.
    """
    now = now or timezone.now()
    writes = [_attempt(alarm, action, now) for action in emergency_actions_of(alarm)]
    return [write for write in writes if write is not None]


def do_ensure_emergency_actions(alarm_id: int, now: datetime) -> bool:
    """While an emergency alarm is active, see that each of its actions stands.

    A write that failed, timed out or expired, or was refused, is journaled on the alarm,
    raises the system alarm `emergency.<pk>`, and is tried again every EMERGENCY_RETRY_S;
    the system alarm clears once every action is confirmed, or the alarm is no longer active.
    Returns whether the alarm is (still) active, i.e. worth watching.
    """
    alarm = _load(alarm_id)
    key = emergency_key(alarm)
    if alarm.state not in alarming.IN_ALARM or not alarm.definition.runs_emergency_actions:
        system_health.do_clear_system_alarm(key, now=now)
        return False
    standing = [_ensure(alarm, action, now) for action in emergency_actions_of(alarm)]
    if all(standing):
        system_health.do_clear_system_alarm(key, now=now)
    return True


def emergency_key(alarm: Alarm) -> str:
    return f"emergency.{alarm.pk}"


def emergency_reason(alarm: Alarm) -> str:
    """The reason of every emergency write: it names the alarm, as the audit trail shows."""
    return f"emergency: {alarm.definition.message}"


def emergency_actions_of(alarm: Alarm) -> QuerySet[EmergencyAction]:
    line_id = alarm.definition.tag.machine.line_id
    return EmergencyAction.objects.filter(line_id=line_id).select_related("tag__machine__line")


def _attempt(alarm: Alarm, action: EmergencyAction, now: datetime) -> SetpointWrite | None:
    """Take the loops that write the action's tag to manual, then write it; None if refused."""
    reason = emergency_reason(alarm)
    for loop in ControlLoop.objects.filter(output_tag_id=action.tag_id, mode="auto"):
        do_set_loop_mode(loop, "manual", by=None, reason=f"switched to manual: {reason}",
                                 now=now)  # fmt: skip
    try:
        return do_request_setpoint(action.tag, action.value, by=None, reason=reason, emergency=True)
    except ValidationError as exc:
        detail = "; ".join(exc.messages)
        log.error("emergency action %s refused: %s", action, detail)
        _journal_failure(alarm, action, f"refused: {detail}", now)
        return None


def _ensure(alarm: Alarm, action: EmergencyAction, now: datetime) -> bool:
    """True once the action's latest write is confirmed; else journal a failure, retry if due."""
    write = latest_emergency_write(alarm, action)
    if write is not None and write.state == SetpointWrite.State.CONFIRMED:
        return True
    if write is not None and not write.is_final:
        return False  # on its way to the device
    entries = AlarmJournalEntry.objects.filter(alarm=alarm, event=ACTION_FAILED)
    label = action_label(action)
    if write is not None and write.finished_at is not None:
        seen = entries.filter(comment__startswith=label, at__gte=write.finished_at).exists()
        if not seen:  # journaled once per write, however long the retry takes
            _journal_failure(alarm, action, f"{write.get_state_display()}: {write.detail}", now)
    refused = entries.filter(comment__startswith=f"{label}: refused")
    tried = [write.requested_at if write else None, refused.values_list("at", flat=True).first()]
    last = max((at for at in tried if at is not None), default=None)
    if last is None or (now - last).total_seconds() >= EMERGENCY_RETRY_S:
        _attempt(alarm, action, now)
    return False


def latest_emergency_write(alarm: Alarm, action: EmergencyAction) -> SetpointWrite | None:
    """The newest emergency write of this alarm's present activation to the action's tag."""
    since = (alarm.activated_at or alarm.changed_at or timezone.now()) - ACTIVATION_SLACK
    writes = SetpointWrite.objects.filter(
        tag_id=action.tag_id, user=None, reason=emergency_reason(alarm)[:200],
        requested_at__gte=since,
    )  # fmt: skip
    return writes.order_by("-requested_at", "-id").first()


def _journal_failure(alarm: Alarm, action: EmergencyAction, detail: str, now: datetime) -> None:
    """An emergency action that does not stand: on the alarm's journal, and a system alarm."""
    definition = alarm.definition
    comment = f"{action_label(action)}: {detail}"[:200]
    AlarmJournalEntry.objects.create(
        alarm=alarm, tag_id=definition.tag_id, at=now, value=action.value,
        from_state=alarm.state, to_state=alarm.state, event=ACTION_FAILED,
        priority=definition.priority, message=definition.message, user=None, comment=comment,
    )  # fmt: skip
    system_health.do_raise_system_alarm(
        emergency_key(alarm), f"Emergency action not done: {definition.message}"[:200],
        detail=comment, now=now,
    )  # fmt: skip


def action_label(action: EmergencyAction) -> str:
    """The action in words, e.g. "Ventilation fan ← on"; it starts the journal's comment."""
    tag = action.tag
    name = tag.description or tag.key
    if tag.data_type == tag.DataType.BOOL:
        shown = (tag.true_label or "on") if action.value else (tag.false_label or "off")
    else:
        shown = f"{action.value:g}"
    return f"{name} ← {shown}"


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def _now() -> float:
    return timezone.now().timestamp()
