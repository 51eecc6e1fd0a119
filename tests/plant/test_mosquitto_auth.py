"""The broker's files as text (plant.mosquitto_auth): the $7$ hash against mosquitto_passwd and
the real broker, the ACL builder and the configuration rewriter on any input (hypothesis)."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plant import mosquitto_auth
from plant.mosquitto_auth import (
    AuthFileError,
    Identity,
    Listener,
    acl_text,
    adapt_conf,
    check_filter,
    check_password,
    hash_password,
    parse_refusal,
    passwd_text,
)
from tests.services import SHIPPED_CONF, SecuredBroker

FAST = 2  # iterations for the property tests: the format is what they check, not the cost
passwords = st.text(min_size=1, max_size=40).filter(lambda p: "\0" not in p)
usernames = st.from_regex(mosquitto_auth.USERNAME_RE, fullmatch=True)
NOT_IN_A_LEVEL = st.characters(blacklist_characters="/+#",
                               blacklist_categories=["Cs", "Cc", "Zl", "Zp"])  # fmt: skip
level = st.text(NOT_IN_A_LEVEL, min_size=1, max_size=8).filter(lambda s: s == s.strip())
topics = st.lists(level, min_size=1, max_size=5).map("/".join)


@given(password=passwords, salt=st.binary(min_size=12, max_size=12))
def test_a_hash_verifies_its_own_password_and_no_other(password: str, salt: bytes) -> None:
    entry = hash_password(password, salt=salt, iterations=FAST)
    assert entry.startswith(f"$7${FAST}$")
    assert mosquitto_auth.HASH_RE.match(entry)
    assert check_password(password, entry)
    assert not check_password(password + "x", entry)
    assert hash_password(password, iterations=FAST) != entry  # a new salt each time


@pytest.mark.parametrize("entry", ["", "plain", "$6$abc$def", "$7$0$AAAA$AAAA", "$7$x$AA$AA"])
def test_anything_but_a_7_entry_verifies_nothing(entry: str) -> None:
    assert not check_password("secret", entry)


def test_an_empty_password_is_refused() -> None:
    with pytest.raises(AuthFileError, match="empty password"):
        hash_password("")


@pytest.mark.parametrize("password", ["secret", "pässwörd €", "with:colon and space", "x" * 200])
def test_an_entry_of_mosquitto_passwd_verifies_here(tmp_path: Path, password: str) -> None:
    path = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "alice", password], check=True)
    entry = path.read_text().strip().split(":", 1)[1]
    assert check_password(password, entry)
    assert not check_password(password[:-1] + "?", entry)


def connack(port: int, username: str, password: str) -> str:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    answered, result = threading.Event(), []
    client.on_connect = lambda c, u, f, reason, p: (result.append(str(reason)), answered.set())
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert answered.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0]


def test_the_real_broker_accepts_the_hashes_made_here_and_only_with_their_password() -> None:
    logins = {"plain": "secret", "unicode": "pässwörd €", "long": "y" * 300, "slow": "s"}
    ids = [Identity(name, hash_password(pw, iterations=50_000 if name == "slow" else 1000))
           for name, pw in logins.items()]  # fmt: skip
    broker = SecuredBroker()
    broker.write_auth(passwd_text(ids), acl_text(ids))
    broker.start()
    try:
        for name, password in logins.items():
            assert connack(broker.port, name, password) == "Success", name
            assert connack(broker.port, name, password + "!") == "Not authorized", name
    finally:
        broker.close()


@given(ids=st.lists(st.tuples(usernames, st.lists(topics, max_size=4),
                              st.lists(topics, max_size=4)), max_size=5,
                    unique_by=lambda t: t[0]))  # fmt: skip
@settings(max_examples=50)
def test_the_acl_grants_each_user_exactly_its_topics(ids: list) -> None:
    entry = hash_password("p", iterations=FAST)
    identities = [Identity(name, entry, tuple(write), tuple(read)) for name, write, read in ids]
    text = acl_text(identities)
    parsed: dict[str | None, dict[str, str]] = {None: {}}
    user = None
    for line in text.split("\n"):  # as Mosquitto reads it
        if line.startswith("user "):
            user = line.removeprefix("user ")
            parsed[user] = {}
        elif line.startswith("topic "):
            _, kind, topic = line.split(" ", 2)
            assert topic not in parsed[user], "one line per topic"
            parsed[user][topic] = kind
    assert parsed[None] == {"$SYS/#": "read"}
    for name, write, read in ids:
        expected = {t: "readwrite" if t in write and t in read else
                    "write" if t in write else "read" for t in {*write, *read}}  # fmt: skip
        assert parsed[name] == expected
    assert set(parsed) == {None, *(name for name, *_ in ids)}
    passwd = passwd_text(identities).splitlines()
    assert sorted(line.split(":", 1)[0] for line in passwd) == sorted(n for n, *_ in ids)


@pytest.mark.parametrize(
    "bad",
    ["a/#/b", "a/b#", "a+/b", "", "a\nuser ingest", " a/b", "a/b\r", "a/\0", "a\x1eb", "a\u2028b"],
)
def test_a_topic_that_would_break_or_widen_the_acl_is_refused(bad: str) -> None:
    with pytest.raises(AuthFileError):
        check_filter(bad)
    with pytest.raises(AuthFileError):
        Identity("dev", hash_password("p", iterations=FAST), write=(bad,))


@pytest.mark.parametrize("bad", ["", "a:b", "a b", "a\nb", "-lead", "x" * 65, "é"])
def test_a_user_name_the_files_cannot_hold_is_refused(bad: str) -> None:
    with pytest.raises(AuthFileError):
        Identity(bad, hash_password("p", iterations=FAST))


def test_two_identities_of_one_name_are_refused() -> None:
    entry = hash_password("p", iterations=FAST)
    with pytest.raises(AuthFileError, match="two identities"):
        passwd_text([Identity("dev", entry), Identity("dev", entry)])


@given(group=level, node=level)
def test_a_sparkplug_gateway_never_publishes_a_command(group: str, node: str) -> None:
    write, read = mosquitto_auth.sparkplug_gateway_grants(group, node)
    kinds = {topic.split("/")[2] for topic in write}
    assert kinds == {"NBIRTH", "NDEATH", "NDATA", "DBIRTH", "DDEATH", "DDATA"}
    assert all(topic.split("/")[3] == node for topic in write)
    assert {topic.split("/")[2] for topic in read} == {"NCMD", "DCMD", "+"}


@given(telemetry=st.lists(topics, max_size=6), writable=st.lists(topics, max_size=6))
def test_a_device_receives_only_the_set_topics_of_its_writable_tags(
    telemetry: list[str], writable: list[str]
) -> None:
    write, read = mosquitto_auth.device_grants(telemetry, writable)
    assert set(write) == set(telemetry)
    assert set(read) == {f"{t}/set" for t in writable}


def test_the_shipped_configuration_is_moved_listener_by_listener() -> None:
    shipped = SHIPPED_CONF.read_text()
    plain = adapt_conf(shipped, {8883: Listener(1999, tls=False), 1880: None},
                       {"password_file": "/x/passwd", "acl_file": "/x/acl"})  # fmt: skip
    lines = plain.splitlines()
    assert "listener 1999 127.0.0.1" in lines
    assert not any(line.startswith(("listener 8883", "listener 1880", "certfile", "keyfile"))
                   for line in lines)  # fmt: skip
    assert lines.count("password_file /x/passwd") == 1
    assert "allow_anonymous false" in lines and "allow_anonymous true" not in lines
    assert "per_listener_settings true" in lines
    assert "max_queued_messages 1000000" in lines
    tls = adapt_conf(shipped, {8883: Listener(1999), 1880: Listener(1998)},
                     {"certfile": "/c/s.crt", "keyfile": "/c/s.key"})  # fmt: skip
    assert "certfile /c/s.crt" in tls.splitlines() and "listener 1998 127.0.0.1" in tls


def test_a_listener_left_unnamed_or_a_path_not_found_is_an_error() -> None:
    shipped = SHIPPED_CONF.read_text()
    with pytest.raises(AuthFileError, match="not named"):
        adapt_conf(shipped, {8883: Listener(1)}, {})
    with pytest.raises(AuthFileError, match="no shipped listener 1883"):
        adapt_conf(shipped, {8883: None, 1880: None, 1883: None}, {})
    with pytest.raises(AuthFileError, match="no bogus_file"):
        adapt_conf(shipped, {8883: None, 1880: None}, {"bogus_file": "/x"})


def test_the_shipped_plant_listener_refuses_anonymous_clients_and_has_an_acl() -> None:
    blocks = SHIPPED_CONF.read_text().split("\nlistener ")[1:]
    plant = next(b for b in blocks if b.startswith("8883"))
    health = next(b for b in blocks if b.startswith("1880"))
    assert "allow_anonymous false" in plant.splitlines()
    assert {"password_file /mosquitto/auth/passwd", "acl_file /mosquitto/auth/acl",
            "certfile /mosquitto/certs/server.crt"} <= set(plant.splitlines())  # fmt: skip
    assert health.splitlines()[0] == "1880 127.0.0.1"
    assert "acl_file /mosquitto/auth/acl" in health.splitlines()
    assert len(blocks) == 2  # no plain listener for the plant network
    # Unflushed stdout would hold its log back from a pipe (Docker, run's refusal watch).
    assert "log_dest stderr" in SHIPPED_CONF.read_text().split("\nlistener ")[0].splitlines()


@pytest.mark.parametrize(
    ("line", "kind", "client"),
    [("2026-12-02T20:49:36: Client <unknown> disconnected, not authorised.", "login",
      "<unknown>"),
     ("1700000000: Client dev-7 [10.0.0.5:1234] disconnected, not authorised.", "login", "dev-7"),
     ("t: Denied PUBLISH from dev-7 (d0, q1, r0, m2, 'kestrel/a/b/set', ... (4 bytes))",
      "publish", "dev-7"),
     ("t: New client connected from 127.0.0.1:42957 as dev (p5, c1, k60, u'dev').", None, None)],
)  # fmt: skip
def test_the_brokers_refusals_are_read_off_its_log(line: str, kind: str | None,
                                                   client: str | None) -> None:  # fmt: skip
    refusal = parse_refusal(line)
    assert (refusal.kind, refusal.client_id) == (kind, client) if refusal else kind is None


def test_the_shipped_log_file_is_moved_or_dropped() -> None:
    shipped = SHIPPED_CONF.read_text()
    listeners = {8883: Listener(1999, tls=False), 1880: None}
    dropped = adapt_conf(shipped, listeners, {}).splitlines()  # `manage.py run` reads stderr
    assert not any(line.startswith("log_dest file") for line in dropped)
    assert "log_dest stderr" in dropped
    moved = adapt_conf(shipped, listeners, {}, log_file="/t/log/m.log").splitlines()
    assert [line for line in moved if line.startswith("log_dest")] == [
        "log_dest stderr", "log_dest file /t/log/m.log"]  # fmt: skip
    with pytest.raises(AuthFileError, match="no log_dest file"):
        adapt_conf(shipped.replace("log_dest file", "# log_dest file"), listeners, {},
                   log_file="/t/m.log")  # fmt: skip
