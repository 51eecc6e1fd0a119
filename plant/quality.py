"""The quality of a value, and the one mapping between its stored code and its name.

Samples and latest values store a small integer (`Quality`, to keep rows narrow); devices send
its name in the MQTT contract (`"q": "bad"`), and the history API and CSV export show the name.
Live pushes carry the code (plant.live.TagValue): the screens compare codes, never names.
"""

from __future__ import annotations

from typing import Literal

from django.db import models

QualityLabel = Literal["good", "uncertain", "bad"]


class Quality(models.IntegerChoices):
    """OPC-style quality of a value."""

    GOOD = 0, "good"
    UNCERTAIN = 1, "uncertain"
    BAD = 2, "bad"


# Indexed by code, and its inverse: the hot paths (ingest, the history API) look names up here.
LABELS: tuple[QualityLabel, ...] = ("good", "uncertain", "bad")
CODES: dict[str, Quality] = {label: Quality(code) for code, label in enumerate(LABELS)}


# The SQL condition of the values the historian and the sparklines count (good and uncertain):
# bad is the highest code, and a code above it reads as bad too (label_of).
USABLE_SQL = f"quality < {int(Quality.BAD)}"


def code_of(label: str) -> Quality:
    """The code of a quality's name; KeyError for a name that is not one."""
    return CODES[label]


def label_of(code: int) -> QualityLabel:
    """The name of a stored code. A code outside the mapping (written by hand into the table)
    reads as bad: a value of unknown quality must never be shown as good."""
    return LABELS[code] if 0 <= code < len(LABELS) else "bad"
