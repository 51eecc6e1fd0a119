"""Websockets: the live screens' push channel."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from hmi import screens
from plant import live
from plant.queries import SCREEN_KINDS, ScreenKind

# Read-only queries, so they need not queue behind each other on Channels' one database
# thread: when hundreds of tabs reconnect at once (a daphne restart), each reads in parallel.
screen_access = database_sync_to_async(screens.screen_access, thread_sensitive=False)
read_snapshot = database_sync_to_async(screens.read_snapshot, thread_sensitive=False)
read_alarm_counts = database_sync_to_async(screens.read_alarm_counts, thread_sensitive=False)


class LiveConsumer(AsyncWebsocketConsumer):
    """Pushes fresh fragments of one plant, line, machine or tag screen to one browser tab.

    Access is checked once, in connect. Each message type of plant.live has one method named
    after it (dots as underscores) that only renders and sends; add new types the same way.
    """

    screen: screens.Screen | None = None
    group = ""

    async def connect(self) -> None:
        kind: ScreenKind = self.scope["url_route"]["kwargs"]["kind"]
        pk = int(self.scope["url_route"]["kwargs"]["pk"])
        user = self.scope["user"]
        access = None
        if kind in SCREEN_KINDS and user.is_authenticated:
            access = await screen_access(user, kind, pk)
        if access is None:
            await self.close()  # before accept(): the handshake is refused (HTTP 403)
            return
        self.group, time_zone = access
        self.screen = screens.attach(kind, pk, time_zone)
        # Join before reading the database: a value committed after the read arrives as a
        # push, one committed before it is in the snapshot, so nothing falls in between.
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot = await read_snapshot(kind, pk)
        self.screen.load(snapshot)
        await self.accept()
        # The snapshot also resynchronises a tab that reconnects after a dropped connection.
        await self.send_html(self.screen.render_all(snapshot))

    async def disconnect(self, code: int) -> None:
        if self.screen is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            screens.detach(self.screen)
            self.screen = None

    async def send_html(self, html: str) -> None:
        """Send fragments that htmx's ws extension swaps in by id ("" sends nothing)."""
        if html:
            await self.send(text_data=html)

    async def tag_values(self, message: live.TagValues) -> None:
        if self.screen is not None:
            await self.send_html(self.screen.render_push(message["values"]))

    async def setpoint_changed(self, message: live.SetpointChanged) -> None:
        # The message is the fragment's input; only screens that show the tag have its element.
        if self.screen is not None and message["tag"] in self.screen.tags:
            html = render_to_string("hmi/fragments/setpoint_status.html", {"status": message})
            await self.send_html(html)

    async def loop_changed(self, message: live.LoopChanged) -> None:
        if self.screen is not None and any(tag in self.screen.tags for tag in message["tags"]):
            html = render_to_string("hmi/fragments/setpoint_loop_state.html", {"loop": message})
            await self.send_html(html)

    async def alarm_changed(self, message: live.AlarmChanged) -> None:
        # A small signal, not the banner: alarms.js fetches the banner for its own user.
        if self.screen is not None:
            await self.send_html(render_to_string("hmi/fragments/alarm_signal.html", message))
        if self.screen is not None and self.screen.kind == "plant":
            counts = await read_alarm_counts(self.screen.pk)  # rare: once per alarm change
            await self.send_html(screens.render_alarm_counts(counts))
