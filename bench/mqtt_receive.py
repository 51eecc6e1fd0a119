"""How fast the worker's MQTT client receives QoS 1 messages, with nothing else to do.

    python bench/mqtt_receive.py --messages 100000

Queues the messages in a private Mosquitto for a persistent session, then drains them with
`ingest.mqtt.make_client` (manual acknowledgement, acknowledged in batches as the worker does)
and, for comparison, with a stock paho client acknowledging each message.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

import django
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from bench.fastpub import FastPublisher  # noqa: E402
from ingest.mqtt import make_client  # noqa: E402
from ingest.paho_fast import Publish, ack_all  # noqa: E402
from tests.services import Broker  # noqa: E402


def connect(client: mqtt.Client, port: int) -> None:
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    properties.ReceiveMaximum = 50_000
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)


def drain(client: mqtt.Client, port: int, n: int, batched: bool) -> float:
    mids: collections.deque[int] = collections.deque()
    got = [0]

    def on_message(c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        if batched:
            mids.append(message.mid)
        else:
            c.ack(message.mid, message.qos)
        got[0] += 1

    def on_publishes(publishes: list[Publish]) -> None:  # the worker's fast path
        mids.extend(mid for _, _, mid in publishes)
        got[0] += len(publishes)

    client.on_message = on_message
    if batched:
        client.on_publish_batch = on_publishes  # type: ignore[attr-defined]
    connect(client, port)
    client.loop_start()
    started = time.perf_counter()
    while got[0] < n and time.perf_counter() - started < 120:
        ack_all(client, [mids.popleft() for _ in range(len(mids))])
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    client.loop_stop()
    return got[0] / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    n = parser.parse_args().messages
    for name in ("ingest.mqtt.make_client", "stock paho"):
        broker = Broker()
        broker.start()
        try:
            if name == "stock paho":
                client = mqtt.Client(
                    mqtt.CallbackAPIVersion.VERSION2,
                    client_id="recv",
                    protocol=mqtt.MQTTv5,
                    manual_ack=True,
                )
            else:
                client, _ = make_client("recv", url=broker.url, manual_ack=True, fast=True)
            connect(client, broker.port)
            client.subscribe("x/#", qos=1)
            client.loop(1)
            client.loop(1)
            client.disconnect()
            payload = b'{"v":1.5,"ts":1790000000000}'
            FastPublisher(broker.port, "pub").publish_all(
                (f"x/t{i % 1000}", payload) for i in range(n)
            )
            rate = drain(client, broker.port, n, batched=name != "stock paho")
            print(f"{name}: {rate:,.0f} messages/s received and acknowledged")
        finally:
            broker.close()


if __name__ == "__main__":
    main()
