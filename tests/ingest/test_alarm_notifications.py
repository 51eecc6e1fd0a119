"""Alarm notifications end to end: a value published on the real broker, the real ingest worker
raising the alarm, and the dispatcher mailing a real SMTP server and posting to a real HTTP
receiver, through escalation and return to normal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import paho.mqtt.publish as publish
import pytest
from django.conf import settings

from ingest.mqtt import parse_url
from ingest.worker import Worker
from plant.models import Alarm, NotificationRecipient, NotificationRoster, Plant, Tag
from plant.notifications.dispatcher import Dispatcher
from plant.notifications.rules import signature
from tests.devices import connected_worker
from tests.notify_servers import SmtpServer, WebhookReceiver, smtp_server, webhook_receiver
from tests.waiting import run_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = connected_worker(topic_root)
    run_until(worker.writer.client.is_connected, worker.run_once)
    yield worker
    worker.close()


@pytest.fixture
def smtp(settings: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    with smtp_server() as server:
        settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
        yield server


def send(key: str, value: float) -> None:
    address = parse_url(settings.MQTT_URL)
    publish.single(Tag.objects.get(key=key).topic, json.dumps({"v": value}), qos=1,
                   hostname=address.host, port=address.port)  # fmt: skip


def methane_hh() -> Alarm:
    return Alarm.objects.get(definition__tag__key="methane", definition__kind="hh")


def rosters(plant: Plant, hook: WebhookReceiver) -> None:
    shift = NotificationRoster.objects.create(name="Shift", plant=plant, min_priority="critical")
    NotificationRecipient.objects.create(roster=shift, address="shift@example.com")
    NotificationRecipient.objects.create(roster=shift, kind="webhook", address=hook.url,
                                         secret="pager-secret")  # fmt: skip
    boss = NotificationRoster.objects.create(name="Supervisor", plant=plant,
                                             min_priority="critical", delay_minutes=10)  # fmt: skip
    NotificationRecipient.objects.create(roster=boss, address="boss@example.com")


def test_a_gas_alarm_raised_through_mqtt_is_mailed_posted_escalated_and_its_return_told(
    worker: Worker, demo_plant: Plant, smtp: SmtpServer
) -> None:
    with webhook_receiver(answers=[503]) as hook:  # the pager gateway is briefly unavailable
        rosters(demo_plant, hook)
        dispatcher = Dispatcher("e2e")
        dispatcher.run_once()
        send("methane", 45.0)
        run_until(lambda: methane_hh().state == "unack", worker.run_once)
        activated_at = methane_hh().activated_at
        assert activated_at is not None

        dispatcher.run_once(now=activated_at)
        (mail,) = smtp.messages
        assert (mail["To"], mail["Subject"]) == (
            "shift@example.com", "[CRITICAL] Methane high-high: gas leak: Activated"
        )  # fmt: skip
        assert "Value:     45.0 %LEL" in mail.get_content()
        assert len(hook.posts()) == 1  # answered 503: tried again after the backoff
        dispatcher.run_once(now=activated_at + timedelta(seconds=30))
        first, again = hook.posts()
        assert first.body == again.body
        assert again.json()["alarm"]["message"] == "Methane high-high: gas leak"
        assert again.headers["X-Scada-Signature"] == signature(
            "pager-secret", again.headers["X-Scada-Timestamp"], again.body
        )

        dispatcher.run_once(now=activated_at + timedelta(minutes=10))  # still unacknowledged
        assert [m["To"] for m in smtp.messages] == ["shift@example.com", "boss@example.com"]
        assert "Not acknowledged 10 minutes" in smtp.messages[1].get_content()

        send("methane", 2.0)
        run_until(lambda: methane_hh().state == "rtn_unack", worker.run_once)
        dispatcher.run_once(now=activated_at + timedelta(minutes=11))
        back = sorted(m["To"] for m in smtp.messages[2:])
        assert back == ["boss@example.com", "shift@example.com"]
        assert all("Returned to normal" in m["Subject"] for m in smtp.messages[2:])
        assert hook.posts()[-1].json()["event"] == "return"
