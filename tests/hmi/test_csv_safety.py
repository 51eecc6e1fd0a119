"""Every CSV the product writes is safe to open in a spreadsheet: text never starts a formula,
and the numbers the product formats stay numbers."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hmi.csv_safety import FORMULA_STARTS, csv_text

ROOT = Path(__file__).resolve().parents[2]


def written_cell(value: object) -> str:
    """The cell a spreadsheet reads back for `value`, through the product's own CSV writer."""
    (row,) = csv.reader(io.StringIO(csv_text([[value]]), newline=""))
    return row[0] if row else ""


@given(st.text())
def test_no_text_cell_ever_starts_a_formula_and_none_loses_a_character(text: str) -> None:
    cell = written_cell(text)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell in (text, f"'{text}")


@given(st.sampled_from(FORMULA_STARTS), st.text())
def test_text_that_starts_like_a_formula_is_read_as_text(start: str, rest: str) -> None:
    assert written_cell(start + rest) == f"'{start}{rest}"


@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)))
def test_numbers_the_product_writes_stay_numbers_even_when_negative(number: float) -> None:
    cell = written_cell(number)
    assert cell == str(number)
    assert float(cell) == float(number)  # a spreadsheet reads the same number


def test_every_csv_writer_of_the_product_goes_through_the_safe_helper() -> None:
    writers = [
        path.relative_to(ROOT).as_posix()
        for package in ("plant", "hmi", "ingest")
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"\bcsv\.(writer|DictWriter)\b", path.read_text())
    ]
    assert writers == ["hmi/csv_safety.py"]
