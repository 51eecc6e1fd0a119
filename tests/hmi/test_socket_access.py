"""Open sockets close the moment their access ends: a logout or a session timeout (4401),
a user deactivated or deleted (4401), a user removed from the screen's plant (4403), through
the real Redis channel layer, with the consumers' own re-check (60 s) far away. And refused
handshakes are security events."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.db import connections
from django.test import Client

from config.asgi import application
from hmi import consumers, feeds
from hmi.login_security import BACKGROUND_HEADER, LAST_ACTIVE
from plant.models import SecurityEvent
from tests.hmi.two_plants import World, build_world

ORIGIN = b"http://localhost:8000"
pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.usefixtures("live_hub"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def _short_lived_connections() -> Iterator[None]:
    settings_dict = connections["default"].settings_dict
    kept, settings_dict["CONN_MAX_AGE"] = settings_dict["CONN_MAX_AGE"], 0
    yield
    settings_dict["CONN_MAX_AGE"] = kept


@pytest.fixture(autouse=True)
def _no_early_recheck() -> None:
    """Only the gates may close a socket within these tests: the re-check is a minute away."""
    assert consumers.ACCESS_RECHECK_S >= 60


def browser_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def cookie(client: Client) -> list[tuple[bytes, bytes]]:
    return [(b"origin", ORIGIN),
            (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]  # fmt: skip


async def open_socket(path: str, headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    assert (await communicator.connect())[0]
    assert "tag-" in await communicator.receive_from(timeout=5)
    return communicator


async def close_code(communicator: WebsocketCommunicator) -> int | None:
    """The code the server closes the socket with (None: still open after 5 s)."""
    try:
        while True:
            output = await communicator.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                return int(output.get("code", 1000))
    except TimeoutError:
        return None


async def stays_open(communicator: WebsocketCommunicator) -> bool:
    """Nothing arrives, a close least of all, for half a second (the socket lives on)."""
    return await communicator.receive_nothing(timeout=0.5)


async def finish(*sockets: WebsocketCommunicator) -> None:
    for communicator in sockets:
        await communicator.disconnect()
    await sync_to_async(connections.close_all)()
    assert feeds.FEEDS == {}
    assert feeds.hub().gates == {}, "a closed socket left its gates behind"


async def world_and_line() -> tuple[World, str]:
    world = await sync_to_async(build_world)()
    return world, f"/ws/line/{world.ids['A']['line']}/"


async def test_logging_out_closes_that_sessions_sockets_at_once_and_no_other() -> None:
    world, path = await world_and_line()
    viewer = world.users["viewer"]
    here, elsewhere = (
        await sync_to_async(browser_of)(viewer),
        await sync_to_async(browser_of)(viewer),
    )
    mine = await open_socket(path, cookie(here))
    other_tab = await open_socket(f"/ws/plant/{world.ids['A']['plant']}/", cookie(here))
    other_terminal = await open_socket(path, cookie(elsewhere))
    await sync_to_async(here.post)("/accounts/logout/")
    assert await close_code(mine) == 4401
    assert await close_code(other_tab) == 4401
    assert await stays_open(other_terminal)
    await finish(mine, other_tab, other_terminal)


async def test_an_idle_session_noticed_by_the_status_poll_closes_its_sockets() -> None:
    world, path = await world_and_line()
    browser = await sync_to_async(browser_of)(world.users["operator"])
    socket = await open_socket(path, cookie(browser))

    def poll_after_a_night() -> str:
        session = browser.session
        session[LAST_ACTIVE] = time.time() - 9 * 3600
        session.save()
        headers = {BACKGROUND_HEADER: "1", "HX-Request": "true"}
        return browser.get("/status/", headers=headers)["HX-Redirect"]

    assert (await sync_to_async(poll_after_a_night)()).startswith("/accounts/login/")
    assert await close_code(socket) == 4401
    await finish(socket)


async def test_deactivating_a_user_closes_every_socket_of_theirs() -> None:
    world, path = await world_and_line()
    operator = world.users["operator"]
    sockets = [await open_socket(path, cookie(await sync_to_async(browser_of)(operator)))
               for _ in range(2)]  # fmt: skip
    bystander = await open_socket(
        path, cookie(await sync_to_async(browser_of)(world.users["viewer"]))
    )

    def deactivate() -> None:
        operator.is_active = False
        operator.save()  # as the admin's form does

    await sync_to_async(deactivate)()
    assert [await close_code(s) for s in sockets] == [4401, 4401]
    assert await stays_open(bystander)
    await finish(*sockets, bystander)


async def test_deleting_a_user_closes_their_sockets() -> None:
    world, path = await world_and_line()

    def temporary_viewer() -> User:
        user = User.objects.create_user("temp")
        user.groups.add(Group.objects.get(name="viewer"))
        world.plants["A"].members.add(user)
        return user

    temp = await sync_to_async(temporary_viewer)()
    socket = await open_socket(path, cookie(await sync_to_async(browser_of)(temp)))
    await sync_to_async(temp.delete)()
    assert await close_code(socket) == 4401
    await finish(socket)


@pytest.mark.parametrize(
    "side", ["plant.members.remove", "user.plants.remove", "plant.members.clear"]
)
async def test_leaving_a_plant_closes_its_screens_with_4403_and_keeps_the_others(side: str) -> None:
    world, path = await world_and_line()
    viewer = world.users["viewer"]
    plant_a, plant_b = world.plants["A"], world.plants["B"]
    await sync_to_async(plant_b.members.add)(viewer)  # a member of both for now
    browser = await sync_to_async(browser_of)(viewer)
    of_a = await open_socket(path, cookie(browser))
    of_b = await open_socket(f"/ws/line/{world.ids['B']['line']}/", cookie(browser))

    def leave() -> None:
        if side == "plant.members.remove":
            plant_a.members.remove(viewer)
        elif side == "user.plants.remove":
            viewer.plants.remove(plant_a)
        else:
            plant_a.members.clear()

    await sync_to_async(leave)()
    assert await close_code(of_a) == 4403
    assert await stays_open(of_b)
    await finish(of_a, of_b)


async def test_a_login_elsewhere_closes_nothing() -> None:
    world, path = await world_and_line()
    viewer = world.users["viewer"]
    socket = await open_socket(path, cookie(await sync_to_async(browser_of)(viewer)))
    await sync_to_async(browser_of)(viewer)  # the same person at another terminal
    assert await stays_open(socket)
    await finish(socket)


# --- refused handshakes are security events --------------------------------------------------


async def refused(path: str, headers: list[tuple[bytes, bytes]]) -> None:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    assert not (await communicator.connect())[0]


async def events(world: World) -> list[tuple[str, str, int | None]]:
    """The events recorded since the world was built (it records some of its own)."""
    rows = SecurityEvent.objects.filter(pk__gt=world.ids["X"]["security"]).order_by("id")
    return await sync_to_async(list)(rows.values_list("kind", "username", "plant_id"))


async def test_a_socket_from_a_foreign_origin_is_a_security_event() -> None:
    world, path = await world_and_line()
    browser = await sync_to_async(browser_of)(world.users["super"])
    headers = [(b"origin", b"http://evil.test"), cookie(browser)[1]]
    await refused(path, headers)
    await refused(path, [cookie(browser)[1]])  # no origin at all
    assert await events(world) == [("socket_origin_refused", "", None)] * 2
    details = await sync_to_async(list)(
        SecurityEvent.objects.filter(pk__gt=world.ids["X"]["security"])
        .order_by("id")
        .values_list("detail", flat=True)
    )
    assert details == [f"{path} from origin http://evil.test", f"{path} from origin none"]
    await finish()


async def test_a_member_of_another_plant_asking_for_a_screen_is_a_security_event() -> None:
    world, path = await world_and_line()
    await refused(path, cookie(await sync_to_async(browser_of)(world.users["admin_b"])))
    name = world.users["admin_b"].username
    assert await events(world) == [("socket_forbidden", name, world.plants["A"].pk)]
    await finish()


async def test_a_socket_without_a_session_is_a_security_event_but_an_ended_session_is_not() -> None:
    world, path = await world_and_line()
    await refused(path, [(b"origin", ORIGIN)])
    browser = await sync_to_async(browser_of)(world.users["viewer"])
    stale = cookie(browser)
    await sync_to_async(browser.post)("/accounts/logout/")
    await refused(path, stale)  # a tab reconnecting after its logout
    assert await events(world) == [("socket_unauthenticated", "", world.plants["A"].pk)]
    await finish()
