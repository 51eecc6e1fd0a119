"""Websocket routes (the live consumer arrives with the live-screens work)."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
