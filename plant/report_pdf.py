"""A shift report as a PDF, rendered from HTML by WeasyPrint (no browser), and as CSV rows.

The PDF's HTML is templates/reports/shift_report_pdf.html, which includes the very body the
HMI page shows (templates/reports/report_body.html), so the page, the PDF and the CSV
(`csv_rows`) show the same figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.template.loader import render_to_string
from weasyprint import HTML  # type: ignore[import-untyped]  # WeasyPrint ships no types

from plant.shift_reports import Figures

CSV_HEADER = ["section", "item", "measure", "value", "unit"]


def pdf_of(figures: Figures) -> bytes:
    """The report as a PDF document (A4)."""
    html = render_to_string("reports/shift_report_pdf.html", {"f": figures})
    pdf = HTML(string=html).write_pdf()
    assert pdf is not None  # write_pdf() without a target returns the bytes
    return bytes(pdf)


def filename_of(figures: Figures, extension: str) -> str:
    """shift-report-<plant id>-<day>-<shift or day>.<extension>, safe in a header."""
    name = "".join(c if c.isalnum() else "-" for c in figures["name"]).strip("-") or "report"
    return f"shift-report-{figures['plant_id']}-{figures['day']}-{name}.{extension}"


def csv_rows(figures: Figures) -> Iterator[list[Any]]:
    """The figures as rows of (section, item, measure, value, unit), the header first; the
    caller makes the cells safe for a spreadsheet (hmi.csv_safety)."""
    f = figures
    yield CSV_HEADER
    for key in ("plant", "kind", "name", "day", "start", "end", "time_zone", "made_at"):
        yield ["report", key, "", f[key], ""]
    alarms = f["alarms"]
    yield ["alarms", "all", "activations", alarms["activations"], ""]
    for priority, n in alarms["by_priority"].items():
        yield ["alarms", priority, "activations", n, ""]
    for row in alarms["most_activations"]:
        yield ["alarms_most_activations", row["alarm"], "activations", row["times"], ""]
    for row in alarms["longest_active"]:
        yield ["alarms_longest_active", row["alarm"], "active_s", row["active_s"], "s"]
    writes = f["setpoints"]
    yield ["setpoints", "all", "writes", writes["count"], ""]
    yield ["setpoints", "all", "not_applied", writes["not_applied"], ""]
    for row in writes["by_user"]:
        yield ["setpoints_by_user", row["user"], "writes", row["count"], ""]
    for row in writes["refused"]:
        outcome = row["state"] + (f": {row['detail']}" if row["detail"] else "")
        yield ["setpoints_not_applied", f"{row['at']} {row['tag']} by {row['user']}", outcome,
               row["value"], ""]  # fmt: skip
    for value in f["values"]:
        for measure in ("min", "max", "avg", "count"):
            unit = "" if measure == "count" else value["unit"]
            yield ["values", value["tag"], measure, value[measure], unit]
    for machine in f["oee"]:
        for measure in ("availability_pct", "performance_pct", "quality_pct", "oee_pct"):
            yield ["oee", machine["machine"], measure, machine[measure], "%"]
        yield ["oee", machine["machine"], "produced", machine["produced"], ""]
        yield ["oee", machine["machine"], "good", machine["good"], ""]
    for tag in f["quality"]:
        for hour in tag["hours"]:
            item = f"{tag['tag']} {hour['hour']}"
            for measure in ("n", "mean", "cpk", "below_t1", "below_t2", "compliant"):
                yield ["quality", item, measure, hour[measure], tag["unit"] if measure ==
                       "mean" else ""]  # fmt: skip
    for scope in f["energy"]:
        yield ["energy", scope["scope"], "kwh", scope["kwh"], "kWh"]
        yield ["energy", scope["scope"], "units", scope["units"], ""]
        yield ["energy", scope["scope"], "kwh_per_1000", scope["kwh_per_1000"], "kWh"]
