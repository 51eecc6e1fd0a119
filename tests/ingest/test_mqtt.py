"""The client factory's speed-ups keep paho's behaviour: properties, URLs, buffered reads."""

from __future__ import annotations

import queue
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.mqtt import LazyPublishProperties, make_client, parse_url


def test_urls_carry_credentials_and_tls() -> None:
    address = parse_url("mqtts://ingest:s%40cret@broker.example:8884")
    assert (address.host, address.port, address.tls) == ("broker.example", 8884, True)
    assert (address.username, address.password) == ("ingest", "s@cret")
    assert parse_url("mqtt://127.0.0.1").port == 1883
    with pytest.raises(ValueError, match="mqtt:// or mqtts://"):
        parse_url("http://127.0.0.1:1883")


def test_publish_properties_are_parsed_only_when_present() -> None:
    empty = LazyPublishProperties(PacketTypes.PUBLISH)
    assert empty.unpack(b"\x00payload") == (empty, 1)
    assert not hasattr(empty, "ContentType")
    sent = Properties(PacketTypes.PUBLISH)
    sent.ContentType = "application/json"
    full = LazyPublishProperties(PacketTypes.PUBLISH)
    _, length = full.unpack(sent.pack() + b"payload")
    assert length == len(sent.pack()) and full.ContentType == "application/json"


def test_messages_with_and_without_properties_arrive_intact(topic_root: str) -> None:
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    client, address = make_client(f"test-{uuid.uuid4().hex[:8]}")
    client.on_message = lambda _c, _u, message: received.put(message)
    client.connect(address.host, address.port)
    client.subscribe(f"{topic_root}#", qos=1)
    client.loop_start()
    try:
        sender, _ = make_client()
        sender.connect(address.host, address.port)
        sender.loop_start()
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = ("unit", "ml")
        sender.publish(f"{topic_root}a", b"1.5", qos=1).wait_for_publish(5)
        sender.publish(f"{topic_root}b", b"x" * 100_000, qos=1, properties=properties)
        first, second = received.get(timeout=5), received.get(timeout=5)
        sender.loop_stop()
    finally:
        client.loop_stop()
    assert (first.topic, first.payload) == (f"{topic_root}a", b"1.5")
    assert second.payload == b"x" * 100_000  # longer than one buffered read
    assert second.properties.UserProperty == [("unit", "ml")]
