"""Sockets closed the moment their access ends, not at their next re-check.

Every open socket is also a tab of two access groups of plant.live: its login session's
(session_group) and its user's (user_group). A `Gate` per group and process hears them
through the process's one hub (hmi.feeds), like a screen's feed: `access.ended` closes every
tab of the group with its code (4401 signed out); `access.changed` has each tab check its
screen again at once (closing with 4403 if it may no longer see it).

Who sends: hmi.login_security on logout (and so on an idle or absolute timeout), and
plant.access_signals when a user is deactivated, deleted or changed, or leaves a plant.
The consumers' own re-check every ACCESS_RECHECK_S stays as the safety net (a message lost
while Redis was down).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol, cast

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User

from hmi import feeds
from plant import live, security_events
from plant.models import Line, Machine, Plant, Tag

log = logging.getLogger(__name__)


class Guarded(Protocol):
    """A socket as its gates see it (hmi.consumers.LiveConsumer)."""

    async def end(self, code: int) -> None: ...

    async def recheck(self) -> None: ...


class Gate:
    """The tabs of one session or one user in this process."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.tabs: dict[Guarded, None] = {}

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        for tab in list(self.tabs):
            try:
                if kind == "access.ended":
                    await tab.end(int(message.get("code", live.SIGNED_OUT)))
                elif kind == "access.changed":
                    await tab.recheck()
                else:
                    log.warning("gate %s: no handler for message type %r", self.group, kind)
                    return
            except Exception:
                log.exception("gate %s: could not end or re-check a socket", self.group)

    # The hub treats its members alike: what it sends screens on an outage means nothing here.
    async def send(self, html: str) -> None:
        return None

    async def resync(self) -> None:
        return None


def gates() -> dict[str, Gate]:
    """This process's gates (those of the current hub: a new event loop starts afresh)."""
    return feeds.hub().gates


async def guard(tab: Guarded, session_key: str | None, user_id: int) -> list[Gate]:
    """Put a tab behind its session's and its user's gates; return once both are heard."""
    groups = [live.user_group(user_id)]
    if session_key:
        groups.insert(0, live.session_group(session_key))
    joined = []
    the_hub, known = feeds.hub(), gates()
    for group in groups:
        gate = known.get(group)
        if gate is None:
            gate = known[group] = Gate(group)
            the_hub.add(gate)  # type: ignore[arg-type]  # a member like a screen's feed
        gate.tabs[tab] = None
        joined.append(gate)
    try:
        for gate in joined:
            await the_hub.heard(gate.group)
    except BaseException:
        release(tab, joined)
        raise
    return joined


def release(tab: Guarded, joined: list[Gate]) -> None:
    """The tab has gone: out of its gates, and a gate without tabs leaves its group."""
    known = gates()
    for gate in joined:
        gate.tabs.pop(tab, None)
        if not gate.tabs and known.get(gate.group) is gate:
            del known[gate.group]
            feeds.hub().remove(gate)  # type: ignore[arg-type]


def scope_user(scope: Mapping[str, Any]) -> User | AnonymousUser:
    """The socket's person: the User that AuthMiddleware's lazy object stands for, else none."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return AnonymousUser()
    return cast(User, user)  # a lazy proxy of the User (AUTH_USER_MODEL) it loaded


def session_key_of(scope: Mapping[str, Any]) -> str | None:
    return getattr(scope.get("session"), "session_key", None)


def had_session_cookie(scope: Mapping[str, Any]) -> bool:
    """Whether the handshake carried a session cookie at all (a tab whose session ended
    does; a script trying the door without one does not)."""
    return bool(scope.get("cookies", {}).get(settings.SESSION_COOKIE_NAME))


def socket_address(scope: Mapping[str, Any]) -> str:
    """The browser's address: behind the TLS proxy, the last of X-Forwarded-For."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                last: str = value.decode("latin1").split(",")[-1].strip()
                if last:
                    return last
    client = scope.get("client")
    return str(client[0]) if client else ""


def record_refusal(scope: Mapping[str, Any], kind: str, pk: int) -> None:
    """Record a refused handshake as a security event: a logged-in user asking for a screen
    they may not see, or a handshake without any session. A tab whose session just ended
    (it still sends the old cookie) is no attempt on anything and is not recorded."""
    try:
        _record_refusal(scope, kind, pk)
    except Exception:  # the database is away: the handshake is refused all the same
        log.exception("could not record a refused socket to %s", scope.get("path", ""))


def _record_refusal(scope: Mapping[str, Any], kind: str, pk: int) -> None:
    user = scope.get("user")
    path = scope.get("path", "")
    if user is not None and user.is_authenticated:
        security_events.record(
            security_events.Kind.SOCKET_FORBIDDEN, user=user, source=socket_address(scope),
            plant=screen_plant_id(kind, pk), detail=f"{path}: not a screen of theirs",
        )  # fmt: skip
    elif not had_session_cookie(scope):
        security_events.record(
            security_events.Kind.SOCKET_UNAUTHENTICATED, source=socket_address(scope),
            plant=screen_plant_id(kind, pk), detail=f"{path}: no session",
        )  # fmt: skip


def screen_plant_id(kind: str, pk: int) -> int | None:
    """The plant of a screen, whoever asks (None if there is no such screen)."""
    lookups = {
        "plant": (Plant.objects, "pk"),
        "line": (Line.objects, "plant_id"),
        "machine": (Machine.objects, "line__plant_id"),
        "tag": (Tag.objects, "machine__line__plant_id"),
    }
    if kind not in lookups:
        return None
    manager, field = lookups[kind]
    return manager.filter(pk=pk).values_list(field, flat=True).first()
