"""The pure rules of alarm notifications: routing, escalation times, retry backoff, following
the journal, and the webhook signature."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from plant.notifications import rules
from plant.notifications.rules import PRIORITY_RANK, Place, Reason, Roster, signature

PRIORITIES = list(PRIORITY_RANK)
places = st.builds(
    Place, plant_id=st.integers(1, 3), line_id=st.integers(1, 4),
    priority=st.sampled_from(PRIORITIES),
)  # fmt: skip
rosters = st.builds(
    Roster, id=st.integers(1, 10_000), plant_id=st.integers(1, 3),
    line_id=st.one_of(st.none(), st.integers(1, 4)), min_priority=st.sampled_from(PRIORITIES),
    delay_min=st.sampled_from([0, 0, 5, 15, 60]), on_return=st.booleans(),
)  # fmt: skip
roster_lists = st.lists(rosters, max_size=12, unique_by=lambda roster: roster.id)


@given(places, roster_lists)
def test_an_activation_goes_to_exactly_the_first_rosters_that_cover_the_alarm(
    place: Place, rosters: list[Roster]
) -> None:
    chosen = rules.rosters_for(Reason.ACTIVATION, place, rosters)
    for roster in rosters:
        area = roster.plant_id == place.plant_id and roster.line_id in (None, place.line_id)
        severe = PRIORITY_RANK[place.priority] >= PRIORITY_RANK[roster.min_priority]
        assert (roster in chosen) == (area and severe and roster.delay_min == 0)


@given(places, roster_lists, st.data())
def test_a_return_goes_to_the_first_rosters_and_only_the_escalations_that_were_told(
    place: Place, rosters: list[Roster], data: st.DataObject
) -> None:
    escalated = frozenset(data.draw(st.sets(st.sampled_from([r.id for r in rosters] or [0]))))
    chosen = rules.rosters_for(Reason.RETURN, place, rosters, escalated)
    for roster in rosters:
        told_of_it = roster.delay_min == 0 or roster.id in escalated
        expected = rules.covers(roster, place) and roster.on_return and told_of_it
        assert (roster in chosen) == expected
    # Nobody hears of a return who could not have heard of the activation or an escalation.
    first = rules.rosters_for(Reason.ACTIVATION, place, rosters)
    assert all(r in first or r.id in escalated for r in chosen)


@given(places, roster_lists, st.floats(0, 1e9), st.floats(0, 10_000))
def test_an_escalation_is_due_once_its_delay_has_passed_and_not_before(
    place: Place, rosters: list[Roster], activated_at: float, waited_s: float
) -> None:
    now = activated_at + waited_s
    due = rules.escalations_due(place, activated_at, now, rosters)
    for roster in rosters:
        expected = (roster.delay_min > 0 and rules.covers(roster, place)
                    and waited_s >= roster.delay_min * 60)  # fmt: skip
        assert (roster in due) == expected
    # A later look finds at least what an earlier one found (escalations never un-happen).
    assert set(due) <= set(rules.escalations_due(place, activated_at, now + 1, rosters))


def test_a_shorter_minute_makes_the_escalation_come_sooner() -> None:
    roster = Roster(1, 1, None, "low", delay_min=15)
    assert rules.escalation_due_at(100.0, roster) == 100.0 + 900
    assert rules.escalation_due_at(100.0, roster, minute_s=1.0) == 115.0


@given(st.integers(1, 50))
def test_the_backoff_doubles_from_thirty_seconds_up_to_an_hour(attempts: int) -> None:
    wait = rules.backoff_s(attempts)
    assert rules.BACKOFF_FIRST_S <= wait <= rules.BACKOFF_LONGEST_S
    assert rules.backoff_s(attempts + 1) in (min(2 * wait, rules.BACKOFF_LONGEST_S), wait)
    assert rules.backoff_s(1) == 30.0 and rules.backoff_s(2) == 60.0


@given(st.integers(0, 30))
def test_a_delivery_is_given_up_after_its_last_attempt(attempts: int) -> None:
    retry_s = rules.retry_after_s(attempts)
    if attempts >= rules.MAX_ATTEMPTS:
        assert retry_s is None
    else:
        assert retry_s == rules.backoff_s(attempts)


@given(
    st.integers(0, 100),
    st.sets(st.integers(1, 60)),
    st.dictionaries(st.integers(1, 160), st.floats(0, 100)),
    st.floats(0, 200),
)
def test_the_cursor_never_passes_a_gap_younger_than_the_wait(
    cursor: int, offsets: set[int], seen: dict[int, float], now: float
) -> None:
    present = {cursor + offset for offset in offsets}
    first_seen = {cursor + k: v for k, v in seen.items()}
    moved = rules.advance_cursor(cursor, present, first_seen, now, wait_s=30.0)
    assert moved >= cursor
    assert moved == cursor or moved in present  # it stops on an id it has read
    # Every id it passed over was either read, or missing below an id seen for the wait.
    for missing in range(cursor + 1, moved + 1):
        if missing in present:
            continue
        after = min(i for i in present if i > missing)
        assert now - first_seen.get(after, now) >= 30.0
    # It moves as far as it may: the next id it read is behind a young gap, if any.
    later = sorted(i for i in present if i > moved)
    if later:
        assert later[0] != moved + 1 and now - first_seen.get(later[0], now) < 30.0


def test_the_cursor_moves_over_a_contiguous_run_and_waits_at_a_gap() -> None:
    assert rules.advance_cursor(10, {11, 12, 13, 15}, {15: 100.0}, now=110.0) == 13
    assert rules.advance_cursor(10, {11, 12, 13, 15}, {15: 100.0}, now=130.0) == 15


@given(st.text(min_size=1), st.text(), st.binary())
def test_the_signature_is_the_hmac_of_the_timestamp_and_body(
    secret: str, timestamp: str, body: bytes
) -> None:
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert signature(secret, timestamp, body) == f"sha256={expected.hexdigest()}"
    assert signature(secret + "x", timestamp, body) != signature(secret, timestamp, body)


@given(st.sampled_from(["activate", "unshelve", "expire", "restore"]))
def test_an_annunciated_alarm_is_an_activation(event: str) -> None:
    assert rules.reason_of(event, "unack") == Reason.ACTIVATION
    assert rules.reason_of(event, "normal") is None  # back, but not in alarm: nothing to tell


def test_a_clear_is_a_return_and_an_acknowledgement_tells_nobody() -> None:
    assert rules.reason_of("clear", "rtn_unack") == Reason.RETURN
    assert rules.reason_of("clear", "normal") == Reason.RETURN
    assert rules.reason_of("acknowledge", "ack") is None
    assert rules.reason_of("shelve", "shelved") is None
