"""CSV cells a spreadsheet reads as text, never as a formula: every CSV the product writes.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula, and skips a
leading tab or carriage return before deciding, so a device's state text `=HYPERLINK(...)` or
an operator's reason `@SUM(...)` would act in whoever opens the export. OWASP's rule: such a
text cell gets a leading `'`, which spreadsheets show as text. Numbers the product wrote
itself (ints and floats, say -3.5) stay numbers: only text cells are touched.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.http import StreamingHttpResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """The value as a CSV cell: text that a spreadsheet would run gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """The rows as CSV text with every text cell made safe; one chunk of a streamed export."""
    out = io.StringIO()
    csv.writer(out).writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue()


def csv_download(chunks: Iterable[str], filename: str) -> StreamingHttpResponse:
    """A streamed CSV attachment of already neutralised chunks (csv_text)."""
    response = StreamingHttpResponse(chunks, content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
