"""The rules a setpoint write must pass, and how a write and a loop read on a screen.

`check_setpoint` raises ValidationError with messages an operator can act on; the form shows
them next to the field and plant.actions.setpoints calls it again inside the write's
transaction.
The live messages of writes and loops are built in plant.live.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError

from plant import control
from plant.models import ControlLoop, LatestValue, Quality, Tag
from plant.queries import format_value, visible_plants

WRITE_PERMISSION = "plant.write_setpoint"
WRITE_EXPIRY_S = 10.0  # a write not handed to the broker within this is never sent
READBACK_TIMEOUT_S = 5.0  # after the broker has it, how long the device has to read it back
# At most one write per tag this often: stops double submits and runaway scripts, while a
# control loop stepping once a second is never refused.
MIN_WRITE_INTERVAL_S = 0.5

Person = User | AnonymousUser


def check_write_permission(user: Person, tag: Tag) -> None:
    """Raise PermissionDenied unless the user may write setpoints in the tag's plant."""
    if not user.is_active or not user.has_perm(WRITE_PERMISSION):
        raise PermissionDenied("You may not write setpoints.")
    plant_id = tag.machine.line.plant_id
    if not visible_plants(user).filter(pk=plant_id).exists():
        raise PermissionDenied("You may not write setpoints in this plant.")


def parse_value(tag: Tag, raw: str) -> float:
    """The typed-in value as the historian stores it (bools 0/1); ValidationError if it is not."""
    text = raw.strip().lower()
    if tag.data_type == Tag.DataType.BOOL:
        truthy = {"1", "true", "on", (tag.true_label or "on").lower()}
        falsy = {"0", "false", "off", (tag.false_label or "off").lower()}
        if text in truthy | falsy:
            return 1.0 if text in truthy else 0.0
        raise ValidationError(f"Choose {tag.true_label or 'on'} or {tag.false_label or 'off'}.")
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise ValidationError("Enter a number.") from None
    if not math.isfinite(value):
        raise ValidationError("Enter a finite number.")
    return value


def check_setpoint(
    tag: Tag, value: float, *, current: LatestValue | None, last_at: datetime | None,
    by: Person | None, now: datetime, emergency: bool = False,
) -> None:  # fmt: skip
    """Raise ValidationError (one message, for the value field) if this write is not allowed.

    An emergency write (an emergency action, by the system) passes only the hard limits:
    what the device accepts (writable, type, setpoint limits). The step, the rate and a loop
    in auto protect against an operator's slip, and must not hold back a gas-leak response.
    """
    if not math.isfinite(value):
        raise ValidationError(f"{value} is not a number that can be written: nothing was sent.")
    if not tag.writable:
        raise ValidationError(f"{_name(tag)} is not writable.")
    if problem := _type_problem(tag, value):
        raise ValidationError(problem)
    _check_limits(tag, value)
    if emergency:
        return
    _check_step(tag, value, current)
    if last_at is not None and (now - last_at).total_seconds() < MIN_WRITE_INTERVAL_S:
        raise ValidationError(
            f"{_name(tag)} was written {(now - last_at).total_seconds():.1f} s ago: "
            f"wait {MIN_WRITE_INTERVAL_S:g} s between writes to one tag."
        )
    if by is not None:
        _check_no_loop_in_auto(tag)


def send_problem(tag: Tag, value: float) -> str:
    """Why a queued write may not be published to the tag as it is now, or "" if it may.

    The setpoint writer asks just before it publishes: an admin may have changed the tag
    since the request, and an outbox row may not have come through do_request_setpoint.
    Only the hard limits are checked again (writable, type, setpoint limits), which every
    write must pass, emergency or not; the step and the rate were checked at the request.
    """
    if not math.isfinite(value):
        return f"{value} is not a number that can be written: not sent"
    if not tag.writable:
        return "the tag was made read-only before it was sent: not sent"
    if _type_problem(tag, value):
        label = tag.get_data_type_display()
        return f"the tag's data type is now {label}, which {value:g} does not fit: not sent"
    if not _within_limits(tag, value):
        return f"the tag's limits changed to {limits_text(tag)} before it was sent: not sent"
    return ""


def _type_problem(tag: Tag, value: float) -> str:
    if tag.data_type == Tag.DataType.STRING:
        return "Text setpoints cannot be written from the HMI."
    if tag.data_type == Tag.DataType.BOOL and value not in (0.0, 1.0):
        return "A switch is either on (1) or off (0)."
    if tag.data_type == Tag.DataType.INT and not float(value).is_integer():
        return "Enter a whole number."
    return ""


def _within_limits(tag: Tag, value: float) -> bool:
    low, high = tag.setpoint_min, tag.setpoint_max
    return not ((low is not None and value < low) or (high is not None and value > high))


def _check_limits(tag: Tag, value: float) -> None:
    if not _within_limits(tag, value):
        raise ValidationError(
            f"{fmt(tag, value)} is outside the limits {limits_text(tag)}: nothing was sent."
        )


def _check_step(tag: Tag, value: float, current: LatestValue | None) -> None:
    if tag.max_step is None or tag.data_type == Tag.DataType.BOOL:
        return
    if current is None or current.value is None or current.quality == Quality.BAD:
        raise ValidationError(
            f"The present value of {_name(tag)} is unknown or bad, so the size of the step "
            "cannot be checked: nothing was sent."
        )
    step = abs(value - current.value)
    if step > tag.max_step + 1e-9:
        raise ValidationError(
            f"A change of {fmt(tag, step)} from {fmt(tag, current.value)} is larger than the "
            f"largest allowed step of {fmt(tag, tag.max_step)}: change it in smaller steps."
        )


def _check_no_loop_in_auto(tag: Tag) -> None:
    loop = ControlLoop.objects.filter(output_tag=tag, mode=ControlLoop.Mode.AUTO).first()
    if loop is not None:
        raise ValidationError(
            f"The {loop.name} is in auto and sets {_name(tag)}: switch it to manual first."
        )


def _name(tag: Tag) -> str:
    return tag.description or tag.key


def fmt(tag: Tag, value: float | None) -> str:
    """A value with the tag's precision and unit, e.g. "505.0 ml"."""
    text = format_value(tag, value, None)
    return f"{text} {tag.unit}" if tag.unit and value is not None else text


def limits_text(tag: Tag) -> str:
    """The setpoint limits in words, e.g. "480.0 to 520.0 ml"."""
    if tag.setpoint_min is None and tag.setpoint_max is None:
        return "none"
    low = format_value(tag, tag.setpoint_min, None)
    return f"{low} to {fmt(tag, tag.setpoint_max)}"


def value_problem(latest: LatestValue | None, now: datetime, stale_after_s: float) -> str:
    """Why a loop cannot use this latest value (see control.pv_problem), or "" if it can."""
    if latest is None or latest.value is None:
        return control.pv_problem(quality_good=True, age_s=None, stale_after_s=stale_after_s)
    return control.pv_problem(
        quality_good=latest.quality != Quality.BAD,
        age_s=(now - latest.time).total_seconds(),
        stale_after_s=stale_after_s,
    )


def expiry(now: datetime, expires_in_s: float = WRITE_EXPIRY_S) -> datetime:
    return now + timedelta(seconds=expires_in_s)
