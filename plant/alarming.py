"""The ISA-18.2 alarm state machine and limit evaluation, as pure functions: no Django, no I/O.

An alarm has a *condition* (is the process outside its limit, after deadband and delays?) and
a *state* (what the operator has seen of it):

    normal ──activate──▶ unack ──acknowledge──▶ ack ──clear──▶ normal
                          │ clear                │
                          ▼                      │
                      rtn_unack ──acknowledge──▶ normal        (rtn_unack ──activate──▶ unack)

Any of those four may be shelved (until a time, returning on expiry or unshelve) or taken out
of service (suppressed). Both remember the condition, so they return to unack if it is still
active and to normal if not. Every change of state yields one Transition, the journal's
record; `replay` proves a journal reaches the state it claims.

Times are epoch seconds (floats): the caller owns the clock. Bools are 0/1 values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class State(StrEnum):
    NORMAL = "normal"
    UNACK = "unack"  # active, unacknowledged
    ACK = "ack"  # active, acknowledged
    RTN_UNACK = "rtn_unack"  # returned to normal, unacknowledged
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"  # out of service (or suppressed by design)


class Kind(StrEnum):
    HIGH_HIGH = "hh"
    HIGH = "h"
    LOW = "l"
    LOW_LOW = "ll"
    DIGITAL = "digital"  # alarm while the value equals `limit` (bools: 1 or 0)
    DEVIATION = "deviation"  # |value - setpoint| >= limit
    RATE = "rate"  # |change per second| >= limit
    COMM_LOSS = "comm_loss"  # no sample for more than `limit` seconds


# What a person reads for each state and event: on the screens, in the exports and in the API's
# human-readable fields. The codes stay the data; nobody should have to decode `rtn_unack`.
STATE_LABELS: dict[str, str] = {
    State.NORMAL: "Normal",
    State.UNACK: "Active, unacknowledged",
    State.ACK: "Active, acknowledged",
    State.RTN_UNACK: "Returned, unacknowledged",
    State.SHELVED: "Shelved",
    State.SUPPRESSED: "Out of service",
}
EVENT_LABELS: dict[str, str] = {
    "activate": "Activated",
    "clear": "Returned to normal",
    "acknowledge": "Acknowledged",
    "shelve": "Shelved",
    "unshelve": "Unshelved",
    "expire": "Shelving expired",
    "suppress": "Taken out of service",
    "restore": "Returned to service",
}


def state_label(state: str) -> str:
    """The words for an alarm state; a code this version does not know is shown as it is."""
    return STATE_LABELS.get(state, state)


def event_label(event: str) -> str:
    """The words for a journal event; a code this version does not know is shown as it is."""
    return EVENT_LABELS.get(event, event)


HIGH_KINDS = (Kind.HIGH_HIGH, Kind.HIGH)
LOW_KINDS = (Kind.LOW, Kind.LOW_LOW)
IN_ALARM = (State.UNACK, State.ACK)  # the states whose condition must be active
CLEAR = (State.NORMAL, State.RTN_UNACK)  # the states whose condition must be clear


class IllegalTransition(ValueError):
    """An operator action that the alarm's present state does not allow."""


@dataclass(frozen=True, slots=True)
class Definition:
    """What makes one alarm active: a kind, a limit, a deadband and two delays."""

    kind: Kind
    limit: float
    deadband: float = 0.0
    on_delay_s: float = 0.0  # the condition must hold this long before the alarm activates
    off_delay_s: float = 0.0  # and be clear this long before it clears


@dataclass(frozen=True, slots=True)
class Status:
    """Where one alarm stands. `active` is the debounced condition, also while shelved."""

    state: State = State.NORMAL
    active: bool = False
    pending_since: float | None = None  # the raw condition has differed from `active` since
    shelved_until: float | None = None
    last_value: float | None = None
    last_at: float | None = None  # the last sample's time (rate of change, comm loss)


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of state: a journal record."""

    at: float
    from_state: State
    to_state: State
    event: str  # activate, clear, acknowledge, shelve, unshelve, expire, suppress, restore
    value: float | None = None
    user: str | None = None  # None: the system
    comment: str = ""


Result = tuple[Status, list[Transition]]


# --- the condition -----------------------------------------------------------------------


def raw_condition(
    definition: Definition, status: Status, value: float, at: float,
    setpoint: float | None = None,
) -> bool:  # fmt: skip
    """Whether this sample is in alarm, with the deadband applied against the condition
    as last believed (so a value hovering at the limit does not chatter)."""
    was = believed(status)
    kind, limit, band = definition.kind, definition.limit, definition.deadband
    if kind in HIGH_KINDS:
        return value >= limit - band if was else value >= limit
    if kind in LOW_KINDS:
        return value <= limit + band if was else value <= limit
    if kind == Kind.DIGITAL:
        return value == limit
    if kind == Kind.DEVIATION:
        return was if setpoint is None else _over(abs(value - setpoint), limit, band, was)
    if kind == Kind.RATE:
        if status.last_value is None or status.last_at is None or at <= status.last_at:
            return was
        rate = abs(value - status.last_value) / (at - status.last_at)
        return _over(rate, limit, band, was)
    return False  # COMM_LOSS: a sample arrived


def _over(amount: float, limit: float, band: float, was: bool) -> bool:
    return amount >= limit - band if was else amount >= limit


def believed(status: Status) -> bool:
    """The raw condition as last seen: `active`, unless a change is waiting out its delay."""
    return status.active != (status.pending_since is not None)


# --- evaluation: samples and clock ticks ------------------------------------------------------


def evaluate(
    definition: Definition, status: Status, value: float, at: float,
    setpoint: float | None = None,
) -> Result:  # fmt: skip
    """Apply one sample at time `at`."""
    raw = raw_condition(definition, status, value, at, setpoint)
    status = replace(status, last_value=value, last_at=at)
    return _debounce(definition, status, raw, at, value)


def tick(definition: Definition, status: Status, at: float) -> Result:
    """Let time pass with no sample: delays mature, shelves expire, communication is lost."""
    transitions: list[Transition] = []
    shelf_end = status.shelved_until
    if status.state == State.SHELVED and shelf_end is not None and at >= shelf_end:
        status, record = _leave(status, at, "expire", None, "")
        transitions.append(record)
    if definition.kind == Kind.COMM_LOSS and status.last_at is not None:
        raw = at - status.last_at > definition.limit
    else:
        raw = believed(status)
    status, more = _debounce(definition, status, raw, at, status.last_value)
    return status, transitions + more


def _debounce(
    definition: Definition, status: Status, raw: bool, at: float, value: float | None
) -> Result:
    if raw == status.active:
        return replace(status, pending_since=None), []
    since = status.pending_since if status.pending_since is not None else at
    delay = definition.on_delay_s if raw else definition.off_delay_s
    if at - since < delay:
        return replace(status, pending_since=since), []
    status = replace(status, active=raw, pending_since=None)
    return follow_condition(status, at, value)


def follow_condition(status: Status, at: float, value: float | None) -> Result:
    """The condition just changed to `status.active`: move the state if it shows it."""
    old = status.state
    if status.active and old in (State.NORMAL, State.RTN_UNACK):
        new, event = State.UNACK, "activate"
    elif not status.active and old == State.UNACK:
        new, event = State.RTN_UNACK, "clear"
    elif not status.active and old == State.ACK:
        new, event = State.NORMAL, "clear"
    else:
        return status, []  # shelved or suppressed: remembered, not annunciated
    return replace(status, state=new), [Transition(at, old, new, event, value)]


def set_condition(status: Status, active: bool, at: float, value: float | None) -> Result:
    """Apply a debounced condition decided elsewhere (the engine) to a stored state."""
    status = replace(status, last_value=value)
    if active == status.active:
        return status, []
    return follow_condition(replace(status, active=active, pending_since=None), at, value)


def expire(status: Status, at: float) -> tuple[Status, Transition]:
    """A shelf whose time is up returns the alarm (by the system)."""
    if status.state != State.SHELVED or status.shelved_until is None or at < status.shelved_until:
        raise IllegalTransition("the alarm is not on a shelf that has ended")
    return _leave(status, at, "expire", None, "")


# --- what people (and the configuration) do ------------------------------------------------


def acknowledge(
    status: Status, at: float, user: str | None = None, comment: str = ""
) -> tuple[Status, Transition]:
    """unack → ack, rtn_unack → normal; anything else is illegal."""
    targets = {State.UNACK: State.ACK, State.RTN_UNACK: State.NORMAL}
    if status.state not in targets:
        raise IllegalTransition(f"an alarm in state {status.state} cannot be acknowledged")
    new = targets[status.state]
    record = Transition(at, status.state, new, "acknowledge", status.last_value, user, comment)
    return replace(status, state=new), record


def shelve(
    status: Status, at: float, until: float, user: str | None = None, comment: str = ""
) -> tuple[Status, Transition]:
    """Hide the alarm until `until`; it comes back on its own then."""
    if status.state in (State.SHELVED, State.SUPPRESSED):
        raise IllegalTransition(f"an alarm in state {status.state} cannot be shelved")
    if until <= at:
        raise IllegalTransition("a shelf must end in the future")
    record = Transition(at, status.state, State.SHELVED, "shelve", status.last_value, user, comment)
    return replace(status, state=State.SHELVED, shelved_until=until), record


def unshelve(
    status: Status, at: float, user: str | None = None, comment: str = ""
) -> tuple[Status, Transition]:
    if status.state != State.SHELVED:
        raise IllegalTransition("only a shelved alarm can be unshelved")
    return _leave(status, at, "unshelve", user, comment)


def suppress(
    status: Status, at: float, user: str | None = None, comment: str = ""
) -> tuple[Status, Transition]:
    """Take the alarm out of service (its definition was disabled)."""
    if status.state == State.SUPPRESSED:
        raise IllegalTransition("the alarm is already out of service")
    record = Transition(
        at, status.state, State.SUPPRESSED, "suppress", status.last_value, user, comment
    )
    return replace(status, state=State.SUPPRESSED, shelved_until=None), record


def restore(
    status: Status, at: float, user: str | None = None, comment: str = ""
) -> tuple[Status, Transition]:
    """Return an out-of-service alarm to service."""
    if status.state != State.SUPPRESSED:
        raise IllegalTransition("only an alarm out of service can be restored")
    return _leave(status, at, "restore", user, comment)


def _leave(
    status: Status, at: float, event: str, user: str | None, comment: str
) -> tuple[Status, Transition]:
    """Leave shelved or suppressed: unack if the condition is active, normal if not."""
    new = State.UNACK if status.active else State.NORMAL
    record = Transition(at, status.state, new, event, status.last_value, user, comment)
    return replace(status, state=new, shelved_until=None), record


# --- invariants ---------------------------------------------------------------------------


def is_legal(status: Status) -> bool:
    """The state agrees with the condition, and only a shelved alarm has a shelf end."""
    if status.state in IN_ALARM and not status.active:
        return False
    if status.state in CLEAR and status.active:
        return False
    return (status.state == State.SHELVED) == (status.shelved_until is not None)


def replay(journal: list[Transition], start: State = State.NORMAL) -> State:
    """The state a journal leads to; ValueError if an entry does not follow the one before."""
    state = start
    for record in journal:
        if record.from_state != state or record.to_state == record.from_state:
            raise ValueError(f"journal breaks at {record}: the alarm was {state}")
        state = record.to_state
    return state
