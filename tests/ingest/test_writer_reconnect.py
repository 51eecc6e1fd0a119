"""A write paho still holds when the broker goes away is discarded on the reconnect, never
resent: the README's "on a reconnect discards what paho would otherwise resend"."""

from __future__ import annotations

import signal
import time

import pytest
from django.contrib.auth.models import User

from plant.actions.setpoints import do_request_setpoint
from plant.models import Plant, SetpointWrite
from tests.builders import demo_tag, record_value
from tests.devices import SetRecorder, connected_worker
from tests.services import Broker
from tests.waiting import run_until

pytestmark = [pytest.mark.django_db, pytest.mark.faults]
State = SetpointWrite.State


def test_a_write_in_flight_when_the_broker_dies_is_not_resent_after_the_reconnect(
    demo_plant: Plant, topic_root: str, users_by_role: dict[str, User]
) -> None:
    operator = users_by_role["operator"]
    fill_level_sp, flow_rate_sp = (demo_tag(demo_plant, k) for k in ("fill_level_sp",
                                                                     "flow_rate_sp"))  # fmt: skip
    record_value(fill_level_sp, 500.0)
    record_value(flow_rate_sp, 50.0)
    broker = Broker()
    broker.start()
    recorder = SetRecorder(topic_root, url=broker.url, session_expiry_s=600).start()
    worker = connected_worker(topic_root, url=broker.url)
    try:
        run_until(worker.writer.client.is_connected, worker.run_once)
        # The recorder's session is on disk, so the broker started again still delivers to it.
        subscribed_at = time.time()
        saved = broker.dir / "mosquitto.db"
        run_until(lambda: saved.exists() and saved.stat().st_mtime > subscribed_at + 0.1,
                  timeout=15)  # fmt: skip
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGSTOP)  # it takes the PUBLISH, and never answers
        write = do_request_setpoint(fill_level_sp, 504, by=operator)
        run_until(lambda: write.pk in worker.writer.in_flight.values(), worker.run_once)
        broker.proc.send_signal(signal.SIGKILL)  # gone without a PUBACK
        broker.proc.wait(10)
        broker.proc = None
        broker.start()
        run_until(lambda: worker.writer.client.is_connected() and recorder.client.is_connected(),
                  worker.run_once, timeout=60)  # fmt: skip
        # The marker: a later write by the same client. Were the first one resent on the
        # reconnect, it would reach the recorder before this one.
        marker = do_request_setpoint(flow_rate_sp, 51, by=operator, reason="marker")
        run_until(lambda: str(marker.command_id) in ids(recorder), worker.run_once, timeout=30)
        assert str(write.command_id) not in ids(recorder)
        run_until(lambda: state_of(write) == State.EXPIRED, worker.run_once, timeout=30)
        assert str(write.command_id) not in ids(recorder)
    finally:
        worker.close()
        recorder.stop()
        if broker.proc is not None:
            broker.proc.send_signal(signal.SIGCONT)
        broker.close()


def ids(recorder: SetRecorder) -> list[str]:
    return [command.id for _, command in recorder.seen()]


def state_of(write: SetpointWrite) -> str:
    write.refresh_from_db()
    return write.state
