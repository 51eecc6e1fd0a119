"""The shift report job end to end: the dispatcher of `manage.py notify`, driven turn by turn
with its clock given, makes the report at the shift's end, keeps it, and mails its PDF to a
real SMTP server (aiosmtpd); a shift that ended while no dispatcher ran is reported when one
starts again, and nothing is reported twice."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from pypdf import PdfReader

from plant.models import NotificationDelivery, Plant, ShiftReport, ShiftReportSettings, SystemAlarm
from plant.notifications.dispatcher import Dispatcher
from tests.notify_servers import SmtpServer, smtp_server
from tests.oee_data import SHIFT_START
from tests.plant.test_shift_reports import SHIFT_END, constructed_shift

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(settings: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    with smtp_server() as server:
        settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
        yield server


def pdf_text(data: bytes) -> str:
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.split())


def test_the_shift_end_makes_keeps_and_mails_the_report_with_its_pdf(
    demo_plant: Plant, smtp: SmtpServer
) -> None:
    dispatcher = Dispatcher("test-reports")
    dispatcher.run_once(SHIFT_START + timedelta(hours=1))  # its first look: nothing is due
    assert not ShiftReport.objects.exists()
    constructed_shift(demo_plant)  # mails go to shift@example.com

    dispatcher.run_once(SHIFT_END - timedelta(seconds=1))
    assert not ShiftReport.objects.exists()  # the shift is still running
    dispatcher.run_once(SHIFT_END + timedelta(seconds=5))

    (report,) = ShiftReport.objects.all()
    assert (report.name, report.start_at, report.end_at) == ("Early", SHIFT_START, SHIFT_END)
    assert report.figures["alarms"]["activations"] == 2
    (mail,) = smtp.messages
    assert mail["To"] == "shift@example.com"
    assert mail["Subject"] == "Shift report: Demo Bottling Plant: Early shift 2026-12-02"
    assert mail["X-Scada-Event"] == "report"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "Alarm activations: 2" in text
    assert "Setpoint writes:   4 (2 not applied)" in text
    assert "OEE Filling line / Filler: 79.4 %" in text
    assert f"/reports/{report.pk}/" in text
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"shift-report-{demo_plant.pk}-2026-12-02-Early.pdf"
    attached = attachment.get_content()
    assert attached == bytes(report.pdf)
    assert "90.0 % 90.0 % 98.0 % 79.4 % 72900 71442" in pdf_text(attached)
    (delivery,) = NotificationDelivery.objects.filter(report=report)
    assert (delivery.state, delivery.attempts, delivery.reason) == ("sent", 1, "report")

    dispatcher.run_once(SHIFT_END + timedelta(minutes=5))  # later turns add nothing
    assert ShiftReport.objects.count() == 1
    assert len(smtp.messages) == 1


def test_shifts_that_ended_while_no_dispatcher_ran_are_reported_on_start(
    demo_plant: Plant, smtp: SmtpServer
) -> None:
    ShiftReportSettings.objects.create(plant=demo_plant, recipients="a@example.com, b@example.com")
    Dispatcher("before").run_once(SHIFT_START)  # its first look; then it went down
    down_until = SHIFT_START + timedelta(days=2, hours=1)  # six shifts ended meanwhile

    again = Dispatcher("after")  # a new process: nothing of the old one but the database
    while again.run_once(down_until):
        pass

    reports = list(ShiftReport.objects.order_by("start_at"))
    assert [(r.name, r.figures["day"]) for r in reports] == [
        ("Early", "2026-12-02"), ("Late", "2026-12-02"), ("Night", "2026-12-02"),
        ("Early", "2026-12-03"), ("Late", "2026-12-03"), ("Night", "2026-12-03"),
    ]  # fmt: skip
    assert all(r.end_at <= down_until for r in reports)
    assert len(smtp.messages) == 12  # each report to both addresses, once
    assert sorted(m["To"] for m in smtp.messages) == ["a@example.com"] * 6 + ["b@example.com"] * 6

    Dispatcher("third").run_once(down_until)  # a third start reports none again
    assert ShiftReport.objects.count() == 6


def test_a_report_mail_the_smtp_server_refuses_is_retried_and_raised_like_an_alarm_mail(
    demo_plant: Plant, smtp: SmtpServer
) -> None:
    ShiftReportSettings.objects.create(plant=demo_plant, recipients="gone@example.com")
    smtp.inbox.refused.add("gone@example.com")
    dispatcher = Dispatcher("test-reports")
    dispatcher.run_once(SHIFT_START)
    dispatcher.run_once(SHIFT_END)

    (delivery,) = NotificationDelivery.objects.filter(report__isnull=False)
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert "refused gone@example.com" in delivery.last_error
    alarm = SystemAlarm.objects.get(key__startswith="notify.report.")
    assert alarm.message == "Shift reports to gone@example.com are failing"

    smtp.inbox.refused.clear()
    dispatcher.run_once(SHIFT_END + timedelta(seconds=31))  # after the first backoff
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("sent", 2)
    (mail,) = smtp.messages
    assert [a.get_content_type() for a in mail.iter_attachments()] == ["application/pdf"]
