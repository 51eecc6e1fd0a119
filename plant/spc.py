"""Statistical process control and the EU average-quantity rule (℮), as pure functions.

No Django, no I/O: the callers (ingest.spc_job live, hmi's quality screens and API) read the
values and hand them over as plain floats in time order.

- **Individuals and moving range (I-MR)**: centre x̄, MR̄ the mean of |xᵢ − xᵢ₋₁|,
  σ̂ = MR̄ / d2(2) = MR̄ / 1.128; limits x̄ ± 3σ̂ (x̄ ± 2.66 MR̄), the MR chart's D4(2)·MR̄.
- **X̄–R** on consecutive subgroups of n (2 to 10; the constants below, ASTM E2587's table):
  X̿ ± A2·R̄, the R chart D3·R̄ to D4·R̄, σ̂ within = R̄ / d2 (n = 5: A2 0.577, D4 2.114,
  d2 2.326).
- **Capability**: Cp = (USL − LSL) / 6σ̂ and Cpk = min(USL − x̄, x̄ − LSL) / 3σ̂ with the
  within-subgroup σ̂ (R̄ / d2); Pp and Ppk the same with the overall standard deviation.
- **Run rules**: the eight Nelson rules (L. S. Nelson, "The Shewhart control chart: tests for
  special causes", J. Quality Technology 16, 1984), each on a centre and σ. Where they meet
  the Western Electric rules (WECO Statistical Quality Control Handbook, 1956): Nelson 1, 5
  and 6 are Western Electric rules 1, 2 and 3 exactly; Western Electric rule 4 is Nelson 2 with
  eight points in a row instead of nine; Nelson 3, 4, 7 and 8 put the handbook's unnatural
  patterns (trend, systematic alternation, stratification, mixture) into counts.
- **The ℮ rule** (Council Directive 76/211/EEC, Annex I) per batch: its mean is not below the
  nominal quantity Qn; at most 2.5 % of its packages are short by more than the tolerable
  negative error (below T1 = Qn − TNE); none is short by more than twice it (below
  T2 = Qn − 2·TNE). The TNE by nominal quantity is the Directive's table (`tne_for`).
- **The recommended target mean** from the measured spread: max(Qn, Qn − TNE + 1.96σ), the
  lowest mean at which no more than 2.5 % of a normal fill falls below T1 and the mean rule
  holds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# n: (A2, D3, D4, d2), for X̄–R charts of subgroups of n.
CONSTANTS: dict[int, tuple[float, float, float, float]] = {
    2: (1.880, 0.0, 3.267, 1.128),
    3: (1.023, 0.0, 2.574, 1.693),
    4: (0.729, 0.0, 2.282, 2.059),
    5: (0.577, 0.0, 2.114, 2.326),
    6: (0.483, 0.0, 2.004, 2.534),
    7: (0.419, 0.076, 1.924, 2.704),
    8: (0.373, 0.136, 1.864, 2.847),
    9: (0.337, 0.184, 1.816, 2.970),
    10: (0.308, 0.223, 1.777, 3.078),
}
D2_MR = CONSTANTS[2][3]  # 1.128: a moving range is a subgroup of two
D4_MR = CONSTANTS[2][2]  # 3.267
RULES = (1, 2, 3, 4, 5, 6, 7, 8)
RULE_TEXT = {
    1: "one point beyond 3σ",
    2: "nine points in a row on one side of the centre",
    3: "six points in a row steadily rising or falling",
    4: "fourteen points in a row alternating up and down",
    5: "two of three points beyond 2σ on one side",
    6: "four of five points beyond 1σ on one side",
    7: "fifteen points in a row within 1σ",
    8: "eight points in a row beyond 1σ, on both sides",
}
# How many points each rule looks back over: the window live evaluation must keep.
RULE_SPAN = {1: 1, 2: 9, 3: 6, 4: 14, 5: 3, 6: 5, 7: 15, 8: 8}
LONGEST_SPAN = max(RULE_SPAN.values())
SHORT_FRACTION = 0.025  # of a batch, at most this share may lie below T1
Z_975 = 1.96  # 97.5 % of a normal distribution lies below mean + 1.96σ


def constants(n: int) -> tuple[float, float, float, float]:
    """(A2, D3, D4, d2) for subgroups of n; ValueError outside 2 to 10."""
    if n not in CONSTANTS:
        raise ValueError(f"subgroups of {n}: the table covers 2 to 10")
    return CONSTANTS[n]


def mean(xs: Sequence[float]) -> float:
    if not xs:
        raise ValueError("no values")
    return math.fsum(xs) / len(xs)


def stdev(xs: Sequence[float]) -> float:
    """The sample standard deviation (n − 1); 0 for fewer than two values."""
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1))


# --- control charts -----------------------------------------------------------------------


@dataclass(frozen=True)
class IndividualsChart:
    """The I-MR chart of a series: its centre, σ̂ and the limits of both charts."""

    n: int
    center: float
    mr_bar: float
    sigma: float
    ucl: float
    lcl: float
    mr_ucl: float
    moving_ranges: tuple[float, ...]


def individuals(xs: Sequence[float]) -> IndividualsChart:
    """I-MR limits from at least two values."""
    if len(xs) < 2:
        raise ValueError("an individuals chart needs at least two values")
    ranges = tuple(abs(b - a) for a, b in itertools.pairwise(xs))
    center, mr_bar = mean(xs), mean(ranges)
    sigma = mr_bar / D2_MR
    return IndividualsChart(
        n=len(xs), center=center, mr_bar=mr_bar, sigma=sigma, ucl=center + 3 * sigma,
        lcl=center - 3 * sigma, mr_ucl=D4_MR * mr_bar, moving_ranges=ranges,
    )  # fmt: skip


@dataclass(frozen=True)
class Subgroup:
    """One subgroup of the X̄–R chart: its mean and range, and where it starts in the series."""

    start: int
    mean: float
    range: float


@dataclass(frozen=True)
class XbarRChart:
    """The X̄–R chart of consecutive subgroups of n (a last, incomplete one is left out)."""

    n: int
    subgroups: tuple[Subgroup, ...]
    grand_mean: float
    r_bar: float
    sigma_within: float
    ucl: float
    lcl: float
    r_ucl: float
    r_lcl: float


def subgroups(xs: Sequence[float], n: int) -> list[Subgroup]:
    """Consecutive subgroups of n values; the remainder is left out."""
    constants(n)
    return [
        Subgroup(i, mean(xs[i : i + n]), max(xs[i : i + n]) - min(xs[i : i + n]))
        for i in range(0, len(xs) - n + 1, n)
    ]


def xbar_r(xs: Sequence[float], n: int = 5) -> XbarRChart:
    """X̄–R limits from at least one whole subgroup of n."""
    a2, d3, d4, d2 = constants(n)
    groups = subgroups(xs, n)
    if not groups:
        raise ValueError(f"an X̄–R chart of subgroups of {n} needs at least {n} values")
    grand, r_bar = mean([g.mean for g in groups]), mean([g.range for g in groups])
    return XbarRChart(
        n=n, subgroups=tuple(groups), grand_mean=grand, r_bar=r_bar, sigma_within=r_bar / d2,
        ucl=grand + a2 * r_bar, lcl=grand - a2 * r_bar, r_ucl=d4 * r_bar, r_lcl=d3 * r_bar,
    )  # fmt: skip


@dataclass(frozen=True)
class Capability:
    """Cp, Cpk (within-subgroup σ̂) and Pp, Ppk (overall σ); None where σ is 0."""

    cp: float | None
    cpk: float | None
    pp: float | None
    ppk: float | None
    mean: float
    sigma_within: float
    sigma_overall: float


def indices(lsl: float, usl: float, center: float, sigma: float) -> tuple[float, float] | None:
    """(C, Ck) = ((USL − LSL) / 6σ, min(USL − centre, centre − LSL) / 3σ); None if σ is 0."""
    if not sigma > 0:
        return None
    return (usl - lsl) / (6 * sigma), min(usl - center, center - lsl) / (3 * sigma)


def capability(xs: Sequence[float], lsl: float, usl: float, n: int = 5) -> Capability:
    """Capability of a series against its specification limits (subgroups of n for σ̂)."""
    if lsl >= usl:
        raise ValueError("the lower specification limit must be below the upper one")
    chart = xbar_r(xs, n)
    center, overall = mean(xs), stdev(xs)
    within = indices(lsl, usl, center, chart.sigma_within)
    whole = indices(lsl, usl, center, overall)
    return Capability(
        cp=within[0] if within else None, cpk=within[1] if within else None,
        pp=whole[0] if whole else None, ppk=whole[1] if whole else None,
        mean=center, sigma_within=chart.sigma_within, sigma_overall=overall,
    )  # fmt: skip


# --- run rules ------------------------------------------------------------------------------


def _side(x: float, center: float) -> int:
    return 1 if x > center else -1 if x < center else 0


def _zone_side(x: float, center: float, sigma: float, k: float) -> int:
    """+1 beyond centre + kσ, −1 beyond centre − kσ, else 0."""
    return 1 if x > center + k * sigma else -1 if x < center - k * sigma else 0


def _run_ends(flags: Sequence[bool], length: int) -> list[bool]:
    """At each index: do the `length` flags ending there all hold?"""
    out, run = [], 0
    for flag in flags:
        run = run + 1 if flag else 0
        out.append(run >= length)
    return out


def _same_side_run(sides: Sequence[int], length: int) -> list[bool]:
    out, run, last = [], 0, 0
    for side in sides:
        run = run + 1 if side != 0 and side == last else (1 if side != 0 else 0)
        last = side
        out.append(run >= length)
    return out


def _sliding(sides: Sequence[int], m: int) -> list[tuple[int, int, int]]:
    """At each index: of the m points ending there, how many are +1, −1 and 0 (a window
    shorter than m counts its points as 0s too, so it never looks complete)."""
    out, plus, minus = [], 0, 0
    for i, side in enumerate(sides):
        plus, minus = plus + (side == 1), minus + (side == -1)
        if i >= m:  # the point leaving the window
            plus, minus = plus - (sides[i - m] == 1), minus - (sides[i - m] == -1)
        out.append((plus, minus, m - plus - minus))
    return out


def _k_of_m(sides: Sequence[int], k: int, m: int) -> list[bool]:
    """At each index: of the m points ending there, are k beyond on one side (the same)?"""
    return [i >= m - 1 and (plus >= k or minus >= k)
            for i, (plus, minus, _) in enumerate(_sliding(sides, m))]  # fmt: skip


def rule_hits(xs: Sequence[float], center: float, sigma: float, rule: int) -> list[bool]:
    """For each point, whether the pattern of Nelson rule `rule` ends there."""
    if not sigma > 0:
        raise ValueError("σ must be above zero")
    if rule == 1:
        return [abs(x - center) > 3 * sigma for x in xs]
    if rule == 2:
        return _same_side_run([_side(x, center) for x in xs], 9)
    if rule in (3, 4):
        steps = [0] + [_side(b, a) for a, b in itertools.pairwise(xs)]
        if rule == 3:  # six points, five steps in one direction
            return [i >= 5 and r for i, r in enumerate(_same_side_run(steps, 5))]
        alternating = [i > 1 and s != 0 and s == -steps[i - 1] for i, s in enumerate(steps)]
        return [i >= 13 and r for i, r in enumerate(_run_ends(alternating, 12))]
    if rule == 5:
        return _k_of_m([_zone_side(x, center, sigma, 2) for x in xs], 2, 3)
    if rule == 6:
        return _k_of_m([_zone_side(x, center, sigma, 1) for x in xs], 4, 5)
    if rule == 7:
        return _run_ends([abs(x - center) < sigma for x in xs], 15)
    if rule == 8:
        return _mixture([_zone_side(x, center, sigma, 1) for x in xs])
    raise ValueError(f"Nelson rules are numbered 1 to 8, not {rule}")


def _mixture(sides: Sequence[int]) -> list[bool]:
    """Eight points in a row beyond 1σ, with points on both sides of the centre."""
    return [i >= 7 and zero == 0 and plus > 0 and minus > 0
            for i, (plus, minus, zero) in enumerate(_sliding(sides, 8))]  # fmt: skip


def broken_rules(
    xs: Sequence[float], center: float, sigma: float, rules: Iterable[int] = RULES
) -> list[tuple[int, ...]]:
    """For each point, the rules (of `rules`) whose pattern ends there, in rule order."""
    chosen = sorted(set(rules))
    hits = {rule: rule_hits(xs, center, sigma, rule) for rule in chosen}
    return [tuple(rule for rule in chosen if hits[rule][i]) for i in range(len(xs))]


# --- the ℮ rule -----------------------------------------------------------------------------

# Directive 76/211/EEC, Annex I, 2.4: (from Qn, up to Qn, TNE as % of Qn or in g/ml).
TNE_TABLE: tuple[tuple[float, float, float, bool], ...] = (
    (5, 50, 9.0, True),
    (50, 100, 4.5, False),
    (100, 200, 4.5, True),
    (200, 300, 9.0, False),
    (300, 500, 3.0, True),
    (500, 1000, 15.0, False),
    (1000, 10000, 1.5, True),
    (10000, 15000, 150.0, False),
    (15000, 50000, 1.0, True),
)


def tne_for(nominal: float) -> float:
    """The tolerable negative error of a nominal quantity in g or ml (500 ml → 15 ml).

    Percentages are rounded up to the next tenth of a gram or millilitre, as the Directive
    says; the table's rows meet at their edges, so an edge belongs to either.
    """
    for low, high, amount, percent in TNE_TABLE:
        if low <= nominal <= high:
            if not percent:
                return amount
            return math.ceil(round(nominal * amount / 100 * 10, 9)) / 10
    raise ValueError(f"the Directive's table covers 5 to 50,000 g or ml, not {nominal:g}")


@dataclass(frozen=True)
class EBatch:
    """One batch judged by the ℮ rule; `compliant` when all three tests pass."""

    n: int
    mean: float
    nominal: float
    tne: float
    t1: float
    t2: float
    below_t1: int
    below_t2: int
    mean_ok: bool
    t1_ok: bool
    t2_ok: bool

    @property
    def compliant(self) -> bool:
        return self.mean_ok and self.t1_ok and self.t2_ok

    @property
    def problems(self) -> list[str]:
        """What fails, in words."""
        out = []
        if not self.mean_ok:
            out.append(f"mean {self.mean:.2f} below nominal {self.nominal:g}")
        if not self.t1_ok:
            out.append(f"{self.below_t1} of {self.n} below T1 {self.t1:g} (over 2.5 %)")
        if not self.t2_ok:
            out.append(f"{self.below_t2} below T2 {self.t2:g}")
        return out


def e_rule_counts(
    n: int, mean_value: float, below_t1: int, below_t2: int, nominal: float, tne: float
) -> EBatch:
    """The ℮ rule from a batch's count, mean and shortfalls (as SQL counts them)."""
    if n <= 0:
        raise ValueError("an empty batch")
    return EBatch(
        n=n, mean=mean_value, nominal=nominal, tne=tne, t1=nominal - tne, t2=nominal - 2 * tne,
        below_t1=below_t1, below_t2=below_t2, mean_ok=mean_value >= nominal,
        t1_ok=below_t1 <= SHORT_FRACTION * n, t2_ok=below_t2 == 0,
    )  # fmt: skip


def e_rule(values: Sequence[float], nominal: float, tne: float | None = None) -> EBatch:
    """Judge one batch of actual contents (each a package's) by the ℮ rule."""
    tne = tne_for(nominal) if tne is None else tne
    t1, t2 = nominal - tne, nominal - 2 * tne
    return e_rule_counts(
        len(values), mean(values), sum(1 for x in values if x < t1),
        sum(1 for x in values if x < t2), nominal, tne,
    )  # fmt: skip


def recommended_target(nominal: float, sigma: float, tne: float | None = None) -> float:
    """The lowest target mean that keeps the ℮ rule: max(Qn, Qn − TNE + 1.96σ)."""
    if sigma < 0 or not math.isfinite(sigma):
        raise ValueError("σ must be a finite number, not negative")
    tne = tne_for(nominal) if tne is None else tne
    return max(nominal, nominal - tne + Z_975 * sigma)
