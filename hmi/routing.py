"""Websocket routes: one live socket per screen (hmi.consumers.LiveConsumer), same origin only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import ParseResult, urlparse

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import URLPattern, re_path

from hmi.consumers import LiveConsumer
from hmi.socket_access import socket_address
from plant import security_events

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable

# Channels routes ASGI applications with Django's re_path; django-stubs types its second
# argument as an HTTP view only.
websocket_urlpatterns: list[URLPattern] = [
    re_path(r"^ws/(?P<kind>plant|line|machine|tag)/(?P<pk>\d+)/$", LiveConsumer.as_asgi()),  # type: ignore[arg-type]
]


class SocketDenier(AsyncWebsocketConsumer):
    """Refuses the handshake, like Channels' WebsocketDenier, without a channel-layer receive.

    Channels' own denier listens on the channel layer until the client goes; that receive
    cannot always be cancelled cleanly, and every refused socket would hold one open.
    """

    channel_layer_alias = None  # type: ignore[assignment]

    async def connect(self) -> None:
        await self.close()


class SameOriginValidator(OriginValidator):
    """Channels' AllowedHostsOriginValidator, refusing with SocketDenier."""

    def __init__(self, application: Any) -> None:
        allowed_hosts = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed_hosts:
            allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
        super().__init__(application, allowed_hosts)

    # scope: Any, since types-channels' scope type (_ChannelScope) is a private name of its stubs.
    async def __call__(
        self, scope: Any, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "websocket" and not self.valid_origin(origin_of(scope)):
            await record_foreign_origin(scope)
            await SocketDenier()(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def origin_of(scope: Mapping[str, Any]) -> ParseResult | None:
    for name, value in scope.get("headers", []):
        if name == b"origin":
            try:
                origin: str = value.decode("latin1")
                return urlparse(origin)
            except UnicodeDecodeError:
                return None
    return None


def _record_foreign_origin(scope: Mapping[str, Any]) -> None:
    """A page of another site tried to open a socket with this site's cookies (cross-site
    websocket hijacking), or a script sent no origin: a security event."""
    origin = origin_of(scope)
    shown = origin.geturl() if origin is not None else "none"
    security_events.record(
        security_events.Kind.SOCKET_ORIGIN_REFUSED, source=socket_address(scope),
        detail=f"{scope.get('path', '')} from origin {shown}",
    )  # fmt: skip


record_foreign_origin = database_sync_to_async(_record_foreign_origin, thread_sensitive=False)
