"""One mapping of quality (plant/quality.py), and a pushed value's time that survives the trip."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plant import live, quality
from plant.quality import LABELS, Quality, code_of, label_of

ROOT = Path(__file__).resolve().parent.parent.parent
LABEL_NAMES = ("GOOD", "UNCERTAIN", "BAD")


def test_the_names_are_the_stored_choices_in_code_order() -> None:
    assert tuple(q.label for q in sorted(Quality)) == LABELS
    assert [int(q) for q in Quality] == list(range(len(LABELS)))


@given(st.sampled_from(list(Quality)))
def test_a_code_and_its_name_map_to_each_other(code: Quality) -> None:
    assert code_of(label_of(code)) is code
    assert label_of(code) == code.label


@given(st.integers().filter(lambda n: not 0 <= n < len(LABELS)))
def test_a_code_outside_the_mapping_reads_as_bad_never_as_good(code: int) -> None:
    assert label_of(code) == "bad"


@given(st.text().filter(lambda t: t not in LABELS))
def test_a_name_that_is_not_a_quality_has_no_code(name: str) -> None:
    with pytest.raises(KeyError):
        code_of(name)


def test_no_other_module_keeps_a_quality_mapping_of_its_own() -> None:
    """A `BAD = 2` or `QUALITY = {...}` elsewhere is a second mapping to keep in step."""
    own = ROOT / "plant" / "quality.py"
    found = []
    for package in ("plant", "ingest", "hmi"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == own or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                targets = node.targets if isinstance(node, ast.Assign) else []
                if isinstance(node, ast.AnnAssign):
                    targets = [node.target]
                for target in targets:
                    name = target.id if isinstance(target, ast.Name) else ""
                    if (name.isupper() and "QUALIT" in name) or name in (
                        "GOOD",
                        "UNCERTAIN",
                        "BAD",
                    ):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert found == []


# Device times from 2000 to 2200 (what the worker accepts), to the microsecond.
device_times = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 (hypothesis wants naive bounds)
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(device_times, st.sampled_from(list(Quality)))
def test_a_pushed_value_carries_its_exact_time_and_code(time: datetime, code: Quality) -> None:
    """A screen compares a pushed time with the stored one (an older value arriving late
    changes nothing): epoch seconds must give back the very microsecond."""
    value = live.tag_value(7, 1.5, None, time, code, 0.0)
    assert datetime.fromtimestamp(value["ts"], UTC) == time
    assert value["q"] == code and type(value["q"]) is not str
    assert quality.label_of(value["q"]) == code.label


def test_a_state_tag_pushes_its_text_as_its_value() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert live.tag_value(7, None, "Running", at, Quality.GOOD, 0.0)["v"] == "Running"
    assert live.tag_value(7, 0.0, None, at, Quality.BAD, 0.0)["v"] == 0.0


@pytest.mark.django_db
def test_the_sql_of_usable_values_keeps_exactly_the_codes_that_do_not_read_as_bad() -> None:
    # PostgreSQL itself judges every code (and two outside the mapping) by the clause that
    # the historian, its aggregates and the sparklines share: changing the mapping without
    # the clause, or the clause without the mapping, fails here.
    from django.db import connection

    codes = list(range(len(LABELS) + 2))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT quality FROM unnest(%s::smallint[]) AS quality WHERE {quality.USABLE_SQL}",
            [codes],
        )
        kept = sorted(code for (code,) in cursor.fetchall())
    assert kept == [code for code in codes if label_of(code) != "bad"]
    assert kept == [Quality.GOOD, Quality.UNCERTAIN]


def test_every_sql_that_leaves_bad_values_out_uses_the_one_clause() -> None:
    from hmi.screen_queries import SPARK_SQL
    from plant.historian import SAMPLES_SQL
    from plant.timescale import AGGREGATE_SQL

    for sql in (SPARK_SQL, SAMPLES_SQL, AGGREGATE_SQL):
        assert quality.USABLE_SQL in sql
    # No query spells a quality code out by hand.
    spelled = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for package in ("plant", "ingest", "hmi")
        for path in (ROOT / package).rglob("*.py")
        for line in path.read_text().splitlines()
        if re.search(r"\bquality\s*(<|>|<=|>=|=|<>|!=|IN)\s*\(?\d", line)
    ]
    assert spelled == []
