"""Watches the broker for messages it dropped: the one loss the worker cannot see itself.

A broker that runs out of queue for a slow or absent subscriber (Mosquitto's
`max_queued_messages`, or its byte cap) drops QoS 1 messages after the publisher had its
PUBACK: nobody gets an error. Mosquitto counts them in the retained
`$SYS/broker/publish/messages/dropped` (published when it changes, every `sys_interval`);
the worker subscribes to it and raises the system alarm `broker.dropped` when the count grows.
Other brokers publish their own counters (EMQX: `$SYS/brokers/<node>/metrics/...` through its
API); add their topics to `DROPPED_TOPICS`.
"""

from __future__ import annotations

import logging
import threading
import time

from ingest import metrics
from plant import system_health

log = logging.getLogger(__name__)

DROPPED_TOPICS = ("$SYS/broker/publish/messages/dropped",)
ALARM_KEY = "broker.dropped"
CLEAR_AFTER_S = 3600.0  # an hour without a new drop clears the alarm (the count stays)


class BrokerWatch:
    """Holds the broker's dropped-message count as it arrives (network thread) and raises the
    alarm from the worker's thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.dropped: int | None = None  # the broker's count, as last reported
        self.alarmed_at: int | None = None  # the count the alarm last reported
        self.grew_at = 0.0  # monotonic time of the last growth

    def on_message(self, topic: str, payload: bytes) -> None:
        """A $SYS message (paho's network thread): remember the count; never raises."""
        if topic not in DROPPED_TOPICS:
            return
        try:
            count = int(payload.decode("ascii").strip()[:20])
        except ValueError:
            log.warning("broker sent a dropped count that is not a number: %r", payload[:40])
            return
        metrics.BROKER_DROPPED.set(count)
        with self.lock:
            if self.dropped is None or count > self.dropped:
                self.grew_at = time.monotonic()
            self.dropped = count

    def step(self) -> None:
        """Raise or clear the alarm as the count says (worker thread; needs the database)."""
        with self.lock:
            dropped, grew_at = self.dropped, self.grew_at
        if dropped and dropped != self.alarmed_at:
            system_health.do_raise_system_alarm(
                ALARM_KEY,
                f"The broker has dropped {dropped:,} messages since it started: values are "
                "missing from the historian",
                detail="its queue for a slow or absent subscriber was full; raise "
                "max_queued_messages (config/mosquitto/mosquitto.conf) or fix the outage",
            )
            self.alarmed_at = dropped
        elif self.alarmed_at and time.monotonic() - grew_at >= CLEAR_AFTER_S:
            system_health.do_clear_system_alarm(ALARM_KEY)
            self.alarmed_at = None
