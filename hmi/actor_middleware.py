"""Who changes the configuration: the user of each web request, for plant.config_history."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from plant.config_history import acting_for


class ConfigActorMiddleware:
    """Record configuration changes made while serving a request as made by its user.

    Place it after AuthenticationMiddleware. The user is read only when a change is recorded.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting_for(request):
            return self.get_response(request)
