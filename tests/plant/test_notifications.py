"""Alarm notifications on real servers: an SMTP server (aiosmtpd) and HTTP webhook receivers,
PostgreSQL for the outbox. The dispatcher is driven turn by turn, with its clock given, so an
escalation after 15 minutes or a retry after 30 s takes no waiting."""

from __future__ import annotations

import json
import threading
import zoneinfo
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F
from django.utils import timezone

from plant.actions.alarms import do_acknowledge_alarm, do_set_alarm_condition
from plant.actions.notifications import do_resend_delivery
from plant.models import (
    Alarm,
    Line,
    NotificationAttempt,
    NotificationCursor,
    NotificationDelivery,
    NotificationRecipient,
    NotificationRoster,
    Plant,
    SystemAlarm,
)
from plant.notifications import rules
from plant.notifications.dispatcher import Dispatcher
from plant.notifications.rules import signature
from tests.notify_servers import (
    SmtpServer,
    WebhookReceiver,
    refused_url,
    self_signed,
    smtp_server,
    webhook_receiver,
)

pytestmark = pytest.mark.django_db
SECRET = "s3cret-of-the-pager"


@pytest.fixture
def smtp(settings: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    with smtp_server() as server:
        settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
        yield server


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        yield receiver


def roster(
    plant: Plant, name: str, *addresses: tuple[str, str], **fields: object
) -> NotificationRoster:
    made = NotificationRoster(name=name, plant=plant, **fields)
    made.full_clean()
    made.save()
    for kind, address in addresses:
        secret = SECRET if kind == "webhook" else ""
        recipient = NotificationRecipient(roster=made, kind=kind, address=address, secret=secret)
        recipient.full_clean()
        recipient.save()
    return made


def methane(kind: str = "hh") -> Alarm:
    return Alarm.objects.get(definition__tag__key="methane", definition__kind=kind)


def started(plant: Plant) -> Dispatcher:
    """A dispatcher that has taken its first look (its cursor starts at the journal's end)."""
    dispatcher = Dispatcher("test-dispatcher")
    dispatcher.run_once()
    return dispatcher


def activate(alarm: Alarm, value: float = 45.0, at: datetime | None = None) -> datetime:
    at = at or timezone.now()
    do_set_alarm_condition(alarm.pk, True, value=value, at=at)
    return at


def test_an_activation_is_mailed_and_posted_with_the_alarms_facts(
    demo_plant: Plant, smtp: SmtpServer, hook: WebhookReceiver
) -> None:
    roster(demo_plant, "Shift", ("email", "shift@example.com"), ("webhook", hook.url))
    dispatcher = started(demo_plant)
    at = activate(methane(), 45.0)
    dispatcher.run_once()

    (mail,) = smtp.messages
    assert mail["To"] == "shift@example.com"
    assert mail["Subject"] == "[CRITICAL] Methane high-high: gas leak: Activated"
    text = mail.get_content()
    berlin = at.astimezone(zoneinfo.ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M:%S %Z")
    assert "Value:     45.0 %LEL" in text
    assert f"Time:      {berlin}" in text  # in the plant's own zone
    assert f"/alarms/?plant={demo_plant.pk}#alarm-{methane().pk}" in text
    assert "Active, unacknowledged" in text

    (post,) = hook.posts()
    payload = post.json()
    assert payload["event"] == "activation"
    assert payload["alarm"]["message"] == "Methane high-high: gas leak"
    assert payload["alarm"]["value"] == "45.0 %LEL"
    assert payload["text"].startswith("[CRITICAL] Methane high-high: gas leak: Activated")
    assert post.headers["Content-Type"] == "application/json"
    expected = signature(SECRET, post.headers["X-Scada-Timestamp"], post.body)
    assert post.headers["X-Scada-Signature"] == expected
    assert post.headers["X-Scada-Delivery"] == str(payload["delivery"])

    deliveries = NotificationDelivery.objects.all()
    assert {(d.kind, d.state, d.attempts) for d in deliveries} == {
        ("email", "sent", 1), ("webhook", "sent", 1)
    }  # fmt: skip
    assert NotificationAttempt.objects.filter(ok=True).count() == 2


def test_rosters_of_another_line_or_a_higher_priority_are_not_told(
    demo_plant: Plant, smtp: SmtpServer
) -> None:
    filling = Line.objects.get(plant=demo_plant, slug="filling")
    gas = Line.objects.get(plant=demo_plant, slug="gas")
    roster(demo_plant, "Filling", ("email", "filling@example.com"), line=filling)
    roster(demo_plant, "Gas", ("email", "gas@example.com"), line=gas, min_priority="critical")
    roster(demo_plant, "Whole plant", ("email", "plant@example.com"), min_priority="high")
    dispatcher = started(demo_plant)
    activate(methane("h"), 12.0)  # high, on the gas line
    dispatcher.run_once()
    assert [m["To"] for m in smtp.messages] == ["plant@example.com"]
    activate(methane("hh"), 25.0)  # critical, on the gas line
    dispatcher.run_once()
    assert sorted(m["To"] for m in smtp.messages) == [
        "gas@example.com", "plant@example.com", "plant@example.com"
    ]  # fmt: skip


def test_an_unacknowledged_alarm_escalates_to_the_next_roster_after_its_delay(
    demo_plant: Plant, smtp: SmtpServer
) -> None:
    roster(demo_plant, "Shift", ("email", "shift@example.com"))
    roster(demo_plant, "Supervisor", ("email", "boss@example.com"), delay_minutes=15)
    dispatcher = started(demo_plant)
    at = activate(methane())
    dispatcher.run_once(now=at)
    assert [m["To"] for m in smtp.messages] == ["shift@example.com"]
    dispatcher.run_once(now=at + timedelta(minutes=14, seconds=59))
    assert len(smtp.messages) == 1  # not yet
    dispatcher.run_once(now=at + timedelta(minutes=15))
    assert [m["To"] for m in smtp.messages] == ["shift@example.com", "boss@example.com"]
    escalation = smtp.messages[1]
    assert escalation["Subject"] == "[CRITICAL] Methane high-high: gas leak: Not acknowledged"
    assert "Not acknowledged 15 minutes after it activated." in escalation.get_content()
    dispatcher.run_once(now=at + timedelta(minutes=30))
    assert len(smtp.messages) == 2  # once per activation

    # Its return to normal goes to both: the supervisor was told of this activation.
    do_set_alarm_condition(methane().pk, False, value=2.0, at=at + timedelta(minutes=31))
    dispatcher.run_once(now=at + timedelta(minutes=31))
    returned = [m["To"] for m in smtp.messages[2:]]
    assert sorted(returned) == ["boss@example.com", "shift@example.com"]
    assert all(m["Subject"].endswith("Returned to normal") for m in smtp.messages[2:])


def test_an_alarm_acknowledged_in_time_does_not_escalate_nor_tell_the_escalation_roster_its_return(
    demo_plant: Plant, smtp: SmtpServer, users_by_role: dict[str, User]
) -> None:
    roster(demo_plant, "Shift", ("email", "shift@example.com"))
    roster(demo_plant, "Supervisor", ("email", "boss@example.com"), delay_minutes=15)
    dispatcher = started(demo_plant)
    at = activate(methane())
    dispatcher.run_once(now=at)
    assert do_acknowledge_alarm(methane(), by=users_by_role["supervisor"])
    dispatcher.run_once(now=at + timedelta(minutes=20))
    do_set_alarm_condition(methane().pk, False, value=2.0, at=at + timedelta(minutes=21))
    dispatcher.run_once(now=at + timedelta(minutes=21))
    assert [m["To"] for m in smtp.messages] == ["shift@example.com", "shift@example.com"]
    assert smtp.messages[1]["Subject"].endswith("Returned to normal")


def test_a_failing_webhook_is_tried_again_after_the_backoff_and_every_attempt_is_recorded(
    demo_plant: Plant,
) -> None:
    with webhook_receiver(answers=[500]) as hook:
        roster(demo_plant, "Pager", ("webhook", hook.url))
        dispatcher = started(demo_plant)
        at = activate(methane())
        dispatcher.run_once(now=at)
        delivery = NotificationDelivery.objects.get()
        assert (delivery.state, delivery.attempts) == ("pending", 1)
        assert delivery.last_error == "the webhook answered 500 Internal Server Error"
        assert delivery.next_attempt_at == at + timedelta(seconds=30)
        failing = SystemAlarm.objects.get(key=f"notify.webhook.{delivery.recipient_id}")
        assert failing.active and "failing" in failing.message

        dispatcher.run_once(now=at + timedelta(seconds=29))
        assert len(hook.posts()) == 1  # the backoff holds it
        dispatcher.run_once(now=at + timedelta(seconds=30))
        assert len(hook.posts()) == 2
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("sent", 2, "")
    attempts = list(delivery.attempt_log.values_list("ok", "error"))
    assert attempts == [(False, "the webhook answered 500 Internal Server Error"), (True, "")]
    assert hook.posts()[0].body == hook.posts()[1].body  # the same message, both times
    failing.refresh_from_db()
    assert not failing.active  # cleared by the success


def test_a_refused_webhook_is_given_up_after_the_last_attempt_and_can_be_sent_again(
    demo_plant: Plant, users_by_role: dict[str, User]
) -> None:
    url = refused_url()
    roster(demo_plant, "Pager", ("webhook", url))
    dispatcher = started(demo_plant)
    now = activate(methane())
    for _ in range(rules.MAX_ATTEMPTS):
        dispatcher.run_once(now=now)
        now += timedelta(hours=1)  # past any backoff
    delivery = NotificationDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("failed", rules.MAX_ATTEMPTS)
    assert delivery.last_error.startswith("the webhook is not reachable")
    assert "Connection refused" in delivery.last_error
    assert delivery.attempt_log.filter(ok=False).count() == rules.MAX_ATTEMPTS
    failing = SystemAlarm.objects.get(key=f"notify.webhook.{delivery.recipient_id}")
    assert failing.active and "given up" in failing.detail

    dispatcher.run_once(now=now)
    assert NotificationDelivery.objects.get().attempts == rules.MAX_ATTEMPTS  # left alone
    with webhook_receiver() as hook:
        NotificationRecipient.objects.filter(pk=delivery.recipient_id).update(address=hook.url)
        NotificationDelivery.objects.filter(pk=delivery.pk).update(address=hook.url)
        assert do_resend_delivery(delivery, by=users_by_role["admin"], now=now)
        dispatcher.run_once(now=now)
        assert len(hook.posts()) == 1
    assert NotificationDelivery.objects.get().state == "sent"


def test_an_https_webhook_is_posted_when_its_certificate_is_trusted_and_refused_when_not(
    demo_plant: Plant, settings: pytest.FixtureRequest, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    with webhook_receiver(tls=(cert, key)) as hook:
        assert hook.url.startswith("https://127.0.0.1:")
        roster(demo_plant, "Pager", ("webhook", hook.url))
        dispatcher = started(demo_plant)
        at = activate(methane())
        dispatcher.run_once(now=at)  # the system's CAs do not know this certificate
        delivery = NotificationDelivery.objects.get()
        assert delivery.state == "pending"
        assert "CERTIFICATE_VERIFY_FAILED" in delivery.last_error
        assert hook.posts() == []
        settings.NOTIFY_WEBHOOK_CA_FILE = str(cert)
        dispatcher.run_once(now=at + timedelta(seconds=30))
        (post,) = hook.posts()
    assert post.json()["event"] == "activation"
    assert NotificationDelivery.objects.get().state == "sent"


def test_a_webhook_that_never_answers_fails_after_the_timeout(
    demo_plant: Plant, settings: pytest.FixtureRequest
) -> None:
    settings.NOTIFY_WEBHOOK_TIMEOUT_S = 0.5
    with webhook_receiver(silent=True) as hook:
        roster(demo_plant, "Pager", ("webhook", hook.url))
        dispatcher = started(demo_plant)
        dispatcher.run_once(now=activate(methane()))
        assert len(hook.posts()) == 1  # it arrived, and was never answered
    delivery = NotificationDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert "timed out" in delivery.last_error


def test_mail_waits_for_an_smtp_server_that_is_down_and_goes_once_it_is_up(
    demo_plant: Plant, settings: pytest.FixtureRequest
) -> None:
    roster(demo_plant, "Shift", ("email", "shift@example.com"))
    dispatcher = started(demo_plant)
    with smtp_server() as server:
        port = server.port
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port  # nothing listens there now
    at = activate(methane())
    dispatcher.run_once(now=at)
    delivery = NotificationDelivery.objects.get()
    assert delivery.state == "pending"
    assert delivery.last_error.startswith(f"SMTP 127.0.0.1:{port} not reachable")
    with smtp_server() as server:
        settings.EMAIL_PORT = server.port
        dispatcher.run_once(now=at + timedelta(minutes=1))
        assert [m["To"] for m in server.messages] == ["shift@example.com"]
    assert NotificationDelivery.objects.get().state == "sent"


def test_an_address_the_smtp_server_refuses_fails_alone_and_the_other_mails_go(
    demo_plant: Plant, smtp: SmtpServer
) -> None:
    smtp.inbox.refused.add("m-gone@example.com")
    addresses = [("email", a) for a in ("a@example.com", "m-gone@example.com", "z@example.com")]
    roster(demo_plant, "Shift", *addresses)
    dispatcher = started(demo_plant)
    activate(methane())
    dispatcher.run_once()
    assert sorted(m["To"] for m in smtp.messages) == ["a@example.com", "z@example.com"]
    refused = NotificationDelivery.objects.get(address="m-gone@example.com")
    assert refused.state == "pending"
    assert refused.last_error == (
        "the SMTP server refused m-gone@example.com: 550 5.1.1 no such mailbox"
    )


def test_a_rosters_own_templates_make_the_message(demo_plant: Plant, smtp: SmtpServer) -> None:
    roster(
        demo_plant, "Terse", ("email", "shift@example.com"),
        subject_template="{{ priority }} {{ tag_key }}={{ value }}",
        body_template="{{ event }} at {{ time }} in {{ plant }}: {{ message }}",
    )  # fmt: skip
    dispatcher = started(demo_plant)
    activate(methane(), 33.3)
    dispatcher.run_once()
    (mail,) = smtp.messages
    assert mail["Subject"] == "critical methane=33.3 %LEL"
    assert mail.get_content().startswith("Activated at 20")
    assert (
        mail.get_content().rstrip().endswith(f"in {demo_plant.name}: Methane high-high: gas leak")
    )


def test_a_template_that_does_not_compile_is_refused_with_its_error(demo_plant: Plant) -> None:
    with pytest.raises(ValidationError) as error:
        roster(demo_plant, "Broken", subject_template="{% if %}")
    assert "subject_template" in error.value.message_dict
    assert not NotificationRoster.objects.exists()


def test_an_address_that_is_not_one_is_refused(demo_plant: Plant) -> None:
    with pytest.raises(ValidationError) as error:
        roster(demo_plant, "Typo", ("email", "shift.example.com"))
    assert error.value.message_dict == {"address": ["Enter an e-mail address."]}
    with pytest.raises(ValidationError) as error:
        roster(demo_plant, "Typo 2", ("webhook", "ftp://example.com/hook"))
    assert error.value.message_dict == {"address": ["Enter an http:// or https:// URL."]}


def test_a_line_of_another_plant_is_refused(demo_plant: Plant) -> None:
    other = Plant.objects.create(name="Other", slug="other-plant")
    line = Line.objects.create(plant=other, name="Other line", slug="other-line")
    with pytest.raises(ValidationError) as error:
        roster(demo_plant, "Mixed", line=line)
    assert error.value.message_dict == {"line": ["Pick a line of the roster's plant."]}


def test_the_journal_from_before_the_first_start_is_not_sent(
    demo_plant: Plant, smtp: SmtpServer
) -> None:
    roster(demo_plant, "Shift", ("email", "shift@example.com"))
    activate(methane("h"), 12.0)  # before any dispatcher ran
    dispatcher = started(demo_plant)
    activate(methane("hh"), 25.0)
    dispatcher.run_once()
    assert [m["Subject"] for m in smtp.messages] == [
        "[CRITICAL] Methane high-high: gas leak: Activated"
    ]


def test_a_dispatcher_started_again_sends_nothing_twice(
    demo_plant: Plant, smtp: SmtpServer
) -> None:
    roster(demo_plant, "Shift", ("email", "shift@example.com"))
    started(demo_plant)
    activate(methane())
    Dispatcher("first").run_once()
    # As if the first had stopped before it moved the cursor: the second reads the entry again.
    NotificationCursor.objects.update(last_entry_id=F("last_entry_id") - 1)
    Dispatcher("second").run_once()
    assert len(smtp.messages) == 1
    assert NotificationDelivery.objects.count() == 1


def test_a_roster_template_that_fails_is_raised_and_holds_back_nothing_after_it(
    demo_plant: Plant, smtp: SmtpServer
) -> None:
    roster(demo_plant, "Shift", ("email", "shift@example.com"))
    dispatcher = started(demo_plant)
    # A failure when the message is made (not when it is configured) must not stop the loop.
    broken = NotificationRoster.objects.get()
    NotificationRoster.objects.filter(pk=broken.pk).update(body_template="{% include 'nowhere' %}")
    activate(methane("h"), 12.0)
    dispatcher.run_once()
    assert SystemAlarm.objects.get(key="notify.plan").active
    NotificationRoster.objects.filter(pk=broken.pk).update(body_template="")
    activate(methane("hh"), 25.0)
    dispatcher.run_once()
    assert [m["Subject"] for m in smtp.messages] == [
        "[CRITICAL] Methane high-high: gas leak: Activated"
    ]
    assert not SystemAlarm.objects.get(key="notify.plan").active


def test_two_dispatchers_at_once_never_send_a_message_twice(
    committed_db: None, settings: pytest.FixtureRequest, demo_plant: Plant
) -> None:
    with smtp_server() as server, webhook_receiver() as hook:
        settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
        addresses = [("email", f"person{i}@example.com") for i in range(12)]
        roster(demo_plant, "Everyone", *addresses, ("webhook", hook.url))
        Dispatcher("setup").run_once()
        for key, kind in (("methane", "hh"), ("methane", "h"), ("h2s", "hh")):
            alarm = Alarm.objects.get(definition__tag__key=key, definition__kind=kind)
            do_set_alarm_condition(alarm.pk, True, value=60.0, at=timezone.now())
        planned = 3 * 13

        def run(name: str) -> None:
            dispatcher = Dispatcher(name)
            try:
                for _ in range(200):
                    dispatcher.run_once()
                    everything = NotificationDelivery.objects.count() == planned
                    if everything and not NotificationDelivery.objects.exclude(state="sent"):
                        return
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(f"d{i}",)) for i in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        ids = [m["X-Scada-Delivery"] for m in server.messages]
        ids += [json.loads(p.body)["delivery"] for p in hook.posts()]
    assert NotificationDelivery.objects.count() == planned
    assert sorted(map(int, ids)) == sorted(
        NotificationDelivery.objects.values_list("pk", flat=True)
    )
    senders = set(NotificationAttempt.objects.values_list("dispatcher", flat=True))
    assert NotificationAttempt.objects.count() == planned  # one attempt each, by one of them
    assert senders <= {"d1", "d2"}
