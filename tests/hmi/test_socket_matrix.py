"""The websockets' permission matrix: every websocket route by every role, for a screen of plant
A and of plant B, through the ASGI application on the real Redis channel layer.

A socket is opened (and sends its snapshot) only for someone who may see the screen's plant;
anyone else's handshake is refused. A new route without rows here fails the first test.
The consumer reads the database from its own threads, so the two plants are committed (and
the migrations' data restored afterwards by serialized rollback): one database setup for the
whole matrix, in one test per route.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import connections
from django.test import Client

from config.asgi import application
from hmi import consumers, feeds
from hmi.routing import websocket_urlpatterns
from plant import live
from plant.models import Quality, Tag
from tests.hmi.two_plants import ROLES, World, build_world

ORIGIN = b"http://localhost:8000"  # an allowed host, as the browser sends it
ROUTE = r"^ws/(?P<kind>plant|line|machine|tag)/(?P<pk>\d+)/$"
# Each route's screens: (path, whose, who is let in, in the order of two_plants.ROLES)
# fmt: off
# Columns: anon nobody viewer operator supervisor admin_a admin_b super token
OF_A = "no no yes yes yes yes no yes no"
OF_B = "no no no no no no yes yes no"
SOCKETS = {
    ROUTE: [
        ("/ws/plant/{plant}/", "A", OF_A),
        ("/ws/plant/{plant}/", "B", OF_B),
        ("/ws/line/{line}/", "A", OF_A),
        ("/ws/line/{line}/", "B", OF_B),
        ("/ws/machine/{machine}/", "A", OF_A),
        ("/ws/machine/{machine}/", "B", OF_B),
        ("/ws/tag/{tag}/", "A", OF_A),
        ("/ws/tag/{tag}/", "B", OF_B),
    ],
}
# fmt: on


def test_every_websocket_route_has_rows() -> None:
    routes = [str(pattern.pattern) for pattern in websocket_urlpatterns]
    assert sorted(routes) == sorted(SOCKETS), "a websocket route without rows in the matrix"


@pytest.fixture(autouse=True)
def _short_lived_connections() -> Iterator[None]:
    """The consumer's threads close their connections after each use, so the test database
    can be dropped at the end of the session."""
    settings_dict = connections["default"].settings_dict
    kept, settings_dict["CONN_MAX_AGE"] = settings_dict["CONN_MAX_AGE"], 0
    yield
    settings_dict["CONN_MAX_AGE"] = kept


def headers_of(world: World, role: str, origin: bytes = ORIGIN) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", origin)]
    if role == "token":
        headers.append((b"authorization", f"Bearer {world.secrets['read']}".encode()))
    elif role != "anon":
        client = Client()
        client.force_login(world.users[role])
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


async def lets_in(path: str, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the handshake is accepted; an accepted socket must send its snapshot."""
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    if connected:
        assert "tag-" in await communicator.receive_from(timeout=5)
        await communicator.disconnect()
    return connected


@pytest.mark.asyncio
@pytest.mark.usefixtures("live_hub")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("route", list(SOCKETS))
async def test_each_role_is_let_into_the_sockets_the_matrix_says(route: str) -> None:
    world = await sync_to_async(build_world)()
    heads = {role: await sync_to_async(headers_of)(world, role) for role in ROLES}
    wrong = []
    for template, whose, expected in SOCKETS[route]:
        path = template.format(**world.ids[whose])
        for role, want in zip(ROLES, expected.split(), strict=True):
            if await lets_in(path, heads[role]) != (want == "yes"):
                wrong.append(f"{role} {path} ({whose}): expected {want}")
        # A member's own session from another site's page is refused too.
        foreign = await sync_to_async(headers_of)(world, "super", b"http://evil.test")
        if await lets_in(path, foreign):
            wrong.append(f"{path} opened from a foreign origin")
    for kind in ("plant", "line", "machine", "tag"):
        if await lets_in(f"/ws/{kind}/999999/", heads["super"]):
            wrong.append(f"/ws/{kind}/999999/, which does not exist, was opened")
    await sync_to_async(connections.close_all)()  # this thread's, so the database can go
    assert wrong == []
    assert feeds.FEEDS == {}, "a closed socket left its screen's feed behind"


async def closed_by_server(communicator: WebsocketCommunicator) -> bool:
    """Whether the server closes the open socket (waiting a few access re-checks for it)."""
    try:
        while True:
            output = await communicator.receive_output(timeout=3)
            if output["type"] == "websocket.close":
                return True
    except TimeoutError:
        return False


@pytest.mark.asyncio
@pytest.mark.usefixtures("live_hub")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_an_open_socket_closes_once_its_user_loses_the_screen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Access is checked when a socket opens and again every ACCESS_RECHECK_S: a tab left open
    stops showing the plant after its user logs out, is deactivated or leaves the plant."""
    monkeypatch.setattr(consumers, "ACCESS_RECHECK_S", 0.1, raising=False)
    world = await sync_to_async(build_world)()
    path = f"/ws/line/{world.ids['A']['line']}/"
    sockets = {}
    for role in ("viewer", "operator", "supervisor", "admin_a"):
        sockets[role] = WebsocketCommunicator(
            application, path, headers=await sync_to_async(headers_of)(world, role)
        )
        assert (await sockets[role].connect())[0]
        assert "tag-" in await sockets[role].receive_from(timeout=5)

    def lose_access() -> None:
        world.plants["A"].members.remove(world.users["viewer"])
        User.objects.filter(pk=world.users["operator"].pk).update(is_active=False)
        supervisor = str(world.users["supervisor"].pk)
        for session in Session.objects.all():  # logging out deletes the session
            if session.get_decoded().get("_auth_user_id") == supervisor:
                session.delete()

    await sync_to_async(lose_access)()
    for role in ("viewer", "operator", "supervisor"):
        assert await closed_by_server(sockets[role]), f"{role}'s socket stayed open"
    # Five re-checks later, the member's socket is still open (and has had nothing to say).
    assert await sockets["admin_a"].receive_nothing(timeout=0.5), "a member's socket was closed"
    for communicator in sockets.values():
        await communicator.disconnect()
    await sync_to_async(connections.close_all)()
    assert feeds.FEEDS == {}, "a closed socket left its screen's feed behind"


@pytest.mark.asyncio
@pytest.mark.usefixtures("live_hub")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_pushed_values_reach_only_the_sockets_of_their_own_plant() -> None:
    """Each hub hears every plant's values in one message a tick (plant.live.VALUES_GROUP);
    a socket gets only values of its screen's plant, even where a tag of plant A names a
    tag of plant B as its setpoint (the page shows that marker, but B's pushes stay with B)."""
    world = await sync_to_async(build_world)()
    a, b = world.ids["A"], world.ids["B"]
    await sync_to_async(Tag.objects.filter(pk=a["tag"]).update)(setpoint_tag_id=b["sp_tag"])
    tabs = {}
    for letter, role in (("A", "viewer"), ("B", "admin_b")):
        path = f"/ws/machine/{world.ids[letter]['machine']}/"
        tabs[letter] = WebsocketCommunicator(
            application, path, headers=await sync_to_async(headers_of)(world, role)
        )
        assert (await tabs[letter].connect())[0]
        assert "tag-" in await tabs[letter].receive_from(timeout=5)

    def value(tag: int, v: float) -> live.TagValue:
        return live.tag_value(tag, v, None, datetime.now(UTC), Quality.GOOD, time.time())

    assert await live.send_values([value(b["tag"], 111.5), value(b["sp_tag"], 222.5)])
    assert await live.send_values([value(a["tag"], 333.5)])  # the marker for A's tab
    assert "111.5" in await tabs["B"].receive_from(timeout=5)
    seen_by_a = await tabs["A"].receive_from(timeout=5)  # the first push A's tab gets
    assert "111.5" not in seen_by_a
    assert "333.5" in seen_by_a, "a push for B's setpoint tag came to A's tab first"
    for tab in tabs.values():
        await tab.disconnect()
    await sync_to_async(connections.close_all)()
    assert feeds.FEEDS == {}, "a closed socket left its screen's feed behind"
