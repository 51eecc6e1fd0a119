"""The live contract's one failure rule, on a real Redis that is stopped or hangs.

Every way of pushing (`group_send`, `group_send_many`, `send`, `send_on_commit`) drops a push
the channel layer does not take, counts it and never raises; an outage is logged once when it
starts and once when it ends; an action whose push is dropped still commits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Iterator
from copy import deepcopy
from typing import Any

import pytest
import redis.exceptions
from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer
from django.conf import Settings

from plant import live
from plant.actions.loops import do_set_loop_mode
from plant.models import ControlLoop, ControlLoopEvent, Plant, Quality
from tests.builders import demo_tag, record_value
from tests.services import Redis

GROUP = "machine.990"


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
        if redis.proc is not None:
            os.kill(redis.proc.pid, signal.SIGCONT)  # a test that paused it and failed
        redis.close()
        channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)


@pytest.fixture
def link(monkeypatch: pytest.MonkeyPatch) -> live.Link:
    """A fresh outage record: this process's is shared by every test before."""
    fresh = live.Link()
    monkeypatch.setattr(live, "link", fresh)
    return fresh


def message(n: int = 0) -> live.TagValues:
    return live.tag_values(
        [live.TagValue(tag=n, v=float(n), ts=1_790_000_000.0, q=Quality.GOOD, sent=0.0)]
    )


def by_group_send() -> bool:
    return async_to_sync(live.group_send)(GROUP, message())


def by_group_send_many() -> bool:
    return async_to_sync(live.group_send_many)({GROUP: message(), "line.990": message()})


def by_send() -> bool:
    return live.send([GROUP, "line.990"], message())


SENDERS: dict[str, Callable[[], bool]] = {
    "group_send": by_group_send,
    "group_send_many": by_group_send_many,
    "send": by_send,
}


@pytest.mark.parametrize("sender", SENDERS)
def test_each_sender_drops_a_push_to_a_stopped_redis_and_says_so(
    private_redis: Redis, link: live.Link, sender: str
) -> None:
    private_redis.stop()
    assert SENDERS[sender]() is False  # no exception: the caller goes on
    assert (link.down, link.dropped) == (True, 1)
    assert isinstance(link.error, redis.exceptions.ConnectionError)


@pytest.mark.django_db
def test_a_push_on_commit_to_a_stopped_redis_is_dropped_after_the_commit(
    private_redis: Redis, link: live.Link,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:  # fmt: skip
    private_redis.stop()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        live.send_on_commit([GROUP], message())
        assert link.dropped == 0  # nothing is sent before the commit
    assert len(callbacks) == 1
    assert (link.down, link.dropped) == (True, 1)


@pytest.mark.django_db
def test_an_action_whose_push_is_dropped_still_commits(
    private_redis: Redis, link: live.Link, demo_plant: Plant,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:  # fmt: skip
    loop = ControlLoop.objects.select_related("output_tag", "sp_tag", "pv_tag").get(
        output_tag__machine__line__plant=demo_plant
    )
    for tag in (loop.pv_tag, loop.sp_tag):
        record_value(demo_tag(demo_plant, tag.key), 500.0)
    private_redis.stop()
    with django_capture_on_commit_callbacks(execute=True):
        assert do_set_loop_mode(loop, ControlLoop.Mode.AUTO, by=None) is True
    loop.refresh_from_db()
    assert loop.mode == ControlLoop.Mode.AUTO
    assert ControlLoopEvent.objects.filter(loop=loop, to_mode=ControlLoop.Mode.AUTO).count() == 1
    assert link.dropped == 1


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    private_redis: Redis, link: live.Link, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="plant.live"):
        private_redis.stop()
        for sender in (*SENDERS.values(), *SENDERS.values()):
            assert sender() is False
        private_redis.start()  # empty, as a restarted Redis is: the member must join again
        channel = async_to_sync(join)(GROUP)
        assert by_send() is True
        assert by_send() is True
    records = [r for r in caplog.records if r.name == "plant.live"]
    texts = [r.getMessage() for r in records]
    assert [r.levelname for r in records] == ["WARNING", "INFO"], texts
    assert "dropped until the channel layer is back: tag.values" in texts[0]
    assert "resumed" in texts[1] and "(6 dropped meanwhile)" in texts[1]
    assert (link.down, link.dropped) == (False, 6)
    assert [m["group"] for m in async_to_sync(drain)(channel, 2)] == [GROUP, GROUP]


def test_a_second_outage_is_logged_again(
    private_redis: Redis, link: live.Link, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="plant.live"):
        for _ in range(2):
            private_redis.stop()
            assert by_send() is False
            private_redis.start()
            assert by_send() is True
    levels = [r.levelname for r in caplog.records if r.name == "plant.live"]
    assert levels == ["WARNING", "INFO", "WARNING", "INFO"]
    assert link.dropped == 2


def test_a_hanging_redis_holds_a_push_no_longer_than_the_send_timeout(
    private_redis: Redis, link: live.Link, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A paused Redis accepts the connection and never answers: redis-py alone would wait its
    # 15 s socket timeout. The test's own timeout (pytest-timeout) fails it if the push hangs.
    monkeypatch.setattr(live, "SEND_TIMEOUT_S", 0.5)
    assert private_redis.proc is not None
    os.kill(private_redis.proc.pid, signal.SIGSTOP)
    try:
        assert by_send() is False
        assert isinstance(link.error, TimeoutError)
    finally:
        os.kill(private_redis.proc.pid, signal.SIGCONT)
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)  # its pool holds a stuck connection
    channel = async_to_sync(join)(GROUP)
    assert by_send() is True
    assert [m["group"] for m in async_to_sync(drain)(channel, 1)] == [GROUP]


async def join(group: str) -> str:
    """A new channel in the group, as a daphne's hub joins it."""
    layer = get_channel_layer()
    channel: str = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def drain(channel: str, count: int) -> list[dict[str, Any]]:
    layer = get_channel_layer()
    return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]


@pytest.mark.parametrize("send", [live.send, live.send_on_commit])
def test_a_bare_group_name_is_refused_before_anything_is_sent(
    send: Callable[[list[str], live.LiveMessage], object], link: live.Link
) -> None:
    # As a list of groups, "machine.990" would be eleven groups of one letter each.
    with pytest.raises(TypeError, match=r"not the bare name 'machine\.990'"):
        send(GROUP, message())  # type: ignore[arg-type]
    assert link.dropped == 0
