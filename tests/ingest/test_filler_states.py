"""The simulated filler's states for OEE: held faults, its own stops, and the bottles it makes."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from ingest.sim.faults import check_fault_name, parse_fault_spec
from ingest.sim.filler_states import FillerStops
from ingest.sim.plant_model import BOTTLES_PER_S, PlantModel


def states_over(stops: FillerStops, seconds: int, faults: dict[str, float]) -> list[str]:
    return [stops.state(float(t), faults) for t in range(seconds)]


def test_without_a_fault_the_filler_runs() -> None:
    assert set(states_over(FillerStops(1), 3600, {})) == {"running"}


def test_held_faults_hold_the_filler_in_their_state() -> None:
    stops = FillerStops(1)
    for fault, state in (("filler_stop", "fault"), ("starved", "starved"), ("slow", "slow")):
        assert set(states_over(stops, 60, {fault: 1e9, "filler_stops": 1e9})) == {state}


@given(st.integers(0, 10_000))
def test_filler_stops_are_mostly_short_with_a_longer_one_now_and_then(seed: int) -> None:
    found = states_over(FillerStops(seed), 8 * 3600, {"filler_stops": 1e9})
    share = Counter(found)
    assert share["running"] / len(found) > 0.4
    assert share["jammed"] > 0
    stops = sum(1 for a, b in itertools.pairwise(found) if a == "running" != b)
    assert 60 < stops < 400  # about one stop every two minutes of running


def test_the_same_seed_stops_the_same_way() -> None:
    faults = {"filler_stops": 1e9}
    assert states_over(FillerStops(5), 3600, faults) == states_over(FillerStops(5), 3600, faults)


def test_a_stopped_filler_makes_no_bottles_and_a_slow_one_half() -> None:
    model = PlantModel(seed=3)
    model.step(10.0)
    before = model.values["bottles_filled"]
    model.inject("filler_stop", 20)
    model.step(10.0)
    assert model.values["state"] == "fault"
    assert model.values["bottles_filled"] == before
    model.inject("clear")
    model.inject("slow", 100)
    model.step(10.0)
    assert model.values["state"] == "slow"
    assert model.values["bottles_filled"] == before + int(BOTTLES_PER_S * 0.5 * 10)


def test_the_filler_faults_are_known_to_the_command_line() -> None:
    for name in ("filler_stop", "starved", "slow", "filler_stops"):
        assert check_fault_name(name) == name
    assert parse_fault_spec("filler_stops@0:315360000").duration_s == 315360000
