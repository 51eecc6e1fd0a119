"""Who is told about an alarm, when, and how often a failed delivery is tried: pure functions.

No Django, no I/O: times are epoch seconds and the caller owns the clock. A roster covers an
area (a line, or a whole plant) and the alarms of a priority and above; its delay says when it
is told: 0 at activation, N when the alarm is still unacknowledged N minutes after it activated
(an escalation to the next roster). A return to normal goes to the first rosters, and to the
escalation rosters only when they were told about that activation.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
# A failed attempt is tried again after BACKOFF_FIRST_S, doubling up to BACKOFF_LONGEST_S, and
# the delivery is given up after MAX_ATTEMPTS (about three hours of trying in all).
BACKOFF_FIRST_S = 30.0
BACKOFF_LONGEST_S = 3600.0
MAX_ATTEMPTS = 10
# A journal id above the cursor whose lower neighbours are missing (a transaction still open,
# or rolled back) is passed over after this long: its neighbours had that long to commit.
GAP_WAIT_S = 30.0


class Reason(StrEnum):
    ACTIVATION = "activation"
    ESCALATION = "escalation"
    RETURN = "return"


REASON_LABELS = {
    Reason.ACTIVATION: "Activated",
    Reason.ESCALATION: "Not acknowledged",
    Reason.RETURN: "Returned to normal",
}


@dataclass(frozen=True, slots=True)
class Roster:
    """A list of recipients for an area and the alarms of a priority and above."""

    id: int
    plant_id: int
    line_id: int | None  # None: the whole plant
    min_priority: str
    delay_min: int = 0  # 0: told at activation; N: told N minutes later if still unacknowledged
    on_return: bool = True


@dataclass(frozen=True, slots=True)
class Place:
    """Where an alarm is (its tag's plant and line) and its priority."""

    plant_id: int
    line_id: int
    priority: str


def covers(roster: Roster, place: Place) -> bool:
    """The roster's area holds the alarm, and the alarm's priority is at least its minimum."""
    if roster.plant_id != place.plant_id:
        return False
    if roster.line_id is not None and roster.line_id != place.line_id:
        return False
    return PRIORITY_RANK.get(place.priority, 0) >= PRIORITY_RANK[roster.min_priority]


def reason_of(event: str, to_state: str) -> Reason | None:
    """What a journal entry is to the recipients: an alarm annunciated (activated, or back from a
    shelf or out of service while active), a return to normal, or nothing to tell."""
    if to_state == "unack" and event in ("activate", "unshelve", "expire", "restore"):
        return Reason.ACTIVATION
    if event == "clear":
        return Reason.RETURN
    return None


def rosters_for(
    reason: Reason, place: Place, rosters: Iterable[Roster], escalated: frozenset[int] = frozenset()
) -> list[Roster]:
    """The rosters told of an activation or a return; `escalated`: the rosters told of it by an
    escalation (they hear of the return too)."""

    def told(roster: Roster) -> bool:
        if reason == Reason.ACTIVATION:
            return roster.delay_min == 0
        first_or_escalated = roster.delay_min == 0 or roster.id in escalated
        return reason == Reason.RETURN and roster.on_return and first_or_escalated

    return [roster for roster in rosters if covers(roster, place) and told(roster)]


def escalation_due_at(activated_at: float, roster: Roster, minute_s: float = 60.0) -> float:
    """When an alarm still unacknowledged goes to this escalation roster."""
    return activated_at + roster.delay_min * minute_s


def escalations_due(
    place: Place, activated_at: float, now: float, rosters: Iterable[Roster],
    minute_s: float = 60.0,
) -> list[Roster]:  # fmt: skip
    """The escalation rosters whose time has come for an alarm unacknowledged since
    `activated_at`."""
    return [
        roster for roster in rosters
        if roster.delay_min > 0 and covers(roster, place)
        and now >= escalation_due_at(activated_at, roster, minute_s)
    ]  # fmt: skip


def backoff_s(attempts: int) -> float:
    """How long after its `attempts`-th failure a delivery is tried again."""
    if attempts < 1:
        return 0.0
    return min(BACKOFF_FIRST_S * 2.0 ** min(attempts - 1, 32), BACKOFF_LONGEST_S)


def retry_after_s(attempts: int, max_attempts: int = MAX_ATTEMPTS) -> float | None:
    """How long to wait before trying a delivery again after its `attempts`-th failure;
    None: give it up."""
    if attempts >= max_attempts:
        return None
    return backoff_s(attempts)


def advance_cursor(
    cursor: int, present: Iterable[int], first_seen: dict[int, float], now: float,
    wait_s: float = GAP_WAIT_S,
) -> int:  # fmt: skip
    """How far the follower of the journal may move its cursor.

    `present`: the ids above `cursor` it has read (and handled); `first_seen`: when it first
    read each. Ids come from a sequence, so a transaction that took a lower id may commit after
    a higher one is visible: the cursor stops below a missing id until the id after the gap has
    been seen for `wait_s` (the missing one then belongs to a transaction rolled back, or one
    that took longer than any alarm change does). Handling is idempotent, so what lies above
    the cursor is simply read again.
    """
    for entry_id in sorted(i for i in set(present) if i > cursor):
        if entry_id != cursor + 1 and now - first_seen.get(entry_id, now) < wait_s:
            break
        cursor = entry_id
    return cursor


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Scada-Signature header of a webhook: HMAC-SHA256 of "<timestamp>.<body>" with the
    shared secret, as hex after "sha256=" (the receiver checks it, and the timestamp's age)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"
