"""The shift report job: at each shift's end, make the plant's report, keep it and mail it.

It is a part of the notification dispatcher's turn (`manage.py notify`,
plant.notifications.dispatcher), so its mails go through the same outbox, retries and
failure alarms as the alarms'. Lossless across restarts: each plant's cursor
(ShiftReportCursor) says up to when its shifts are reported, and it moves only in the
transaction that stores a report, so a shift that ended while no dispatcher ran is reported
when one comes back (oldest first, at most PER_TURN a plant a turn).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from plant.actions.reports import do_report_shift, do_start_reporting
from plant.models import Plant, ShiftReport
from plant.report_pdf import pdf_of
from plant.shift_calendar import ShiftWindow
from plant.shift_reports import figures, shift_period, shifts_ended

log = logging.getLogger(__name__)

PER_TURN = 5  # shifts reported per plant per turn, so a long outage catches up turn by turn


def report_due_shifts(now: datetime) -> int:
    """Report every plant's shifts that ended since its cursor; return how many were stored."""
    made = 0
    for plant in Plant.objects.order_by("pk"):
        cursor = do_start_reporting(plant, now)
        after = cursor.reported_until
        for window in list(shifts_ended(plant, after, now))[:PER_TURN]:
            report = build_and_store(plant, window, after, now)
            if report is None:
                break  # another dispatcher reported it: it holds this plant's cursor now
            made += 1
            after = window.end
    return made


def build_and_store(
    plant: Plant, window: ShiftWindow, after: datetime, now: datetime
) -> ShiftReport | None:
    """Make one shift's report and store it, if the plant's cursor still stands at `after`."""
    started = time.monotonic()
    period = shift_period(plant, window)
    found = figures(plant, period, now=now)
    pdf = pdf_of(found)
    build_ms = int((time.monotonic() - started) * 1000)
    report = do_report_shift(
        plant, kind=period.kind, name=period.name, start=window.start, end=window.end, after=after,
        figures=found, pdf=pdf, build_ms=build_ms, now=now,
    )  # fmt: skip
    if report is not None:
        log.info("report: %s %s of %s in %d ms", period.name, period.day, plant, build_ms)
    return report
