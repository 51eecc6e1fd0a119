"""Sparkplug's message order, restored: a message whose `seq` is ahead of the one expected waits
until the missing ones arrive or the Reorder Timeout passes (pure: no Django, no MQTT, no clock).

Sparkplug B 3.0, section 5.9 (Host Application Message Ordering):
- [tck-id-operational-behavior-host-reordering-param] a configurable 'Reorder Timeout'
  (SPARKPLUG_REORDER_TIMEOUT_S);
- [tck-id-operational-behavior-host-reordering-start] an out-of-order message starts the timer;
- [tck-id-operational-behavior-host-reordering-success] the missing message arriving in time
  ends it, and the held ones are processed in order;
- [tck-id-operational-behavior-host-reordering-rebirth] when it elapses, the host asks the edge
  node for a rebirth (the caller does, on what `overdue` returns).

`seq` counts 0..255 and wraps. A message up to WINDOW ahead of the expected one is held; one
further off (behind: a repeat; or a node that lost count) is passed on at once and reported
`stray`, which the caller answers with a rebirth request as before.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
SEQ = 256
WINDOW = 128  # held when 1..127 ahead of the expected seq; further off is not a reordering


@dataclass
class Offered(Generic[T]):
    """What an offered message lets through now, in order, and whether it was stray."""

    ready: list[T]
    stray: bool = False


@dataclass
class Reorder(Generic[T]):
    """The expected seq of each node, and the messages held ahead of it with when the wait
    began. `now` is the caller's monotonic clock, in seconds."""

    timeout_s: float
    expected: dict[Hashable, int] = field(default_factory=dict)
    held: dict[Hashable, dict[int, T]] = field(default_factory=dict)
    since: dict[Hashable, float] = field(default_factory=dict)

    def restart(self, node: Hashable, seq: int | None) -> list[T]:
        """A new session (NBIRTH with its seq): the old session's held messages, in seq
        order, to be processed before it; the next expected is seq + 1."""
        flushed = self.flush(node)
        if seq is None:
            self.expected.pop(node, None)
        else:
            self.expected[node] = (seq + 1) % SEQ
        return flushed

    def offer(self, node: Hashable, seq: int | None, item: T, now: float) -> Offered[T]:
        if seq is None:
            return Offered([item])
        expected = self.expected.get(node)
        if expected is None:  # the first we see of this node (a restarted worker)
            self.expected[node] = (seq + 1) % SEQ
            return Offered([item])
        ahead = (seq - expected) % SEQ
        if ahead == 0:
            self.expected[node] = (seq + 1) % SEQ
            return Offered([item, *self._in_sequence(node, now)])
        if ahead < WINDOW:
            self.held.setdefault(node, {})[seq] = item  # a repeat of a held seq replaces it
            self.since.setdefault(node, now)
            return Offered([])
        return Offered([item], stray=True)

    def _in_sequence(self, node: Hashable, now: float) -> list[T]:
        """The held messages that now follow on, and a fresh timer for the next gap if any."""
        held = self.held.get(node, {})
        out = []
        while self.expected[node] in held:
            out.append(held.pop(self.expected[node]))
            self.expected[node] = (self.expected[node] + 1) % SEQ
        if held:
            self.since[node] = now
        else:
            self.held.pop(node, None)
            self.since.pop(node, None)
        return out

    def flush(self, node: Hashable) -> list[T]:
        """Every held message of the node in seq order, gaps skipped; the expected seq moves
        past the last of them."""
        held = self.held.pop(node, {})
        self.since.pop(node, None)
        if not held:
            return []
        expected = self.expected.get(node, 0)
        order = sorted(held, key=lambda seq: (seq - expected) % SEQ)
        self.expected[node] = (order[-1] + 1) % SEQ
        return [held[seq] for seq in order]

    def overdue(self, now: float) -> list[tuple[Hashable, list[T]]]:
        """The nodes whose wait has passed the timeout, each with its held messages flushed."""
        due = [node for node, since in self.since.items() if now - since >= self.timeout_s]
        return [(node, self.flush(node)) for node in due]

    def holding(self) -> int:
        return sum(len(held) for held in self.held.values())
