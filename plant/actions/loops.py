"""The only code that changes control loops: their mode (journaled as ControlLoopEvent), the
output they last wrote, and the lease that lets one runner at a time drive each loop.

Like every action, a move is a conditional UPDATE with a row-count check, and the faceplate
hears of it (`loop.changed`) once the transaction has committed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from plant import alarming, live, setpoints
from plant.actions.setpoints import do_request_setpoint
from plant.models import (
    Alarm,
    ControlLoop,
    ControlLoopEvent,
    EmergencyAction,
    LatestValue,
    SetpointWrite,
    SpcSettings,
    Tag,
)
from plant.setpoints import Person


@transaction.atomic
def do_set_loop_mode(
    loop: ControlLoop, mode: str, *, by: Person | None, reason: str = "",
    now: datetime | None = None,
) -> bool:  # fmt: skip
    """Switch a loop between auto and manual and journal it; False if it already was.

    A person needs the right to write its output. Auto needs a usable measurement now;
    the system (by=None) drops a loop to manual when the measurement goes bad or stale.
    """
    now = now or timezone.now()
    if by is not None:
        setpoints.check_write_permission(by, loop.output_tag)
    if mode == ControlLoop.Mode.AUTO:
        check_loop_can_run(loop, now)
    old = ControlLoop.Mode.AUTO if mode == ControlLoop.Mode.MANUAL else ControlLoop.Mode.MANUAL
    note = reason or f"switched to {mode} by {by.get_username() if by else 'the system'}"
    if not ControlLoop.objects.filter(pk=loop.pk, mode=old).update(
        mode=mode, changed_at=now, note=note[:200]
    ):
        return False
    user = by if by is not None and by.is_authenticated else None
    ControlLoopEvent.objects.create(
        loop=loop, at=now, from_mode=old, to_mode=mode, user=user, reason=note[:200]
    )
    _publish_loop(loop.pk)
    return True


def check_loop_can_run(loop: ControlLoop, now: datetime) -> None:
    """Raise ValidationError if the loop's measurement or setpoint is unusable right now."""
    # A setpoint is published on change and as a slow heartbeat, so it is stale only later.
    sp_stale_s = max(loop.pv_stale_s, loop.sp_tag.expected_interval_s)
    for tag_id, what, stale_s in (
        (loop.pv_tag_id, "measurement", loop.pv_stale_s),
        (loop.sp_tag_id, "setpoint", sp_stale_s),
    ):
        latest = LatestValue.objects.filter(tag_id=tag_id).first()
        problem = setpoints.value_problem(latest, now, stale_s)
        if problem:
            raise ValidationError(f"Cannot switch to auto: the {what} {problem}.")
    emergency = emergency_holding(loop)
    if emergency is not None:
        raise ValidationError(
            f"Cannot switch to auto while the emergency alarm “{emergency.definition.message}” "
            "is active: its actions hold this loop's output. Switch back once it has cleared."
        )


def emergency_holding(loop: ControlLoop) -> Alarm | None:
    """An active emergency alarm of the loop's area (its output's line, or a line whose
    emergency actions write that output), or None."""
    areas = set(
        EmergencyAction.objects.filter(tag_id=loop.output_tag_id).values_list("line_id", flat=True)
    )
    areas.add(
        Tag.objects.filter(pk=loop.output_tag_id).values_list("machine__line_id", flat=True)[0]
    )
    return (
        Alarm.objects.filter(
            state__in=alarming.IN_ALARM, definition__runs_emergency_actions=True,
            definition__tag__machine__line_id__in=areas,
        )
        .select_related("definition")
        .first()
    )  # fmt: skip


def do_record_loop_output(loop_id: int, output: float, *, now: datetime) -> None:
    """Remember the output a loop just wrote, for its faceplate."""
    ControlLoop.objects.filter(pk=loop_id).update(output=output, output_at=now)
    _publish_loop(loop_id)


def do_lease_loop(loop_id: int, runner: str, *, now: datetime, lease_s: float) -> bool:
    """Take or renew the right to run a loop; False while another runner holds it."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(runner=runner)
    return bool(
        ControlLoop.objects.filter(free, pk=loop_id).update(
            runner=runner, lease_until=now + timedelta(seconds=lease_s)
        )
    )


def _publish_loop(loop_id: int) -> None:
    loop = ControlLoop.objects.select_related("output_tag__machine__line").get(pk=loop_id)
    live.send_on_commit(live.groups_of(loop.output_tag), live.loop_changed(loop))


def do_add_loop(output_tag: Tag, **fields: Any) -> ControlLoop:
    """The loop that writes `output_tag`, created with `fields` if there is none yet.

    An existing loop is returned as it is: its mode and tuning belong to its operators and
    admins (the demo loads its loop with this, and loading the demo again changes nothing).
    """
    loop, _ = ControlLoop.objects.get_or_create(output_tag=output_tag, defaults=fields)
    return loop


def do_apply_recommended_setpoint(
    spc: SpcSettings, target: float, *, reason: str
) -> SetpointWrite | None:
    """The system's own bounded move of a loop's setpoint towards the SPC's recommended target.

    Only where an admin enabled it (`loop_may_apply`): at most `max_loop_change` (and the
    setpoint tag's own largest step) at once, within its setpoint limits, as a write of the
    system through the audited path, so the audit trail shows it with its reason. None when
    there is nothing to move (no setpoint, no current value, already at the target).
    """
    setpoint = spc.tag.setpoint_tag
    if not spc.loop_may_apply or setpoint is None or not setpoint.writable:
        return None
    current = LatestValue.objects.filter(tag=setpoint).first()
    if current is None or current.value is None:
        return None
    value = bounded_move(current.value, target, spc.max_loop_change, setpoint)
    if abs(value - current.value) < 0.5 * 10.0**-setpoint.precision:
        return None
    return do_request_setpoint(setpoint, value, by=None, reason=reason[:200])


def bounded_move(current: float, target: float, most: float, setpoint: Tag) -> float:
    """From `current` towards `target` by at most `most` (and the tag's largest step), within
    the tag's setpoint limits, rounded to its precision (away from the limits it was cut at)."""
    if setpoint.max_step is not None:
        most = min(most, setpoint.max_step)
    value = current + max(-most, min(most, target - current))
    if setpoint.setpoint_min is not None:
        value = max(value, setpoint.setpoint_min)
    if setpoint.setpoint_max is not None:
        value = min(value, setpoint.setpoint_max)
    step = 10.0**-setpoint.precision
    rounded = round(value / step) * step
    return rounded if abs(rounded - current) <= most + 1e-9 else value
