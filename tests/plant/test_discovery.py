"""The one review list of discovered signals (plant.discovery) and its admin page: Sparkplug
births held for approval and unknown topics join the Neuron tags there; accept, map and ignore
in bulk, each change journaled, each admin seeing only their own plants' signals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client

from plant import discovery, sparkplug
from plant.models import (
    ConfigChange,
    DiscoveredSignal,
    NeuronGateway,
    NeuronTag,
    Plant,
    SparkplugGroup,
    SparkplugPendingBirth,
    Tag,
    UnknownTopic,
)

pytestmark = pytest.mark.django_db
AT = datetime(2026, 1, 1, tzinfo=UTC)
CHANGELIST = "/admin/plant/discoveredsignal/"


@pytest.fixture
def gateway() -> NeuronGateway:
    plant = Plant.objects.create(name="Neuron plant", slug="neuron-plant")
    return NeuronGateway.objects.create(app="gw1", plant=plant)


def neuron_signals(gateway: NeuronGateway, *names: str) -> list[DiscoveredSignal]:
    discovery.do_see_neuron(gateway, "modbus", "grp", {n: (1.5, "1.5") for n in names}, AT)
    return list(DiscoveredSignal.objects.filter(kind="neuron").order_by("key"))


def test_a_pending_sparkplug_birth_and_an_unknown_topic_join_the_list(demo_plant: Plant) -> None:
    SparkplugGroup.objects.create(group_id="held", plant=demo_plant, discovery=False)
    metric = sparkplug.BirthMetric(name="Level", alias=1, datatype=10, unit="", low=None,
                                   high=None)  # fmt: skip
    sparkplug.do_birth("held", "edge1", "", [metric], bd_seq=0, at=AT)
    topic = f"{demo_plant.slug}/filling/filler/new_sensor"
    UnknownTopic.objects.create(topic=topic, first_seen_at=AT, last_seen_at=AT, message_count=3,
                                last_payload=b"42.5")  # fmt: skip
    assert discovery.sync_sources() == 2
    assert discovery.sync_sources() == 0  # listed once
    listed = {(s.kind, s.key, s.count, s.last_value, s.plant_id)
              for s in DiscoveredSignal.objects.all()}  # fmt: skip
    assert listed == {("sparkplug", "held/edge1", 1, "1 metrics", demo_plant.pk),
                      ("topic", topic, 3, "42.5", demo_plant.pk)}  # fmt: skip


def test_ignoring_a_sparkplug_signal_ignores_its_pending_birth(demo_plant: Plant) -> None:
    SparkplugGroup.objects.create(group_id="held", plant=demo_plant, discovery=False)
    metric = sparkplug.BirthMetric(name="Level", alias=1, datatype=10, unit="", low=None,
                                   high=None)  # fmt: skip
    sparkplug.do_birth("held", "edge1", "", [metric], bd_seq=0, at=AT)
    discovery.sync_sources()
    discovery.do_ignore(DiscoveredSignal.objects.filter(kind="sparkplug"), by="admin")
    assert SparkplugPendingBirth.objects.get().state == "ignored"


def test_accepting_a_sparkplug_signal_approves_its_birth(demo_plant: Plant) -> None:
    SparkplugGroup.objects.create(group_id="held", plant=demo_plant, discovery=False)
    metric = sparkplug.BirthMetric(name="Level", alias=1, datatype=10, unit="", low=None,
                                   high=None)  # fmt: skip
    sparkplug.do_birth("held", "edge1", "", [metric], bd_seq=0, at=AT)
    discovery.sync_sources()
    [tag] = discovery.do_accept(DiscoveredSignal.objects.filter(kind="sparkplug"), by="admin")
    assert (tag.key, SparkplugPendingBirth.objects.get().state) == ("level", "approved")


def test_accepting_an_unknown_topic_under_a_known_machine_creates_its_tag(
    demo_plant: Plant,
) -> None:
    topic = f"{demo_plant.slug}/filling/filler/new_sensor"
    UnknownTopic.objects.create(topic=topic, first_seen_at=AT, last_seen_at=AT, message_count=1,
                                last_payload=b"1")  # fmt: skip
    discovery.sync_sources()
    [tag] = discovery.do_accept(DiscoveredSignal.objects.filter(kind="topic"), by="admin")
    assert (tag.topic, tag.key, tag.machine.slug) == (topic, "new_sensor", "filler")


def test_an_unknown_topic_outside_any_machine_cannot_be_accepted_and_nothing_changes() -> None:
    UnknownTopic.objects.create(topic="nowhere/a/b/c", first_seen_at=AT, last_seen_at=AT,
                                message_count=1, last_payload=b"1")  # fmt: skip
    discovery.sync_sources()
    with pytest.raises(ValidationError, match="no machine 'nowhere/a/b'"):
        discovery.do_accept(DiscoveredSignal.objects.filter(kind="topic"), by="admin")
    assert DiscoveredSignal.objects.get().status == "new"


def test_a_decided_signal_cannot_be_decided_again(gateway: NeuronGateway) -> None:
    [signal] = neuron_signals(gateway, "tag0")
    discovery.do_accept([signal], by="admin")
    with pytest.raises(ValidationError, match="already accepted"):
        discovery.do_accept([signal], by="admin")
    assert Tag.objects.filter(machine__line__plant=gateway.plant).count() == 1


def test_a_tag_that_stores_one_neuron_tag_cannot_be_mapped_to_another(
    gateway: NeuronGateway,
) -> None:
    first, second = neuron_signals(gateway, "tag0", "tag1")
    [tag] = discovery.do_accept([first], by="admin")
    with pytest.raises(ValidationError, match="already stores another Neuron tag"):
        discovery.do_map(second, tag, by="admin")
    assert NeuronTag.objects.count() == 1
    second.refresh_from_db()
    assert second.status == "new"


def test_the_admin_page_accepts_in_bulk_and_journals_who_did(gateway: NeuronGateway) -> None:
    signals = neuron_signals(gateway, "tag0", "tag1", "tag2")
    admin = User.objects.create_superuser("reviewer", password="x")
    client = Client()
    client.force_login(admin)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert all(s.key in page.content.decode() for s in signals)
    response = client.post(CHANGELIST, {"action": "accept",
                                        "_selected_action": [s.pk for s in signals]})  # fmt: skip
    assert response.status_code == 302
    assert sorted(Tag.objects.filter(machine__line__plant=gateway.plant).values_list(
        "key", flat=True)) == ["grp_tag0", "grp_tag1", "grp_tag2"]  # fmt: skip
    assert set(DiscoveredSignal.objects.values_list("status", flat=True)) == {"accepted"}
    journal = ConfigChange.objects.filter(actor="reviewer", model="plant.discoveredsignal")
    assert journal.count() == 3


def test_the_change_form_maps_a_signal_onto_an_existing_tag(
    gateway: NeuronGateway, demo_plant: Plant
) -> None:
    [signal] = neuron_signals(gateway, "tag0")
    [made] = discovery.do_accept(neuron_signals(gateway, "other")[:1], by="admin")
    NeuronTag.objects.filter(tag=made).delete()
    client = Client()
    client.force_login(User.objects.create_superuser("mapper", password="x"))
    response = client.post(f"{CHANGELIST}{signal.pk}/change/", {"tag": made.pk})
    assert response.status_code == 302
    signal.refresh_from_db()
    assert (signal.status, signal.tag_id) == ("mapped", made.pk)
    assert NeuronTag.objects.get(tag=made).name == "tag0"


def test_a_plant_admin_sees_the_signals_of_their_own_plants_only(
    gateway: NeuronGateway, demo_plant: Plant, users_by_role: dict[str, User]
) -> None:
    neuron_signals(gateway, "secret_tag")  # the gateway's plant, not the demo plant
    own = NeuronGateway.objects.create(app="demo-gw", plant=demo_plant)
    discovery.do_see_neuron(own, "modbus", "grp", {"own_tag": (1, "1")}, AT)
    client = Client()
    client.force_login(users_by_role["admin"])  # an admin of the demo plant
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "own_tag" in page.content.decode()
    assert "secret_tag" not in page.content.decode()
