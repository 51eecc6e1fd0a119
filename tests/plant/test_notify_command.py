"""`manage.py notify` as the process it runs as: it sends what the journal asks for, and stops
cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.db import connection
from django.utils import timezone

from plant.actions.alarms import do_set_alarm_condition
from plant.models import (
    Alarm,
    NotificationDelivery,
    NotificationRecipient,
    NotificationRoster,
    Plant,
)
from plant.notifications.dispatcher import Dispatcher
from tests.notify_servers import smtp_server
from tests.waiting import run_until

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_notify_command_sends_the_alarms_mail_and_stops_on_sigterm(
    committed_db: None, demo_plant: Plant
) -> None:
    with smtp_server() as server:
        roster = NotificationRoster.objects.create(name="Shift", plant=demo_plant)
        NotificationRecipient.objects.create(roster=roster, address="shift@example.com")
        Dispatcher("setup").run_once()  # the cursor, at the journal's end
        database = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:"
            f"{database['PORT']}/{database['NAME']}",
            "EMAIL_HOST": server.host,
            "EMAIL_PORT": str(server.port),
            "DEFAULT_FROM_EMAIL": "hmi@plant.example",
        }
        process = subprocess.Popen(
            [sys.executable, "manage.py", "notify", "--poll", "0.2", "--name", "child"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            alarm = Alarm.objects.get(definition__tag__key="methane", definition__kind="hh")
            do_set_alarm_condition(alarm.pk, True, value=45.0, at=timezone.now())
            run_until(lambda: server.messages, timeout=30)
            (mail,) = server.messages
            assert mail["From"] == "hmi@plant.example"
            assert mail["Subject"] == "[CRITICAL] Methane high-high: gas leak: Activated"
            run_until(lambda: NotificationDelivery.objects.filter(state="sent").exists())
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    lines = output.splitlines()
    assert lines[0].startswith("notify: following the alarm journal as child; e-mail through")
    assert lines[-1] == "notify: stopped"
    delivery = NotificationDelivery.objects.get()
    assert list(delivery.attempt_log.values_list("ok", "dispatcher")) == [(True, "child")]
