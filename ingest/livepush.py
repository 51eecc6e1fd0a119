"""Hands committed values to the channel layer for the screens, coalesced, off the hot path.

The worker calls `offer()` after each commit; a daemon thread sends one message every
`interval` seconds with the newest value of each changed tag, to plant.live.VALUES_GROUP: each
daphne process's hub hands the values to its open screens. If Redis is slow or down, only this
thread waits: the worker never does, and newer values replace older ones.
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
    """Coalesces the latest value per tag and sends one `tag.values` per interval."""

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

    def take(self) -> list[live.TagValue]:
        """The pending values of known tags, cleared."""
        with self.lock:
            pending, self.pending = self.pending, {}
        known = self.tags.by_id
        return [value for tag_id, value in pending.items() if tag_id in known]

    def _run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        while not self.stopping:
            started = time.monotonic()
            try:
                values = self.take()
                if values:
                    await self._send(values)
            except Exception as exc:  # a bug in building a message: this thread must live on
                log.exception("live push: a tick failed")
                if self.guard is not None:
                    self.guard.failed("live", exc)
            delay = self.interval - (time.monotonic() - started)
            if delay > 0:
                await asyncio.sleep(delay)

    async def _send(self, values: list[live.TagValue]) -> None:
        # One message for all screens of all daphne processes: each hub routes the values to
        # the screens it has open. A dropped push (Redis down or slow; plant.live logs the
        # outage) is not retried: newer values supersede it.
        self.failing = not await live.send_values(values)
        if self.guard is None:
            return
        if self.failing:  # screens say so: live values are paused
            self.guard.failed("live", live.link.error or ConnectionError("live push dropped"))
        else:
            self.guard.worked("live")
