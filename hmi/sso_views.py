"""Signing in through the plant's identity provider (OpenID Connect, authorization code + PKCE).

Off unless OIDC_ISSUER is set. The login page then offers "Sign in with <OIDC_PROVIDER_NAME>"
beside the local form. The provider's metadata (endpoints, keys) is read from its discovery
document; Authlib checks the state, the PKCE verifier, the ID token's signature, issuer,
audience and nonce. What the person may do comes from their groups (plant.actions.sso).
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_safe

from hmi.login_security import client_address
from plant import security_events, sso
from plant.actions.sso import Claims, SignInRefused, do_sso_sign_in

log = logging.getLogger(__name__)

NEXT_KEY = "sso_next"
_clients: dict[tuple[str, ...], DjangoOAuth2App] = {}


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def client() -> DjangoOAuth2App:
    """The provider's client, kept per configuration so its discovery document is read once."""
    key = (settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET,
           settings.OIDC_SCOPES)  # fmt: skip
    if key not in _clients:
        oauth = OAuth()
        _clients[key] = oauth.register(
            "sso",
            client_id=settings.OIDC_CLIENT_ID,
            client_secret=settings.OIDC_CLIENT_SECRET,
            server_metadata_url=settings.OIDC_ISSUER.rstrip("/")
            + "/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.OIDC_SCOPES,
                "code_challenge_method": "S256",
                "default_timeout": settings.OIDC_TIMEOUT_S,
            },
        )
    return _clients[key]


def refused(
    request: HttpRequest, reason: str, *, username: str = "", status: int = 403
) -> HttpResponse:
    """The login page again, saying why single sign-on did not let the person in."""
    security_events.record(
        security_events.Kind.SSO_REFUSED, username=username[:150],
        source=client_address(request), detail=reason[:500],
    )  # fmt: skip
    return login_page(request, sso_error=reason, status=status)


def login_page(request: HttpRequest, *, sso_error: str = "", status: int = 200) -> HttpResponse:
    context: dict[str, Any] = {"form": AuthenticationForm(request), "sso_error": sso_error,
                               "next": request.session.get(NEXT_KEY, "")}  # fmt: skip
    return render(request, "registration/login.html", context, status=status)


@login_not_required
@require_safe
def sso_login(request: HttpRequest) -> HttpResponseBase:
    """Send the browser to the provider, remembering where it was going."""
    if not enabled():
        return redirect("login")
    wanted = request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    request.session[NEXT_KEY] = wanted if safe else ""
    callback = request.build_absolute_uri(reverse("sso_callback"))
    try:
        return client().authorize_redirect(request, callback)  # type: ignore[no-any-return]
    except (requests.RequestException, ValueError) as error:
        log.warning("single sign-on: the provider cannot be reached: %s", error)
        return login_page(
            request, status=503,
            sso_error=f"The identity provider ({settings.OIDC_PROVIDER_NAME}) cannot be "
                      "reached just now. Sign in with a local account, or try again shortly.",
        )  # fmt: skip


@login_not_required
@require_safe
def sso_callback(request: HttpRequest) -> HttpResponseBase:
    """The provider sends the browser back here with a code: check it and sign the person in."""
    if not enabled():
        return redirect("login")
    app = client()
    try:
        token = app.authorize_access_token(request)
        info = dict(token.get("userinfo") or {})
        if settings.OIDC_GROUPS_CLAIM not in info or "email" not in info:
            info |= dict(app.userinfo(token=token))
    except OAuthError as error:
        reason = f"The identity provider's answer was refused ({error.error}: {error.description})."
        return refused(request, reason, status=400)
    except (requests.RequestException, ValueError, KeyError) as error:
        return refused(request, f"Signing in did not complete: {error}.", status=502)
    subject = str(info.get("sub", ""))
    username = str(info.get(settings.OIDC_USERNAME_CLAIM) or info.get("email") or subject)
    if not subject or not username:
        return refused(request, "The identity provider sent no subject or user name.", status=400)
    claims = Claims(
        issuer=str(app.server_metadata.get("issuer", settings.OIDC_ISSUER)),
        subject=subject, username=username[:150], email=str(info.get("email", ""))[:254],
        name=str(info.get("name", "")),
        groups=sso.group_names(info.get(settings.OIDC_GROUPS_CLAIM)),
    )  # fmt: skip
    try:
        user = do_sso_sign_in(claims)
    except SignInRefused as error:
        return refused(request, str(error), username=username)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(request.session.pop(NEXT_KEY, "") or settings.LOGIN_REDIRECT_URL)
