"""The live push's groups on the real Redis: one message a tick for every hub, addressed."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from plant import live
from plant.quality import Quality

pytestmark = pytest.mark.asyncio


def value(tag: int, v: float) -> live.TagValue:
    return live.TagValue(tag=tag, v=v, ts=1_790_000_000.0, q=Quality.GOOD, sent=0.0)


async def test_a_ticks_values_reach_every_hub_in_one_message() -> None:
    layer = get_channel_layer()
    hubs = [await layer.new_channel() for _ in range(2)]  # two daphne processes
    bystander = await layer.new_channel()
    for hub in hubs:
        await layer.group_add(live.VALUES_GROUP, hub)
    await layer.group_add("machine.901", bystander)
    assert await live.send_values([value(1, 1.5), value(2, 2.5)]) is True
    for hub in hubs:
        message = await asyncio.wait_for(layer.receive(hub), 5)
        assert message["type"] == "tag.values" and message["group"] == live.VALUES_GROUP
        assert [(v["tag"], v["v"]) for v in message["values"]] == [(1, 1.5), (2, 2.5)]
        with pytest.raises(TimeoutError):  # one message, not one per value or per screen
            await asyncio.wait_for(layer.receive(hub), 0.3)
    with pytest.raises(TimeoutError):  # a screen's group hears no values
        await asyncio.wait_for(layer.receive(bystander), 0.3)
    for hub in hubs:
        await layer.group_discard(live.VALUES_GROUP, hub)
    await layer.group_discard("machine.901", bystander)


async def test_many_groups_are_sent_their_own_messages_and_only_members_receive() -> None:
    layer = get_channel_layer()
    first, second, both = [await layer.new_channel() for _ in range(3)]
    await layer.group_add("machine.901", first)
    await layer.group_add("machine.902", second)
    for group in ("machine.901", "machine.902"):
        await layer.group_add(group, both)
    await live.group_send_many(
        {
            "machine.901": live.tag_values([value(1, 1.5)]),
            "machine.902": live.tag_values([value(2, 2.5)]),
            "machine.903": live.tag_values([value(3, 3.5)]),
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
