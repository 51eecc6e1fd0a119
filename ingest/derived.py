"""The derived-value path: periodic jobs inside the ingest worker whose results are tag values.

A job (SPC run rules, energy demand, vibration trends) reads the historian and returns rows
for derived tags (plant.derived). `DerivedRunner.step` stores them exactly as the worker stores
a batch of MQTT samples (ingest.store: samples, latest values), in one transaction with the
job's new cursors, and hands the worker the same `Decoded` a batch makes, which the worker
gives to the live push and the alarm engine as it does after every commit. So a result is
history, a live value and an alarm input like any sample, and an alarm on it is an ordinary
AlarmDefinition (a digital alarm on a "run rule broken" tag, say).

Lossless across restarts, as far as a job can recompute: values and cursors are committed
together, so a worker that dies mid-run resumes from the last committed cursor and computes the
rest again from the historian; (tag, time) is the samples' key, so a value computed twice is
stored once. Several workers may run: a lease (a conditional UPDATE) lets one run each job, and
a worker that lost its lease meanwhile has its transaction rolled back.

Each job steps behind its own guard (`derived.<name>`): one that raises is logged, counted and
raised as a system alarm while the other jobs and the worker's other parts go on.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from django.db import transaction

from ingest.batch import Decoded, Row
from ingest.part_guard import PartGuard
from ingest.store import store
from ingest.tagcache import TagCache
from plant.actions.derived import LeaseLost, do_advance_derived_job, do_lease_derived_job
from plant.quality import Quality

log = logging.getLogger(__name__)

LEASE_S = 30.0  # a job's lease; renewed on every run


@dataclass(frozen=True, slots=True)
class DerivedValue:
    """One computed value of a derived tag at a time (a bool is stored 0/1, as from MQTT)."""

    tag_id: int
    time: datetime
    value: float | bool | None
    quality: int = Quality.GOOD
    text: str | None = None

    def row(self) -> Row:
        value = None if self.value is None else float(self.value)
        return Row(self.tag_id, self.time, value, self.text, self.quality)


@dataclass(slots=True)
class Output:
    """What one run of a job computed, and the cursors to commit with it.

    `cursors` replaces the job's stored cursors (JSON: say, per source tag the ISO time of the
    last sample the job has accounted for); values already stored may be returned again.
    """

    values: list[DerivedValue] = field(default_factory=list)
    cursors: dict[str, Any] = field(default_factory=dict)


class Job(Protocol):
    """A periodic computation: `run` reads what it needs and returns values and cursors."""

    name: str
    period_s: float

    def run(self, now: datetime, cursors: Mapping[str, Any]) -> Output: ...


class DerivedRunner:
    """Runs each job once per its period, if this worker holds its lease, and stores its values.

    `step` returns the committed batches for the worker's post-commit parts (live, alarms).
    """

    def __init__(
        self,
        jobs: Iterable[Job],
        tags: TagCache,
        *,
        client_id: str = "scada-ingest",
        guard: PartGuard | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jobs = list(jobs)
        self.tags = tags
        self.runner = f"{client_id}@{socket.gethostname()}:{os.getpid()}"
        self.guard = guard or PartGuard()
        self.clock = clock
        self.due: dict[str, float] = {}

    def step(self, now: datetime | None = None) -> list[Decoded]:
        """Run every job that is due, each behind its own guard; the batches stored."""
        stored: list[Decoded] = []
        mono = self.clock()
        for job in self.jobs:
            if mono < self.due.get(job.name, 0.0):
                continue
            self.due[job.name] = mono + job.period_s
            decoded = self.guard.run(f"derived.{job.name}", self.run_job, job, now)
            if decoded is not None:
                stored.append(decoded)
        return stored

    def run_job(self, job: Job, now: datetime | None = None) -> Decoded | None:
        """One run of one job: lease, compute, store with the cursors; None if not ours."""
        now = now or datetime.now(UTC)
        cursors = do_lease_derived_job(job.name, self.runner, now=now, lease_s=LEASE_S)
        if cursors is None:
            return None  # another worker runs it
        output = job.run(now, cursors)
        decoded = self.decoded(output.values)
        try:
            with transaction.atomic():
                store(decoded)
                do_advance_derived_job(job.name, self.runner, output.cursors, now=now)
        except LeaseLost as exc:
            log.info("%s: dropped this run's values", exc)
            return None
        return decoded

    def decoded(self, values: list[DerivedValue]) -> Decoded:
        """The values as the batch of MQTT samples they stand for (tags the worker knows)."""
        if any(v.tag_id not in self.tags.by_id for v in values):
            self.tags.refresh()  # a derived tag created since the worker last read the table
        out = Decoded()
        for value in sorted(values, key=lambda v: v.time):
            if value.tag_id not in self.tags.by_id:
                log.warning("derived value of unknown tag %d dropped", value.tag_id)
                continue
            row = value.row()
            out.rows.append(row)
            held = out.latest.get(row.tag_id)
            if held is None or held.time <= row.time:
                out.latest[row.tag_id] = row
                out.latest.received[row.tag_id] = row.time.timestamp()
            out.newest = max(out.newest, row.time.timestamp())
            out.oldest = min(out.oldest, row.time.timestamp())
        return out
