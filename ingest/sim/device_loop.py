"""The run loop a simulated device with one MQTT client shares (json_device, neuron_device):
tick when due, and between ticks handle the commands paho's thread put in the inbox."""

from __future__ import annotations

import queue
import time

import paho.mqtt.client as mqtt

from ingest.mqtt import BrokerAddress


class OneClientLoop:
    """connect(), run() until stop(), run_once(); the device supplies tick() and handle()."""

    client: mqtt.Client
    address: BrokerAddress
    inbox: queue.Queue[mqtt.MQTTMessage]
    last_step: float
    next_tick: float
    stopping: bool

    def tick(self, now: float) -> None:
        raise NotImplementedError

    def handle(self, message: mqtt.MQTTMessage) -> None:
        raise NotImplementedError

    def connect(self) -> None:
        """Connect and start paho's network thread; OSError if the broker is unreachable."""
        self.client.connect(self.address.host, self.address.port)
        self.client.loop_start()

    def run(self) -> None:
        """Publish and obey commands until stop(); call connect() first."""
        self.last_step = self.next_tick = time.monotonic()
        try:
            while not self.stopping:
                self.run_once()
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def stop(self) -> None:
        """Ask run() to return; safe from a signal handler (it only sets a flag)."""
        self.stopping = True

    def run_once(self, max_wait: float = 0.2) -> None:
        """Tick if due, then handle a command that arrives before the next tick (if any)."""
        now = time.monotonic()
        if now >= self.next_tick:
            self.tick(now)
        wait = min(max_wait, max(0.0, self.next_tick - time.monotonic()))
        try:
            message = self.inbox.get(timeout=wait)
        except queue.Empty:
            return
        self.handle(message)
