"""One channel-layer subscription per daphne process, fanned out to the screens and their tabs.

Each screen open in this process (say, machine 7) has one `Feed`, which renders each message
for the screen once, with the shared `hmi.screens.Screen`, and sends the same HTML to every tab
showing the screen. The feeds share the process's `Hub`: one channel and one receive loop.
The channel joins plant.live.VALUES_GROUP, where the ingest worker sends each push tick's values
in one message, and the hub hands each feed the values of the tags its screen shows (`routes`,
kept from each screen's snapshot); a screen shows the tags of one plant, whose user the tab's
socket checked, so a value reaches only tabs that may see its plant. The channel also joins the
group of every open screen, for the other messages (setpoints, loops, alarms), and hands each
to the feeds of the group it names (plant.live.group_send addresses every message). Tabs do not
join groups themselves: with 500 tabs that would be 500 copies of every message through Redis,
500 decodes and 500 trips through Channels' dispatch, each with a hop to its database thread;
and one receiver per screen would wake every receiver for every message.

Each message type of plant.live has one handler in HANDLERS, named after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.core.exceptions import ImproperlyConfigured
from django.template.loader import render_to_string

from hmi import screens
from plant import live
from plant.queries import ScreenKind

log = logging.getLogger(__name__)

# channels_redis forgets a group's members after a day (group_expiry); the hub renews its
# memberships well before.
MEMBERSHIP_REFRESH_S = 3600.0
CLOSE = "hub.close"  # sent by close_hub to the hub's own channel
# With Redis gone, the hub tries again after 0.5 s, 1 s, 2 s … and then every 5 s.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0
PROBE_GROUP = "hub.probe"  # never joined: discarding from it only asks whether Redis answers
# Swapped into base.html's #live-feed: while pushes cannot arrive, hmi.js stops saying "live".
FEED_DOWN = '<span id="live-feed" data-state="down" hidden></span>'
FEED_UP = '<span id="live-feed" data-state="up" hidden></span>'
read_alarm_counts = database_sync_to_async(screens.read_alarm_counts, thread_sensitive=False)
read_snapshot = database_sync_to_async(screens.read_snapshot, thread_sensitive=False)


class Tab(Protocol):
    """A browser tab's socket, as a feed sees it (hmi.consumers.LiveConsumer)."""

    async def send_html(self, html: str) -> None: ...


class Feed:
    """One open screen in this process, and the tabs showing it."""

    def __init__(self, screen: screens.Screen, group: str) -> None:
        self.screen = screen
        self.group = group
        self.tabs: dict[Tab, None] = {}  # tabs that have their snapshot, in joining order
        self.users = 0  # tabs joined, including those still reading their snapshot

    async def handle(self, message: Mapping[str, Any]) -> None:
        """Render a message for the screen once and send it to every tab."""
        handler = HANDLERS.get(message.get("type", ""))
        if handler is None:
            log.warning("feed %s: no handler for message type %r", self.group, message)
            return
        try:
            html = await handler(self.screen, message)
        except Exception:
            log.exception("feed %s: could not render a %s message", self.group, message["type"])
            return
        if html:
            await self.send(html)

    def load(self, snapshot: screens.Snapshot) -> None:
        """Take a snapshot of the screen, and the pushed values of the tags it shows."""
        self.screen.load(snapshot)
        hub().route(self)

    async def resync(self) -> None:
        """Send every tab the screen as the database has it now (after an outage)."""
        try:
            snapshot = await read_snapshot(self.screen.kind, self.screen.pk)
        except Exception:
            log.exception("feed %s: could not read a snapshot to resynchronise", self.group)
            return
        self.load(snapshot)
        await self.send(FEED_UP + self.screen.render_all(snapshot))

    async def send(self, html: str) -> None:
        """Send to every tab; one that fails (its socket just closed) does not stop the rest."""
        for tab in list(self.tabs):
            try:
                await tab.send_html(html)
            except Exception as exc:
                log.info("feed %s: a tab did not take a push (%s)", self.group, exc)


class Hub:
    """This process's one channel: joins every open screen's group, hands out what arrives.

    It outlives the channel layer: when Redis goes, the receive loop retries with a capped
    backoff; when Redis is back (empty, every membership gone) it joins every open group
    again and sends each screen's tabs a fresh snapshot, since they missed what was pushed
    meanwhile.
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        layer = get_channel_layer()
        if layer is None:
            raise ImproperlyConfigured("CHANNEL_LAYERS has no default layer: live screens need one")
        self.layer: BaseChannelLayer = layer
        self.channel = ""
        self.feeds: dict[str, list[Feed]] = {}  # group -> feeds of the open screens
        self.routes: dict[int, list[Feed]] = {}  # tag -> feeds whose screen takes its values
        self.routed: dict[Feed, set[int]] = {}  # feed -> the tags it is in `routes` for
        # Sessions' and users' groups of the open sockets (hmi.socket_access), by group name;
        # each gate is also in `feeds` under its group, so it is joined and renewed the same.
        self.gates: dict[str, Any] = {}
        # The last membership change of each group: the next one waits for it, so a quick
        # leave and rejoin cannot reach Redis in the wrong order. True when it reached Redis.
        self.changes: dict[str, asyncio.Future[bool]] = {}
        self.down_since: float | None = None  # loop time the channel layer was lost
        self.recoveries = 0  # counted when the groups are joined again after an outage
        self.retries = 0  # failed attempts to reach the channel layer, ever
        self.notice: asyncio.Future[list[None]] | None = None  # telling the tabs of an outage
        self.started: asyncio.Future[None] = asyncio.ensure_future(self._start())
        self.tasks: list[asyncio.Task[None]] = []

    async def _start(self) -> None:
        self.channel = await self.layer.new_channel()
        self._change(live.VALUES_GROUP, "group_add")  # for as long as the hub lives
        self.tasks = [
            asyncio.create_task(self._receive(), name="live hub"),
            asyncio.create_task(self._renew(), name="live hub renewal"),
        ]
        for task in self.tasks:
            task.add_done_callback(_log_end)

    async def _receive(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception as exc:
                self.lost(exc)
                await self._recover()
                continue
            kind = message.get("type")
            if kind == CLOSE:
                return
            if kind == "tag.values":
                await self._hand_out(message["values"])
                continue
            for feed in list(self.feeds.get(message.get("group", ""), ())):
                await feed.handle(message)

    async def _hand_out(self, values: list[live.TagValue]) -> None:
        """Hand each feed the values of the tags its screen shows, in one message."""
        routes, shares = self.routes, dict[Feed, list[live.TagValue]]()
        for value in values:
            for feed in routes.get(value["tag"], ()):
                shares.setdefault(feed, []).append(value)
        for feed, share in shares.items():
            await feed.handle(live.tag_values(share))

    def route(self, feed: Feed) -> None:
        """Hand the feed the values of the tags its screen takes now (after its snapshot)."""
        self.unroute(feed)
        tags = feed.screen.routed()
        for tag in tags:
            self.routes.setdefault(tag, []).append(feed)
        self.routed[feed] = tags

    def unroute(self, feed: Feed) -> None:
        for tag in self.routed.pop(feed, ()):
            feeds = self.routes[tag]
            feeds.remove(feed)
            if not feeds:
                del self.routes[tag]

    def lost(self, exc: BaseException) -> None:
        """Note that the channel layer failed; logged once per outage, not once per retry."""
        if self.down_since is None:
            self.down_since = self.loop.time()
            log.warning("live hub lost the channel layer (%r); retrying", exc)
            # The tabs say so until the recovery's snapshot.
            screens_open = [feed for feeds in self.feeds.values() for feed in feeds]
            self.notice = asyncio.gather(*(feed.send(FEED_DOWN) for feed in screens_open))

    async def _recover(self) -> None:
        """Retry until Redis answers, then join every open group again and resynchronise."""
        delay = RETRY_FIRST_S
        while True:
            await asyncio.sleep(delay)  # whatever fails, never a busy loop
            try:
                await self._rejoin()
                break
            except Exception as exc:
                self.retries += 1
                self.lost(exc)
                delay = min(delay * 2, RETRY_MAX_S)
        down_for = self.loop.time() - (self.down_since or self.loop.time())
        self.down_since = None
        self.recoveries += 1  # before the reads: a tab joining now reads its own again
        log.warning("live hub has the channel layer back after %.0f s", down_for)
        await self._resync()

    async def _rejoin(self) -> None:
        # A restarted Redis has closed every pooled connection, and each would fail once on
        # its next use (a second "outage" a moment after this one): start from new ones.
        close_pools = getattr(self.layer, "close_pools", None)
        if close_pools is not None:
            await close_pools()
        # The discard of a group nobody joins fails while Redis is down, even with no screens.
        await self.layer.group_discard(PROBE_GROUP, self.channel)
        groups = [live.VALUES_GROUP, *self.feeds]
        for group in groups:
            self._change(group, "group_add")
        if not all(await asyncio.gather(*(asyncio.shield(self.changes[g]) for g in groups))):
            raise ConnectionError("the channel layer refused a group membership")

    async def _resync(self) -> None:
        """Send every open screen's tabs a fresh snapshot: they missed the outage's pushes."""
        screens_open = [feed for feeds in self.feeds.values() for feed in feeds]
        await asyncio.gather(*(feed.resync() for feed in screens_open))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(MEMBERSHIP_REFRESH_S)
            for group in [live.VALUES_GROUP, *self.feeds]:
                with contextlib.suppress(Exception):  # Redis down: the next round tries again
                    await self.layer.group_add(group, self.channel)

    def add(self, feed: Feed) -> None:
        """Hand the group's messages to this feed too; the first feed of a group joins it."""
        feeds = self.feeds.setdefault(feed.group, [])
        feeds.append(feed)
        if len(feeds) == 1:
            self._change(feed.group, "group_add")

    def remove(self, feed: Feed) -> None:
        self.unroute(feed)
        feeds = self.feeds.get(feed.group, [])
        if feed in feeds:
            feeds.remove(feed)
        if not feeds and self.feeds.pop(feed.group, None) is not None:
            self._change(feed.group, "group_discard")

    async def heard(self, group: str) -> bool:
        """Return once the group's membership (and the hub's of VALUES_GROUP) is settled: True
        if it is in Redis and the hub receives; False while the channel layer is down (the
        recovery resynchronises then)."""
        await asyncio.shield(self.started)
        values = await asyncio.shield(self.changes[live.VALUES_GROUP])
        joined = await asyncio.shield(self.changes[group])
        return values and joined and self.down_since is None

    def _change(self, group: str, change: str) -> None:
        before = self.changes.get(group)

        async def in_order() -> bool:
            if before is not None:
                await before  # never raises: a failure is its False
            await self.started
            try:
                await getattr(self.layer, change)(group, self.channel)
            except Exception as exc:
                self.lost(exc)  # the receive loop fails too, and its recovery joins again
                return False
            return True

        self.changes[group] = asyncio.ensure_future(in_order())


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r", task.get_name(), task.exception())


_hub: Hub | None = None
FEEDS: dict[tuple[ScreenKind, int], Feed] = {}


def hub() -> Hub:
    """The hub of this process (a new one for a new event loop, as each test has)."""
    global _hub
    if _hub is None or _hub.loop is not asyncio.get_running_loop():
        _hub = Hub()
        FEEDS.clear()  # feeds of a finished event loop
    return _hub


async def close_hub() -> None:
    """End this process's hub in its own event loop (tests, whose loops end with each test)."""
    global _hub
    the_hub, _hub = _hub, None
    FEEDS.clear()
    if the_hub is None or the_hub.loop is not asyncio.get_running_loop():
        return
    await asyncio.shield(the_hub.started)
    receive, renew = the_hub.tasks
    renew.cancel()
    # Out of VALUES_GROUP, or every later push would copy its values into this channel too.
    the_hub._change(live.VALUES_GROUP, "group_discard")
    # A message ends the receive loop: a cancelled channels_redis receive can leave its Redis
    # connection waiting, and the event loop's close waiting on it. Without Redis, the loop
    # waits in its backoff, not on Redis, and can be cancelled.
    try:
        await the_hub.layer.send(the_hub.channel, {"type": CLOSE})
    except Exception:
        receive.cancel()
    pending: list[asyncio.Future[Any]] = [receive, renew, *the_hub.changes.values()]
    await asyncio.wait(pending, timeout=5)


async def join(kind: ScreenKind, pk: int, group: str, time_zone: str) -> Feed:
    """The feed of a screen, its group membership settled before this returns.

    The caller reads its snapshot after this, so a value committed after the read arrives as
    a push and one committed before it is in the snapshot: nothing falls in between. While
    Redis is down the tab still gets its snapshot; the hub's recovery sends a fresh one.
    """
    the_hub = hub()
    feed = FEEDS.get((kind, pk))
    if feed is None:
        feed = FEEDS[(kind, pk)] = Feed(screens.Screen(kind, pk, time_zone), group)
        the_hub.add(feed)
    feed.users += 1
    try:
        await the_hub.heard(group)
    except BaseException:
        leave(feed, None)
        raise
    return feed


def is_down() -> bool:
    """Whether this process's hub has lost the channel layer (a new tab is told so)."""
    return hub().down_since is not None


def recoveries() -> int:
    """How often this process's hub came back from an outage: a tab that joined during one
    compares it before and after reading its snapshot, to know whether to read another."""
    return hub().recoveries


def leave(feed: Feed, tab: Tab | None) -> None:
    """A tab has gone; with the last one, the screen's feed goes too."""
    if tab is not None:
        feed.tabs.pop(tab, None)
    feed.users -= 1
    if feed.users > 0:
        return
    key = (feed.screen.kind, feed.screen.pk)
    if FEEDS.get(key) is feed:
        del FEEDS[key]
    hub().remove(feed)


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
    html: str = render_to_string("hmi/fragments/alarm_signal.html", message)
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
