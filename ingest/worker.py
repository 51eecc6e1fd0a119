"""The ingest worker: MQTT telemetry into the historian, acknowledged only once committed."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from datetime import datetime

import paho.mqtt.client as mqtt
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections
from django.utils import timezone
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest import metrics, retention
from ingest.alarm_engine import AlarmEngine
from ingest.batch import Deadband, Decoded, Message, Row, decode_messages
from ingest.broker_watch import DROPPED_TOPICS, BrokerWatch
from ingest.derived import DerivedRunner, Job
from ingest.derived_jobs import default_jobs
from ingest.livepush import LIVE_PUSH_INTERVAL_S, LivePublisher
from ingest.loop_runner import LoopRunner
from ingest.mqtt import SET_SUFFIX, make_client
from ingest.neuron.gateway import NEURON_FILTER
from ingest.neuron.gateway import Gateways as NeuronGateways
from ingest.paho_fast import Publish, ack_all
from ingest.part_guard import PartGuard
from ingest.setpoint_writer import Writer
from ingest.sparkplug.host import STATE_PREFIX as SPARKPLUG_STATE
from ingest.sparkplug.host import TOPIC_FILTER as SPARKPLUG_TOPICS
from ingest.sparkplug.host import Deferred as SparkplugDeferred
from ingest.sparkplug.host import Host as SparkplugHost
from ingest.store import Stored, store, store_apart
from ingest.tagcache import TagCache
from plant import rollups, system_health

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps our queue for a week of worker downtime
RECEIVE_MAXIMUM = 50_000  # unacknowledged messages in flight: our bounded buffer
TAG_REFRESH_S = 2.0
# A batch also ends at this many payload bytes, so gateway messages of 50 values each make
# batches of tens of thousands of samples, not hundreds of thousands.
BATCH_BYTES = 512 * 1024
# Each tag's latest value is written at most this often. Writing it with every batch cost more
# than the samples themselves at 1,000 tags; history is complete either way, and the screens
# get their values from the live push.
LATEST_INTERVAL_S = 0.25
CONTROL_PREFIX = "_sim/"  # the simulator's control topics: not telemetry
# The largest packet the broker may send us: payloads over 64 KiB are refused anyway
# (ingest.payloads), and this leaves room for a long topic. With Receive Maximum it bounds
# the memory the worker holds.
MAX_PACKET_BYTES = 128 * 1024
HEALTHY_TURN_S = 30.0  # the health check fails when the main loop has not turned for this long
PURGE_S = 300.0  # old rejected messages and unknown topics are purged this often


class Worker:
    """Moves telemetry from MQTT into the historian without losing a message.

    QoS 1, a fixed client id and a persistent session make the broker keep every message we
    have not acknowledged. We acknowledge a message only after its batch has committed, so a
    crash of the worker, the broker or the database costs a redelivery, never a loss. MQTT 5's
    Receive Maximum bounds what we hold: beyond it, the broker queues for us.

    The worker's parts (storage, the alarm engine, the setpoint writer, the control loops, the
    live push, its heartbeat, the broker watch) each step behind their own guard
    (ingest.part_guard): one part's exception is logged, counted and raised as a system alarm,
    and stops none of the others. `run_once` steps them in plain sight.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client_id: str = "scada-ingest",
        topic_root: str = "",
        share_group: str = "",
        batch_size: int = 10_000,
        receive_maximum: int = RECEIVE_MAXIMUM,
        live_interval: float = LIVE_PUSH_INTERVAL_S,
        session_expiry_s: int = SESSION_EXPIRY_S,
        watchdog_s: float = 0.0,
        sparkplug_host_id: str | None = None,
        derived_jobs: list[Job] | None = None,
    ) -> None:
        self.client_id = client_id
        self.topic_root = topic_root
        self.topic_filter = f"{topic_root}#"
        self.subscription = (
            f"$share/{share_group}/{self.topic_filter}" if share_group else self.topic_filter
        )
        self.batch_size = batch_size
        self.receive_maximum = receive_maximum
        self.session_expiry_s = session_expiry_s
        self.inbox: deque[Message] = deque()
        self.arrived = threading.Event()
        self.pending: list[Message] = []  # received, not yet committed (kept across retries)
        self.generation = 0
        self.last_received_us = 0  # epoch microseconds given to the last message received
        self.connected_once = False
        self.stopping = False
        self.retry_at = 0.0
        self.backoff = 0.5
        self.tags = TagCache()
        self.deadband = Deadband()
        self.next_refresh = 0.0
        self.latest: dict[int, Row] = {}  # newest value per tag not yet written to the table
        self.latest_due = 0.0
        self.guard = PartGuard()
        self.live = LivePublisher(self.tags, interval=live_interval, guard=self.guard)
        self.alarms = AlarmEngine()  # alarm conditions, in memory; changes via the actions
        self.writer = Writer(url, client_id=client_id)  # setpoint writes
        self.loops = LoopRunner(client_id)  # the control loops (a lease lets one worker run each)
        self.broker = BrokerWatch()
        # Analytics whose results are tag values (ingest.derived), leased like the loops.
        jobs = default_jobs() if derived_jobs is None else derived_jobs
        self.derived = DerivedRunner(jobs, self.tags, client_id=client_id, guard=self.guard)
        self.started_at = timezone.now()
        self.committed_at: datetime | None = None
        self.next_beat = 0.0
        self.next_purge = 0.0
        self.next_fold = 0.0
        self.turned_at = time.monotonic()  # the main loop's last turn (watchdog, health)
        self.watchdog_s = watchdog_s
        self.client, self.address = make_client(client_id, url=url, manual_ack=True, fast=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish_batch = self._on_publishes  # type: ignore[attr-defined]
        self.subscribed = threading.Event()  # tests and benchmarks wait on it
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.network = threading.Thread(target=self._network, name="mqtt", daemon=True)
        # The Sparkplug B host application: its spBv1.0/# lies outside our topic root.
        host_id = settings.SPARKPLUG_HOST_ID if sparkplug_host_id is None else sparkplug_host_id
        self.sparkplug = SparkplugHost(host_id, self.tags, self.client.publish) if host_id else None
        self.sparkplug_subscription = (
            f"$share/{share_group}/{SPARKPLUG_TOPICS}" if share_group else SPARKPLUG_TOPICS
        )
        # Neuron gateways (plant.neuron): their /neuron/... topics lie outside our root too.
        self.neuron = NeuronGateways(self.tags)
        self.neuron_on = settings.NEURON_ENABLED
        self.neuron_subscription = (
            f"$share/{share_group}/{NEURON_FILTER}" if share_group else NEURON_FILTER
        )

    # --- paho's network thread: only fills the inbox -------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: mqtt.ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        self.generation += 1
        metrics.CONNECTED.set(1)
        if self.connected_once:
            metrics.RECONNECTS.inc()
        self.connected_once = True
        resumed = "resumed session" if flags.session_present else "new session"
        log.info("connected to %s:%s (%s)", self.address.host, self.address.port, resumed)
        # The broker's own counters arrive at QoS 0 beside the telemetry: never queued for us.
        sparkplug = [(self.sparkplug_subscription, 1)] if self.sparkplug and self.topic_root else []
        neuron = [(self.neuron_subscription, 1)] if self.topic_root and self.neuron_on else []
        client.subscribe(
            [(self.subscription, 1), *sparkplug, *neuron, *((t, 0) for t in DROPPED_TOPICS)]
        )
        if self.sparkplug:
            self.sparkplug.on_connect(client)  # after subscribing, as the spec asks of a host

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: mqtt.ReasonCode,
        properties: Properties | None,
    ) -> None:
        metrics.CONNECTED.set(0)
        if not self.stopping:
            log.warning("lost the broker (%s): reconnecting with backoff", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        """A message paho decoded itself (QoS 0 or 2, or one split across reads)."""
        if msg.topic.startswith("$SYS/"):
            self.broker.on_message(msg.topic, msg.payload)
            return
        self._on_publishes([(msg.topic, msg.payload, msg.mid)], msg.qos)

    def _on_publishes(self, publishes: list[Publish], qos: int = 1) -> None:
        """Whole QoS 1 PUBLISH packets from the fast path (see FastClient), in arrival order."""
        was_empty = not self.inbox
        # A value without its own time is stamped with its time of receipt, and (tag, time) is
        # the samples' key: messages cut from one read get whole microseconds one apart, in
        # order (the table keeps microseconds), so two values of one tag are both kept.
        now_us = max(time.time_ns() // 1000, self.last_received_us + 1)
        generation = self.generation
        self.inbox.extend(
            [
                Message(topic, payload, (now_us + i) / 1e6, mid, qos, generation)
                for i, (topic, payload, mid) in enumerate(publishes)
            ]
        )
        self.last_received_us = now_us + len(publishes) - 1
        if was_empty:
            self.arrived.set()

    def _network(self) -> None:
        """paho's network loop, restarted if it ever raises (a bug, a packet paho chokes on).

        paho's own `loop_start` thread would die silently on such an exception: no reconnect,
        and a worker that looks alive. Here the exception is logged and counted, and the
        connection is made again; what was received on it and not acknowledged, the broker
        sends again (persistent session).
        """
        while not self.stopping:
            try:
                self.client.loop_forever(retry_first_connection=True)
            except Exception as exc:
                metrics.NETWORK_RESTARTS.inc()
                self.guard.failed("network", exc)
                threading.Event().wait(1.0)  # a bug that raises at once must not spin
                with contextlib.suppress(Exception):
                    self.client.reconnect()
            else:
                return  # disconnect() was called: we are stopping

    # --- the main thread --------------------------------------------------------------------

    def connect(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.session_expiry_s
        properties.ReceiveMaximum = self.receive_maximum
        # The broker sends nothing bigger: what we hold is bounded by Receive Maximum times this.
        properties.MaximumPacketSize = MAX_PACKET_BYTES
        if self.sparkplug:
            self.client.will_set(*self.sparkplug.will(), qos=1, retain=True)
        self.client.connect_async(
            self.address.host,
            self.address.port,
            keepalive=30,
            clean_start=False,
            properties=properties,
        )
        metrics.HEALTHY.set_function(lambda: 1.0 if self.healthy() else 0.0)
        self.network.start()
        self.live.start()
        self.writer.connect()
        if self.watchdog_s:
            threading.Thread(target=self._watchdog, name="watchdog", daemon=True).start()

    def healthy(self) -> bool:
        """The main loop turned lately and the network thread lives (the health check)."""
        return self.network.is_alive() and time.monotonic() - self.turned_at < HEALTHY_TURN_S

    def _watchdog(self) -> None:
        """Exit the process if the main loop stalls (a query that never returns, a deadlock).

        Nothing in-process can unstick it, and Docker does not restart an unhealthy container
        by itself; an exit makes `restart:` (and `manage.py run`) start a fresh worker, and
        the broker redelivers what was not acknowledged.
        """
        while not self.stopping:
            threading.Event().wait(min(5.0, self.watchdog_s / 4))
            stalled = time.monotonic() - self.turned_at
            if stalled > self.watchdog_s and not self.stopping:
                log.critical("main loop stalled for %.0f s: exiting to be restarted", stalled)
                logging.shutdown()
                os._exit(3)

    def run(self) -> None:
        self.connect()
        try:
            while not self.stopping:
                self.run_once()
            self.run_once(timeout=0)  # commit and acknowledge what is in hand
            self._flush_latest(force=True)
        finally:
            self.close()

    def stop(self) -> None:
        self.stopping = True
        self.arrived.set()

    def close(self) -> None:
        """Leave without committing what is in hand (tests use it to play a crash)."""
        self.stopping = True
        self.live.stop()
        self.writer.close()
        if self.sparkplug:
            with contextlib.suppress(Exception):
                self.sparkplug.offline(self.client)
        self.client.disconnect()
        if self.network.is_alive():
            self.network.join(5)

    def run_once(self, timeout: float = 0.1) -> int:
        """One turn: every part steps behind its own guard; return the messages stored."""
        self.turned_at = time.monotonic()
        metrics.LOOP_AT.set(time.time())
        guard = self.guard.run
        guard("tags", self._refresh_tags)
        guard("alarms", self.alarms.step)  # throttled inside: reloads, delays, comm loss, shelves
        guard("writer", self.writer.step)  # throttled inside: a few outbox reads a second
        guard("loops", self.loops.step, timezone.now())  # once a second
        guard("derived", self._derive)  # each job once per its period, behind its own guard
        guard("health", self._beat)  # every HEARTBEAT_S: heartbeat and system alarms
        guard("broker", self.broker.step)
        guard("retention", self._purge)  # every PURGE_S
        guard("rollups", self._fold)  # every rollups.FOLD_S, on plain PostgreSQL
        return guard("storage", self._take_and_store, timeout) or 0

    def _take_and_store(self, timeout: float) -> int:
        """Store, acknowledge and hand over one batch; return how many messages it held."""
        if not self.pending:
            if not self.inbox and timeout:
                self.arrived.wait(timeout)
            self.arrived.clear()
            self.pending = self._drain()
            if self.sparkplug:  # held past the Reorder Timeout: stored before what came after
                self.pending[:0] = self.sparkplug.overdue()
        elif time.monotonic() < self.retry_at:
            self.arrived.wait(min(timeout, self.retry_at - time.monotonic()))
            return 0
        metrics.BUFFER.set(len(self.pending) + len(self.inbox))
        if not self.pending:
            self._flush_latest()
            return 0
        return self._commit(self.pending)

    def _beat(self) -> None:
        now = time.monotonic()
        if now < self.next_beat:
            return
        self.next_beat = now + system_health.HEARTBEAT_S
        self.guard.sync()
        oldest = self.pending[0] if self.pending else (self.inbox[0] if self.inbox else None)
        system_health.do_beat(
            self.client_id, started_at=self.started_at, committed_at=self.committed_at,
            lag_s=max(0.0, time.time() - oldest.received) if oldest else 0.0,
            buffered=len(self.pending) + len(self.inbox),
            broker_connected=self.client.is_connected(),
        )  # fmt: skip

    def _purge(self) -> None:
        now = time.monotonic()
        if now < self.next_purge:
            return
        self.next_purge = now + PURGE_S
        purged = retention.purge_rejections(timezone.now())
        if purged:
            log.info("retention: purged %d old rejected messages and unknown topics", purged)

    def _fold(self) -> None:
        """Fold the samples' pending partial minutes into the rollups (plant/rollups.py)."""
        now = time.monotonic()
        if now < self.next_fold:
            return
        self.next_fold = now + rollups.FOLD_S
        if rollups.rollups_available():
            rollups.fold()

    def _flush_latest(self, force: bool = False) -> None:
        """Write held latest values when due and no batch is coming to carry them."""
        if not self.latest or (not force and time.monotonic() < self.latest_due):
            return
        if force:
            self.latest_due = 0.0
        try:
            self._store([], Decoded())
        except DatabaseError as exc:
            log.warning("cannot write latest values (%s): will retry", exc)

    def _drain(self) -> list[Message]:
        inbox, batch, size = self.inbox, [], 0
        for _ in range(min(len(inbox), self.batch_size)):
            if size > BATCH_BYTES:
                break
            message = inbox.popleft()
            size += len(message.payload)
            if message.topic.endswith(SET_SUFFIX) or message.topic.startswith(
                self.topic_root + CONTROL_PREFIX
            ):
                self.client.ack(message.mid, message.qos)  # commands, not telemetry
                continue
            if self.sparkplug and message.topic.startswith(SPARKPLUG_STATE):
                self.sparkplug.on_state(message.topic, message.payload)  # hosts, not telemetry
                self.client.ack(message.mid, message.qos)
                continue
            batch.append(message)
        return batch

    def _commit(self, batch: list[Message]) -> int:
        started = time.monotonic()
        if self.sparkplug:
            try:  # births and deaths first: the data after them resolves against them
                batch = self.sparkplug.prepare(batch)  # less what waits for its seq's turn
            except SparkplugDeferred as exc:
                self.pending = exc.batch  # held messages released into it are kept too
                self._db_down(exc)
                return 0
            except (OperationalError, InterfaceError) as exc:
                self._db_down(exc)
                return 0
            # A failed store retries this batch: the held messages it released belong to it.
            self.pending = batch
        try:
            self.neuron.prepare(batch)  # Neuron gateways' uploads, responses and status
        except (OperationalError, InterfaceError) as exc:
            self._db_down(exc)
            return 0
        decoded = decode_messages(batch, self.tags, self.deadband)
        try:
            stored = self._store(batch, decoded)
        except (OperationalError, InterfaceError) as exc:
            self._db_down(exc)
            return 0
        self.deadband.commit()
        self.pending = []
        self._ack(batch)
        self.committed_at = timezone.now()
        self._account(batch, decoded, stored, started)
        self._committed(decoded)
        if self.neuron.responses:
            self.guard.run("writer", self.writer.on_neuron_responses, self.neuron.take_responses())
        return len(batch)

    def _committed(self, decoded: Decoded) -> None:
        """What depends on committed values (a batch's or a derived job's), each guarded."""
        self.guard.run("live", self.live.offer, decoded.latest, time.time())
        self.guard.run("alarms", self.alarms.evaluate, decoded)  # may request emergency writes
        self.guard.run("writer", self.writer.on_values, decoded.latest)  # setpoint readbacks

    def _derive(self) -> None:
        """Run the derived jobs that are due; their values go where a batch's go."""
        for decoded in self.derived.step(timezone.now()):
            self._committed(decoded)

    def _store(self, batch: list[Message], decoded: Decoded) -> Stored:
        merge_latest(self.latest, decoded.latest)
        now = time.monotonic()
        latest = list(self.latest.values()) if now >= self.latest_due else []
        try:
            stored = store(decoded, latest)
        except (OperationalError, InterfaceError):
            self.deadband.rollback()
            raise
        except Exception as exc:
            # The database refused the batch's content (not its connection), or a bug tripped
            # on it: store what goes message by message, and keep each refusal with its reason.
            self.deadband.rollback()
            log.warning("batch refused (%s): storing one by one", str(exc).splitlines()[:1])
            return _store_one_by_one(batch, self.tags, self.deadband)
        if latest:
            self.latest.clear()
            self.latest_due = now + LATEST_INTERVAL_S
        return stored

    def _db_down(self, exc: Exception) -> None:
        metrics.DB_ERRORS.inc()
        log.warning(
            "database unavailable (%s): holding %d messages unacknowledged, retry in %.1fs",
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            len(self.pending),
            self.backoff,
        )
        close_old_connections()
        from django.db import connection

        connection.close_if_unusable_or_obsolete()
        connection.close()
        self.retry_at = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, 30.0)

    def _ack(self, batch: list[Message]) -> None:
        if self.backoff > 0.5:
            log.info("database back: caught up %d messages", len(batch))
        self.backoff = 0.5
        generation = self.generation
        # A message from an earlier connection is re-sent by the broker; acking its id on this
        # connection would acknowledge a different message.
        mids = [m.mid for m in batch if m.qos == 1 and m.generation == generation]
        ack_all(self.client, mids)

    def _account(
        self, batch: list[Message], decoded: Decoded, stored: Stored, started: float
    ) -> None:
        metrics.RECEIVED.inc(len(batch))
        metrics.STORED.inc(stored.inserted)
        metrics.DEDUPLICATED.inc(stored.duplicates)
        metrics.REJECTED.inc(stored.rejected)
        metrics.FILTERED.inc(decoded.filtered)
        metrics.BATCH_SECONDS.observe(time.monotonic() - started)
        metrics.BATCH_SIZE.observe(len(batch))
        if decoded.newest:
            now = time.time()
            metrics.LAG.set(max(0.0, now - decoded.newest))
            metrics.COMMIT_LATENCY.observe(max(0.0, now - decoded.oldest))

    def _refresh_tags(self) -> None:
        now = time.monotonic()
        if now < self.next_refresh:
            return
        self.next_refresh = now + TAG_REFRESH_S
        try:
            if self.tags.refresh():
                log.info("tag table loaded: %d tags", len(self.tags.by_id))
        except (OperationalError, InterfaceError) as exc:
            log.warning("cannot read the tag table (%s): keeping the last one", exc)
            from django.db import connection

            connection.close()


def merge_latest(into: dict[int, Row], rows: dict[int, Row]) -> None:
    """Keep the newer of two values per tag (messages may arrive out of time order).

    A held value timed in the future always gives way, as in store.LATEST_SQL: the batch
    times latest values no later than their receipt, so only a bug could hold one, and it
    must not freeze the tag's live value.
    """
    now = timezone.now()
    for tag_id, row in rows.items():
        held = into.get(tag_id)
        if held is None or held.time <= row.time or held.time > now:
            into[tag_id] = row


def _store_one_by_one(batch: list[Message], tags: TagCache, deadband: Deadband) -> Stored:
    """Store a batch the database refused as a whole, so that a bad message costs only
    itself: halves, then smaller parts, each in its own transaction (store.store_apart)."""
    return store_apart(batch, tags, deadband)
