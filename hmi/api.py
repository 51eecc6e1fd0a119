"""The JSON API's door: a session or a bearer token lets a request in, refusals are JSON.

Pages need a login session (LoginRequiredMiddleware sends the browser to the login form);
the API also serves scripts, which send `Authorization: Bearer <token>` instead and get a
401 with a reason, never a redirect to a form they cannot fill in. A token is honoured here
and nowhere else: every other page and every request that changes something needs a session
(and its CSRF token), so a token can only read, whatever its user may do.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.http import require_safe

from hmi.login_security import client_address
from plant import security_events
from plant.models import ApiToken
from plant.models.tokens import TOKEN_PREFIX, TokenRefused, hash_secret

View = Callable[..., HttpResponseBase]  # a page, or a streamed export


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
    """A GET endpoint for a logged-in session or a live bearer token, answering in JSON.

    GET and HEAD only (require_safe), which is all a token's only scope, read, allows.
    """

    @login_not_required
    @require_safe
    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        secret = bearer_secret(request)
        if secret is not None:
            try:
                token = ApiToken.authenticate(secret)
            except TokenRefused as exc:
                record_token_event(request, security_events.Kind.TOKEN_REFUSED, exc.token,
                                   f"{request.path}: {exc}")  # fmt: skip
                return _unauthorized(str(exc))
            if token.scope != ApiToken.Scope.READ:
                return _unauthorized(f"the bearer token's scope {token.scope!r} cannot read")
            request.user = token.user
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


def record_token_event(
    request: HttpRequest, kind: str, token: ApiToken | None, detail: str
) -> None:
    """A security event of a bearer token: whose it is, if a real one, and what was tried."""
    user = token.user if token is not None else None
    named = f"token {token.prefix}… ({token.name}) " if token is not None else ""
    security_events.record(kind, user=user, source=client_address(request),
                           detail=f"{named}{detail}")  # fmt: skip


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def token_write_middleware(get_response: View) -> View:
    """A bearer token only reads: one sent with a request that would change something is
    refused here (403, before any view) and recorded as a security event."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        secret = bearer_secret(request)
        if secret is None or request.method in SAFE_METHODS:
            return get_response(request)
        token = ApiToken.objects.select_related("user").filter(
            key_hash=hash_secret(secret)
        ).first() if secret.startswith(TOKEN_PREFIX) else None  # fmt: skip
        record_token_event(request, security_events.Kind.TOKEN_MISUSED, token,
                           f"{request.method} {request.path}")  # fmt: skip
        return json_error(403, "a bearer token only reads (GET); changes need a logged-in session")

    return middleware
