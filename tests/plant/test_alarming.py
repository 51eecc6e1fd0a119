"""The pure ISA-18.2 state machine: legal states, a journal that replays, deadband and delays."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plant import alarming
from plant.alarming import Definition, IllegalTransition, Kind, State, Status, Transition

HIGH = Definition(Kind.HIGH, limit=10.0, deadband=1.0)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("sample"), st.floats(0, 20), st.floats(0, 5)),
        st.tuples(st.just("tick"), st.floats(0, 30)),
        st.tuples(st.just("ack")),
        st.tuples(st.just("shelve"), st.floats(0.5, 40)),
        st.tuples(st.just("unshelve")),
        st.tuples(st.just("suppress")),
        st.tuples(st.just("restore")),
    ),
    max_size=60,
)
definitions = st.builds(
    Definition,
    kind=st.sampled_from(list(Kind)),
    limit=st.floats(1, 15),
    deadband=st.floats(0, 3),
    on_delay_s=st.sampled_from([0.0, 1.0, 5.0]),
    off_delay_s=st.sampled_from([0.0, 2.0]),
)
PERSON_ACTIONS = {
    "ack": lambda s, t: alarming.acknowledge(s, t, "sue"),
    "unshelve": lambda s, t: alarming.unshelve(s, t, "sue"),
    "suppress": lambda s, t: alarming.suppress(s, t, "admin"),
    "restore": lambda s, t: alarming.restore(s, t, "admin"),
}


def apply(
    definition: Definition, status: Status, op: tuple, now: float
) -> tuple[Status, list[Transition], float]:
    """One step of a random history; illegal person actions are refused and change nothing."""
    name = op[0]
    if name == "sample":
        now += op[2]
        status, records = alarming.evaluate(definition, status, op[1], now, setpoint=5.0)
        return status, records, now
    if name == "tick":
        now += op[1]
        status, records = alarming.tick(definition, status, now)
        return status, records, now
    try:
        if name == "shelve":
            status, record = alarming.shelve(status, now, now + op[1], "sue", "maintenance")
        else:
            status, record = PERSON_ACTIONS[name](status, now)
    except IllegalTransition:
        return status, [], now
    return status, [record], now


@settings(max_examples=300, deadline=None)
@given(definition=definitions, ops=operations)
def test_any_history_leaves_a_legal_state_and_a_journal_that_replays_to_it(
    definition: Definition, ops: list[tuple]
) -> None:
    status, journal, now = Status(last_at=0.0), [], 0.0
    for op in ops:
        status, records, now = apply(definition, status, op, now)
        journal += records
        assert alarming.is_legal(status), (op, status)
        assert alarming.replay(journal) == status.state


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(9.0, 20.0), min_size=1, max_size=30))
def test_an_active_high_alarm_stays_active_within_its_deadband(values: list[float]) -> None:
    status, _ = alarming.evaluate(HIGH, Status(), 12.0, 0.0)
    assert status.active
    for i, value in enumerate(values, start=1):
        status, records = alarming.evaluate(HIGH, status, value, float(i))
        assert status.active and records == []  # 9.0 ≥ limit - deadband: never clears


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.floats(0.1, 3.0), min_size=1, max_size=20),
    high=st.lists(st.booleans(), min_size=20, max_size=20),
)
def test_the_on_delay_holds_an_alarm_back_until_the_condition_lasted_that_long(
    gaps: list[float], high: list[bool]
) -> None:
    definition = Definition(Kind.HIGH, limit=10.0, on_delay_s=5.0)
    status, now, above_since = Status(), 0.0, None
    for gap, is_high in zip(gaps, high, strict=False):
        now += gap
        above_since = (above_since if above_since is not None else now) if is_high else None
        status, records = alarming.evaluate(definition, status, 15.0 if is_high else 0.0, now)
        if any(r.event == "activate" for r in records):
            assert above_since is not None and now - above_since >= 5.0


def test_an_off_delay_keeps_the_alarm_until_the_value_stayed_clear() -> None:
    definition = Definition(Kind.HIGH, limit=10.0, off_delay_s=3.0)
    status, _ = alarming.evaluate(definition, Status(), 12.0, 0.0)
    status, records = alarming.evaluate(definition, status, 5.0, 1.0)
    assert status.state == State.UNACK and records == []
    status, records = alarming.tick(definition, status, 3.5)
    assert status.state == State.UNACK
    status, records = alarming.tick(definition, status, 4.0)
    assert [(r.from_state, r.to_state) for r in records] == [(State.UNACK, State.RTN_UNACK)]


def test_acknowledge_then_clear_returns_to_normal() -> None:
    status, records = alarming.evaluate(HIGH, Status(), 12.0, 0.0)
    assert records[0].event == "activate" and status.state == State.UNACK
    status, record = alarming.acknowledge(status, 1.0, "sue", "seen")
    assert (status.state, record.user, record.comment) == (State.ACK, "sue", "seen")
    status, records = alarming.evaluate(HIGH, status, 8.0, 2.0)
    assert status.state == State.NORMAL
    with pytest.raises(IllegalTransition):
        alarming.acknowledge(status, 3.0)


def test_a_shelved_alarm_returns_on_expiry_in_alarm_if_its_condition_is_still_active() -> None:
    status, _ = alarming.evaluate(HIGH, Status(), 12.0, 0.0)
    status, _ = alarming.shelve(status, 1.0, 61.0, "sue", "sensor being replaced")
    status, records = alarming.evaluate(HIGH, status, 15.0, 30.0)
    assert status.state == State.SHELVED and records == []
    status, records = alarming.tick(HIGH, status, 61.0)
    assert [r.event for r in records] == ["expire"] and status.state == State.UNACK


def test_communication_loss_activates_after_the_interval_and_clears_on_the_next_sample() -> None:
    definition = Definition(Kind.COMM_LOSS, limit=10.0)
    status, _ = alarming.evaluate(definition, Status(), 1.0, 0.0)
    status, records = alarming.tick(definition, status, 10.0)
    assert records == []
    status, records = alarming.tick(definition, status, 10.5)
    assert status.state == State.UNACK
    status, records = alarming.evaluate(definition, status, 1.0, 11.0)
    assert status.state == State.RTN_UNACK


def test_deviation_and_rate_of_change() -> None:
    deviation = Definition(Kind.DEVIATION, limit=5.0, deadband=1.0)
    status, _ = alarming.evaluate(deviation, Status(), 506.0, 0.0, setpoint=500.0)
    assert status.active
    status, _ = alarming.evaluate(deviation, status, 504.5, 1.0, setpoint=500.0)
    assert status.active  # 4.5 ≥ 5 - 1
    rate = Definition(Kind.RATE, limit=2.0)
    status, _ = alarming.evaluate(rate, Status(), 0.0, 0.0)
    status, _ = alarming.evaluate(rate, status, 1.0, 1.0)
    assert not status.active
    status, _ = alarming.evaluate(rate, status, 5.0, 2.0)
    assert status.active


def test_a_journal_with_a_gap_does_not_replay() -> None:
    journal = [Transition(0.0, State.NORMAL, State.UNACK, "activate"),
               Transition(1.0, State.NORMAL, State.ACK, "acknowledge")]  # fmt: skip
    with pytest.raises(ValueError, match="journal breaks"):
        alarming.replay(journal)
