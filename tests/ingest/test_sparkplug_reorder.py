"""The Reorder Timeout's buffer (ingest.sparkplug.reorder), pure: any order within the window
comes out in seq order; a gap left open comes out at the timeout; a new session flushes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import strategies as st

from config.settings import env_float
from ingest.sparkplug.reorder import SEQ, WINDOW, Reorder

NODE = ("group", "edge")


@given(start=st.integers(0, SEQ - 1), data=st.data())
def test_any_order_within_the_window_comes_out_in_seq_order(
    start: int, data: st.DataObject
) -> None:
    count = data.draw(st.integers(1, WINDOW - 1))
    seqs = [(start + 1 + i) % SEQ for i in range(count)]
    arrival = data.draw(st.permutations(seqs))
    reorder: Reorder[int] = Reorder(timeout_s=2.0)
    assert reorder.offer(NODE, start, start, now=0.0).ready == [start]
    out = []
    for seq in arrival:
        offered = reorder.offer(NODE, seq, seq, now=0.0)
        assert not offered.stray
        out += offered.ready
    assert out == seqs
    assert reorder.holding() == 0 and reorder.overdue(now=1e9) == []


@given(start=st.integers(0, SEQ - 1), data=st.data())
def test_a_gap_left_open_gives_the_held_ones_in_order_only_at_the_timeout(
    start: int, data: st.DataObject
) -> None:
    count = data.draw(st.integers(2, WINDOW - 1))
    seqs = [(start + 1 + i) % SEQ for i in range(count)]
    missing = data.draw(st.sampled_from(seqs[:-1]))
    arrival = data.draw(st.permutations([s for s in seqs if s != missing]))
    reorder: Reorder[int] = Reorder(timeout_s=2.0)
    reorder.offer(NODE, start, start, now=0.0)
    out = []
    for seq in arrival:
        out += reorder.offer(NODE, seq, seq, now=1.0).ready
    before = seqs[: seqs.index(missing)]
    assert out == before  # what precedes the gap goes on at once
    assert reorder.overdue(now=2.9) == []  # the timer started at the first held one, at 1.0
    assert reorder.overdue(now=3.0) == [(NODE, seqs[seqs.index(missing) + 1 :])]
    after = (seqs[-1] + 1) % SEQ  # the count goes on past the last held one
    assert reorder.offer(NODE, after, after, now=4.0).ready == [after]


def test_the_missing_one_in_time_closes_the_gap_and_a_later_gap_restarts_the_timer() -> None:
    reorder: Reorder[str] = Reorder(timeout_s=2.0)
    reorder.offer(NODE, 0, "birth", now=0.0)
    assert reorder.offer(NODE, 2, "two", now=0.0).ready == []
    assert reorder.offer(NODE, 4, "four", now=0.0).ready == []
    assert reorder.offer(NODE, 1, "one", now=1.5).ready == ["one", "two"]
    assert reorder.overdue(now=3.0) == []  # 3 went missing at 1.5: its wait ends at 3.5
    assert reorder.overdue(now=3.5) == [(NODE, ["four"])]


def test_a_new_session_flushes_the_old_ones_held_messages_first() -> None:
    reorder: Reorder[str] = Reorder(timeout_s=2.0)
    reorder.offer(NODE, 0, "birth", now=0.0)
    reorder.offer(NODE, 5, "five", now=0.0)
    reorder.offer(NODE, 3, "three", now=0.0)
    assert reorder.restart(NODE, 0) == ["three", "five"]
    assert reorder.offer(NODE, 1, "new one", now=0.0).ready == ["new one"]
    assert reorder.holding() == 0


def test_a_seq_behind_the_expected_one_is_passed_on_as_stray() -> None:
    reorder: Reorder[str] = Reorder(timeout_s=2.0)
    reorder.offer(NODE, 10, "ten", now=0.0)
    offered = reorder.offer(NODE, 10, "ten again", now=0.0)
    assert offered.ready == ["ten again"] and offered.stray
    assert reorder.offer(NODE, None, "no seq", now=0.0).ready == ["no seq"]
    other = ("group", "other")
    assert reorder.offer(other, 77, "first seen", now=0.0).ready == ["first seen"]


@pytest.mark.parametrize(("text", "seconds"), [("2", 2.0), ("0.5", 0.5), ("0", 0.0)])
def test_the_reorder_timeout_reads_as_seconds(
    monkeypatch: pytest.MonkeyPatch, text: str, seconds: float
) -> None:
    monkeypatch.setenv("SPARKPLUG_REORDER_TIMEOUT_S", text)
    assert env_float("SPARKPLUG_REORDER_TIMEOUT_S", 2.0) == seconds


@pytest.mark.parametrize("text", ["soon", "-1", "nan", "inf", ""])
def test_a_reorder_timeout_that_is_no_number_of_seconds_is_refused(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("SPARKPLUG_REORDER_TIMEOUT_S", text)
    with pytest.raises(ImproperlyConfigured, match="SPARKPLUG_REORDER_TIMEOUT_S must be a number"):
        env_float("SPARKPLUG_REORDER_TIMEOUT_S", 2.0)
