"""The derived jobs every ingest worker runs (ingest.derived): add a job here to run it."""

from __future__ import annotations

from ingest.derived import Job
from ingest.energy_job import DemandJob
from ingest.spc_job import SpcJob


def default_jobs() -> list[Job]:
    """A fresh instance of each job (jobs keep per-worker state between runs)."""
    return [SpcJob(), DemandJob()]
