"""How soon an alarm's notification arrives, and how many deliveries a dispatcher sends a second.

    python bench/notify_dispatch.py                         # 20 activations, 5 e-mails + 1 webhook
    python bench/notify_dispatch.py --alarms 50 --emails 20

It migrates a fresh database (`scada_bench_notify`, or --database), loads the demo plant,
gives it one roster of `--emails` e-mail addresses and a webhook, runs a real SMTP server
(aiosmtpd) and webhook receiver in this process and one `manage.py notify` as its own process
(the default 1 s poll), then:
- latency: activates and clears the methane alarm `--alarms` times, one change at a time, and
  times each from the commit of its journal entry to the arrival of its mail and its POST;
- burst: activates up to `--burst` alarms at once (the demo plant's quiet ones) and times
  until every delivery has arrived (deliveries a second, one dispatcher; then two).
It ends by counting the mails received and the distinct deliveries among them (no repeats).
Prints p50, p95 and the worst of each.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.notify_servers import smtp_server, webhook_receiver
from tests.services import ROOT, fresh_database


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"worst {ordered[-1] * 1000:.0f} ms")  # fmt: skip


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the deliveries")
        time.sleep(0.005)


def dispatchers(count: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    argv = [sys.executable, "manage.py", "notify"]
    return [subprocess.Popen([*argv, "--name", f"bench{i}"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL) for i in range(count)]  # fmt: skip


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="scada_bench_notify")
    parser.add_argument("--alarms", type=int, default=20)
    parser.add_argument("--emails", type=int, default=5)
    parser.add_argument("--burst", type=int, default=10)
    args = parser.parse_args()
    dsn = fresh_database(args.database)
    os.environ.update({"DATABASE_URL": dsn, "DJANGO_SETTINGS_MODULE": "config.settings",
                       "LOG_LEVEL": "WARNING"})  # fmt: skip
    import django

    django.setup()
    from django.utils import timezone

    from plant.actions.alarms import do_set_alarm_condition
    from plant.demo import load_demo_plant
    from plant.models import Alarm, NotificationDelivery, NotificationRecipient, NotificationRoster

    plant = load_demo_plant(topic_root="bench/")
    with smtp_server() as smtp, webhook_receiver() as hook:
        roster = NotificationRoster.objects.create(name="Bench", plant=plant, min_priority="low")
        for n in range(args.emails):
            NotificationRecipient.objects.create(roster=roster, address=f"person{n}@example.com")
        NotificationRecipient.objects.create(roster=roster, kind="webhook", address=hook.url)
        env = {**os.environ, "EMAIL_HOST": smtp.host, "EMAIL_PORT": str(smtp.port)}
        running = dispatchers(1, env)
        wait_for(_started, timeout=30)  # its cursor: it follows the journal from here
        alarm = Alarm.objects.get(definition__tag__key="methane", definition__kind="h")
        mail_s, hook_s = [], []
        for n in range(args.alarms):
            mails, posts = len(smtp.messages), len(hook.posts())
            committed = time.time()
            do_set_alarm_condition(alarm.pk, n % 2 == 0, value=15.0 if n % 2 == 0 else 2.0,
                                   at=timezone.now())  # fmt: skip
            want_mails, want_posts = mails + args.emails, posts + 1
            wait_for(lambda: len(smtp.messages) >= want_mails  # noqa: B023
                     and len(hook.posts()) >= want_posts)  # noqa: B023  # fmt: skip
            mail_s += [t - committed for t in smtp.inbox.received_at[mails:]]
            hook_s += [p.at - committed for p in hook.posts()[posts:]]
        print(f"latency, journal commit to mail received ({len(mail_s)} mails): "
              f"{percentiles(mail_s)}")  # fmt: skip
        print(f"latency, journal commit to webhook received ({len(hook_s)} posts): "
              f"{percentiles(hook_s)}")  # fmt: skip
        for count in (1, 2):
            if count == 2:
                running += dispatchers(1, env)
            rate = burst(args.burst, args.emails + 1, smtp, hook, do_set_alarm_condition)
            print(f"burst, {count} dispatcher(s): {rate}")
        stop(running)
        sent = NotificationDelivery.objects.filter(state="sent").count()
        ids = [m["X-Scada-Delivery"] for m in smtp.messages]
        print(f"deliveries sent: {sent}; mails received: {len(ids)}, distinct: {len(set(ids))}")


def _started() -> bool:
    from plant.models import NotificationCursor

    return NotificationCursor.objects.exists()


def burst(count: int, recipients: int, smtp: Any, hook: Any, set_condition: Any) -> str:
    """Activate `count` alarms at once (then clear them); time until every delivery arrived."""
    from django.utils import timezone

    from plant.models import Alarm

    quiet = Alarm.objects.filter(state__in=["normal", "rtn_unack"])
    alarms = list(quiet.values_list("pk", flat=True)[:count])
    before = len(smtp.messages) + len(hook.posts())
    started = time.time()
    for alarm_id in alarms:
        set_condition(alarm_id, True, value=1e6, at=timezone.now())
    want = before + len(alarms) * recipients
    wait_for(lambda: len(smtp.messages) + len(hook.posts()) >= want, timeout=120)
    took = time.time() - started
    for alarm_id in alarms:
        set_condition(alarm_id, False, value=0.0, at=timezone.now())
    wait_for(lambda: len(smtp.messages) + len(hook.posts()) >= want + len(alarms) * recipients,
             timeout=120)  # fmt: skip
    delivered = len(alarms) * recipients
    return (f"{len(alarms)} alarms x {recipients} recipients = {delivered} deliveries in "
            f"{took:.2f} s ({delivered / took:.0f} a second)")  # fmt: skip


if __name__ == "__main__":
    main()
