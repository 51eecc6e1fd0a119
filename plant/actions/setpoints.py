"""The only code that changes setpoint writes: each do_* validates, writes in one transaction,
and publishes `setpoint.changed` to the screens once the transaction has committed.

A write is its own audit record. It moves pending → sent → confirmed (or failed, timed out,
expired) with conditional UPDATEs (`filter(state=old).update(state=new)`) and a row-count
check, so when two actors race (two writers, a readback and a timeout) exactly one wins and
the loser learns it from the return value.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from plant import live, setpoints
from plant.models import ControlLoop, LatestValue, SetpointWrite, Tag
from plant.setpoints import Person

State = SetpointWrite.State
Mode = ControlLoop.Mode
OPEN = (State.PENDING, State.SENT)


@transaction.atomic
def do_request_setpoint(
    tag: Tag, value: float, *, by: Person | None, reason: str = "",
    expires_in_s: float = setpoints.WRITE_EXPIRY_S, emergency: bool = False,
    loop: ControlLoop | None = None,
) -> SetpointWrite:  # fmt: skip
    """Queue a write to a device with its audit record, once every check passes.

    Raises PermissionDenied (the caller may not write here) or ValidationError (the write
    breaks a rule); then nothing is stored and nothing is sent. `by=None` is the system.
    `emergency=True` (the system's emergency actions) skips all but the hard limits; `loop`
    is the control loop writing its output, refused once it has left auto (say, an emergency
    took it to manual since the loop read its mode).
    """
    if by is not None:
        setpoints.check_write_permission(by, tag)
    # Lock the tag's row: two writes to one tag are checked (step, rate) one after the other.
    tag = (
        Tag.objects.select_for_update(of=("self",))
        .select_related("machine__line__plant")
        .get(pk=tag.pk)
    )
    current = LatestValue.objects.filter(tag=tag).first()
    last_at = (
        SetpointWrite.objects.filter(tag=tag).order_by("-requested_at").values_list(
            "requested_at", flat=True
        ).first()
    )  # fmt: skip
    now = timezone.now()
    setpoints.check_setpoint(
        tag, value, current=current, last_at=last_at, by=by, now=now, emergency=emergency
    )
    if loop is not None and not ControlLoop.objects.filter(pk=loop.pk, mode=Mode.AUTO).exists():
        raise ValidationError(f"The {loop.name} is no longer in auto: its output was not written.")
    write = SetpointWrite.objects.create(
        tag=tag,
        value=value,
        old_value=current.value if current else None,
        user=by if by is not None and by.is_authenticated else None,
        reason=reason[:200],
        requested_at=now,
        expires_at=setpoints.expiry(now, expires_in_s),
    )
    _publish(write)
    return write


def do_claim_setpoint(write_id: int, *, now: datetime) -> bool:
    """Take a pending write to publish it; False if another writer has it or it expired."""
    return bool(
        SetpointWrite.objects.filter(
            pk=write_id, state=State.PENDING, claimed_at=None, expires_at__gt=now
        ).update(claimed_at=now)
    )


def do_mark_setpoint_sent(write_id: int, *, now: datetime) -> bool:
    """The broker acknowledged the write (PUBACK): it is on its way to the device."""
    return _move(write_id, [State.PENDING], State.SENT, sent_at=now)


def do_confirm_setpoint(write_id: int, readback: float, *, now: datetime) -> bool:
    """The device read back the requested value (within the tag's tolerance)."""
    return _move(
        write_id, OPEN, State.CONFIRMED, finished_at=now, readback=readback,
        detail="the device read back the requested value",
    )  # fmt: skip


def do_fail_setpoint(
    write_id: int, *, detail: str, now: datetime, readback: float | None = None
) -> bool:
    """The device reported another value, or the broker refused the write."""
    return _move(
        write_id, OPEN, State.FAILED, finished_at=now, readback=readback, detail=detail[:200]
    )


def do_note_gateway_accepted(write_id: int) -> bool:
    """A gateway answered the write request as taken (a Neuron response with error 0). The write
    stays open until the next uploaded value confirms it."""
    return bool(
        SetpointWrite.objects.filter(pk=write_id, state__in=OPEN).update(
            detail="accepted by the Neuron gateway; awaiting its next upload"
        )
    )


def do_note_write_id_echo(tag_id: int) -> bool:
    """The tag's device echoed a write's id: from now on only such an echo confirms a write.

    False if the tag was already marked. Admins may clear the mark (a replaced device).
    """
    return bool(Tag.objects.filter(pk=tag_id, echoes_write_id=False).update(echoes_write_id=True))


def do_time_out_setpoint(write_id: int, *, now: datetime) -> bool:
    """The write was sent but the device did not read it back in time."""
    detail = f"no readback within {setpoints.READBACK_TIMEOUT_S:g} s of sending"
    return _move(write_id, [State.SENT], State.TIMED_OUT, finished_at=now, detail=detail)


def do_expire_setpoint(write_id: int, *, now: datetime) -> bool:
    """The write could not be handed to the broker before its expiry: it will never be sent."""
    return _move(
        write_id, [State.PENDING], State.EXPIRED, finished_at=now, extra=Q(expires_at__lte=now),
        detail="not handed to the broker before its expiry (broker unreachable?); never sent",
    )  # fmt: skip


def _move(
    write_id: int, from_states: list[str] | tuple[str, ...], to_state: str,
    extra: Q | None = None, **fields: object,
) -> bool:  # fmt: skip
    with transaction.atomic():
        rows = SetpointWrite.objects.filter(pk=write_id, state__in=from_states)
        if extra is not None:
            rows = rows.filter(extra)
        if not rows.update(state=to_state, **fields):
            return False
        write = SetpointWrite.objects.select_related("tag__machine__line__plant", "user").get(
            pk=write_id
        )
        _publish(write)
    return True


def _publish(write: SetpointWrite) -> None:
    live.send_on_commit(live.groups_of(write.tag), live.setpoint_changed(write))
