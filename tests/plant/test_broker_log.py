"""The broker's log, followed for refused logins: the follower on plain files (rotation,
truncation, partial lines, a missing file, the read limit), the parser with hypothesis, and
the real Mosquitto from the shipped configuration writing its log file as in compose, its
refusals becoming security events through rotation, SIGHUP and truncation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given
from hypothesis import strategies as st

from plant.broker_log import (
    READ_LIMIT,
    LogFollower,
    RefusalRecorder,
    refused_login_detail,
    rotate_if_over,
)
from plant.models import SecurityEvent
from plant.mosquitto_auth import Identity, acl_text, hash_password, passwd_text
from tests.services import SecuredBroker
from tests.waiting import run_until

ROOT_DIR = Path(__file__).resolve().parent.parent.parent
REFUSED = "2026-12-03T07:43:16: Client <unknown> disconnected, not authorised.\n"
OTHER = "2026-12-03T07:43:16: New connection from 127.0.0.1:50778 on port 18999.\n"
REFUSED_KIND = SecurityEvent.Kind.MQTT_IDENTITY_REFUSED

# --- the parser -------------------------------------------------------------------------------

client_ids = st.text(st.characters(blacklist_categories=("Zs", "Cc")), min_size=1, max_size=30)
client_ids = client_ids.filter(lambda s: not any(c.isspace() for c in s))
stamps = st.one_of(st.integers(0, 2**40).map(str), st.just("2026-12-03T07:43:16"))


@given(stamp=stamps, client=client_ids, address=st.one_of(st.none(), st.just("10.0.0.5:1234")))
def test_every_refused_login_line_is_recognised_and_quoted(
    stamp: str, client: str, address: str | None
) -> None:
    where = f"[{address}] " if address else ""
    line = f"{stamp}: Client {client} {where}disconnected, not authorised."
    detail = refused_login_detail(line)
    assert detail is not None and detail.endswith(line)


@given(stamp=stamps, client=client_ids)
def test_lines_of_other_kinds_are_no_refused_login(stamp: str, client: str) -> None:
    for line in (f"{stamp}: New client connected from 127.0.0.1:1 as {client} (p5, c1, k60).",
                 f"{stamp}: Denied PUBLISH from {client} (d0, q1, r0, m2, 'a/b', ... (4 bytes))",
                 f"{stamp}: Client {client} disconnected."):  # fmt: skip
        assert refused_login_detail(line) is None


# --- the follower on plain files ---------------------------------------------------------------


# Any text a file can hold (no lone surrogates, which UTF-8 cannot encode), without line ends.
LINE_TEXT = st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r")


@given(lines=st.lists(st.text(LINE_TEXT, max_size=40), max_size=20),
       cuts=st.lists(st.integers(0, 2000), max_size=10))  # fmt: skip
def test_however_the_writes_are_cut_each_complete_line_comes_out_once_in_order(
    lines: list[str], cuts: list[int]
) -> None:
    data = "".join(f"{line}\n" for line in lines).encode()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log"
        path.write_bytes(b"")
        follower = LogFollower(path)
        out: list[str] = []
        start = 0
        for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
            with path.open("ab") as file:
                file.write(data[start:cut])
            start = max(start, cut)
            out += follower.read_lines()
        follower.close()
    assert out == [line.encode().decode() for line in lines]


def test_a_partial_last_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text("")
    follower = LogFollower(path)
    with path.open("a") as file:
        file.write(REFUSED[:20])
    assert follower.read_lines() == []
    with path.open("a") as file:
        file.write(REFUSED[20:])
    assert follower.read_lines() == [REFUSED.rstrip("\n")]


def test_an_existing_file_is_read_from_its_end_and_a_missing_one_from_its_start(
    tmp_path: Path,
) -> None:
    old = tmp_path / "old"
    old.write_text(REFUSED * 3)
    follower = LogFollower(old)
    assert follower.read_lines() == []  # seen before a restart
    with old.open("a") as file:
        file.write(OTHER)
    assert follower.read_lines() == [OTHER.rstrip("\n")]
    later = LogFollower(tmp_path / "later")
    assert later.read_lines() == []  # not there yet: fine, and tried again
    (tmp_path / "later").write_text(REFUSED)
    assert later.read_lines() == [REFUSED.rstrip("\n")]


def test_after_rotation_the_old_file_is_read_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text("")
    follower = LogFollower(path)
    with path.open("a") as writer:  # the broker's open file, as across a rename
        writer.write("one\n")
        os.replace(path, tmp_path / "log.1")
        writer.write("two\n")
        writer.flush()
        assert follower.read_lines() == ["one", "two"]  # no new file yet: the old one goes on
        writer.write("three, unfinished")
    path.write_text("four\n")  # the broker reopened its log
    assert follower.read_lines() == ["three, unfinished", "four"]


def test_a_truncated_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text("")
    follower = LogFollower(path)
    with path.open("a") as file:
        file.write(OTHER * 5 + "half")
    assert len(follower.read_lines()) == 5
    path.write_text("after\n")
    assert follower.read_lines() == ["after"]


def test_one_pass_reads_at_most_one_mebibyte(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text("")
    follower = LogFollower(path)
    count = 3 * READ_LIMIT // len(OTHER) + 1
    path.write_text(OTHER * count)
    passes = []
    while len(passes) < 10 and (lines := follower.read_lines()):
        passes.append(len(lines))
    # A pass may also complete the line the one before it left unfinished.
    assert max(passes) <= READ_LIMIT // len(OTHER) + 1 and len(passes) >= 4
    assert sum(passes) == count


def test_rotation_replaces_the_older_file_and_tells_the_process(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text("x" * 100)
    (tmp_path / "log.1").write_text("older")
    # SIGHUP at its default (a shell's nohup hands it down ignored), said once it is.
    child = "import signal; signal.signal(signal.SIGHUP, signal.SIG_DFL); print(1, flush=True); "
    sleeper = subprocess.Popen([sys.executable, "-c", child + "signal.pause()"],
                               stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert sleeper.stdout is not None and sleeper.stdout.readline() == b"1\n"
        assert not rotate_if_over(path, 100, sleeper.pid)  # not over
        assert rotate_if_over(path, 99, sleeper.pid)
        assert sleeper.wait(10) == -signal.SIGHUP
    finally:
        sleeper.kill()
        sleeper.wait()
        sleeper.stdout.close() if sleeper.stdout else None
    assert (tmp_path / "log.1").read_text() == "x" * 100 and not path.exists()
    assert not rotate_if_over(path, 0, sleeper.pid)  # no file: nothing to do


# --- the real broker ----------------------------------------------------------------------------


@pytest.fixture
def broker() -> Iterator[SecuredBroker]:
    """The shipped configuration writing its log file, one login (not the one we try)."""
    broker = SecuredBroker(log_file=True)
    entry = hash_password("right-password-0123")
    broker.write_auth(passwd_text([Identity("ingest", entry)]),
                      acl_text([Identity("ingest", entry, read=("#",))]))  # fmt: skip
    broker.start()
    yield broker
    broker.close()


def refused_login(broker: SecuredBroker) -> None:
    """A client with a wrong password, turned away by the broker."""
    result = subprocess.run(
        ["mosquitto_pub", "-p", str(broker.port), "-u", "ingest", "-P", "wrong", "-t", "a",
         "-m", "b"], capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert result.returncode != 0 and "not authorised" in result.stderr


def recorded_until(recorder: RefusalRecorder, count: int) -> None:
    run_until(lambda: SecurityEvent.objects.filter(kind=REFUSED_KIND).count() >= count,
              step=recorder.run_once)  # fmt: skip
    assert SecurityEvent.objects.filter(kind=REFUSED_KIND).count() == count


@pytest.mark.django_db
def test_a_wrong_password_on_the_broker_becomes_a_security_event(broker: SecuredBroker) -> None:
    recorder = RefusalRecorder(LogFollower(broker.log_file), source="broker log test")
    refused_login(broker)
    recorded_until(recorder, 1)
    event = SecurityEvent.objects.get(kind=REFUSED_KIND)
    assert event.source == "broker log test"
    assert "disconnected, not authorised." in event.detail
    assert recorder.run_once() == 0  # recorded once


@pytest.mark.django_db
def test_the_old_lines_of_an_existing_log_are_not_recorded_again(broker: SecuredBroker) -> None:
    refused_login(broker)
    run_until(lambda: "not authorised" in broker.log_file.read_text())
    recorder = RefusalRecorder(LogFollower(broker.log_file), source="broker log test")
    assert recorder.run_once() == 0  # a restarted follower: that one was seen before
    refused_login(broker)
    recorded_until(recorder, 1)


@pytest.mark.django_db
def test_recording_goes_on_across_rotation_and_the_brokers_sighup(broker: SecuredBroker) -> None:
    assert broker.proc is not None
    recorder = RefusalRecorder(LogFollower(broker.log_file), source="broker log test")
    refused_login(broker)
    recorded_until(recorder, 1)
    os.replace(broker.log_file, f"{broker.log_file}.1")
    refused_login(broker)  # still written to the renamed file: the broker has not reopened it
    recorded_until(recorder, 2)
    os.kill(broker.proc.pid, signal.SIGHUP)
    run_until(broker.log_file.exists)
    refused_login(broker)
    recorded_until(recorder, 3)
    assert rotate_if_over(broker.log_file, 0, broker.proc.pid)  # the helper does both steps
    refused_login(broker)
    recorded_until(recorder, 4)


@pytest.mark.django_db
def test_recording_goes_on_after_the_log_is_truncated(broker: SecuredBroker) -> None:
    recorder = RefusalRecorder(LogFollower(broker.log_file), source="broker log test")
    refused_login(broker)
    recorded_until(recorder, 1)
    os.truncate(broker.log_file, 0)
    refused_login(broker)
    recorded_until(recorder, 2)


# --- the command ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--follow-log", "/tmp/x.log"], "--follow-log needs --watch"),
     (["--watch", "1", "--follow-log", "/tmp/x.log", "--rotate-bytes", "9"], "--reload-pid"),
     (["--watch", "1", "--reload-pid", "1", "--rotate-bytes", "9"], "--follow-log"),
     (["--watch", "1", "--follow-log", "/x", "--rotate-bytes", "-1"], "must be 0")],
)  # fmt: skip
def test_log_options_that_cannot_work_are_refused(
    tmp_path: Path, options: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("broker_access", "--dir", str(tmp_path), *options, stdout=StringIO())
    assert not (tmp_path / "passwd").exists()  # refused before anything was written


@pytest.mark.usefixtures("committed_db")  # the child process reads what the test commits
def test_the_watching_command_records_refused_logins_and_rotates_the_log(
    broker: SecuredBroker,
) -> None:
    """compose's broker-access service: `--watch S --follow-log PATH --rotate-bytes N`."""
    from django.db import connection

    assert broker.proc is not None
    database = f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}"
    env = {**os.environ, "DATABASE_URL": database, "LOG_LEVEL": "WARNING",
           "MQTT_URL": "mqtt://ingest:right-password-0123@127.0.0.1:1"}  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="scada-watch-"))
    argv = [sys.executable, "manage.py", "broker_access", "--dir", str(folder), "--watch", "0.2",
            "--reload-pid", str(broker.proc.pid), "--follow-log", str(broker.log_file),
            "--rotate-bytes", "1"]  # fmt: skip
    watcher = subprocess.Popen(argv, cwd=ROOT_DIR, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout is not None
        run_until(lambda: "following" in watcher.stdout.readline())  # type: ignore[union-attr]
        refused_login(broker)
        run_until(lambda: SecurityEvent.objects.filter(kind=REFUSED_KIND).count() == 1)
        run_until(Path(f"{broker.log_file}.1").exists)  # over 1 byte: rotated
        refused_login(broker)
        run_until(lambda: SecurityEvent.objects.filter(kind=REFUSED_KIND).count() == 2)
    finally:
        watcher.terminate()
        watcher.wait(10)
    assert watcher.returncode == 0
    assert SecurityEvent.objects.filter(kind=REFUSED_KIND).count() == 2
