"""The only code that changes derived jobs: their lease and how far their results are stored.

The ingest worker (ingest.derived) takes a job's lease before it runs it, and advances the
job's cursors in the transaction that stores the values the run computed, so the values and
the cursor are committed together or not at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from plant.models import DerivedJob


class LeaseLost(Exception):
    """Another worker took the job's lease while this one ran it: its results are not kept."""


def do_lease_derived_job(
    name: str, runner: str, *, now: datetime, lease_s: float
) -> dict[str, Any] | None:
    """Take or renew the right to run a job; its cursors, or None while another holds it."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(runner=runner)
    until = now + timedelta(seconds=lease_s)
    if not DerivedJob.objects.filter(free, name=name).update(runner=runner, lease_until=until):
        try:
            with transaction.atomic():
                DerivedJob.objects.create(name=name, runner=runner, lease_until=until)
        except IntegrityError:
            return None  # it exists, and another runner holds it
    cursors = DerivedJob.objects.filter(name=name).values_list("cursors", flat=True).first()
    return dict(cursors or {})


def do_advance_derived_job(
    name: str, runner: str, cursors: dict[str, Any], *, now: datetime
) -> None:
    """Store the job's new cursors; call it inside the transaction that stores its values.

    Raises LeaseLost (rolling that transaction back) if the lease has passed to another runner
    meanwhile: that runner computes the same values from the same cursors.
    """
    if not DerivedJob.objects.filter(name=name, runner=runner).update(cursors=cursors, ran_at=now):
        raise LeaseLost(f"derived job {name}: the lease passed to another worker")


def do_reset_derived_cursor(name: str, key: str) -> None:
    """Forget how far one source of a job got, so the job computes it again from its start
    (its configuration changed, say). Values already stored stay; the new ones join them."""
    with transaction.atomic():
        job = DerivedJob.objects.select_for_update().filter(name=name).first()
        if job is not None and key in job.cursors:
            cursors = dict(job.cursors)
            del cursors[key]
            DerivedJob.objects.filter(pk=job.pk).update(cursors=cursors)
