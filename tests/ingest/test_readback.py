"""Which readback may confirm a setpoint write, on the real broker and database: only one the
worker received after the write was sent and, from a device that echoes ids, only one that
carries the write's own id. Everyone who may publish a tag's topic can send a value; few
can send it at the right time with the right id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from ingest.payloads import SetpointCommand, encode_value, utcnow
from ingest.worker import Worker
from plant.actions.setpoints import do_request_setpoint
from plant.models import Plant, SetpointWrite, Tag
from tests.builders import demo_tag, record_value
from tests.devices import connected_worker, device
from tests.waiting import run_until

pytestmark = pytest.mark.django_db
State = SetpointWrite.State
OPEN = (State.PENDING, State.SENT)


@pytest.fixture
def worker(demo_plant: Plant, topic_root: str) -> Iterator[Worker]:
    worker = connected_worker(topic_root)
    run_until(worker.writer.client.is_connected, worker.run_once)
    worker.writer.timeout = timedelta(seconds=1)  # an unconfirmed write ends soon
    yield worker
    worker.close()


@pytest.fixture
def fill_level_sp(demo_plant: Plant) -> Tag:
    tag = demo_tag(demo_plant, "fill_level_sp")  # readback tolerance 0.05 ml
    record_value(tag, 500.0)
    return tag


@pytest.fixture
def operator(users_by_role: dict[str, User]) -> User:
    return users_by_role["operator"]


def finish(write: SetpointWrite, worker: Worker) -> SetpointWrite:
    """Turn the worker until the write reaches its final state; return it as stored."""

    def final() -> bool:
        write.refresh_from_db()
        return write.state not in OPEN

    run_until(final, worker.run_once)
    return write


def echo(command: SetpointCommand) -> bytes:
    """What a device that echoes ids reads back once it has applied a write."""
    return encode_value(command.value, utcnow(), write_id=command.id)


def plain(command: SetpointCommand) -> bytes:
    """What a device that does not echo ids reads back."""
    return encode_value(command.value, utcnow())


def wrong_id(command: SetpointCommand) -> bytes:
    """A readback that names some other write."""
    return encode_value(command.value, utcnow(), write_id="not-this-write")


def clock_behind(command: SetpointCommand) -> bytes:
    """An echo from a device whose clock is ten minutes slow."""
    return encode_value(command.value, utcnow() - timedelta(minutes=10), write_id=command.id)


def sent_next_turn(worker: Worker) -> None:
    """Let the next turn of the worker publish the outbox before it stores what it holds."""
    worker.writer.next_poll = 0.0


def test_a_heartbeat_received_before_the_write_was_sent_does_not_confirm_it(
    worker: Worker, operator: User, fill_level_sp: Tag
) -> None:
    with device(fill_level_sp.topic, lambda c: None) as dev:  # it does not echo ids
        dev.publish(encode_value(500.0, utcnow()))  # its heartbeat of the present value
        run_until(lambda: worker.inbox)  # received by the worker, not stored yet
        write = do_request_setpoint(fill_level_sp, 500.0, by=operator)
        sent_next_turn(worker)
        worker.run_once()  # sends the write, then stores the heartbeat
        # Then the device answers with what it applied, a little off the request.
        dev.publish(encode_value(500.04, utcnow()))
        finish(write, worker)
    assert write.state == State.CONFIRMED
    assert write.readback == 500.04  # the device's answer, not the heartbeat that crossed it


def test_an_echo_of_the_writes_id_sent_before_the_write_does_not_confirm_it(
    worker: Worker, operator: User, fill_level_sp: Tag, caplog: pytest.LogCaptureFixture
) -> None:
    with device(fill_level_sp.topic, lambda c: None) as dev:  # a device that never answers
        write = do_request_setpoint(fill_level_sp, 504.0, by=operator)
        # Someone who learnt the id from the outbox answers for the device, ahead of time.
        dev.publish(encode_value(504.0, utcnow(), write_id=str(write.command_id)))
        run_until(lambda: worker.inbox)
        sent_next_turn(worker)
        finish(write, worker)
    assert write.state == State.TIMED_OUT
    assert f"write {write.pk}: an echo of its id came before it was sent" in caplog.text


def test_a_readback_with_another_writes_id_never_confirms_and_is_logged(
    worker: Worker, operator: User, fill_level_sp: Tag, caplog: pytest.LogCaptureFixture
) -> None:
    with device(fill_level_sp.topic, wrong_id):
        write = finish(do_request_setpoint(fill_level_sp, 504.0, by=operator), worker)
    assert write.state == State.TIMED_OUT and write.readback is None
    assert f"carries the id 'not-this-write', not that of its open write {write.pk}" in caplog.text


def test_an_echo_of_the_writes_id_confirms_it_whatever_the_device_clock_says(
    worker: Worker, operator: User, fill_level_sp: Tag
) -> None:
    with device(fill_level_sp.topic, clock_behind):
        write = finish(do_request_setpoint(fill_level_sp, 504.0, by=operator), worker)
    assert (write.state, write.readback) == (State.CONFIRMED, 504.0)
    assert write.sent_at is not None and write.sent_at <= write.finished_at


def test_once_a_device_has_echoed_a_write_id_a_plain_value_no_longer_confirms_its_writes(
    worker: Worker, operator: User, fill_level_sp: Tag
) -> None:
    with device(fill_level_sp.topic, echo) as dev:
        first = finish(do_request_setpoint(fill_level_sp, 504.0, by=operator), worker)
        fill_level_sp.refresh_from_db()
        assert first.state == State.CONFIRMED and fill_level_sp.echoes_write_id
        # Now something else answers in the device's place, with the right value and no id.
        dev.answer = plain
        wait = first.requested_at + timedelta(seconds=0.6)  # one write per tag every 0.5 s
        run_until(lambda: timezone.now() > wait, worker.run_once)
        second = finish(do_request_setpoint(fill_level_sp, 506.0, by=operator), worker)
    assert second.state == State.TIMED_OUT and second.readback is None


def test_a_tag_an_admin_marks_as_echoing_takes_no_readback_without_the_writes_id(
    worker: Worker, operator: User, fill_level_sp: Tag
) -> None:
    Tag.objects.filter(pk=fill_level_sp.pk).update(echoes_write_id=True)
    with device(fill_level_sp.topic, plain):
        write = finish(do_request_setpoint(fill_level_sp, 504.0, by=operator), worker)
    assert write.state == State.TIMED_OUT
