"""The live socket on the real Redis channel layer: who may open it, and what it pushes.

The consumer reads the database from another thread, which cannot see the uncommitted
transaction of a plain `django_db` test, so these tests commit (and restore the migrations'
data, the role groups, afterwards by serialized rollback).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

from config.asgi import application
from hmi import feeds
from plant import live
from plant.models import LatestValue, Plant, Quality, Tag
from plant.quality import code_of

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("live_hub"),
]
ORIGIN = b"http://localhost:8000"  # an allowed host (ALLOWED_HOSTS), as a browser would send


def cookie_of(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def socket(path: str, cookie: bytes = b"", origin: bytes = ORIGIN) -> WebsocketCommunicator:
    headers = [(b"origin", origin)] + ([(b"cookie", cookie)] if cookie else [])
    return WebsocketCommunicator(application, path, headers=headers)


async def opened(path: str, user: User) -> WebsocketCommunicator:
    """A socket that connected and has taken its snapshot."""
    communicator = socket(path, cookie_of(user))
    connected, _ = await communicator.connect(timeout=10)  # a loaded box: not a time limit
    assert connected
    assert "tag-" in await communicator.receive_from()
    return communicator


def value(tag: Tag, v: float | str, *, q: str = "good", age_s: float = 0) -> live.TagValue:
    ts = datetime.now(UTC) - timedelta(seconds=age_s)
    number, text = (None, v) if isinstance(v, str) else (v, None)
    return live.tag_value(tag.pk, number, text, ts, code_of(q), time.time())


async def push(*values: live.TagValue) -> None:
    """Push values as the ingest worker does: one message to every daphne process's hub."""
    assert await live.send_values(list(values))


def rows_of(frame: str) -> dict[int, list[Any]]:
    """The compact rows of a pushed frame (hmi/live_frames.py), by tag."""
    return {row[0]: row for row in json.loads(frame).get("v", [])}


def shown_in(frame: str) -> dict[int, str]:
    """The values a pushed frame shows, by tag: its rows' texts and its whole elements'."""
    texts = {pk: row[2] for pk, row in rows_of(frame).items()}
    whole = json.loads(frame).get("h", "")
    for pk, text in re.findall(r'id="tag-(\d+)".*?class="reading-value">([^<]*)<', whole, re.S):
        texts[int(pk)] = text
    return texts


def demo_tag(key: str) -> Tag:
    return Tag.objects.select_related("machine__line").get(key=key)


@pytest.fixture(autouse=True)
def _short_lived_connections() -> Iterator[None]:
    """The consumer's database threads close their connections after each use, so the test
    database can be dropped at the end of the session."""
    settings_dict = connections["default"].settings_dict
    kept, settings_dict["CONN_MAX_AGE"] = settings_dict["CONN_MAX_AGE"], 0
    yield
    settings_dict["CONN_MAX_AGE"] = kept


@pytest.fixture
def viewer(users_by_role: dict[str, User]) -> User:
    return users_by_role["viewer"]


@pytest.fixture(autouse=True)
def _no_screens_left() -> Iterator[None]:
    yield
    assert feeds.FEEDS == {}, "a disconnected tab left its screen's feed behind"


async def test_a_socket_without_login_is_refused(demo_plant: Plant) -> None:
    connected, _ = await socket(f"/ws/plant/{demo_plant.pk}/").connect()
    assert not connected


async def test_a_socket_from_a_foreign_origin_is_refused(demo_plant: Plant, viewer: User) -> None:
    communicator = socket(f"/ws/plant/{demo_plant.pk}/", cookie_of(viewer), b"http://evil.test")
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.parametrize("kind", ["plant", "line", "machine", "tag"])
async def test_a_socket_of_a_plant_the_user_may_not_see_is_refused(
    demo_plant: Plant, outsider: User, viewer: User, kind: str
) -> None:
    fill_level = demo_tag("fill_level")
    pk = {"plant": demo_plant.pk, "line": fill_level.machine.line_id}.get(kind)
    pk = pk or {"machine": fill_level.machine_id, "tag": fill_level.pk}[kind]
    connected, _ = await socket(f"/ws/{kind}/{pk}/", cookie_of(outsider)).connect()
    assert not connected
    connected, _ = await socket(f"/ws/{kind}/{pk + 1000}/", cookie_of(viewer)).connect()
    assert not connected, "a screen that does not exist is refused too"


async def test_a_socket_starts_with_a_snapshot_of_the_screen_from_the_database(
    demo_plant: Plant, viewer: User
) -> None:
    fill_level = demo_tag("fill_level")
    now = datetime.now(UTC)
    LatestValue.objects.create(tag=fill_level, time=now, value=501.25, good_at=now)
    communicator = socket(f"/ws/line/{fill_level.machine.line_id}/", cookie_of(viewer))
    assert (await communicator.connect())[0]
    snapshot = await communicator.receive_from()
    assert f'id="tag-{fill_level.pk}"' in snapshot and "501.2" in snapshot
    assert f'id="tag-{demo_tag("bottles_filled").pk}"' in snapshot
    await communicator.disconnect()


async def test_a_line_socket_receives_its_lines_values_and_no_others(
    demo_plant: Plant, viewer: User
) -> None:
    fill_level, methane = demo_tag("fill_level"), demo_tag("methane")
    communicator = await opened(f"/ws/line/{fill_level.machine.line_id}/", viewer)
    await push(value(methane, 3.0))
    await push(value(fill_level, 501.5))
    frame = await communicator.receive_from()  # the first push to arrive: the line's own
    assert shown_in(frame) == {fill_level.pk: "501.5"}
    await communicator.disconnect()


async def test_a_plant_tile_socket_sends_nothing_for_values_no_tile_shows(
    demo_plant: Plant, viewer: User
) -> None:
    communicator = await opened(f"/ws/plant/{demo_plant.pk}/", viewer)
    bottles, fill_level = demo_tag("bottles_filled"), demo_tag("fill_level")
    await push(value(bottles, 12.0))
    await push(value(fill_level, 501.5))  # a tile shows it
    frame = await communicator.receive_from()  # the marker: nothing came before it
    assert shown_in(frame) == {fill_level.pk: "501.5"}
    await communicator.disconnect()


async def test_a_tag_socket_shows_its_tag_only(demo_plant: Plant, viewer: User) -> None:
    fill_level, flow_rate = demo_tag("fill_level"), demo_tag("flow_rate")
    communicator = await opened(f"/ws/tag/{fill_level.pk}/", viewer)
    await push(value(flow_rate, 50.0), value(fill_level, 499.5))
    assert shown_in(await communicator.receive_from()) == {fill_level.pk: "499.5"}
    await communicator.disconnect()


async def test_tabs_of_one_screen_share_one_render_of_each_message(
    demo_plant: Plant, viewer: User
) -> None:
    fill_level = demo_tag("fill_level")
    path = f"/ws/machine/{fill_level.machine_id}/"
    first, second = await opened(path, viewer), await opened(path, viewer)
    (feed,) = feeds.FEEDS.values()  # one subscription for both tabs
    assert len(feed.tabs) == 2
    await push(value(fill_level, 498.0))
    assert await first.receive_from() == await second.receive_from()
    await first.disconnect()
    await second.disconnect()


async def test_a_setpoint_push_moves_the_marker_on_its_process_values_gauge(
    demo_plant: Plant, viewer: User
) -> None:
    fill_level, setpoint = demo_tag("fill_level"), demo_tag("fill_level_sp")
    communicator = await opened(f"/ws/machine/{fill_level.machine_id}/", viewer)
    await push(value(fill_level, 500.0))  # a value, so its gauge has its pointer
    await communicator.receive_from()
    await push(value(setpoint, 510.0))
    rows = rows_of(await communicator.receive_from())  # the setpoint's and the process value's
    assert rows[fill_level.pk][6] == pytest.approx(0.6)  # its marker: 510 of 450..550
    await communicator.disconnect()


async def test_bad_quality_is_pushed_with_the_time_of_the_last_good_value(
    demo_plant: Plant, viewer: User
) -> None:
    fill_level = demo_tag("fill_level")
    communicator = await opened(f"/ws/machine/{fill_level.machine_id}/", viewer)
    good = value(fill_level, 500.0, age_s=1)
    await push(good)
    await communicator.receive_from()
    await push(value(fill_level, 0.0, q="bad"))
    (row,) = rows_of(await communicator.receive_from()).values()
    assert row[1] == "bad" and row[8] == 0  # is-bad, flagged "bad", never to be marked stale
    assert row[7] == int(good["ts"] * 1000)  # "last good" at the good value's time
    await communicator.disconnect()


async def test_a_late_older_value_does_not_replace_a_newer_one(
    demo_plant: Plant, viewer: User
) -> None:
    fill_level = demo_tag("fill_level")
    communicator = await opened(f"/ws/machine/{fill_level.machine_id}/", viewer)
    await push(value(fill_level, 502.0))
    await communicator.receive_from()
    await push(value(fill_level, 490.0, age_s=5))
    await push(value(fill_level, 503.0))  # the marker: newer than both
    assert shown_in(await communicator.receive_from()) == {fill_level.pk: "503.0"}
    await communicator.disconnect()


async def test_a_reconnecting_tab_catches_up_from_the_database(
    demo_plant: Plant, viewer: User
) -> None:
    fill_level = demo_tag("fill_level")
    path = f"/ws/machine/{fill_level.machine_id}/"
    communicator = await opened(path, viewer)
    await communicator.disconnect()
    now = datetime.now(UTC)
    LatestValue.objects.create(tag=fill_level, time=now, value=503.5, quality=Quality.GOOD)
    again = socket(path, cookie_of(viewer))
    assert (await again.connect())[0]
    assert "503.5" in await again.receive_from()
    await again.disconnect()


async def test_a_socket_that_waits_longer_than_redis_blocks_still_receives(
    demo_plant: Plant, viewer: User
) -> None:
    # channels_redis blocks 5 s per read; a socket timeout no longer than that killed the
    # consumer of every quiet screen (see CHANNEL_LAYERS in config/settings.py).
    fill_level = demo_tag("fill_level")
    communicator = await opened(f"/ws/machine/{fill_level.machine_id}/", viewer)
    assert await communicator.receive_nothing(timeout=6.5)
    await push(value(fill_level, 497.5))
    assert "497.5" in await communicator.receive_from()
    await communicator.disconnect()


async def test_a_tab_keeps_receiving_when_another_tab_of_its_screen_closes(
    demo_plant: Plant, viewer: User
) -> None:
    fill_level = demo_tag("fill_level")
    path = f"/ws/machine/{fill_level.machine_id}/"
    first, second = await opened(path, viewer), await opened(path, viewer)
    await first.disconnect()
    await push(value(fill_level, 496.5))
    assert "496.5" in await second.receive_from()
    await second.disconnect()


async def test_a_message_of_an_unknown_type_is_skipped_and_the_feed_goes_on(
    demo_plant: Plant, viewer: User
) -> None:
    fill_level = demo_tag("fill_level")
    group = live.machine_group(fill_level.machine_id)
    communicator = await opened(f"/ws/machine/{fill_level.machine_id}/", viewer)
    await get_channel_layer().group_send(group, {"type": "no.such.type", "group": group})
    await push(value(fill_level, 495.5))
    assert "495.5" in await communicator.receive_from()
    await communicator.disconnect()


async def test_two_screens_of_one_tag_each_hear_it_until_their_own_last_tab_goes(
    demo_plant: Plant, viewer: User
) -> None:
    fill_level = demo_tag("fill_level")
    machine = await opened(f"/ws/machine/{fill_level.machine_id}/", viewer)
    tag = await opened(f"/ws/tag/{fill_level.pk}/", viewer)
    await push(value(fill_level, 494.5))
    assert "494.5" in await machine.receive_from()
    assert "494.5" in await tag.receive_from()
    await machine.disconnect()  # the tag screen still takes the tag's values
    await push(value(fill_level, 493.5))
    assert "493.5" in await tag.receive_from()
    await push(value(fill_level, 492.5))
    assert "492.5" in await tag.receive_from(), "one message, one push"
    await tag.disconnect()
