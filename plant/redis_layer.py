"""channels_redis 4.3.0 internals, quarantined: a send of many groups' messages at once.

The ingest worker's live push sends every changed screen's group its values several times a
second, about a hundred groups in a busy plant. channels_redis's `group_send` costs three or
four Redis round trips a group, made from a thread that shares the worker's GIL with the hot
ingest loop: a hundred groups spread over tens of milliseconds. `group_send_many` does the same
work for all of them in two pipelined round trips per Redis server, following `group_send` of
the channels-redis version in `CHANNELS_REDIS_VERSION` step by step, through its private
`_map_channel_keys_to_connection`, `_group_key` and `connection`. On any other version it says
so loudly at start and sends group by group through the public `group_send` instead.
This is transport, not the live contract (plant/live.py); config/settings.py names this class
as the channel layer's backend.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import channels_redis
from channels_redis.core import RedisChannelLayer

log = logging.getLogger(__name__)

CHANNELS_REDIS_VERSION = "4.3.0"  # the one version these internals were read from

# channels_redis's own script: add a message to each channel that is below its capacity.
GROUP_SEND_LUA = """
    local over_capacity = 0
    local current_time = ARGV[#ARGV - 1]
    local expiry = ARGV[#ARGV]
    for i=1,#KEYS do
        if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
            redis.call('ZADD', KEYS[i], current_time, ARGV[i])
            redis.call('EXPIRE', KEYS[i], expiry)
        else
            over_capacity = over_capacity + 1
        end
    end
    return over_capacity
"""


class ChannelLayer(RedisChannelLayer):  # type: ignore[misc]
    """channels_redis's layer with `group_send_many`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.internals_known = channels_redis.__version__ == CHANNELS_REDIS_VERSION
        if not self.internals_known:
            log.warning(
                "channels-redis %s is installed, but group_send_many was written for %s: "
                "sending group by group (correct, but slower live pushes)",
                channels_redis.__version__, CHANNELS_REDIS_VERSION,
            )  # fmt: skip

    async def group_send_many(self, messages: dict[str, dict[str, Any]]) -> None:
        """Send each group its message, as `group_send` would, in two round trips a server."""
        if not self.internals_known:
            for group, message in messages.items():
                await self.group_send(group, message)
            return
        members = await self._members(list(messages))
        writes: dict[int, list[tuple[list[str], list[Any]]]] = {}
        for group, channel_names in members.items():
            if not channel_names:
                continue
            to_connection, key_message, key_capacity = self._map_channel_keys_to_connection(
                channel_names, messages[group]
            )
            for index, keys in to_connection.items():
                args = [key_message[key] for key in keys] + [key_capacity[key] for key in keys]
                writes.setdefault(index, []).append((keys, args))
        now = time.time()
        for index, scripts in writes.items():
            pipe = self.connection(index).pipeline(transaction=False)
            for keys, _ in scripts:  # discard messages past their expiry, as group_send does
                for key in keys:
                    pipe.zremrangebyscore(key, min=0, max=int(now) - int(self.expiry))
            for keys, args in scripts:
                pipe.eval(GROUP_SEND_LUA, len(keys), *keys, *args, now, self.expiry)
            results = await pipe.execute()
            if over := sum(r for r in results[-len(scripts) :] if isinstance(r, int)):
                log.info("%s channels over capacity in a live push", over)

    async def _members(self, groups: list[str]) -> dict[str, list[str]]:
        """The channels of each group, old members dropped, one round trip a server."""
        by_index: dict[int, list[str]] = {}
        for group in groups:
            assert self.require_valid_group_name(group), "Group name not valid"
            by_index.setdefault(self.consistent_hash(group), []).append(group)
        members: dict[str, list[str]] = {}
        for index, shard_groups in by_index.items():
            pipe = self.connection(index).pipeline(transaction=False)
            for group in shard_groups:
                key = self._group_key(group)
                pipe.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
                pipe.zrange(key, 0, -1)
            results = await pipe.execute()
            for group, names in zip(shard_groups, results[1::2], strict=True):
                members[group] = [name.decode("utf8") for name in names]
        return members
