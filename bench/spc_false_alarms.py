"""How often the run rules break by chance on a fill in control (the demo's alarm settings).

    python bench/spc_false_alarms.py            # 100 simulated hours at one bottle a second
    python bench/spc_false_alarms.py --hours 500 --seed 2

Gaussian fill levels (σ 0.3 ml, the simulator's noise) in subgroups of five, judged with the
true centre and σ by plant.spc.broken_rules for several rule sets. Prints, per hour, how often
the flag rises (a rule breaks) and how often it holds for two points in a row (the demo's
alarm: a 9 s on-delay on points 5 s apart).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from plant import spc

RULE_SETS = [[1], [1, 2], [1, 2, 3], [1, 2, 3, 5, 6], list(spc.RULES)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    points_per_hour = 3600 // 5
    sigma = 0.3 / math.sqrt(5)  # of a mean of five
    means = [500 + rng.gauss(0, sigma) for _ in range(args.hours * points_per_hour)]
    print(f"spc_false_alarms: {args.hours} hours, subgroups of 5 at 1 Hz, seed {args.seed}")
    print(f"{'rules':<18} {'flag rises/h':>12} {'2 in a row/h':>12}")
    for rules in RULE_SETS:
        flags = [bool(v) for v in spc.broken_rules(means, 500, sigma, rules)]
        rises = sum(1 for i in range(1, len(flags)) if flags[i] and not flags[i - 1])
        held = sum(1 for i in range(1, len(flags))
                   if flags[i] and flags[i - 1] and not (i > 1 and flags[i - 2]))  # fmt: skip
        label = ",".join(map(str, rules))
        print(f"{label:<18} {rises / args.hours:>12.2f} {held / args.hours:>12.2f}")


if __name__ == "__main__":
    main()
