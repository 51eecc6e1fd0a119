"""Each part of the ingest worker fails alone: a guard around every step of every part.

The worker does several jobs on one loop (store, evaluate alarms, send setpoint writes, run the
control loops, push live values, beat its heartbeat). Each step runs through `PartGuard.run`:
an exception in one part is logged (with its traceback the first time, then once a minute),
counted in `scada_ingest_part_failures_total{part=...}`, and raised as the system alarm
`ingest.<part>` that every screen shows; the other parts go on. The alarm clears once the part
has worked again for `CLEAR_AFTER_S`. A database that is down is not a fault of the part: it
is logged and waited out, as storage already does.

Raising and clearing the alarms needs the database too, so they are kept here until `sync()`
manages to write them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connection

from ingest import metrics
from plant import system_health

log = logging.getLogger(__name__)

T = TypeVar("T")
CLEAR_AFTER_S = 30.0  # a part must work this long before its alarm clears (no flapping)
LOG_EVERY_S = 60.0  # a part failing on every turn logs once a minute, not a thousand times

PART_NAMES = {
    "storage": "Storing values in the historian",
    "tags": "Reading the tag table",
    "alarms": "The alarm engine",
    "writer": "Sending setpoint writes",
    "loops": "The control loops",
    "derived": "The derived values (computed tags)",
    "live": "Pushing live values to the screens",
    "health": "The worker's heartbeat",
    "broker": "Watching the broker",
    "retention": "Purging old rejected messages",
    "rollups": "Folding new samples into the historian's rollups",
    "network": "The worker's MQTT connection",
}


def part_name(part: str) -> str:
    """A part in words; a derived job's guard (`derived.<job>`) is named after its job."""
    kind, _, job = part.partition(".")
    if kind == "derived" and job:
        return f"The derived job {job!r}"
    return PART_NAMES.get(part, part)


@dataclass
class Failure:
    """A part that failed: since when, the latest error, and what the database knows."""

    first_at: float
    error: str
    last_log_at: float
    raised: bool = False  # the system alarm is in the database
    unsynced: int = 1  # failures not yet counted in the database
    ok_since: float | None = None  # working again since (monotonic)


class PartGuard:
    """Runs the worker's steps, each behind its own guard, and keeps their system alarms."""

    def __init__(self) -> None:
        self.failures: dict[str, Failure] = {}
        self.db_down_logged: set[str] = set()

    def run(self, part: str, step: Callable[..., T], *args: Any) -> T | None:
        """Run one step of one part; None if it failed (logged, counted, alarmed)."""
        try:
            result = step(*args)
        except (OperationalError, InterfaceError) as exc:
            self._database_down(part, exc)
            return None
        except Exception as exc:
            self.failed(part, exc)
            return None
        self.db_down_logged.discard(part)
        self.worked(part)
        return result

    def worked(self, part: str) -> None:
        """A step of a part went well (also called from the worker's other threads)."""
        failure = self.failures.get(part)
        if failure is not None and failure.ok_since is None:
            failure.ok_since = time.monotonic()

    def failed(self, part: str, exc: BaseException) -> None:
        """Record a failure of a part (also called from the worker's other threads)."""
        now = time.monotonic()
        metrics.PART_FAILURES.labels(part).inc()
        error = f"{type(exc).__name__}: {exc}"[:500]
        failure = self.failures.get(part)
        if failure is None:
            self.failures[part] = Failure(now, error, now)
            log.error("%s failed; the other parts go on", part_name(part),
                      exc_info=exc)  # fmt: skip
            return
        failure.error, failure.ok_since = error, None
        failure.unsynced += 1
        if now - failure.last_log_at >= LOG_EVERY_S:
            failure.last_log_at = now
            log.error("%s still failing: %s", part_name(part), error)

    def _database_down(self, part: str, exc: Exception) -> None:
        if part not in self.db_down_logged:
            self.db_down_logged.add(part)
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            log.warning("%s paused: database unavailable (%s)", part_name(part),
                        first_line or type(exc).__name__)  # fmt: skip
        connection.close()

    def failing(self) -> list[str]:
        """The parts whose alarm stands (failed and not yet working long enough)."""
        return sorted(self.failures)

    def sync(self) -> None:
        """Write raised and cleared system alarms to the database; raises if it is down."""
        now = time.monotonic()
        for part, failure in list(self.failures.items()):
            if failure.ok_since is not None and now - failure.ok_since >= CLEAR_AFTER_S:
                if failure.raised:
                    system_health.do_clear_system_alarm(f"ingest.{part}")
                del self.failures[part]
            elif failure.unsynced:
                system_health.do_raise_system_alarm(
                    f"ingest.{part}",
                    f"{part_name(part)} is failing in the ingest worker",
                    detail=failure.error,
                    occurrences=failure.unsynced,
                )
                failure.raised, failure.unsynced = True, 0
