"""SPC and the ℮ rule as pure code (no database): the chart constants, limits and capability on
worked numbers, each Nelson rule on series built to break it (and just not to), the ℮ rule on
batches that pass and fail each way, the Directive's TNE table, and hypothesis properties."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from plant import spc

# --- constants and charts -----------------------------------------------------------------


def test_the_issues_constants_for_subgroups_of_five() -> None:
    a2, d3, d4, d2 = spc.constants(5)
    assert (a2, d3, d4, d2) == (0.577, 0.0, 2.114, 2.326)


@pytest.mark.parametrize("n", range(2, 11))
def test_the_table_agrees_with_its_own_definitions(n: int) -> None:
    """A2 = 3 / (d2 √n), and D4 = 1 + 3 d3/d2 (d3 from D3 when it is not 0) to the table's
    three decimals; a table typed wrong would not."""
    a2, d3, d4, d2 = spc.constants(n)
    assert a2 == pytest.approx(3 / (d2 * math.sqrt(n)), abs=0.0015)
    assert d4 > 1 > d3 >= 0
    if d3:
        assert (d4 - 1) == pytest.approx(1 - d3, abs=0.0015)  # symmetric about 1


@pytest.mark.parametrize("n", [0, 1, 11])
def test_subgroups_outside_the_table_are_refused(n: int) -> None:
    with pytest.raises(ValueError, match="2 to 10"):
        spc.constants(n)


def test_individuals_chart_of_a_worked_series() -> None:
    chart = spc.individuals([10.0, 12.0, 11.0, 13.0, 12.0])
    assert chart.center == 11.6
    assert chart.moving_ranges == (2.0, 1.0, 2.0, 1.0)
    assert chart.mr_bar == 1.5
    assert chart.sigma == pytest.approx(1.5 / 1.128)
    assert chart.ucl == pytest.approx(11.6 + 3 * 1.5 / 1.128)  # x̄ + 2.66 MR̄
    assert chart.ucl == pytest.approx(11.6 + 2.66 * 1.5, abs=0.001)
    assert chart.mr_ucl == pytest.approx(3.267 * 1.5)


def test_xbar_r_chart_of_two_subgroups_of_five() -> None:
    xs = [1.0, 2.0, 3.0, 4.0, 5.0, 2.0, 2.0, 4.0, 6.0, 6.0, 99.0]  # the 99 is left over
    chart = spc.xbar_r(xs, 5)
    assert [(g.start, g.mean, g.range) for g in chart.subgroups] == [(0, 3.0, 4.0), (5, 4.0, 4.0)]
    assert chart.grand_mean == 3.5 and chart.r_bar == 4.0
    assert chart.ucl == pytest.approx(3.5 + 0.577 * 4) and chart.lcl == pytest.approx(3.5 - 2.308)
    assert chart.r_ucl == pytest.approx(2.114 * 4) and chart.r_lcl == 0.0
    assert chart.sigma_within == pytest.approx(4 / 2.326)


def test_capability_against_the_specification() -> None:
    xs = [499.0, 500.0, 501.0, 500.0, 500.0] * 4  # R̄ = 2, σ̂ = 2 / 2.326
    result = spc.capability(xs, lsl=490.0, usl=520.0)
    sigma = 2 / 2.326
    assert result.cp == pytest.approx(30 / (6 * sigma))
    assert result.cpk == pytest.approx(10 / (3 * sigma))  # nearer the lower limit
    assert result.pp == pytest.approx(30 / (6 * statistics.stdev(xs)))
    assert result.ppk == pytest.approx(10 / (3 * statistics.stdev(xs)))


def test_capability_of_a_constant_fill_has_no_index() -> None:
    result = spc.capability([500.0] * 10, lsl=490.0, usl=510.0)
    assert result.cp is None and result.cpk is None and result.sigma_within == 0


# --- the Nelson rules -----------------------------------------------------------------------

C, S = 0.0, 1.0  # centre and σ of the constructed series


def first_hit(xs: list[float], rule: int) -> int | None:
    hits = spc.rule_hits(xs, C, S, rule)
    return next((i for i, hit in enumerate(hits) if hit), None)


def test_rule_1_one_point_beyond_three_sigma() -> None:
    assert first_hit([0.0, 2.9, -3.0, 0.1], 1) is None  # exactly 3σ is not beyond
    assert first_hit([0.0, 0.0, 3.01], 1) == 2
    assert first_hit([0.0, -3.5], 1) == 1


def test_rule_2_nine_in_a_row_on_one_side() -> None:
    assert first_hit([0.2] * 8 + [-0.2], 2) is None
    assert first_hit([0.2] * 9, 2) == 8
    assert first_hit([-0.1] * 4 + [0.0] + [-0.1] * 8, 2) is None  # a point on the centre breaks it
    assert first_hit([0.3] + [-0.1] * 9, 2) == 9


def test_rule_3_six_in_a_row_rising_or_falling() -> None:
    assert first_hit([0.0, 0.1, 0.2, 0.3, 0.4], 3) is None  # five points
    assert first_hit([0.0, 0.1, 0.2, 0.3, 0.4, 0.5], 3) == 5
    assert first_hit([0.5, 0.4, 0.3, 0.2, 0.1, 0.0], 3) == 5
    assert first_hit([0.0, 0.1, 0.2, 0.2, 0.3, 0.4, 0.5], 3) is None  # a tie breaks it


def test_rule_4_fourteen_alternating() -> None:
    zigzag = [0.1 if i % 2 else -0.1 for i in range(14)]
    assert first_hit(zigzag[:13], 4) is None
    assert first_hit(zigzag, 4) == 13
    broken = [*zigzag[:7], zigzag[6], *zigzag[7:]]  # one repeated value
    assert first_hit(broken, 4) is None


def test_rule_5_two_of_three_beyond_two_sigma_on_one_side() -> None:
    assert first_hit([2.1, 0.0, 2.1], 5) == 2
    assert first_hit([2.1, 2.1], 5) is None  # needs three points
    assert first_hit([0.0, 2.1, 2.1], 5) == 2
    assert first_hit([2.1, 0.0, -2.1, 0.0, 2.1], 5) is None  # opposite sides
    assert first_hit([2.1, 0.0, 0.0, 2.1], 5) is None  # two of four, not of three
    assert first_hit([-2.5, -2.1, 0.0], 5) == 2


def test_rule_6_four_of_five_beyond_one_sigma_on_one_side() -> None:
    assert first_hit([1.1, 1.1, 0.0, 1.1, 1.1], 6) == 4
    assert first_hit([1.1, 1.1, 0.0, 1.1, -1.1], 6) is None
    assert first_hit([1.1, 1.1, 0.0, 0.0, 1.1, 1.1], 6) is None
    assert first_hit([-1.2] * 4 + [0.0], 6) == 4


def test_rule_7_fifteen_within_one_sigma() -> None:
    hugging = [0.5, -0.5, 0.2, -0.2, 0.9] * 3
    assert first_hit(hugging[:14], 7) is None
    assert first_hit(hugging, 7) == 14
    assert first_hit([*hugging[:7], 1.0, *hugging[:8]], 7) is None  # exactly 1σ is not within


def test_rule_8_eight_beyond_one_sigma_on_both_sides() -> None:
    mixed = [1.5, -1.5, 1.2, 1.3, -1.1, -2.0, 1.4, -1.6]
    assert first_hit(mixed, 8) == 7
    assert first_hit(mixed[:7], 8) is None
    assert first_hit([1.5] * 8, 8) is None  # all on one side: that is rule 2's or 6's
    assert first_hit([*mixed[:4], 0.5, *mixed[4:]], 8) is None


def test_broken_rules_names_each_rule_that_ends_at_a_point() -> None:
    xs = [0.2] * 8 + [3.5]
    verdicts = spc.broken_rules(xs, C, S)
    assert verdicts[-1] == (1, 2)
    assert verdicts[:-1] == [()] * 8
    assert spc.broken_rules(xs, C, S, rules=[2])[-1] == (2,)
    assert spc.broken_rules(xs, C, S, rules=[])[-1] == ()


def test_rules_need_a_positive_sigma_and_a_known_number() -> None:
    with pytest.raises(ValueError, match="σ"):
        spc.rule_hits([1.0], C, 0.0, 1)
    with pytest.raises(ValueError, match="1 to 8"):
        spc.rule_hits([1.0], C, S, 9)


@given(st.lists(st.floats(-0.99, 0.99), max_size=60))
def test_points_within_one_sigma_break_no_rule_but_the_pattern_ones(xs: list[float]) -> None:
    """Within 1σ nothing is beyond a zone: only runs, trends, alternation and hugging remain."""
    for verdict in spc.broken_rules(xs, C, S):
        assert set(verdict) <= {2, 3, 4, 7}


@given(st.lists(st.floats(-10, 10, allow_nan=False), max_size=40), st.integers(1, 8))
def test_a_rule_is_judged_by_its_own_window_alone(xs: list[float], rule: int) -> None:
    """What comes before a rule's window never changes its verdict at a point (so the live
    job may keep only the last points it plotted)."""
    span = spc.RULE_SPAN[rule]
    hits = spc.rule_hits(xs, C, S, rule)
    for i in range(span - 1, len(xs)):
        window = xs[i - span + 1 : i + 1]
        assert spc.rule_hits(window, C, S, rule)[-1] == hits[i]


@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=40))
def test_rules_are_symmetric_about_the_centre(xs: list[float]) -> None:
    assert spc.broken_rules(xs, C, S) == spc.broken_rules([-x for x in xs], C, S)


# --- the ℮ rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nominal", "tne"),
    [(5, 0.5), (50, 4.5), (75, 4.5), (100, 4.5), (150, 6.8), (200, 9), (250, 9), (330, 9.9),
     (500, 15), (750, 15), (1000, 15), (1500, 22.5), (5000, 75), (10000, 150), (12000, 150),
     (15000, 150), (20000, 200), (50000, 500)],
)  # fmt: skip
def test_tne_by_the_directives_table(nominal: float, tne: float) -> None:
    assert spc.tne_for(nominal) == tne


def test_percentages_round_up_to_a_tenth() -> None:
    assert spc.tne_for(333) == 10.0  # 3 % is 9.99
    assert spc.tne_for(120) == 5.4  # 4.5 % is exactly 5.4: not rounded further up


@pytest.mark.parametrize("nominal", [4.9, 0, -1, 50001])
def test_quantities_outside_the_table_are_refused(nominal: float) -> None:
    with pytest.raises(ValueError, match="5 to 50,000"):
        spc.tne_for(nominal)


@given(st.floats(5, 50000), st.floats(5, 50000))
def test_tne_never_falls_as_the_quantity_grows(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert spc.tne_for(low) <= spc.tne_for(high)
    assert 0.01 * low <= spc.tne_for(low) <= 0.09 * low + 0.1


def batch(*parts: tuple[float, int]) -> list[float]:
    return [value for value, count in parts for _ in range(count)]


def test_a_batch_that_keeps_all_three_tests_passes() -> None:
    # 200 bottles of 500 ml: mean 500.475, five (2.5 %) below T1 = 485, none below T2 = 470.
    result = spc.e_rule(batch((501.0, 195), (480.0, 5)), nominal=500)
    assert result.tne == 15 and result.t1 == 485 and result.t2 == 470
    assert result.below_t1 == 5 and result.below_t2 == 0
    assert result.mean == pytest.approx(500.475)
    assert result.compliant and result.problems == []


def test_a_batch_with_its_mean_below_nominal_fails() -> None:
    result = spc.e_rule(batch((499.9, 100)), nominal=500)
    assert not result.mean_ok and result.t1_ok and result.t2_ok and not result.compliant
    assert result.problems == ["mean 499.90 below nominal 500"]


def test_a_batch_with_too_many_below_t1_fails() -> None:
    # Six of 200 (3 %) below 485, mean still above nominal.
    result = spc.e_rule(batch((502.0, 194), (484.0, 6)), nominal=500)
    assert result.mean_ok and not result.t1_ok and result.t2_ok
    assert result.problems == ["6 of 200 below T1 485 (over 2.5 %)"]


def test_one_bottle_below_t2_fails_the_batch() -> None:
    result = spc.e_rule(batch((505.0, 199), (469.9, 1)), nominal=500)
    assert result.mean_ok and result.t1_ok and not result.t2_ok
    assert result.problems == ["1 below T2 470"]


def test_a_bottle_exactly_at_t1_is_not_short_by_more_than_the_tne() -> None:
    result = spc.e_rule(batch((505.0, 10), (485.0, 10)), nominal=500)
    assert result.below_t1 == 0 and not result.mean_ok  # mean 495


def test_an_admins_own_tne_replaces_the_tables() -> None:
    result = spc.e_rule([490.0, 510.0], nominal=500, tne=5)
    assert (result.t1, result.t2, result.below_t1) == (495, 490, 1)


@given(st.lists(st.floats(400, 600), min_size=1, max_size=300))
def test_counts_and_values_agree(xs: list[float]) -> None:
    whole = spc.e_rule(xs, nominal=500)
    assert whole == spc.e_rule_counts(len(xs), spc.mean(xs), whole.below_t1, whole.below_t2,
                                      500, 15)  # fmt: skip
    assert whole.below_t2 <= whole.below_t1 <= whole.n


# --- the recommended target -------------------------------------------------------------


def test_recommended_target_is_the_nominal_for_a_tight_fill() -> None:
    assert spc.recommended_target(500, sigma=0.3) == 500  # 485 + 0.59 is below 500


def test_recommended_target_rises_with_a_wide_spread() -> None:
    assert spc.recommended_target(500, sigma=10) == pytest.approx(485 + 19.6)


@given(st.floats(5, 50000), st.floats(0, 1000))
def test_a_normal_fill_at_the_target_keeps_the_rule(nominal: float, sigma: float) -> None:
    """At the target, the mean keeps the nominal and at most 2.5 % fall below T1."""
    target = spc.recommended_target(nominal, sigma)
    tne = spc.tne_for(nominal)
    assert target >= nominal
    assume(sigma > 0)
    below_t1 = statistics.NormalDist(target, sigma).cdf(nominal - tne)
    assert below_t1 <= 0.025 + 1e-9
