"""The channel layer's many-groups send, on the real Redis: each member gets its group's message."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.conf import settings

from plant import live, redis_layer
from plant.quality import Quality

pytestmark = pytest.mark.asyncio


def values(tag: int, v: float) -> live.TagValues:
    return live.tag_values(
        [live.TagValue(tag=tag, v=v, ts=1_790_000_000.0, q=Quality.GOOD, sent=0.0)]
    )


async def test_many_groups_are_sent_their_own_messages_and_only_members_receive() -> None:
    layer = get_channel_layer()
    assert isinstance(layer, redis_layer.ChannelLayer)
    first, second, both = [await layer.new_channel() for _ in range(3)]
    await layer.group_add("machine.901", first)
    await layer.group_add("machine.902", second)
    for group in ("machine.901", "machine.902"):
        await layer.group_add(group, both)
    await live.group_send_many(
        {
            "machine.901": values(1, 1.5),
            "machine.902": values(2, 2.5),
            "machine.903": values(3, 3.5),
        }
    )
    got = {
        channel: [await asyncio.wait_for(layer.receive(channel), 1) for _ in range(count)]
        for channel, count in ((first, 1), (second, 1), (both, 2))
    }
    assert [(m["group"], m["values"][0]["v"]) for m in got[first]] == [("machine.901", 1.5)]
    assert [(m["group"], m["values"][0]["v"]) for m in got[second]] == [("machine.902", 2.5)]
    assert sorted(m["group"] for m in got[both]) == ["machine.901", "machine.902"]
    with pytest.raises(TimeoutError):  # nothing more, and nothing of the group nobody joined
        await asyncio.wait_for(layer.receive(both), 0.3)
    for group in ("machine.901", "machine.902"):
        for channel in (first, second, both):
            await layer.group_discard(group, channel)


async def test_another_channels_redis_version_sends_group_by_group(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(redis_layer, "CHANNELS_REDIS_VERSION", "0.0.0")
    layer = redis_layer.ChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    assert not layer.internals_known
    assert "written for 0.0.0: sending group by group" in caplog.text
    channel = await layer.new_channel()
    await layer.group_add("machine.902", channel)
    await layer.group_send_many({"machine.902": {"type": "tag.values", "values": []}})
    assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "tag.values"
    await layer.group_discard("machine.902", channel)
