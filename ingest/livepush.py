"""Hands committed values to the channel layer for the screens, coalesced, off the hot path.

The worker calls `offer()` after each commit; a daemon thread sends at most one message per
group every `interval` seconds with the newest value of each changed tag. If Redis is slow or
down, only this thread waits: the worker never does, and newer values replace older ones.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from ingest.batch import Row
from ingest.part_guard import PartGuard
from ingest.tagcache import TagCache
from plant import live

log = logging.getLogger(__name__)
# A screen's values move about seven times a second. A value waits up to this long for its
# group's next message, so it is most of the 250 ms budget from publish to page (p99); the
# rest is the batch commit (tens of ms) and the render and delivery (a few ms).
LIVE_PUSH_INTERVAL_S = 0.15


class LivePublisher:
    """Coalesces the latest value per tag and sends one `tag.values` per group per interval."""

    def __init__(
        self, tags: TagCache, interval: float = LIVE_PUSH_INTERVAL_S,
        guard: PartGuard | None = None,
    ) -> None:  # fmt: skip
        self.tags = tags
        self.guard = guard  # the worker's: a failing push is counted and alarmed
        self.interval = interval
        self.pending: dict[int, live.TagValue] = {}
        self.lock = threading.Lock()
        self.stopping = False
        self.failing = False
        self.thread = threading.Thread(target=self._run, name="livepush", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping = True

    def offer(self, latest: dict[int, Row], committed_at: float) -> None:
        """Called by the worker after a commit; cheap, never blocks on Redis."""
        values = {
            tag_id: live.tag_value(tag_id, row.value, row.text, row.time, row.quality, committed_at)
            for tag_id, row in latest.items()
        }
        with self.lock:
            self.pending.update(values)

    def take(self) -> dict[str, list[live.TagValue]]:
        """Group the pending values by every group that shows them, and clear them."""
        with self.lock:
            pending, self.pending = self.pending, {}
        groups: dict[str, list[live.TagValue]] = {}
        for tag_id, value in pending.items():
            tag = self.tags.by_id.get(tag_id)
            if tag is None:
                continue
            for group in live.tag_groups(tag.machine_id, tag.line_id, tag.plant_id):
                groups.setdefault(group, []).append(value)
        return groups

    def _run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        while not self.stopping:
            started = time.monotonic()
            try:
                groups = self.take()
                if groups:
                    await self._send(groups)
            except Exception as exc:  # a bug in building a message: this thread must live on
                log.exception("live push: a tick failed")
                if self.guard is not None:
                    self.guard.failed("live", exc)
            delay = self.interval - (time.monotonic() - started)
            if delay > 0:
                await asyncio.sleep(delay)

    async def _send(self, groups: dict[str, list[live.TagValue]]) -> None:
        # All groups at once: one after another, a hundred groups cost hundreds of Redis round
        # trips, each waiting for this thread's turn at the GIL. A dropped push (Redis down or
        # slow; plant.live logs the outage) is not retried: newer values supersede it.
        messages = {group: live.tag_values(values) for group, values in groups.items()}
        self.failing = not await live.group_send_many(messages)
        if self.guard is None:
            return
        if self.failing:  # screens say so: live values are paused
            self.guard.failed("live", live.link.error or ConnectionError("live push dropped"))
        else:
            self.guard.worked("live")
