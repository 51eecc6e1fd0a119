"""setpoint.changed and loop.changed pushes on the live socket (real Redis channel layer): the
screens showing the tag get the new state as the same fragment the panel renders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

from config.asgi import application
from plant.actions.loops import do_set_loop_mode
from plant.actions.setpoints import do_request_setpoint
from plant.models import ControlLoop, Plant, Tag
from tests.builders import demo_tag, record_value

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("live_hub"),
]
ORIGIN = b"http://localhost:8000"


@pytest.fixture(autouse=True)
def _short_lived_connections() -> Iterator[None]:
    """The consumer's threads close their connections, so the test database can be dropped."""
    settings_dict = connections["default"].settings_dict
    kept, settings_dict["CONN_MAX_AGE"] = settings_dict["CONN_MAX_AGE"], 0
    yield
    settings_dict["CONN_MAX_AGE"] = kept


async def opened(path: str, user: User) -> WebsocketCommunicator:
    """A logged-in socket on a screen, past the snapshot it sends first."""
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"origin", ORIGIN), (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_from()  # the snapshot
    return communicator


async def receive_containing(communicator: WebsocketCommunicator, text: str) -> str:
    """The next pushed fragment containing `text` (tag values may arrive in between)."""
    for _ in range(20):
        html = await communicator.receive_from(timeout=3)
        if text in html:
            return html
    raise AssertionError(f"no push containing {text!r}")


@pytest.fixture
def fill_level_sp(demo_plant: Plant) -> Tag:
    tag = demo_tag(demo_plant, "fill_level_sp")
    record_value(tag, 500.0)
    return tag


async def test_a_write_state_is_pushed_to_the_machine_screen_that_shows_the_tag(
    users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    socket = await opened(f"/ws/machine/{fill_level_sp.machine_id}/", users_by_role["viewer"])
    write = await sync_to_async(do_request_setpoint)(
        fill_level_sp, 504, by=users_by_role["operator"]
    )
    html = await receive_containing(socket, f'id="setpoint-status-{fill_level_sp.pk}"')
    assert f'data-write="{write.pk}"' in html and 'data-state="pending"' in html
    assert "500.0 ml → 504.0 ml" in html and "by operator-user" in html
    await socket.disconnect()


async def test_a_screen_without_the_tag_hears_nothing_of_its_writes(
    users_by_role: dict[str, User], fill_level_sp: Tag, demo_plant: Plant
) -> None:
    fan = await sync_to_async(lambda: demo_tag(demo_plant, "fan"))()
    await sync_to_async(record_value)(fan, 0.0)
    socket = await opened(f"/ws/line/{fan.machine.line_id}/", users_by_role["viewer"])
    operator = users_by_role["operator"]
    await sync_to_async(do_request_setpoint)(fill_level_sp, 504, by=operator)
    # The marker: a write of a tag this screen shows, pushed after the other one would be.
    await sync_to_async(do_request_setpoint)(fan, 1, by=operator)
    before = await everything_before(socket, f'id="setpoint-status-{fan.pk}"')
    assert f"setpoint-status-{fill_level_sp.pk}" not in before
    await socket.disconnect()


async def everything_before(communicator: WebsocketCommunicator, marker: str) -> str:
    """All that the socket receives before the push containing `marker`, which must come."""
    received = []
    for _ in range(20):
        html = await communicator.receive_from(timeout=15)
        if marker in html:
            return "".join(received) + html.split(marker)[0]
        received.append(html)
    raise AssertionError(f"no push containing {marker!r}")


async def test_a_loop_mode_change_is_pushed_to_the_screens_of_its_tags(
    users_by_role: dict[str, User], fill_level_sp: Tag
) -> None:
    loop = await sync_to_async(ControlLoop.objects.select_related("sp_tag", "output_tag").get)()
    await sync_to_async(record_value)(loop.pv_tag, 500.0)
    socket = await opened(f"/ws/tag/{fill_level_sp.pk}/", users_by_role["viewer"])
    await sync_to_async(do_set_loop_mode)(loop, "auto", by=users_by_role["operator"])
    html = await receive_containing(socket, f'id="loop-{loop.pk}"')
    assert 'data-mode="auto"' in html and "switched to auto by operator-user" in html
    await socket.disconnect()
