"""Live screens through a Redis outage: the process's hub comes back by itself.

Each test runs its channel layer on a private Redis (tests/services.py), stops it under an
open socket and starts it again, empty, as a restarted Redis is: every group membership is
gone, and values committed meanwhile were never pushed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from copy import deepcopy
from datetime import UTC, datetime

import pytest
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import Settings
from django.contrib.auth.models import User

from hmi import feeds
from plant.models import LatestValue, Plant, Quality
from tests.hmi.test_consumers import (  # noqa: F401 (an autouse fixture, imported to apply here)
    _short_lived_connections,
    cookie_of,
    demo_tag,
    opened,
    push,
    socket,
    value,
)
from tests.services import Redis

RECOVERY_S = 20  # the hub retries every 5 s at most; a busy machine may take a while more


@pytest.fixture
def private_redis(settings: Settings) -> Iterator[Redis]:
    """A Redis of this test alone, under the channel layer, to stop and start."""
    redis = Redis()
    redis.start()
    layers = deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["hosts"] = [{"address": redis.url, "socket_timeout": 15}]
    settings.CHANNEL_LAYERS = layers
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    try:
        yield redis
    finally:
        redis.close()
        channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)


pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    # The hub is closed (live_hub) before its Redis goes (private_redis): set up in this order.
    pytest.mark.usefixtures("private_redis", "live_hub"),
]


@pytest.fixture
def viewer(users_by_role: dict[str, User]) -> User:
    return users_by_role["viewer"]


DOWN, UP = 'id="live-feed" data-state="down"', 'id="live-feed" data-state="up"'


async def outage(redis: Redis, communicator: WebsocketCommunicator) -> None:
    """Stop Redis until the screen is told (the hub's receive fails at once), then start it
    again, empty."""
    redis.stop()
    assert DOWN in await communicator.receive_from(timeout=RECOVERY_S)
    redis.start()


async def test_a_screen_open_through_a_redis_restart_is_resynchronised_and_hears_pushes_again(
    demo_plant: Plant, private_redis: Redis, viewer: User
) -> None:
    fill_level = demo_tag("fill_level")
    communicator = await opened(f"/ws/machine/{fill_level.machine_id}/", viewer)
    private_redis.stop()
    assert DOWN in await communicator.receive_from(timeout=5)  # the page stops saying "live"
    # Stored while Redis is down, so never pushed: the tab must still come to show it.
    LatestValue.objects.create(tag=fill_level, time=datetime.now(UTC), value=488.5,
                               quality=Quality.GOOD)  # fmt: skip
    private_redis.start()
    resync = await communicator.receive_from(timeout=RECOVERY_S)
    assert UP in resync and f'id="tag-{fill_level.pk}"' in resync and "488.5" in resync
    await push(value(fill_level, 492.5))
    assert "492.5" in await communicator.receive_from(timeout=5)
    await communicator.disconnect()


async def test_a_tab_opened_while_redis_is_down_gets_its_snapshot_and_pushes_once_it_is_back(
    demo_plant: Plant, private_redis: Redis, viewer: User
) -> None:
    fill_level = demo_tag("fill_level")
    LatestValue.objects.create(tag=fill_level, time=datetime.now(UTC), value=499.5,
                               quality=Quality.GOOD)  # fmt: skip
    private_redis.stop()
    communicator = socket(f"/ws/machine/{fill_level.machine_id}/", cookie_of(viewer))
    connected, _ = await communicator.connect(timeout=RECOVERY_S)
    assert connected, "the tab is refused while Redis is down"
    assert "499.5" in await communicator.receive_from()
    assert DOWN in await communicator.receive_from()
    private_redis.start()
    resync = await communicator.receive_from(timeout=RECOVERY_S)
    assert UP in resync and "499.5" in resync
    await push(value(fill_level, 491.5))
    assert "491.5" in await communicator.receive_from(timeout=5)
    await communicator.disconnect()


async def test_an_outage_is_logged_once_and_retried_with_a_backoff(
    demo_plant: Plant, private_redis: Redis, viewer: User, caplog: pytest.LogCaptureFixture
) -> None:
    fill_level = demo_tag("fill_level")
    communicator = await opened(f"/ws/machine/{fill_level.machine_id}/", viewer)
    with caplog.at_level(logging.WARNING, logger="hmi.feeds"):
        private_redis.stop()
        await asyncio.sleep(4)  # the outage's length: time for a few of the hub's retries
        private_redis.start()
        assert DOWN in await communicator.receive_from()
        assert UP in await communicator.receive_from(timeout=RECOVERY_S)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("lost the channel layer" in m for m in messages) == 1, messages
    assert sum("channel layer back" in m for m in messages) == 1, messages
    # 0.5 s, 1 s, 2 s, then every 5 s: a handful of tries in 4 s, not thousands.
    assert 1 <= feeds.hub().retries <= 6
    await communicator.disconnect()


async def test_two_outages_in_a_row_are_each_recovered(
    demo_plant: Plant, private_redis: Redis, viewer: User
) -> None:
    fill_level = demo_tag("fill_level")
    communicator = await opened(f"/ws/line/{fill_level.machine.line_id}/", viewer)
    for v in (487.5, 486.5):
        await outage(private_redis, communicator)
        assert UP in await communicator.receive_from(timeout=RECOVERY_S)
        await push(value(fill_level, v))
        assert str(v) in await communicator.receive_from(timeout=5)
    await communicator.disconnect()
