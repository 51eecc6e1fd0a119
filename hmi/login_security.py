"""Login hardening: the lockout page, the session's idle and absolute timeouts, and the
security events of logins.

django-axes counts failed logins and refuses a locked-out user name and address before their
password is tried (config/settings.py: AXES_*); this module gives it the page it answers with
and the address it counts by, and records each failure and lockout as a security event.

A session ends after SESSION_IDLE_MINUTES without a request the user made, and after
SESSION_MAX_HOURS in any case. Background requests (the status bar's poll, the alarm banner's
refresh, a setpoint's progress, a trend's refresh) carry the header BACKGROUND_HEADER and do
not count as activity: a screen left open all night must not keep its session alive. The
timeout is noticed on the next request, background ones included, which logs the session
out (so its websockets close too, hmi.socket_access) and sends the browser to the login.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from plant import live, security_events

BACKGROUND_HEADER = "X-HMI-Background"
LAST_ACTIVE = "hmi_last_active"  # epoch seconds of the user's latest own request
LOGGED_IN_AT = "hmi_logged_in_at"  # epoch seconds of the login
# Activity is noted at most once a minute: a session saved on every click would be a write
# per request, and the idle limit is counted in hours.
ACTIVITY_RESOLUTION_S = 60


def client_address(request: HttpRequest) -> str:
    """The browser's address: behind the TLS proxy (BEHIND_TLS_PROXY) the last address of
    X-Forwarded-For, which the proxy appends itself; else the connection's own."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded: str = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return str(request.META.get("REMOTE_ADDR", ""))


def lockout_response(request: HttpRequest, *args: Any) -> HttpResponse:
    """The page a locked-out login gets: what happened and when to try again (status 429).

    django-axes calls this with (request, response, credentials) from sync code and with
    (request, credentials) from async code; the user name is read from the request instead.
    """
    cool_off = settings.AXES_COOLOFF_TIME
    retry_at = timezone.localtime(timezone.now() + cool_off)
    context = {
        "minutes": int(cool_off.total_seconds() // 60),
        "retry_at": retry_at,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "login_url": reverse("admin:login") if is_admin(request) else reverse("login"),
    }
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response


def is_admin(request: HttpRequest) -> bool:
    return request.path.startswith(reverse("admin:index"))


def given_username(request: HttpRequest | None, credentials: dict[str, Any]) -> str:
    name = credentials.get("username") or ""
    if not name and request is not None:
        name = request.POST.get("username", "")
    return str(name)


@receiver(user_login_failed, dispatch_uid="hmi.login_security.login_failed")
def login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kw: Any
) -> None:
    """Record a failed login (a locked-out one is recorded as a lockout instead)."""
    name = given_username(request, credentials)
    locked = request is not None and getattr(request, "axes_locked_out", False)
    kind = security_events.Kind.LOGIN_LOCKED_OUT if locked else security_events.Kind.LOGIN_FAILED
    user = User.objects.filter(username=name).first() if name else None
    where = "the admin's login" if request is not None and is_admin(request) else "the login"
    detail = f"at {where}" + (f", locked out for {settings.AXES_COOLOFF_TIME}" if locked else "")
    security_events.record(
        kind, user=user, username=name,
        source=client_address(request) if request is not None else "", detail=detail,
    )  # fmt: skip


@receiver(user_logged_in, dispatch_uid="hmi.login_security.logged_in")
def logged_in(sender: Any, request: HttpRequest | None, user: User, **kw: Any) -> None:
    """Start the session's clocks."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[LOGGED_IN_AT] = now
        request.session[LAST_ACTIVE] = now


@receiver(user_logged_out, dispatch_uid="hmi.login_security.logged_out")
def logged_out(sender: Any, request: HttpRequest | None, user: Any = None, **kw: Any) -> None:
    """Close the session's sockets now (Django sends this before it deletes the session)."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        live.send_on_commit([live.session_group(key)], live.access_ended(live.SIGNED_OUT))


def session_expired(session: Any, now: float) -> bool:
    """Whether a session is past its idle or its absolute limit (one without clocks is not:
    they start at its next request)."""
    last = session.get(LAST_ACTIVE)
    started = session.get(LOGGED_IN_AT)
    if last is not None and now - float(last) > settings.SESSION_IDLE_MINUTES * 60:
        return True
    return started is not None and now - float(started) > settings.SESSION_MAX_HOURS * 3600


def session_timeout_middleware(get_response: Callable[[HttpRequest], Any]) -> Callable[..., Any]:
    """Log out a session past its limits; note each request the user made as activity."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            if session_expired(request.session, now):
                logout(request)
                return to_login(request)
            last = float(request.session.get(LAST_ACTIVE, 0))
            if BACKGROUND_HEADER not in request.headers and now - last > ACTIVITY_RESOLUTION_S:
                request.session[LAST_ACTIVE] = now
            if LOGGED_IN_AT not in request.session:
                request.session[LOGGED_IN_AT] = now
        response: HttpResponse = get_response(request)
        if is_background(request) and is_login_redirect(response):
            return to_login(request)
        return response

    return middleware


def is_background(request: HttpRequest) -> bool:
    """A request made by a page's script rather than by navigating: htmx's or our own."""
    return "HX-Request" in request.headers or BACKGROUND_HEADER in request.headers


def is_login_redirect(response: HttpResponse) -> bool:
    return isinstance(response, HttpResponseRedirect) and response["Location"].startswith(
        reverse(settings.LOGIN_URL)
    )


def to_login(request: HttpRequest) -> HttpResponse:
    """To the login page, back here afterwards. A script's request (htmx, a poll) would follow
    a redirect and swap the login form into a fragment: it gets HX-Redirect instead, which
    htmx (and alarms.js) turn into a navigation of the whole page."""
    # Back to the page the script runs on (htmx names it; a fetch sends it as the Referer).
    here = None
    if is_background(request):
        here = request.headers.get("HX-Current-URL") or request.headers.get("Referer")
    login = f"{reverse(settings.LOGIN_URL)}?next={quote(path_of(here) or request.get_full_path())}"
    if is_background(request):
        response = HttpResponse(status=200)
        response["HX-Redirect"] = login
        return response
    return HttpResponseRedirect(login)


def path_of(url: str | None) -> str:
    """The path and query of an absolute URL of this site ("" for none)."""
    if not url:
        return ""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
