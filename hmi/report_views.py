"""Shift reports: the list of a plant's kept reports, one report as a printable page, its PDF
and its CSV, and a report made on demand for any shift or day.

Kept reports are made at each shift's end by the report job (plant.report_job, inside
`manage.py notify`); the figures are plant.shift_reports', the PDF and CSV rows
plant.report_pdf's. Everyone who may see a plant sees its reports; another plant's are a 404,
as if they did not exist. A bad plant, day or shift is a 400 that says what is wrong.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth.models import AnonymousUser, User
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from hmi.csv_safety import csv_text
from plant.models import Plant, Shift, ShiftReport
from plant.queries import visible_plants
from plant.report_pdf import csv_rows, filename_of, pdf_of
from plant.shift_reports import Figures, ReportError, figures, resolve_period

PAGE_SIZE = 50
FORMATS = ("html", "pdf", "csv")


class ReportForm(forms.Form):
    """A report asked for: a plant, a plant-local day, a shift of it (empty: the whole day)."""

    plant = forms.IntegerField(min_value=1, error_messages={"required": "name a plant"})
    date = forms.DateField(
        input_formats=["%Y-%m-%d"],
        error_messages={"required": "give a day", "invalid": "give a day as YYYY-MM-DD"},
    )
    shift = forms.CharField(required=False, max_length=100)
    format = forms.ChoiceField(choices=[(f, f) for f in FORMATS], required=False)


def report_plant_or_404(user: User | AnonymousUser, pk: int) -> Plant:
    plant = visible_plants(user).filter(pk=pk).first()
    if plant is None:
        raise Http404(f"no plant {pk} that you may see")
    return plant


def stored_or_404(user: User | AnonymousUser, pk: int) -> ShiftReport:
    report = ShiftReport.objects.filter(pk=pk, plant__in=visible_plants(user)).first()
    if report is None:
        raise Http404(f"no report {pk} that you may see")
    return report


@require_safe
def reports_index(request: HttpRequest) -> HttpResponse:
    """The plants the user may see; with ?plant=, that plant's kept reports and the form that
    makes one on demand."""
    plants = list(visible_plants(request.user).order_by("name"))
    raw = request.GET.get("plant", "")
    if raw and not raw.isdigit():
        return _error(request, plants, f"plant must be a number, not {raw!r}")
    plant = report_plant_or_404(request.user, int(raw)) if raw else None
    if plant is None and len(plants) == 1:
        plant = plants[0]
    page, shift_names = None, []
    if plant is not None:
        kept = ShiftReport.objects.filter(plant=plant).defer("pdf", "figures")
        paginator = Paginator(kept.order_by("-start_at", "-id"), PAGE_SIZE)
        page = paginator.get_page(request.GET.get("page"))
        names = Shift.objects.filter(plant=plant).values_list("name", flat=True)
        shift_names = sorted(set(names))
    today = timezone.now().astimezone(ZoneInfo(plant.time_zone)).date() if plant else None
    context = {"plants": plants, "plant": plant, "page": page, "shift_names": shift_names,
               "today": today}  # fmt: skip
    return render(request, "hmi/reports.html", context)


def _error(request: HttpRequest, plants: list[Plant], message: str) -> HttpResponse:
    context = {"plants": plants, "plant": None, "page": None, "error": message}
    return render(request, "hmi/reports.html", context, status=400)


@require_safe
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A kept report as a printable page."""
    report = stored_or_404(request.user, pk)
    return _page(request, report.plant, report.figures, report)


@require_safe
def report_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """A kept report's PDF, as it was mailed."""
    report = stored_or_404(request.user, pk)
    return _pdf(bytes(report.pdf), report.figures)


@require_safe
def report_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """A kept report's figures as CSV."""
    report = stored_or_404(request.user, pk)
    return _csv(report.figures)


@require_safe
def report_build(request: HttpRequest) -> HttpResponse:
    """A report made now for any shift or day: ?plant=&date=YYYY-MM-DD[&shift=][&format=]."""
    form = ReportForm(request.GET)
    plants = list(visible_plants(request.user).order_by("name"))
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(str(e) for e in errors)}" for name, errors in
                             form.errors.items())  # fmt: skip
        return _error(request, plants, problems)
    plant = report_plant_or_404(request.user, form.cleaned_data["plant"])
    day: date = form.cleaned_data["date"]
    try:
        period = resolve_period(plant, day, form.cleaned_data["shift"].strip())
    except ReportError as error:
        return _error(request, plants, str(error))
    found = figures(plant, period)
    kind = form.cleaned_data["format"] or "html"
    if kind == "pdf":
        return _pdf(pdf_of(found), found)
    if kind == "csv":
        return _csv(found)
    return _page(request, plant, found, None)


def _page(
    request: HttpRequest, plant: Plant, found: Figures, report: ShiftReport | None
) -> HttpResponse:
    context = {"plant": plant, "f": found, "report": report,
               "query": request.GET.urlencode()}  # fmt: skip
    return render(request, "hmi/report.html", context)


def _pdf(pdf: bytes, found: Figures) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename_of(found, "pdf")}"'
    return response


def _csv(found: Figures) -> HttpResponse:
    response = HttpResponse(csv_text(csv_rows(found)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename_of(found, "csv")}"'
    return response
