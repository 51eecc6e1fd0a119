"""The JSON API's door: a session or a bearer token lets a request in, refusals are JSON.

Pages need a login session (LoginRequiredMiddleware sends the browser to the login form);
the API also serves scripts, which send `Authorization: Bearer <token>` instead and get a
401 with a reason, never a redirect to a form they cannot fill in.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from plant.models import ApiToken

View = Callable[..., HttpResponse]


def json_error(status: int, reason: str, **extra: object) -> JsonResponse:
    return JsonResponse({"error": reason, **extra}, status=status)


def form_error(form: forms.Form) -> JsonResponse:
    """A 400 naming the first problem in words, with every field's errors beside it."""
    errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
    name, messages = next(iter(errors.items()))
    reason = messages[0] if name == "__all__" else f"{name}: {messages[0]}"
    return json_error(400, reason, errors=errors)


def bearer_secret(request: HttpRequest) -> str | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def api_view(view: View) -> View:
    """A GET endpoint for a logged-in session or a valid bearer token, answering in JSON."""

    @login_not_required
    @require_safe
    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        secret = bearer_secret(request)
        if secret is not None:
            user = ApiToken.user_for(secret)
            if user is None:
                return _unauthorized("the bearer token is not valid")
            request.user = user
        elif not request.user.is_authenticated:
            return _unauthorized("log in, or send Authorization: Bearer <token>")
        try:
            return view(request, *args, **kwargs)
        except Http404 as exc:
            return json_error(404, str(exc) or "not found")

    return wrapper


def _unauthorized(reason: str) -> JsonResponse:
    response = json_error(401, reason)
    response["WWW-Authenticate"] = 'Bearer realm="scada-lite"'
    return response
