"""The alarm.changed push on the real Redis channel layer: every page of the plant hears it."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from config.asgi import application
from plant import live
from plant.actions.alarms import plant_id
from plant.models import Alarm, Plant

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("live_hub"),
]
ORIGIN = b"http://localhost:8000"


def cookie_of(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def test_an_alarm_change_reaches_the_plants_socket_as_a_signal(
    users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    headers = [(b"origin", ORIGIN), (b"cookie", cookie_of(users_by_role["viewer"]))]
    communicator = WebsocketCommunicator(application, f"/ws/plant/{demo_plant.pk}/", headers)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_from()  # the snapshot
    alarm = await Alarm.objects.select_related("definition__tag__machine__line").aget(
        definition__tag__key="methane", definition__kind="hh"
    )
    assert plant_id(alarm) == demo_plant.pk
    await live.group_send(
        live.plant_group(demo_plant.pk),
        live.AlarmChanged(
            type="alarm.changed", alarm=alarm.pk, plant=demo_plant.pk, tag=alarm.definition.tag_id,
            from_state="normal", to_state="unack", event="activate", priority="critical",
            emergency=True, message="Methane high-high", by="system",
            at="2026-01-01T00:00:00+00:00",
        ),
    )  # fmt: skip
    text = ""
    while 'id="alarm-signal"' not in text:
        text = await communicator.receive_from(timeout=2)
    assert f'data-alarm="{alarm.pk}"' in text and 'data-to="unack"' in text
    await communicator.disconnect()
