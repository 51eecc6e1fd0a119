"""The setpoint writer: sends queued writes to devices and matches the devices' readbacks.

It runs inside the ingest worker (ingest/worker.py calls `step()` on every turn of its loop
and `on_values()` after every committed batch, each behind its own guard), with an MQTT client
of its own:

- A pending write is claimed with a conditional UPDATE, published at QoS 1 on
  `<tag topic>/set` with its id and expiry (also as the MQTT 5 message expiry), and marked
  sent when the broker acknowledges it (PUBACK).
- It is published only while connected, and a message paho still holds when the connection
  drops is discarded on reconnect, never resent: a write that could not be handed over
  before its expiry is marked expired and is never sent later.
- Just before publishing, the write is checked again against the tag as it is now (writable,
  type, setpoint limits: plant.setpoints.send_problem); one that no longer passes fails, unsent.
- The readback is the device publishing the value on the tag's own topic, where the worker
  receives it (`on_values` gets each value's time of receipt beside it: ingest.batch.Latest).
  A readback that echoes the write's id (`{"v": ..., "id": ...}`) answers that write alone; a
  wrong id answers nothing and is logged. Once a tag's device has echoed an id, only echoes
  answer its writes (Tag.echoes_write_id). Otherwise a value received after the broker's
  PUBACK (and not stamped before the write) answers it.
- An answer within the tag's readback tolerance confirms the write; another value that is
  still the latest `FAIL_GRACE_S` after sending fails it (a heartbeat of the old value may
  cross the write); nothing before `READBACK_TIMEOUT_S` times it out.
"""

from __future__ import annotations

import logging
import math
import queue
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.batch import Echo, Row
from ingest.mqtt import make_client, set_topic
from ingest.neuron import commands as neuron_commands
from ingest.payloads import Scalar, SetpointCommand, encode_setpoint
from ingest.sparkplug.commands import command_for
from plant import neuron, setpoints
from plant.actions.setpoints import (
    do_claim_setpoint,
    do_confirm_setpoint,
    do_expire_setpoint,
    do_fail_setpoint,
    do_mark_setpoint_sent,
    do_note_gateway_accepted,
    do_note_write_id_echo,
    do_time_out_setpoint,
)
from plant.models import SetpointWrite, Tag
from plant.quality import Quality
from plant.setpoints import READBACK_TIMEOUT_S, fmt

log = logging.getLogger(__name__)

POLL_S = 0.1  # how often the outbox is read: the latency from a click to the publish
FAIL_GRACE_S = 1.0
CLOCK_SLACK = timedelta(seconds=1)  # device clocks drift; values stamped earlier are old ones
STALE_CLAIM = timedelta(seconds=30)  # a claim this far past expiry belongs to a dead writer
BATCH = 50
State = SetpointWrite.State


@dataclass
class Awaited:
    """A write whose readback we wait for: published here, or sent by any writer."""

    write_id: int
    tag_id: int
    topic: str
    command_id: str  # the id published with the write, which an echo carries back
    value: float
    tolerance: float
    claimed_at: datetime
    sent_at: datetime | None = None  # when the broker's PUBACK arrived
    differing: float | None = None  # the latest other value the device reported
    early: float | None = None  # an echo of its id that came before its PUBACK was taken


class Writer:
    """Publishes the setpoint outbox and resolves each write against the device's readback."""

    def __init__(
        self, url: str | None = None, *, client_id: str = "scada-ingest",
        readback_timeout_s: float = READBACK_TIMEOUT_S,
    ) -> None:  # fmt: skip
        self.client, self.address = make_client(f"{client_id}-writer", url=url)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        # (kind, MQTT message id, reason, epoch seconds when paho's thread saw it)
        self.events: queue.SimpleQueue[tuple[str, int, str, float]] = queue.SimpleQueue()
        self.in_flight: dict[int, int] = {}  # MQTT message id → write id, until PUBACK
        self.dropped: set[int] = set()  # writes whose message was discarded on a reconnect
        self.awaited: dict[int, Awaited] = {}
        self.echoing: set[int] = set()  # tags whose devices echo write ids (Tag.echoes_write_id)
        self.timeout = timedelta(seconds=readback_timeout_s)
        self.next_poll = 0.0
        self.db_down = False

    def connect(self) -> None:
        self.client.connect_async(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # --- paho's network thread: only queues events --------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason: mqtt.ReasonCode, properties: object) -> None:  # fmt: skip
        # paho would resend what was in flight when the connection dropped; a write must not
        # reach a device late, so it goes, and its write expires instead.
        for message in client.drop_out_messages():
            self.events.put(("dropped", message.mid, "", time.time()))
        if not reason.is_failure:
            log.info("setpoint writer connected to %s:%s", self.address.host, self.address.port)

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int,
                    reason: mqtt.ReasonCode, properties: object) -> None:  # fmt: skip
        # Stamped here, not when the worker's thread takes it: a readback counts only if it
        # was received after this moment, and the worker's thread may be busy for a while.
        self.events.put(("refused" if reason.is_failure else "acked", mid, str(reason),
                         time.time()))  # fmt: skip

    # --- the worker's thread --------------------------------------------------------------

    def step(self, now: datetime | None = None) -> None:
        """Expire, time out, publish and mark sent what is due; cheap when nothing is."""
        if time.monotonic() < self.next_poll:
            return
        self.next_poll = time.monotonic() + POLL_S
        now = now or timezone.now()
        try:
            self._take_events(now)
            self._expire(now)
            self._resolve_overdue(now)
            self._send_pending(now)
            self._refresh_awaited()
        except (OperationalError, InterfaceError) as exc:
            self._on_db_error(exc)
            return
        if self.db_down:
            log.info("setpoint writer: database back")
        self.db_down = False

    def on_values(self, latest: dict[int, Row], now: datetime | None = None) -> None:
        """Match a committed batch's readbacks against the writes awaiting them.

        `latest` is the batch's newest row per tag; as the worker hands it over (an
        ingest.batch.Latest) it also holds each row's time of receipt and the readbacks that
        echoed a write's id. Without those (a plain dict), rows are matched on their own
        time, which is never later than their receipt, and no id is seen.
        """
        now = now or timezone.now()
        try:
            self._take_events(now)
            if not self.awaited:
                return
            received: dict[int, float] = getattr(latest, "received", {})
            echoes: list[Echo] = getattr(latest, "echoes", [])
            for echo in echoes:
                self._match_echo(echo, now)
            echoed = {(echo.tag_id, echo.received) for echo in echoes}
            for awaited in list(self.awaited.values()):
                row = latest.get(awaited.tag_id)
                at = received.get(awaited.tag_id)
                # An echo was judged by its id above; a tag whose device echoes takes no other.
                if row is None or awaited.tag_id in self.echoing or (row.tag_id, at) in echoed:
                    continue
                self._match_value(awaited, row, row.time if at is None else _utc(at), now)
        except (OperationalError, InterfaceError) as exc:
            self._on_db_error(exc)

    def on_neuron_responses(
        self, responses: list[tuple[str, int, float]], now: datetime | None = None
    ) -> None:
        """Neuron gateways' write responses: error 0 accepted, any other code failed."""
        now = now or timezone.now()
        for uuid, error, _received in responses:
            try:
                write_id = (
                    SetpointWrite.objects.filter(command_id=uuid).values_list("pk", flat=True)
                ).first()
            except (ValueError, ValidationError):
                write_id = None  # not a uuid of ours
            if write_id is None:
                log.warning("Neuron write response for unknown uuid %.60r", uuid)
            elif error == neuron.WRITE_OK:
                do_note_gateway_accepted(write_id)
            else:
                do_fail_setpoint(write_id, detail=neuron.refusal_detail(error), now=now)
                self.awaited.pop(write_id, None)

    def _match_value(self, awaited: Awaited, row: Row, received: datetime, now: datetime) -> None:
        """A value without an id: the readback of a device that does not echo ids."""
        at, value = row.time, row.value
        if value is None or row.quality == Quality.BAD or awaited.sent_at is None:
            return
        # Only a value the worker received after the broker had the write can answer it;
        # one stamped before the write is an old value arriving late (a gateway's buffer).
        if received <= awaited.sent_at or at < awaited.claimed_at - CLOCK_SLACK:
            return
        self._answer(awaited, value, now)

    def _match_echo(self, echo: Echo, now: datetime) -> None:
        """A readback carrying a write's id: it answers that write and no other."""
        mine = [a for a in self.awaited.values() if a.tag_id == echo.tag_id]
        awaited = next((a for a in mine if a.command_id == echo.write_id), None)
        if awaited is None:
            if mine:  # a stray id while a write is open: a confused or forged readback
                log.warning("readback on %s carries the id %.40r, not that of its open write "
                            "%s: it confirms nothing", mine[0].topic, echo.write_id,
                            mine[0].write_id)  # fmt: skip
            return
        # The id proves the device had the write, so the broker had it: an echo may reach us
        # before the broker's PUBACK does, but never before the write was handed over.
        if echo.received < awaited.claimed_at.timestamp():
            log.warning("write %s: an echo of its id came before it was sent", awaited.write_id)
            return
        if echo.value is None or echo.quality == Quality.BAD:
            return
        self._learn_echoing(awaited)
        if awaited.sent_at is None:
            awaited.early = echo.value  # answered once its PUBACK is taken
        else:
            self._answer(awaited, echo.value, now)

    def _learn_echoing(self, awaited: Awaited) -> None:
        if awaited.tag_id in self.echoing:
            return
        self.echoing.add(awaited.tag_id)
        if do_note_write_id_echo(awaited.tag_id):
            log.info("%s: its device echoes write ids; only such echoes confirm its writes now",
                     awaited.topic)  # fmt: skip

    def _answer(self, awaited: Awaited, value: float, now: datetime) -> None:
        if abs(value - awaited.value) <= awaited.tolerance + 1e-9:
            do_confirm_setpoint(awaited.write_id, value, now=now)
            self.awaited.pop(awaited.write_id, None)
        else:
            awaited.differing = value

    def _take_events(self, now: datetime) -> None:
        while True:
            try:
                kind, mid, reason, seen_at = self.events.get_nowait()
            except queue.Empty:
                return
            write_id = self.in_flight.pop(mid, None)
            if write_id is None:
                continue
            if kind == "acked":
                self._on_sent(write_id, _utc(seen_at), now)
            elif kind == "refused":
                do_fail_setpoint(write_id, detail=f"the broker refused it: {reason}", now=now)
            elif kind == "dropped":
                self.dropped.add(write_id)
                log.warning(
                    "write %s: connection lost before the broker had it; not resent", write_id
                )

    def _on_sent(self, write_id: int, acked_at: datetime, now: datetime) -> None:
        if not do_mark_setpoint_sent(write_id, now=acked_at):
            return
        awaited = self.awaited.get(write_id)
        if awaited is not None:
            awaited.sent_at = acked_at
            if awaited.early is not None:
                self._answer(awaited, awaited.early, now)

    def _expire(self, now: datetime) -> None:
        due = SetpointWrite.objects.filter(state=State.PENDING, expires_at__lte=now)
        for write_id, claimed_at, expires_at in due.values_list("pk", "claimed_at", "expires_at"):
            if write_id in self.in_flight.values():
                continue  # the broker has it or will answer; its PUBACK decides
            theirs = claimed_at and write_id not in self.dropped and now - expires_at < STALE_CLAIM
            if not theirs and do_expire_setpoint(write_id, now=now):
                self.dropped.discard(write_id)
                self.awaited.pop(write_id, None)
                log.warning("write %s expired before it could be sent; it never will be", write_id)

    def _resolve_overdue(self, now: datetime) -> None:
        for awaited in list(self.awaited.values()):
            sent_at = awaited.sent_at
            if sent_at is None:
                continue
            if awaited.differing is not None and now - sent_at >= timedelta(seconds=FAIL_GRACE_S):
                self._fail_differing(awaited, now)
            elif now - sent_at >= self.timeout:
                do_time_out_setpoint(awaited.write_id, now=now)
                self.awaited.pop(awaited.write_id, None)

    def _fail_differing(self, awaited: Awaited, now: datetime) -> None:
        assert awaited.differing is not None
        tag = Tag.objects.get(pk=awaited.tag_id)
        detail = (
            f"the device read back {fmt(tag, awaited.differing)}, not {fmt(tag, awaited.value)}"
        )
        do_fail_setpoint(awaited.write_id, detail=detail, readback=awaited.differing, now=now)
        self.awaited.pop(awaited.write_id, None)

    def _send_pending(self, now: datetime) -> None:
        if not self.client.is_connected():
            return  # left pending: sent once we are back, or expired if that is too late
        due = (
            SetpointWrite.objects.filter(state=State.PENDING, claimed_at=None, expires_at__gt=now)
            .select_related("tag")
            .order_by("requested_at")[:BATCH]
        )
        for write in due:
            if not do_claim_setpoint(write.pk, now=now):
                continue
            # The tag as it is now: its limits may have changed since the request, and the
            # row may not have come through do_request_setpoint at all.
            problem = setpoints.send_problem(write.tag, write.value)
            if problem:
                do_fail_setpoint(write.pk, detail=problem, now=now)
                log.warning("write %s to %s: %s", write.pk, write.tag.topic, problem)
            else:
                self._publish(write, now)

    def _publish(self, write: SetpointWrite, now: datetime) -> None:
        tag = write.tag
        command = SetpointCommand(typed(write.value, tag.data_type), str(write.command_id),
                                  now, write.expires_at)  # fmt: skip
        properties = Properties(PacketTypes.PUBLISH)
        properties.MessageExpiryInterval = max(
            1, math.ceil((write.expires_at - now).total_seconds())
        )
        sparkplug = command_for(tag.pk, write.value)
        request = None if sparkplug else neuron_commands.request_for(
            tag.pk, command.value, str(write.command_id)
        )  # fmt: skip
        if sparkplug is not None:
            # A Sparkplug tag: an NCMD/DCMD, at QoS 0 as the spec has commands.
            info = self.client.publish(*sparkplug, qos=0, properties=properties)
        elif request is not None:
            # A Neuron tag: a write request on its gateway's topic, our command id as uuid.
            info = self.client.publish(*request, qos=1, properties=properties)
        else:
            info = self.client.publish(
                set_topic(tag.topic), encode_setpoint(command), qos=1, properties=properties
            )
        self.in_flight[info.mid] = write.pk
        self.awaited[write.pk] = Awaited(write.pk, tag.pk, tag.topic, str(write.command_id),
                                         write.value, tag.readback_tolerance, now)  # fmt: skip
        # The tag row is read afresh for each write, so an admin's change of the mark counts.
        if tag.echoes_write_id:
            self.echoing.add(tag.pk)
        else:
            self.echoing.discard(tag.pk)
        log.info("write %s: %s ← %s (by %s)", write.pk, tag.topic, command.value,
                 write.user_id or "system")  # fmt: skip

    def _refresh_awaited(self) -> None:
        """Await every sent write, whoever sent it: the readback may reach another worker."""
        sent = SetpointWrite.objects.filter(state=State.SENT).values_list(
            "pk", "tag_id", "tag__topic", "command_id", "value", "tag__readback_tolerance",
            "claimed_at", "sent_at", "tag__echoes_write_id",
        )  # fmt: skip
        open_ids = set()
        for write_id, tag_id, topic, command_id, value, tolerance, claimed, sent_at, echoes in sent:
            open_ids.add(write_id)
            if write_id not in self.awaited:
                # A sent write carries when it was claimed and sent (plant.actions.setpoints);
                # a row that lost both (edited by hand) times out from the moment seen here.
                self.awaited[write_id] = Awaited(
                    write_id, tag_id, topic, str(command_id), value, tolerance,
                    claimed or sent_at or timezone.now(), sent_at,
                )  # fmt: skip
                if echoes:
                    self.echoing.add(tag_id)
        in_flight = set(self.in_flight.values())
        for write_id in list(self.awaited):
            if write_id not in open_ids and write_id not in in_flight:
                del self.awaited[write_id]  # finished, here or by another worker

    def _on_db_error(self, exc: Exception) -> None:
        if not self.db_down:
            log.warning("setpoint writer paused: database unavailable (%s)", exc)
        self.db_down = True
        self.next_poll = time.monotonic() + 1.0
        connection.close()


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def typed(value: float, data_type: str) -> Scalar:
    """The stored value in the tag's own JSON type: true/false, an integer or a number."""
    if data_type == Tag.DataType.BOOL:
        return bool(value)
    if data_type == Tag.DataType.INT:
        return int(value)
    return value
