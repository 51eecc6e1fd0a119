"""Websockets: the live screens' push channel."""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from hmi import feeds, screens, socket_access
from plant.queries import SCREEN_KINDS, ScreenKind

log = logging.getLogger(__name__)

# Read-only queries, so they need not queue behind each other on Channels' one database
# thread: when hundreds of tabs reconnect at once (a daphne restart), each reads in parallel.
screen_access = database_sync_to_async(screens.screen_access, thread_sensitive=False)
read_snapshot = database_sync_to_async(screens.read_snapshot, thread_sensitive=False)
access_verdict = database_sync_to_async(screens.access_verdict, thread_sensitive=False)
record_refusal = database_sync_to_async(socket_access.record_refusal, thread_sensitive=False)
# A logout, a deactivation or a removal from the plant closes a socket at once (through its
# gates, hmi.socket_access); should that message be lost (Redis down at the time), an open
# socket still closes within this long: a tab left open must not show the plant for days.
ACCESS_RECHECK_S = 60.0


class LiveConsumer(AsyncWebsocketConsumer):
    """Pushes fresh fragments of one plant, line, machine or tag screen to one browser tab.

    Access is checked in connect, and again every ACCESS_RECHECK_S while open. The tab hears
    its screen through the screen's shared `hmi.feeds.Feed`, which renders each message once
    for every tab; the tab itself has no channel-layer subscription.
    """

    channel_layer_alias = None  # type: ignore[assignment]
    feed: feeds.Feed | None = None
    watch: asyncio.Task[None] | None = None
    gates: list[socket_access.Gate] = []  # replaced per socket, never appended to
    screen: tuple[ScreenKind, int] | None = None

    async def connect(self) -> None:
        kind: ScreenKind = self.scope["url_route"]["kwargs"]["kind"]
        pk = int(self.scope["url_route"]["kwargs"]["pk"])
        user = socket_access.scope_user(self.scope)
        access = None
        if kind in SCREEN_KINDS and user.is_authenticated:
            access = await screen_access(user, kind, pk)
        if access is None or not user.is_authenticated:  # (is_authenticated: narrows to a User)
            await record_refusal(self.scope, kind, pk)  # never raises
            await self.close()  # before accept(): the handshake is refused (HTTP 403)
            return
        group, time_zone = access
        self.screen = (kind, pk)
        recoveries = feeds.recoveries()
        try:
            # Subscribed before the snapshot is read, so no value falls in between; behind
            # the gates before too, so a logout from now on closes it.
            self.feed = await feeds.join(kind, pk, group, time_zone)
            session_key = socket_access.session_key_of(self.scope)
            self.gates = await socket_access.guard(self, session_key, user.pk)
            snapshot = await read_snapshot(kind, pk)
        except Exception as exc:
            log.warning("live screen %s %s unavailable: %s", kind, pk, exc)
            await self.disconnect(1011)
            await self.close()
            return
        if self.feed is None:  # access ended while the snapshot was read (self.end)
            return
        self.feed.load(snapshot)
        await self.accept()
        # The snapshot also resynchronises a tab that reconnects after a dropped connection.
        await self.send_html(self.feed.screen.render_all(snapshot))
        self.feed.tabs[self] = None  # pushes from here on follow the snapshot, in order
        self.watch = asyncio.create_task(self.watch_access(kind, pk))
        if feeds.is_down():
            await self.send_html(feeds.FEED_DOWN)
        if feeds.recoveries() != recoveries:
            # Redis came back while this tab read its snapshot, which may have missed values
            # pushed during the outage; the hub's resynchronisation came too early for it.
            await self.resync()

    async def resync(self) -> None:
        """Send this tab a fresh snapshot of its screen."""
        if self.feed is None:
            return
        try:
            snapshot = await read_snapshot(self.feed.screen.kind, self.feed.screen.pk)
        except Exception as exc:
            log.warning("live screen %s: could not resynchronise a tab: %s", self.feed.group, exc)
            return
        if self.feed is not None:  # still connected after the read
            self.feed.load(snapshot)
            await self.send_html(feeds.FEED_UP + self.feed.screen.render_all(snapshot))

    async def watch_access(self, kind: ScreenKind, pk: int) -> None:
        """Close the socket once its session may no longer see the screen."""
        while self.feed is not None:
            await asyncio.sleep(ACCESS_RECHECK_S)
            await self.recheck()

    async def recheck(self) -> None:
        """Check the screen's access now; close with 4401 or 4403 if it has ended."""
        if self.screen is None or self.feed is None:
            return
        try:
            verdict = await access_verdict(socket_access.session_key_of(self.scope), *self.screen)
        except Exception as exc:  # the database is away: the next turn asks again
            log.warning("live screen %s: could not re-check access: %s", self.screen, exc)
            return
        if verdict is not None:
            await self.end(verdict)

    async def end(self, code: int) -> None:
        """Close the socket for good with `code` (the pages' scripts do not reopen it)."""
        if self.feed is None and not self.gates:
            return
        await self.close(code=code)
        await self.disconnect(code)

    async def disconnect(self, code: int) -> None:
        if self.watch is not None and self.watch is not asyncio.current_task():
            self.watch.cancel()
        self.watch = None
        if self.feed is not None:
            feed, self.feed = self.feed, None
            feeds.leave(feed, self)
        if self.gates:
            gates, self.gates = self.gates, []
            socket_access.release(self, gates)

    async def send_html(self, html: str) -> None:
        """Send fragments that htmx's ws extension swaps in by id ("" sends nothing)."""
        if html:
            await self.send(text_data=html)
