"""The only code that writes shift reports: a shift claimed once by moving its plant's cursor
with a conditional UPDATE, its report stored, and its mails planned in the notification
outbox (plant.models.NotificationDelivery), all in one transaction.

So a report job that dies while making a report has written nothing and reports that shift
on its next turn, and two jobs that race for one shift store and mail it once.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from plant.models import (
    NotificationDelivery,
    NotificationRecipient,
    Plant,
    ShiftReport,
    ShiftReportCursor,
    ShiftReportSettings,
)
from plant.models.notifications import REPORT_REASON
from plant.shift_reports import Figures


def do_start_reporting(plant: Plant, now: datetime | None = None) -> ShiftReportCursor:
    """The plant's cursor; made at the first look at its end (now), so shifts that ended
    before reports existed are not mailed out."""
    cursor, _ = ShiftReportCursor.objects.get_or_create(
        plant=plant, defaults={"reported_until": now or timezone.now()}
    )
    return cursor


@transaction.atomic
def do_report_shift(
    plant: Plant, *, kind: str, name: str, start: datetime, end: datetime, after: datetime,
    figures: Figures, pdf: bytes, build_ms: int, now: datetime | None = None,
) -> ShiftReport | None:  # fmt: skip
    """Store the report of the shift that ended at `end` and plan its mails, if the plant's
    cursor still stands at `after` (else another job has reported it: None)."""
    now = now or timezone.now()
    moved = ShiftReportCursor.objects.filter(plant=plant, reported_until=after).update(
        reported_until=end
    )
    if not moved:
        return None
    report, _ = ShiftReport.objects.get_or_create(
        plant=plant, kind=kind, start_at=start, end_at=end,
        defaults={"name": name, "figures": figures, "pdf": pdf, "created_at": now,
                  "build_ms": build_ms},
    )  # fmt: skip
    do_plan_report_mails(report, now=now)
    return report


def do_plan_report_mails(report: ShiftReport, *, now: datetime | None = None) -> int:
    """A delivery of the report (its PDF attached when sent) to each address of the plant's
    mailing list, unless it is off; an address already planned is not planned again."""
    now = now or timezone.now()
    found = ShiftReportSettings.objects.filter(plant_id=report.plant_id, enabled=True).first()
    if found is None:
        return 0
    subject, body = report_message(report)
    rows = [
        NotificationDelivery(
            plant_id=report.plant_id, report=report, reason=REPORT_REASON,
            kind=NotificationRecipient.Kind.EMAIL, address=address, subject=subject, body=body,
            payload={}, created_at=now, next_attempt_at=now,
        )
        for address in dict.fromkeys(found.addresses)
    ]  # fmt: skip
    NotificationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def report_message(report: ShiftReport) -> tuple[str, str]:
    """The subject and text of a report's mail: its headline figures and where to find it."""
    f = report.figures
    what = f"{f['name']} shift {f['day']}" if f["kind"] == "shift" else f"day {f['day']}"
    subject = f"Shift report: {f['plant']}: {what}"
    lines = [
        f"Shift report of {f['plant']}: {what}",
        f"{f['start_local']} - {f['end_local']}",
        "",
        f"Alarm activations: {f['alarms']['activations']}",
        f"Setpoint writes:   {f['setpoints']['count']} ({f['setpoints']['not_applied']} not "
        "applied)",
    ]
    for machine in f["oee"]:
        if machine["oee_pct"] is not None:
            lines.append(f"OEE {machine['machine']}: {machine['oee_pct']:.1f} %")
    lines += ["", "The report is attached as a PDF, and kept at",
              f"{settings.NOTIFY_SITE_URL}/reports/{report.pk}/"]  # fmt: skip
    return subject[:300], "\n".join(lines)
