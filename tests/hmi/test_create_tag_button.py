"""The *Create tag* button of an unknown topic: a plant admin follows it from the list of
unknown topics to a tag form filled in with the topic and its last level as the key, and
saving it makes the tag (the worker picks it up within two seconds: tests/ingest)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from plant.models import Machine, Tag
from tests.hmi.test_admin_matrix import client_of, tag_form
from tests.hmi.two_plants import World, built_once, topic_of

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: object) -> Iterator[World]:
    yield from built_once(django_db_blocker)


def test_a_plant_admin_makes_a_tag_of_an_unknown_topic_with_its_button(world: World) -> None:
    client = client_of(world, "admin_a")
    listing = client.get("/admin/plant/unknowntopic/").content.decode()
    buttons = [html.unescape(href) for href in
               re.findall(r'<a class="button" href="([^"]+)">Create tag</a>', listing)]  # fmt: skip
    topic = topic_of("A", "filling/filler/new_sensor")
    (button,) = [b for b in buttons if parse_qs(urlsplit(b).query)["topic"] == [topic]]
    form = client.get(button)
    assert form.status_code == 200
    initial = form.context["adminform"].form.initial
    assert (initial["topic"], initial["key"]) == (topic, "new_sensor")
    machine = Machine.objects.get(pk=world.ids["A"]["machine"])
    response = client.post(
        "/admin/plant/tag/add/", tag_form(machine, initial["topic"], key=initial["key"])
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    tag = Tag.objects.get(topic=topic)
    assert (tag.key, tag.machine_id) == ("new_sensor", machine.pk)
