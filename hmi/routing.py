"""Websocket routes: one live socket per screen (hmi.consumers.LiveConsumer)."""

from django.urls import URLPattern, re_path

from hmi.consumers import LiveConsumer

websocket_urlpatterns: list[URLPattern] = [
    re_path(r"^ws/(?P<kind>plant|line|machine|tag)/(?P<pk>\d+)/$", LiveConsumer.as_asgi()),
]
