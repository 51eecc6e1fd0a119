"""The client factory's speed-ups keep paho's behaviour: properties, URLs, buffered reads."""

from __future__ import annotations

import itertools
import queue
import uuid

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest import paho_fast
from ingest.mqtt import make_client, parse_url
from ingest.paho_fast import BufferedSocket, FastClient


def test_urls_carry_credentials_and_tls() -> None:
    address = parse_url("mqtts://ingest:s%40cret@broker.example:8884")
    assert (address.host, address.port, address.tls) == ("broker.example", 8884, True)
    assert (address.username, address.password) == ("ingest", "s@cret")
    assert parse_url("mqtt://127.0.0.1").port == 1883
    with pytest.raises(ValueError, match="mqtt:// or mqtts://"):
        parse_url("http://127.0.0.1:1883")


def test_the_fast_client_is_only_for_the_paho_version_it_was_written_for(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert make_client(manual_ack=True, fast=True)[0].__class__ is FastClient
    assert make_client()[0].__class__ is mqtt.Client  # the writer, the simulator: stock paho
    monkeypatch.setattr(paho_fast, "PAHO_VERSION", "0.0.0")
    client, _ = make_client(manual_ack=True, fast=True)
    assert client.__class__ is mqtt.Client
    assert "written for 0.0.0: using stock paho" in caplog.text


UNIT_ML = Properties(PacketTypes.PUBLISH)
UNIT_ML.UserProperty = ("unit", "ml")


def started_sender() -> mqtt.Client:
    """A publishing client on the test broker, its network loop running."""
    sender, address = make_client()
    sender.connect(address.host, address.port)
    sender.loop_start()
    return sender


def test_messages_with_and_without_properties_arrive_intact(topic_root: str) -> None:
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    client, address = make_client(f"test-{uuid.uuid4().hex[:8]}")
    client.on_message = lambda _c, _u, message: received.put(message)
    client.connect(address.host, address.port)
    client.subscribe(f"{topic_root}#", qos=1)
    client.loop_start()
    try:
        sender = started_sender()
        sender.publish(f"{topic_root}a", b"1.5", qos=1).wait_for_publish(5)
        sender.publish(f"{topic_root}b", b"x" * 100_000, qos=1, properties=UNIT_ML)
        first, second = received.get(timeout=5), received.get(timeout=5)
        sender.loop_stop()
    finally:
        client.loop_stop()
    assert (first.topic, first.payload) == (f"{topic_root}a", b"1.5")
    assert second.payload == b"x" * 100_000  # longer than one buffered read
    assert second.properties.UserProperty == [("unit", "ml")]


def publish_packet(topic: str, payload: bytes, mid: int, qos: int = 1, props: bytes = b"") -> bytes:
    """An MQTT 5 PUBLISH packet as a broker sends it."""
    body = len(topic.encode()).to_bytes(2, "big") + topic.encode()
    if qos:
        body += mid.to_bytes(2, "big")
    body += encode_varint(len(props)) + props + payload
    return bytes([0x30 | qos << 1]) + encode_varint(len(body)) + body


def encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


class ChunkedSocket:
    """Hands out a byte stream in the given chunks, then 'would block', as a socket does."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def recv(self, bufsize: int) -> bytes:
        if not self.chunks:
            raise BlockingIOError
        chunk = self.chunks.pop(0)
        if len(chunk) > bufsize:
            self.chunks.insert(0, chunk[bufsize:])
        return chunk[:bufsize]


packets = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=30),
        st.binary(max_size=300),
        st.integers(1, 65535),
        st.sampled_from([1, 1, 1, 0, 2]),
        st.sampled_from([b"", b"\x03\x00\x10application/json"]),
    ),
    max_size=20,
)


@given(packets, st.lists(st.integers(1, 400), max_size=10))
def test_the_fast_path_takes_whole_qos1_publishes_and_leaves_the_rest(
    sent: list[tuple[str, bytes, int, int, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(publish_packet(t, p, m, q, props) for t, p, m, q, props in sent)
    chunks, at = [], 0
    for cut in cuts:
        chunks.append(stream[at : at + cut])
        at += cut
    chunks.append(stream[at:])
    chunks = [chunk for chunk in chunks if chunk]
    sock = BufferedSocket(ChunkedSocket(list(chunks)))
    taken = []
    for _ in chunks:  # one read per chunk, as a socket's data arrives
        assert sock.fill()
        taken += sock.take_publishes(mqtt5=True)
    prefix = list(itertools.takewhile(lambda packet: packet[3] == 1, sent))
    # What it took is exactly the QoS 1 messages before the first of another QoS, in order...
    assert taken == [(topic, payload, mid) for topic, payload, mid, _, _ in prefix]
    # ...and what it left starts at the first packet it did not take, byte for byte.
    consumed = sum(len(publish_packet(*packet)) for packet in prefix)
    assert (sock.recv(sock.pending()) if sock.pending() else b"") == stream[consumed:]


@pytest.mark.parametrize(
    "malformed",
    [
        b"\x32\x05\x00\x09ab\x00",  # a topic of 9 bytes in a packet of 5
        b"\x32\x06\x00\x01a\x00\x01\x09",  # 9 bytes of properties in a packet with none
        b"\x32\x01\x00",  # too short for a topic length
    ],
)
def test_the_fast_path_leaves_a_malformed_publish_to_paho_untouched(malformed: bytes) -> None:
    good = publish_packet("t", b"1", 7)
    sock = BufferedSocket(ChunkedSocket([malformed + good]))
    assert sock.fill()
    assert sock.take_publishes(mqtt5=True) == []
    assert sock.recv(sock.pending()) == malformed + good


def test_the_fast_path_hands_over_batches_and_leaves_other_packets_to_paho(
    topic_root: str,
) -> None:
    batches: queue.Queue[list[tuple[str, bytes, int]]] = queue.Queue()
    slow: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    client, address = make_client(f"test-{uuid.uuid4().hex[:8]}", manual_ack=True, fast=True)

    def take(publishes: list[tuple[str, bytes, int]]) -> None:
        batches.put(publishes)
        for _, _, mid in publishes:
            client.ack(mid, 1)

    client.on_publish_batch = take  # type: ignore[attr-defined]
    client.on_message = lambda _c, _u, message: slow.put(message)
    client.connect(address.host, address.port)
    client.subscribe(f"{topic_root}#", qos=1)
    client.loop_start()
    try:
        sender = started_sender()
        for i in range(200):
            sender.publish(f"{topic_root}fast", b"%d" % i, qos=1)
        sender.publish(f"{topic_root}props", b"2.5", qos=1, properties=UNIT_ML)
        sender.publish(f"{topic_root}qos0", b"3.5", qos=0)
        sender.publish(f"{topic_root}big", b"x" * 1_000_000, qos=1).wait_for_publish(5)
        sender.loop_stop()
        fast: list[tuple[str, bytes, int]] = []
        while len(fast) < 201:
            fast += batches.get(timeout=5)
        plain = [slow.get(timeout=5), slow.get(timeout=5)]
    finally:
        client.loop_stop()
    assert [payload for topic, payload, _ in fast if topic.endswith("fast")] == [
        b"%d" % i for i in range(200)
    ]
    assert (f"{topic_root}props", b"2.5") in [(t, p) for t, p, _ in fast]
    # A packet longer than one read and a QoS 0 message go through paho, in their place.
    assert [(m.topic, m.payload, m.qos) for m in plain] == [
        (f"{topic_root}qos0", b"3.5", 0),
        (f"{topic_root}big", b"x" * 1_000_000, 1),
    ]
