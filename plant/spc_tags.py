"""The derived tags of a tag's SPC (plant.derived): the run-rule flag and which rules broke.

`<key>_spc_rule` is 1 while an enabled Nelson rule's pattern ends at the latest point of the
run rules' chart, else 0: an ordinary digital alarm on it (limit 1) is the run-rule alarm.
`<key>_spc_rules` says which rules, as text ("1, 5"; empty when none).
"""

from __future__ import annotations

from typing import NamedTuple

from plant.derived import ensure_derived_tag
from plant.models import SpcSettings, Tag

JOB = "spc"
FLAG_SUFFIX, RULES_SUFFIX = "_spc_rule", "_spc_rules"


class SpcTags(NamedTuple):
    flag: Tag
    rules: Tag


def ensure_spc_tags(spc: SpcSettings) -> SpcTags:
    """The two derived tags of `spc`'s tag, created beside it if missing."""
    source = spc.tag
    name = source.description or source.key
    flag = ensure_derived_tag(
        source.machine, f"{source.key}{FLAG_SUFFIX}"[:64], job=JOB, source=source,
        data_type=Tag.DataType.BOOL, precision=0, true_label="broken", false_label="ok",
        description=f"{name}: SPC run rule broken"[:200],
    )  # fmt: skip
    rules = ensure_derived_tag(
        source.machine, f"{source.key}{RULES_SUFFIX}"[:64], job=JOB, source=source,
        data_type=Tag.DataType.STRING, description=f"{name}: SPC rules broken"[:200],
    )  # fmt: skip
    return SpcTags(flag, rules)
