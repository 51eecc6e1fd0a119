"""The simulated energy meter keeps its register across restarts, as a real meter does: a
restarted simulator carries on from the meter's newest stored reading, so the counter never
falls (a fall would read as a meter reset in the energy figures)."""

from __future__ import annotations

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from ingest.sim.json_device import Simulator, load_tags, meter_start_kwh
from ingest.sim.neuron_device import NeuronGateway
from ingest.sim.plant_model import START_KWH, PlantModel
from ingest.sim.sparkplug_device import SparkplugPlant
from plant.counters import counter_increase
from plant.models import LatestValue, Plant, Tag

DEVICES = [Simulator, SparkplugPlant, NeuronGateway]


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False), st.integers(0, 100))
def test_the_meter_rises_from_the_reading_it_starts_at(meter_kwh: float, seed: int) -> None:
    model = PlantModel(seed, meter_kwh=meter_kwh)
    start = float(model.values["energy"])
    for _ in range(30):
        model.step(1.0)
    assert start == round(meter_kwh, 3)
    # 150 kW and more for 30 s: at least 1.25 kWh, never a fall.
    assert float(model.values["energy"]) - start >= 1.2


def store_energy(plant: Plant, value: float) -> None:
    tag = Tag.objects.get(machine__line__plant=plant, key="energy")
    LatestValue.objects.update_or_create(tag=tag, defaults={"time": timezone.now(),
                                                            "value": value})  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.__name__)
def test_a_restarted_simulator_carries_the_meter_on_from_its_last_stored_reading(
    demo_plant: Plant, device: type[Simulator | SparkplugPlant | NeuronGateway]
) -> None:
    store_energy(demo_plant, 131_234.567)
    simulator = device(load_tags(demo_plant.slug), plant_slug=demo_plant.slug, seed=1)
    first = float(simulator.model.values["energy"])
    assert first == 131_234.567
    simulator.model.step(1.0)
    # The stored reading, then what the restarted meter publishes: a rise of under a kWh,
    # not the 125,000 kWh "reset" a meter starting from scratch would be read as.
    rise = counter_increase([131_234.567, first, float(simulator.model.values["energy"])], None)
    assert 0 < rise < 1


@pytest.mark.django_db
def test_a_meter_without_a_stored_reading_starts_at_its_first_reading(demo_plant: Plant) -> None:
    LatestValue.objects.filter(tag__key="energy").delete()
    tags = load_tags(demo_plant.slug)
    assert meter_start_kwh(tags) == START_KWH
    assert Simulator(tags, plant_slug=demo_plant.slug, seed=1).model.values["energy"] == START_KWH


@pytest.mark.django_db
def test_a_bad_reading_without_a_value_is_not_where_the_meter_resumes(demo_plant: Plant) -> None:
    store_energy(demo_plant, 131_000.0)
    LatestValue.objects.filter(tag__key="energy").update(value=None)
    assert meter_start_kwh(load_tags(demo_plant.slug)) == START_KWH
