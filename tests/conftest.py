"""Shared fixtures: people by role, the demo plant under a private topic root, isolation.

Tests run against the real PostgreSQL (pytest-django's test_<name> database), Mosquitto and
Redis. Each test session publishes under its own MQTT topic root and uses its own channel-layer
prefix, so a simulator or worker running on the same machine cannot interfere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Set before Django reads its settings: a private topic root and channel-layer prefix, of
# each xdist worker its own. xdist's controller imports this module too, and its workers
# inherit its environment: without the worker's id, both workers' daphnes shared the groups
# (`line-3`), and as both test databases give the demo plant the same ids, each screen took
# the other worker's pushes.
SESSION_ID = uuid.uuid4().hex[:8]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... in an xdist worker
os.environ.setdefault("MQTT_TOPIC_ROOT", f"test/{SESSION_ID}/")
os.environ.setdefault("CHANNEL_LAYER_PREFIX", f"test-{SESSION_ID}")
if WORKER and WORKER not in os.environ["CHANNEL_LAYER_PREFIX"]:
    os.environ["MQTT_TOPIC_ROOT"] += f"{WORKER}/"
    os.environ["CHANNEL_LAYER_PREFIX"] += f"-{WORKER}"
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop

import pytest  # noqa: E402
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import transaction  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

from plant.models import Plant, Tag  # noqa: E402
from tests.services import Broker  # noqa: E402
from tests.snapshot import DemoSnapshot, take_demo_snapshot  # noqa: E402

# No deadline for an example: speed is measured in bench/, never asserted by a test, and on a
# box shared by several runs a 0.7 ms example took 270 ms (DeadlineExceeded, FlakyFailure).
hypothesis_settings.register_profile("scada", deadline=None)
hypothesis_settings.load_profile("scada")

ROLES = ["viewer", "operator", "supervisor", "admin"]
TESTS = Path(__file__).resolve().parent
# Files whose tests take a service or process away (stop, kill, restart) under the code.
FAULT_FILES = {
    "ingest/test_faults.py", "hmi/test_hub_outage.py", "plant/test_live_outage.py",
    "plant/test_run_command.py",
}  # fmt: skip


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by where they live: `browser` under tests/browser, `faults` in FAULT_FILES."""
    for item in items:
        where = Path(item.path).resolve().relative_to(TESTS).as_posix()
        if where.startswith("browser/"):
            item.add_marker(pytest.mark.browser)
        if where in FAULT_FILES:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(autouse=True)
def _fast_passwords(settings: pytest.FixtureRequest) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_sparkplug_host(settings: pytest.FixtureRequest) -> None:
    """Workers of tests are no Sparkplug host unless a test makes one (tests/ingest/
    test_sparkplug_host.py passes its own host id): on the shared broker, every worker
    would otherwise take every other test's retained spBv1.0/STATE beside its own topics."""
    settings.SPARKPLUG_HOST_ID = ""


@pytest.fixture(autouse=True)
def _no_neuron(settings: pytest.FixtureRequest) -> None:
    """Workers of tests read no /neuron/# unless a test asks (the `neuron_broker` fixture): the
    Neuron topics cannot take our topic root either, and a worker on the shared broker would
    reject every other session's uploads as from an unknown gateway."""
    settings.NEURON_ENABLED = False


@pytest.fixture(scope="session")
def _sparkplug_broker_of_this_worker() -> Iterator[Broker]:
    """A private Mosquitto (the shipped queue limits, a spare port) per xdist worker, started
    by the first Sparkplug test and stopped at the end of the session."""
    broker = Broker()
    broker.start()
    yield broker
    broker.close()


@pytest.fixture
def sparkplug_broker(
    _sparkplug_broker_of_this_worker: Broker, settings: pytest.FixtureRequest
) -> Broker:
    """This worker's private broker as MQTT_URL, for the test and the children it starts.

    The Sparkplug namespace (spBv1.0/#) cannot take our topic root: on the shared broker each
    session's host discovered every other session's edge nodes, asked them for rebirths and
    overflowed its queue. Each Sparkplug module applies it to all its tests with
    `pytestmark = pytest.mark.usefixtures("sparkplug_broker")`, which runs it before the
    fixtures a test names (its worker, its edge nodes).
    """
    settings.MQTT_URL = _sparkplug_broker_of_this_worker.url
    settings.SIMULATOR_MQTT_URL = ""  # the simulated edge nodes use MQTT_URL too
    return _sparkplug_broker_of_this_worker


@pytest.fixture
def neuron_broker(sparkplug_broker: Broker, settings: pytest.FixtureRequest) -> Broker:
    """The same private broker for the Neuron tests, with the workers reading /neuron/#."""
    settings.NEURON_ENABLED = True
    return sparkplug_broker


@pytest.fixture(autouse=True)
def _channel_layer_of_this_test() -> None:
    """A new channel-layer instance per test: each async test has an event loop of its own,
    and channels_redis binds its receive locks to the loop that first used them (a lock left
    held by a finished test's loop would refuse every later receive)."""
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)


@pytest.fixture
def topic_root() -> str:
    """A topic root of this test alone, so messages of other tests never reach it."""
    return f"{settings.MQTT_TOPIC_ROOT}{uuid.uuid4().hex[:8]}/"


@pytest.fixture(scope="session")
def demo_snapshot(django_db_setup: None, django_db_blocker: Any) -> DemoSnapshot:
    """The rows of one real load of the demo plant (tests/snapshot.py), taken once."""
    with django_db_blocker.unblock():
        # A root as long as a test's, so each topic keeps its length when the root is swapped.
        return take_demo_snapshot(marker=f"{settings.MQTT_TOPIC_ROOT}snapshot/")


@pytest.fixture
def demo_plant(db: None, topic_root: str, demo_snapshot: DemoSnapshot) -> Plant:
    """The demo bottling plant, its topics under this test's own root.

    The rows of the session's one real load are inserted again: in a test's transaction, or,
    for a test that commits (`transactional_db`), committed at once, so other processes
    (daphne, a worker) see the plant. A real load took 1.3-2.1 s a test on the 2-core box.
    """
    with transaction.atomic():
        demo_snapshot.insert(topic_root)
    return Plant.objects.get(slug=demo_snapshot.slug)


@pytest.fixture
def users_by_role(db: None, demo_plant: Plant) -> dict[str, User]:
    """One member of the demo plant per role; the admin is also staff (Django admin access)."""
    users = {}
    for role in ROLES:
        user = User.objects.create_user(username=f"{role}-user", password="pw")
        user.groups.add(Group.objects.get(name=role))
        user.is_staff = role == "admin"
        user.save()
        demo_plant.members.add(user)
        users[role] = user
    return users


@pytest.fixture
def outsider(db: None) -> User:
    """A supervisor of another plant: sees nothing of the demo plant."""
    user = User.objects.create_user(username="outsider", password="pw")
    user.groups.add(Group.objects.get(name="supervisor"))
    return user


@pytest.fixture
def fill_level(demo_plant: Plant) -> Tag:
    """The filler's fill level: a float tag in ml, one decimal, normal band 495 to 505."""
    return Tag.objects.get(machine__line__plant=demo_plant, key="fill_level")


@pytest.fixture
def committed_db(transactional_db: None, django_db_serialized_rollback: None) -> None:
    """Database access whose writes are committed, so other processes (daphne) can see them.

    Each such test starts from the migrations' data (content types, permissions, the role
    groups), restored by serialized rollback: the flush after a transactional test empties the
    tables, and Django recreates only content types and permissions, never the groups.
    """


@pytest.fixture(autouse=True, scope="session")
def _private_channel_layer() -> None:
    """This session's channel-layer prefix (above) in this process's settings too.

    pytest-django reads the settings before this module runs, so the variable set above
    reaches only child processes (daphne, `manage.py ingest`). Without this, what an
    in-process worker or test sends would go to the default prefix, which a child daphne
    (and any developer's running server) reads instead.
    """
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = os.environ["CHANNEL_LAYER_PREFIX"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """In-process tests use a connection per thread, not the production pool.

    The consumer tests' threads (Channels' database_sync_to_async) waited out the pool's
    timeout under pytest-django's test database (PoolTimeout after 10 s), a harness effect
    not yet understood. The child processes of the browser and fault tests (daphne,
    `manage.py ingest`) keep the pool, and bench/web_load.py measures it under load.
    """
    settings.DATABASES["default"]["OPTIONS"].pop("pool", None)
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
