"""The setpoint writer in the ingest worker, on the real broker and database: what it publishes,
how readbacks resolve a write, and that a write that missed its expiry is never sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from ingest.payloads import SetpointCommand
from ingest.worker import Worker
from plant.actions.setpoints import do_request_setpoint
from plant.models import Plant, SetpointWrite, Tag
from tests.builders import demo_tag, record_value
from tests.devices import SetRecorder, connected_worker, recording, running_simulator
from tests.services import Broker
from tests.waiting import run_until

pytestmark = pytest.mark.django_db
State = SetpointWrite.State


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = connected_worker(topic_root)
    run_until(worker.writer.client.is_connected, worker.run_once)
    yield worker
    worker.close()


@pytest.fixture
def fill_level_sp(demo_plant: Plant) -> Tag:
    tag = demo_tag(demo_plant, "fill_level_sp")
    record_value(tag, 500.0)
    return tag


def send_marker(worker: Worker, recorder: SetRecorder, by: User) -> SetpointWrite:
    """A write of another tag, sent by this worker after what must not have been sent: one
    client's QoS 1 publishes keep their order, so once the recorder has the marker it has
    everything the writer published before it."""
    flow_rate_sp = Tag.objects.get(key="flow_rate_sp")
    record_value(flow_rate_sp, 50.0)
    marker = do_request_setpoint(flow_rate_sp, 51, by=by, reason="marker")
    command_id = str(marker.command_id)
    run_until(lambda: any(c.id == command_id for _, c in recorder.seen()), worker.run_once)
    return marker


def without(marker: SetpointWrite, seen: list[tuple[str, SetpointCommand]]) -> list[object]:
    return [(topic, command) for topic, command in seen if command.id != str(marker.command_id)]


def state_of(write: SetpointWrite) -> str:
    write.refresh_from_db()
    return write.state


def test_a_write_is_published_once_with_its_id_and_expiry_then_marked_sent(
    worker: Worker, topic_root: str, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    with recording(topic_root) as recorder:
        write = do_request_setpoint(fill_level_sp, 504, by=users_by_role["operator"])
        run_until(lambda: state_of(write) == State.SENT, worker.run_once)
        run_until(recorder.seen, worker.run_once)
        marker = send_marker(
            worker, recorder, users_by_role["operator"]
        )  # more turns of the worker sent nothing more
    ((topic, command),) = without(marker, recorder.seen())
    assert topic == f"{fill_level_sp.topic}/set"
    assert (command.value, command.id) == (504.0, str(write.command_id))
    assert command.expires == write.expires_at
    assert write.sent_at is not None and write.claimed_at is not None


def test_the_devices_readback_confirms_the_write(
    worker: Worker, demo_plant: Plant, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    with running_simulator(demo_plant.slug):
        write = do_request_setpoint(fill_level_sp, 504, by=users_by_role["operator"])
        run_until(lambda: state_of(write) == State.CONFIRMED, worker.run_once)
    assert write.readback == 504.0
    assert write.sent_at is not None and write.finished_at is not None
    assert write.sent_at <= write.finished_at


def test_a_switch_is_written_as_true_or_false_and_confirmed(
    worker: Worker, demo_plant: Plant, users_by_role: dict[str, User]
) -> None:
    with running_simulator(demo_plant.slug):
        fan = demo_tag(demo_plant, "fan")
        write = do_request_setpoint(fan, 1, by=users_by_role["operator"])
        run_until(lambda: state_of(write) == State.CONFIRMED, worker.run_once)
    assert write.readback == 1.0


def test_a_device_that_reads_back_another_value_leaves_the_write_failed(
    worker: Worker, demo_plant: Plant, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    with running_simulator(demo_plant.slug, faults=["reject_writes:fill_level_sp"]):
        write = do_request_setpoint(fill_level_sp, 504, by=users_by_role["operator"])
        run_until(lambda: state_of(write) == State.FAILED, worker.run_once)
    assert write.readback == 500.0
    assert write.detail == "the device read back 500.0 ml, not 504.0 ml"


def test_a_write_nobody_reads_back_times_out(
    worker: Worker, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    worker.writer.timeout = timedelta(seconds=1)
    write = do_request_setpoint(fill_level_sp, 504, by=users_by_role["operator"])
    run_until(lambda: state_of(write) == State.TIMED_OUT, worker.run_once)
    assert write.readback is None and "no readback" in write.detail


def test_two_writers_never_send_one_write_twice(
    worker: Worker, topic_root: str, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    other = connected_worker(topic_root)
    try:
        run_until(other.writer.client.is_connected, other.run_once)
        with recording(topic_root) as recorder:
            write = do_request_setpoint(fill_level_sp, 504, by=users_by_role["operator"])
            for _ in range(30):
                worker.run_once(timeout=0.02)
                other.run_once(timeout=0.02)
            run_until(lambda: state_of(write) == State.SENT and recorder.seen())
    finally:
        other.close()
    assert len(recorder.seen()) == 1


@pytest.mark.faults
def test_a_write_made_while_the_broker_is_down_expires_and_is_never_sent_when_it_returns(
    demo_plant: Plant, topic_root: str, users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    broker = Broker()
    broker.start()
    # The recorder's session outlives the broker's restart, so it would receive a late write.
    recorder = SetRecorder(topic_root, url=broker.url, session_expiry_s=600).start()
    worker = connected_worker(topic_root, url=broker.url)
    try:
        run_until(worker.writer.client.is_connected, worker.run_once)
        broker.stop()
        run_until(lambda: not worker.writer.client.is_connected(), worker.run_once)
        write = do_request_setpoint(
            fill_level_sp, 504, by=users_by_role["operator"], expires_in_s=1
        )
        run_until(lambda: state_of(write) == State.EXPIRED, worker.run_once)
        broker.start()
        run_until(worker.writer.client.is_connected, worker.run_once, timeout=40)
        run_until(recorder.client.is_connected, worker.run_once, timeout=40)
        marker = send_marker(
            worker, recorder, users_by_role["operator"]
        )  # sent with the broker back
        assert without(marker, recorder.seen()) == []
        assert state_of(write) == State.EXPIRED and write.sent_at is None
    finally:
        worker.close()
        recorder.stop()
        broker.close()


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"setpoint_max": 502.0},
         "the tag's limits changed to 480.0 to 502.0 ml before it was sent: not sent"),
        ({"writable": False}, "the tag was made read-only before it was sent: not sent"),
        ({"data_type": Tag.DataType.INT},
         "the tag's data type is now Integer, which 504.5 does not fit: not sent"),
    ],
    ids=["limits-narrowed", "made-read-only", "type-changed"],
)  # fmt: skip
def test_a_write_the_tag_no_longer_allows_when_it_is_sent_fails_and_is_never_published(
    worker: Worker, topic_root: str, users_by_role: dict[str, User], fill_level_sp: Tag,
    change: dict[str, object], detail: str,
) -> None:  # fmt: skip
    with recording(topic_root) as recorder:
        write = do_request_setpoint(fill_level_sp, 504.5, by=users_by_role["operator"])
        Tag.objects.filter(pk=fill_level_sp.pk).update(**change)  # an admin, before the send
        run_until(lambda: state_of(write) == State.FAILED, worker.run_once)
        marker = send_marker(
            worker, recorder, users_by_role["operator"]
        )  # more turns of the worker sent nothing either
    assert write.detail == detail and write.sent_at is None
    assert without(marker, recorder.seen()) == []


def test_an_outbox_row_that_skipped_the_checks_fails_and_is_never_published(
    worker: Worker, topic_root: str, fill_level_sp: Tag, users_by_role: dict[str, User]
) -> None:
    now = timezone.now()
    with recording(topic_root) as recorder:
        # Written straight into the table, not through do_request_setpoint.
        write = SetpointWrite.objects.create(
            tag=fill_level_sp, value=900.0, requested_at=now, expires_at=now + timedelta(seconds=10)
        )
        run_until(lambda: state_of(write) == State.FAILED, worker.run_once)
        marker = send_marker(worker, recorder, users_by_role["operator"])
    assert (
        write.detail == "the tag's limits changed to 480.0 to 520.0 ml before it was sent: not sent"
    )
    assert without(marker, recorder.seen()) == []
