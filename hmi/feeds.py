"""One channel-layer subscription per open screen and daphne process, fanned out to its tabs.

Each screen open in this process (say, machine 7) has one `Feed`: it joins the screen's group
with a channel of its own, receives each group message once, renders it once with the shared
`hmi.screens.Screen`, and sends the same HTML to every tab showing the screen. Tabs do not join
groups themselves: with 500 tabs that would be 500 copies of every message through Redis, 500
decodes and 500 trips through Channels' dispatch, each with a hop to its database thread.

Each message type of plant.live has one handler in HANDLERS, named after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.template.loader import render_to_string

from hmi import screens
from plant import live
from plant.queries import ScreenKind

log = logging.getLogger(__name__)

# channels_redis forgets a group's members after a day (group_expiry); a feed that lives
# longer than that renews its membership well before.
MEMBERSHIP_REFRESH_S = 3600.0
read_alarm_counts = database_sync_to_async(screens.read_alarm_counts, thread_sensitive=False)


class Tab(Protocol):
    """A browser tab's socket, as a feed sees it (hmi.consumers.LiveConsumer)."""

    async def send_html(self, html: str) -> None: ...


class Feed:
    """The one subscription of a screen in this process, and the tabs it feeds."""

    def __init__(self, screen: screens.Screen, group: str) -> None:
        self.screen = screen
        self.group = group
        self.tabs: dict[Tab, None] = {}  # tabs that have their snapshot, in joining order
        self.users = 0  # tabs joined, including those still reading their snapshot
        self.channel = ""
        self.loop = asyncio.get_running_loop()
        self.started: asyncio.Future[None] = asyncio.ensure_future(self._start())
        self.tasks: list[asyncio.Task[None]] = []

    async def _start(self) -> None:
        layer = get_channel_layer()
        self.channel = await layer.new_channel()
        await layer.group_add(self.group, self.channel)
        self.tasks = [
            asyncio.create_task(self._receive(layer), name=f"feed {self.group}"),
            asyncio.create_task(self._renew(layer), name=f"feed renewal {self.group}"),
        ]
        for task in self.tasks:
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("feed %s stopped: %r", self.group, task.exception())

    async def _receive(self, layer: BaseChannelLayer) -> None:
        while True:
            message = await layer.receive(self.channel)
            handler = HANDLERS.get(message.get("type", ""))
            if handler is None:
                log.warning("feed %s: no handler for message type %r", self.group, message)
                continue
            try:
                html = await handler(self.screen, message)
            except Exception:
                log.exception("feed %s: could not render a %s message", self.group, message["type"])
                continue
            if html:
                await self.send(html)

    async def send(self, html: str) -> None:
        """Send to every tab; one that fails (its socket just closed) does not stop the rest."""
        for tab in list(self.tabs):
            try:
                await tab.send_html(html)
            except Exception as exc:
                log.info("feed %s: a tab did not take a push (%s)", self.group, exc)

    async def _renew(self, layer: BaseChannelLayer) -> None:
        while True:
            await asyncio.sleep(MEMBERSHIP_REFRESH_S)
            with contextlib.suppress(Exception):  # Redis down: the next round tries again
                await layer.group_add(self.group, self.channel)

    async def stop(self) -> None:
        self.started.cancel()
        for task in self.tasks:
            task.cancel()
        # Wait for them to end: a receive cut off by a closing event loop would leave the
        # layer's receive bookkeeping behind, and the layer refuses receives from a new loop.
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.channel:
            with contextlib.suppress(Exception):
                await get_channel_layer().group_discard(self.group, self.channel)


FEEDS: dict[tuple[ScreenKind, int], Feed] = {}


async def join(kind: ScreenKind, pk: int, group: str, time_zone: str) -> Feed:
    """The feed of a screen, subscribed to its group before this returns.

    The caller reads its snapshot after this, so a value committed after the read arrives as
    a push and one committed before it is in the snapshot: nothing falls in between.
    """
    feed = FEEDS.get((kind, pk))
    if feed is None or feed.loop is not asyncio.get_running_loop() or feed.started.cancelled():
        feed = FEEDS[(kind, pk)] = Feed(screens.Screen(kind, pk, time_zone), group)
    feed.users += 1
    try:
        await asyncio.shield(feed.started)
    except Exception:
        await leave(feed, None)
        raise
    return feed


async def leave(feed: Feed, tab: Tab | None) -> None:
    """A tab has gone; the last one to go ends the feed's subscription."""
    if tab is not None:
        feed.tabs.pop(tab, None)
    feed.users -= 1
    if feed.users > 0:
        return
    key = (feed.screen.kind, feed.screen.pk)
    if FEEDS.get(key) is feed:
        del FEEDS[key]
    await feed.stop()


# --- one handler per message type of plant.live: render once for all tabs of a screen -------


async def tag_values(screen: screens.Screen, message: live.TagValues) -> str:
    return screen.render_push(message["values"])


async def setpoint_changed(screen: screens.Screen, message: live.SetpointChanged) -> str:
    # The message is the fragment's input; only screens that show the tag have its element.
    if message["tag"] not in screen.tags:
        return ""
    return render_to_string("hmi/fragments/setpoint_status.html", {"status": message})


async def loop_changed(screen: screens.Screen, message: live.LoopChanged) -> str:
    if not any(tag in screen.tags for tag in message["tags"]):
        return ""
    return render_to_string("hmi/fragments/setpoint_loop_state.html", {"loop": message})


async def alarm_changed(screen: screens.Screen, message: live.AlarmChanged) -> str:
    # A small signal, not the banner: alarms.js fetches the banner for its own user.
    html = render_to_string("hmi/fragments/alarm_signal.html", message)
    if screen.kind == "plant":
        counts = await read_alarm_counts(screen.pk)  # once per alarm change and screen
        html += screens.render_alarm_counts(counts)
    return html


HANDLERS: dict[str, Callable[[screens.Screen, Any], Awaitable[str]]] = {
    "tag.values": tag_values,
    "setpoint.changed": setpoint_changed,
    "loop.changed": loop_changed,
    "alarm.changed": alarm_changed,
}
