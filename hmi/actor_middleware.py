"""Who changes the configuration: the user of each web request, for plant.config_history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from plant.config_history import acting_for


@sync_and_async_middleware
def config_actor_middleware(get_response: Callable[[HttpRequest], Any]) -> Callable[..., Any]:
    """Record configuration changes made while serving a request as made by its user.

    Place it after AuthenticationMiddleware; the user is read only when a change is recorded.
    Both sync and async, so under daphne it costs no switch between the two; a sync view run
    in a thread sees the user too, since asgiref copies the context into that thread.
    """
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            with acting_for(request):
                response: Awaitable[HttpResponse] = get_response(request)
                return await response

        return middleware

    def sync_middleware(request: HttpRequest) -> HttpResponse:
        with acting_for(request):
            response: HttpResponse = get_response(request)
            return response

    return sync_middleware
