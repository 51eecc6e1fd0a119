"""The only code that gives a machine's stop a reason, or changes it (journaled, MachineStopEntry).

An operator gives a stop that has none a reason; changing a reason someone gave is a
supervisor's (plant.retag_stop). Each change is one journal row: who, when, from what to what.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from plant.models import Machine, MachineStop, MachineStopEntry, StopReason

TAG_PERMISSION = "plant.tag_stop"
RETAG_PERMISSION = "plant.retag_stop"


@transaction.atomic
def do_tag_stop(
    machine: Machine, started_at: datetime, reason: StopReason, *, by: User | AnonymousUser,
    ended_at: datetime | None = None, comment: str = "", now: datetime | None = None,
) -> MachineStop:  # fmt: skip
    """Give the machine's stop that began at `started_at` a reason, or change the one it has.

    Raises PermissionDenied without the right, ValidationError for a reason of another plant
    or one no longer offered.
    """
    now = now or timezone.now()
    if not by.is_authenticated or not by.has_perm(TAG_PERMISSION):
        raise PermissionDenied("only operators and above give stops a reason")
    if reason.plant_id != machine.line.plant_id or not reason.active:
        raise ValidationError({"reason": "Choose one of this plant's stop reasons."})
    comment = comment.strip()[:200]
    stop = MachineStop.objects.select_for_update().filter(
        machine=machine, started_at=started_at
    ).first()  # fmt: skip
    if stop is None:
        stop = _first_reason(machine, started_at, ended_at, reason, by, comment, now)
        if stop is not None:
            MachineStopEntry.objects.create(stop=stop, at=now, user=by, to_reason=reason.name,
                                            comment=comment)  # fmt: skip
            return stop
        # Someone else gave it a reason at the same moment: this is a change of theirs.
        stop = MachineStop.objects.select_for_update().get(machine=machine, started_at=started_at)
    return _change_reason(stop, reason, by, comment, now)


def _first_reason(
    machine: Machine, started_at: datetime, ended_at: datetime | None, reason: StopReason,
    by: User, comment: str, now: datetime,
) -> MachineStop | None:  # fmt: skip
    """The stop's first reason; None if another transaction gave it one first."""
    try:
        with transaction.atomic():
            return MachineStop.objects.create(
                machine=machine, started_at=started_at, ended_at=ended_at, reason=reason,
                comment=comment, tagged_by=by, tagged_at=now,
            )  # fmt: skip
    except IntegrityError:
        return None


def _change_reason(
    stop: MachineStop, reason: StopReason, by: User, comment: str, now: datetime
) -> MachineStop:
    if stop.reason_id == reason.pk and stop.comment == comment:
        return stop  # nothing to change, nothing to journal
    if not by.has_perm(RETAG_PERMISSION):
        raise PermissionDenied("only supervisors change a reason someone gave")
    before = stop.reason.name
    MachineStop.objects.filter(pk=stop.pk).update(
        reason=reason, comment=comment, tagged_by=by, tagged_at=now
    )
    MachineStopEntry.objects.create(stop=stop, at=now, user=by, from_reason=before,
                                    to_reason=reason.name, comment=comment)  # fmt: skip
    stop.refresh_from_db()
    return stop
