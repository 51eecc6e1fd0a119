"""What keeping the broker's logins current costs: one `broker_access` pass, and a reload.

    python bench/broker_access.py --tags 10000

A database of its own holds a plant of --tags tags (20 a machine, every fifth writable) and a
device identity per machine. It prints the time of a pass that changes nothing (what
`manage.py run` and compose's broker-access pay every few seconds), of one that adds a device,
the size of the files, and how long after the SIGHUP the new device is let in by a real broker.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.services import SecuredBroker, fresh_database

NAME = "scada_bench_broker_access"
os.environ["DATABASE_URL"] = fresh_database(NAME)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["MQTT_URL"] = "mqtt://ingest:bench-ingest-password@127.0.0.1:1"
os.environ["SIMULATOR_MQTT_URL"] = "mqtt://simulator:bench-simulator-password@127.0.0.1:1"
django.setup()

import paho.mqtt.client as mqtt  # noqa: E402

from plant.broker_access import write_broker_files  # noqa: E402
from plant.models import DeviceIdentity, Line, Machine, Plant, Tag  # noqa: E402
from plant.mosquitto_auth import hash_password  # noqa: E402


def build(tags: int) -> Plant:
    plant = Plant.objects.create(name="Big", slug="big")
    line = Line.objects.create(plant=plant, name="L", slug="l")
    machines = Machine.objects.bulk_create(
        Machine(line=line, name=f"M{m}", slug=f"m{m}") for m in range(max(1, tags // 20))
    )
    Tag.objects.bulk_create(
        Tag(machine=machines[n // 20 % len(machines)], key=f"t{n}",
            topic=f"big/l/m{n // 20 % len(machines)}/t{n}", writable=n % 5 == 0)
        for n in range(tags)
    )  # fmt: skip
    entry = hash_password("device-password-0123")
    DeviceIdentity.objects.bulk_create(
        DeviceIdentity(plant=plant, username=f"dev-{m.slug}", topic_prefix=f"big/l/{m.slug}",
                       password_hash=entry)
        for m in machines
    )  # fmt: skip
    return plant


def connects(port: int, user: str, password: str) -> bool:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    answered, result = threading.Event(), []
    client.on_connect = lambda c, u, f, reason, p: (result.append(reason), answered.set())
    client.connect("127.0.0.1", port)
    client.loop_start()
    answered.wait(10)
    client.disconnect()
    client.loop_stop()
    return bool(result) and not result[0].is_failure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=10_000)
    args = parser.parse_args()
    plant = build(args.tags)
    broker = SecuredBroker()
    write_broker_files(broker.auth_dir, owner=broker.owner)
    broker.start()
    try:
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            changed, _ = write_broker_files(broker.auth_dir, owner=broker.owner)
            runs.append(time.perf_counter() - started)
            assert not changed
        DeviceIdentity.objects.create(plant=plant, username="newcomer", topic_prefix="big/l/m0",
                                      password_hash=hash_password("newcomer-password"))  # fmt: skip
        started = time.perf_counter()
        changed, _ = write_broker_files(broker.auth_dir, owner=broker.owner)
        changing = time.perf_counter() - started
        assert changed
        started = time.perf_counter()
        broker.reload()
        while not connects(broker.port, "newcomer", "newcomer-password"):
            pass
        reload_s = time.perf_counter() - started
        acl = (broker.auth_dir / "acl").stat().st_size
        users = len((broker.auth_dir / "passwd").read_text().split())
    finally:
        broker.close()
    print(f"broker_access with {args.tags} tags, {users} identities (Mosquitto 2.0, this box):")
    print(f"  a pass that changes nothing: median {sorted(runs)[2] * 1000:.0f} ms")
    print(f"  a pass that adds a device:   {changing * 1000:.0f} ms")
    print(f"  acl file: {acl / 1024:.0f} KiB")
    print(f"  SIGHUP to the new device's first accepted login: {reload_s * 1000:.0f} ms")


if __name__ == "__main__":
    main()
