"""The energy screens, their JSON API and CSV export: per line and plant, per shift and day.

Consumption, kWh per 1,000 units, the baseline against the actual, and the day's demand blocks
with the live prediction of the current block against the contracted peak. The figures come
from plant.energy_history (the historian's buckets) and plant.energy (the arithmetic). Only
plants the user may see are answered; another plant is a 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from hmi import openapi
from hmi.api import api_view, form_error
from hmi.csv_safety import csv_text
from hmi.history_views import _stream, iso
from plant import energy
from plant.energy_history import (
    Block,
    Period,
    Report,
    Scope,
    Usage,
    demand_blocks,
    demand_now,
    report,
    scopes,
    shift_periods,
)
from plant.models import Plant, PlantEnergy
from plant.queries import visible_plants
from plant.read_replica import reads_history
from plant.shifts import day_window

MAX_DAYS = 400  # as the history API's longest range
BASELINE_SHOWN_DAYS = 14


class EnergyForm(forms.Form):
    """Which plant and which local days: `first` defaults to `last`, `last` to today."""

    plant = forms.IntegerField(min_value=1)
    first = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    last = forms.DateField(required=False, input_formats=["%Y-%m-%d"])

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        first, last = data.get("first"), data.get("last")
        if first and last and first > last:
            raise ValidationError("first must not be after last")
        if first and last and (last - first).days >= MAX_DAYS:
            self.add_error("last", f"at most {MAX_DAYS} days at once")
        for name in ("first", "last"):
            value = data.get(name)
            if value is not None and not date(2000, 1, 1) <= value <= date(2199, 12, 31):
                self.add_error(name, "give a day between 2000-01-01 and 2199-12-31")
        return data


def energy_plant_or_404(user: User | AnonymousUser, pk: int) -> Plant:
    plant = visible_plants(user).filter(pk=pk).first()
    if plant is None:
        raise Http404(f"no plant {pk} that you may see")
    return plant


def today_of(plant: Plant) -> date:
    return timezone.now().astimezone(ZoneInfo(plant.time_zone)).date()


def contract_of(plant: Plant) -> PlantEnergy | None:
    return PlantEnergy.objects.filter(plant=plant).first()


def days_asked(plant: Plant, data: dict[str, object]) -> tuple[date, date]:
    last = data.get("last") or data.get("first") or today_of(plant)
    first = data.get("first") or last
    assert isinstance(first, date) and isinstance(last, date)
    return first, last


def reports(plant: Plant, first: date, last: date) -> list[Report]:
    """Every scope's report over the days, with the shifts of the plant's calendar in them."""
    contract = contract_of(plant)
    start, end = day_window(plant, first)[0], day_window(plant, last)[1]
    shifts = shift_periods(plant, start, end)
    now = timezone.now()
    return [report(scope, contract, first, last, shifts, now=now) for scope in scopes(plant)]


# --- the screens ----------------------------------------------------------------------------


@require_safe
@reads_history
def energy_index(request: HttpRequest) -> HttpResponse:
    """The plants the user may see, with whether each has energy meters."""
    plants = list(visible_plants(request.user).order_by("name"))
    metered = set(
        PlantEnergy.objects.filter(plant__in=plants).values_list("plant_id", flat=True)
    ) | {p.pk for p in plants if p.energy_meters.exists()}
    return render(request, "hmi/energy_index.html", {"plants": plants, "metered": metered})


@require_safe
@reads_history
def energy_plant(request: HttpRequest, pk: int) -> HttpResponse:
    """One plant's day: per line and plant, per shift and day, the baseline, the demand."""
    plant = energy_plant_or_404(request.user, pk)
    day = _day_param(request, plant)
    found = reports(plant, day, day)
    history_first = day - timedelta(days=BASELINE_SHOWN_DAYS - 1)
    history = reports(plant, history_first, day)
    context = {
        "plant": plant,
        "day": day,
        "previous": day - timedelta(days=1),
        "next": day + timedelta(days=1) if day < today_of(plant) else None,
        "reports": found,
        "history": history,
        "history_first": history_first,
        "demand": demand_context(plant, day),
    }
    return render(request, "hmi/energy.html", context)


@require_safe
@reads_history
def energy_demand(request: HttpRequest, pk: int) -> HttpResponse:
    """The demand panel: the day's blocks and the live prediction (polled by the page)."""
    plant = energy_plant_or_404(request.user, pk)
    day = _day_param(request, plant)
    return render(
        request, "hmi/fragments/energy_demand.html", {"demand": demand_context(plant, day)}
    )


def _day_param(request: HttpRequest, plant: Plant) -> date:
    field = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    try:
        day: date | None = field.clean(request.GET.get("day"))
    except ValidationError:
        day = None  # a screen's bad ?day= shows today, as a missing one does
    if day is None or not date(2000, 1, 1) <= day <= today_of(plant):
        return today_of(plant)
    return day


@dataclass(frozen=True)
class Bar:
    """One block drawn on the demand chart (SVG coordinates)."""

    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


CHART_W, CHART_H = 960.0, 180.0


def demand_context(plant: Plant, day: date) -> dict[str, object]:
    """The day's demand blocks drawn as bars, the contract's lines and the live prediction."""
    contract = contract_of(plant)
    interval_s = contract.interval_s if contract is not None else 900
    start, end = day_window(plant, day)
    now = timezone.now()
    blocks = demand_blocks(plant, interval_s, start, min(end, now))
    live = demand_now(plant, interval_s, now) if start <= now < end else None
    peak = contract.contracted_peak_kw if contract is not None else None
    warning = contract.warning_kw if contract is not None else None
    scale = max([b.kw for b in blocks] + [live.predicted_kw if live else 0.0] + [peak or 0.0, 1.0])
    scale *= 1.1
    count = round((end - start).total_seconds() / interval_s)
    zone = ZoneInfo(plant.time_zone)
    bars = [_bar(b, start, count, interval_s, scale, warning, peak, zone) for b in blocks]
    if live is not None:
        bars.append(_predicted_bar(live, start, count, interval_s, scale, zone))
    return {
        "plant": plant, "day": day, "interval_min": interval_s // 60, "peak": peak,
        "warning": warning, "live": live, "bars": bars, "blocks": blocks,
        "highest": max(blocks, key=lambda b: b.kw) if blocks else None,
        "peak_y": _y(peak, scale), "warning_y": _y(warning, scale),
        "width": CHART_W, "height": CHART_H,
        "live_state": _state(live.predicted_kw if live else None, warning, peak),
    }  # fmt: skip


def _y(kw: float | None, scale: float) -> float | None:
    return None if kw is None else CHART_H - kw / scale * CHART_H


def _state(kw: float | None, warning: float | None, peak: float | None) -> str:
    """How a demand stands against the contract: "over" the peak, "warning", or "normal"."""
    if kw is None or warning is None or peak is None:
        return "normal"
    return "over" if kw >= peak else "warning" if kw >= warning else "normal"


def _bar(block: Block, start: datetime, count: int, interval_s: int, scale: float,
         warning: float | None, peak: float | None, zone: ZoneInfo) -> Bar:  # fmt: skip
    width = CHART_W / max(count, 1)
    index = (block.start - start).total_seconds() / interval_s
    height = block.kw / scale * CHART_H
    label = f"{block.start.astimezone(zone):%H:%M} {block.kw:.1f} kW"
    return Bar(index * width, CHART_H - height, width * 0.9, height,
               f"block {_state(block.kw, warning, peak)}", label)  # fmt: skip


def _predicted_bar(live: energy.DemandNow, start: datetime, count: int, interval_s: int,
                   scale: float, zone: ZoneInfo) -> Bar:  # fmt: skip
    width = CHART_W / max(count, 1)
    index = (live.block_start - start).total_seconds() / interval_s
    height = live.predicted_kw / scale * CHART_H
    label = f"{live.block_start.astimezone(zone):%H:%M} predicted {live.predicted_kw:.1f} kW"
    return Bar(index * width, CHART_H - height, width * 0.9, height, "block predicted", label)


# --- the JSON API ---------------------------------------------------------------------------


@api_view
@reads_history
def energy_api(request: HttpRequest) -> HttpResponse:
    """Consumption, output, kWh per 1,000 units and the baseline, per line and plant, per day
    and shift, over the local days first..last."""
    form = EnergyForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    plant = energy_plant_or_404(request.user, form.cleaned_data["plant"])
    first, last = days_asked(plant, form.cleaned_data)
    body = {
        "plant": plant_json(plant), "first": first.isoformat(), "last": last.isoformat(),
        "scopes": [report_json(found) for found in reports(plant, first, last)],
    }  # fmt: skip
    return JsonResponse(body)


def plant_json(plant: Plant) -> dict[str, object]:
    return {"id": plant.pk, "name": plant.name, "time_zone": plant.time_zone}


def report_json(found: Report) -> dict[str, object]:
    baseline = found.baseline
    return {
        "key": found.scope.key,
        "line": found.scope.line.pk if found.scope.line is not None else None,
        "name": found.scope.name,
        "meters": [m.name for m in found.scope.meters],
        "days": [usage_json(u) for u in found.days],
        "shifts": [usage_json(u) for u in found.shifts],
        "baseline": None if baseline is None else {
            "base_kwh_per_day": baseline.base_kwh,
            "kwh_per_1000_units": baseline.kwh_per_1000_units,
            "days": baseline.days,
            "r2": baseline.r2,
        },
    }  # fmt: skip


def usage_json(usage: Usage) -> dict[str, object]:
    return {
        "label": usage.period.label, "kind": usage.period.kind,
        "start": iso(usage.period.start), "end": iso(usage.period.end),
        "kwh": usage.kwh, "units": usage.units, "kwh_per_1000": usage.kwh_per_1000,
        "expected_kwh": usage.expected_kwh, "deviation_kwh": usage.deviation_kwh,
        "deviation_pct": usage.deviation_pct,
    }  # fmt: skip


class DemandForm(forms.Form):
    plant = forms.IntegerField(min_value=1)
    day = forms.DateField(required=False, input_formats=["%Y-%m-%d"])

    def clean_day(self) -> date | None:
        day: date | None = self.cleaned_data.get("day")
        if day is not None and not date(2000, 1, 1) <= day <= date(2199, 12, 31):
            raise ValidationError("give a day between 2000-01-01 and 2199-12-31")
        return day


@api_view
@reads_history
def demand_api(request: HttpRequest) -> HttpResponse:
    """A local day's demand blocks, the contract, and (today) the current block's prediction."""
    form = DemandForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    plant = energy_plant_or_404(request.user, form.cleaned_data["plant"])
    day = form.cleaned_data["day"] or today_of(plant)
    context = demand_context(plant, day)
    blocks: list[Block] = context["blocks"]  # type: ignore[assignment]
    live: energy.DemandNow | None = context["live"]  # type: ignore[assignment]
    return JsonResponse({
        "plant": plant_json(plant), "day": day.isoformat(),
        "interval_min": context["interval_min"], "contracted_peak_kw": context["peak"],
        "warning_kw": context["warning"],
        "blocks": [{"start": iso(b.start), "end": iso(b.end), "kwh": b.kwh, "kw": b.kw}
                   for b in blocks],
        "now": None if live is None else {
            "at": iso(live.at), "block_start": iso(live.block_start),
            "block_end": iso(live.block_end), "used_kwh": live.used_kwh,
            "recent_kw": live.recent_kw, "predicted_kw": live.predicted_kw,
            "sliding_kw": live.sliding_kw, "state": context["live_state"],
        },
    })  # fmt: skip


# --- the CSV export -------------------------------------------------------------------------


@api_view
@reads_history
def energy_export(request: HttpRequest) -> HttpResponseBase:
    """The API's days and shifts as CSV: one row per scope and period."""
    form = EnergyForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    plant = energy_plant_or_404(request.user, form.cleaned_data["plant"])
    first, last = days_asked(plant, form.cleaned_data)
    found = reports(plant, first, last)
    response = StreamingHttpResponse(_stream(csv_lines(plant, found)),
                                     content_type="text/csv; charset=utf-8")  # fmt: skip
    response["Content-Disposition"] = (
        f'attachment; filename="energy-{plant.slug}-{first:%Y%m%d}-{last:%Y%m%d}.csv"'
    )
    return response


CSV_HEAD = ["scope", "kind", "label", "start", "local_start", "end", "kwh", "units",
            "kwh_per_1000", "expected_kwh", "deviation_kwh"]  # fmt: skip


def csv_lines(plant: Plant, found: list[Report]) -> Iterator[str]:
    zone = ZoneInfo(plant.time_zone)
    yield csv_text([CSV_HEAD])
    for one in found:
        rows = [*one.days, *one.shifts]
        yield csv_text([_csv_row(one.scope, u, zone) for u in rows])


def _csv_row(scope: Scope, usage: Usage, zone: ZoneInfo) -> list[object]:
    period: Period = usage.period
    return [scope.name, period.kind, period.label, iso(period.start),
            period.start.astimezone(zone).isoformat(), iso(period.end), usage.kwh, usage.units,
            usage.kwh_per_1000, usage.expected_kwh, usage.deviation_kwh]  # fmt: skip


# --- the OpenAPI description of these endpoints (hmi/openapi.py) ---------------------------

_PLANT = openapi.query("plant", {"type": "integer", "minimum": 1, "maximum": openapi.MAX_ID},
                       "The plant's id.", required=True)  # fmt: skip
_DAY = {"type": "string", "format": "date", "description": "A day of the plant's own clock."}
_NUMBER_OR_NULL = openapi.ref("NullableNumber")
_USAGE = {
    "type": "object",
    "required": [
        "label",
        "kind",
        "start",
        "end",
        "kwh",
        "units",
        "kwh_per_1000",
        "expected_kwh",
        "deviation_kwh",
        "deviation_pct",
    ],
    "properties": {
        "label": {"type": "string", "description": "The day (YYYY-MM-DD) or the shift's name."},
        "kind": {"enum": ["day", "shift"]},
        "start": openapi.ref("Time"),
        "end": openapi.ref("Time"),
        "kwh": {"type": "number"},
        "units": _NUMBER_OR_NULL | {"description": "Units made; null without a counter."},
        "kwh_per_1000": _NUMBER_OR_NULL,
        "expected_kwh": _NUMBER_OR_NULL | {"description": "What the output should have cost."},
        "deviation_kwh": _NUMBER_OR_NULL,
        "deviation_pct": _NUMBER_OR_NULL,
    },
}
_PLANT_JSON = {
    "type": "object",
    "required": ["id", "name", "time_zone"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "time_zone": {"type": "string"},
    },
}
_SCOPE = {
    "type": "object",
    "required": ["key", "line", "name", "meters", "days", "shifts", "baseline"],
    "properties": {
        "key": {"type": "string"},
        "line": {"type": ["integer", "null"]},
        "name": {"type": "string"},
        "meters": {"type": "array", "items": {"type": "string"}},
        "days": {"type": "array", "items": openapi.ref("EnergyUsage")},
        "shifts": {"type": "array", "items": openapi.ref("EnergyUsage")},
        "baseline": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["base_kwh_per_day", "kwh_per_1000_units", "days", "r2"],
                    "properties": {
                        "base_kwh_per_day": {"type": "number"},
                        "kwh_per_1000_units": {"type": "number"},
                        "days": {"type": "integer"},
                        "r2": _NUMBER_OR_NULL,
                    },
                },
            ]
        },
    },
}
_NOW = {
    "type": "object",
    "required": [
        "at",
        "block_start",
        "block_end",
        "used_kwh",
        "recent_kw",
        "predicted_kw",
        "sliding_kw",
        "state",
    ],
    "properties": {
        "at": openapi.ref("Time"),
        "block_start": openapi.ref("Time"),
        "block_end": openapi.ref("Time"),
        "used_kwh": {"type": "number"},
        "recent_kw": {"type": "number"},
        "predicted_kw": {"type": "number", "description": "The block's demand at its end."},
        "sliding_kw": {"type": "number"},
        "state": {"enum": ["normal", "warning", "over"]},
    },
}
_DAYS = [
    _PLANT,
    openapi.query("first", _DAY, "The first day (default: last)."),
    openapi.query("last", _DAY, "The last day (default: first, else today); 400 days at most."),
]
openapi.add_paths(
    {
        "/api/energy/": openapi.get(
            "energy", "Consumption, output, kWh per 1,000 units and the baseline, per line and "
            "plant, per day and shift", _DAYS,
            openapi.json_body("Each line's and the plant's days and shifts.", {
                "type": "object", "required": ["plant", "first", "last", "scopes"],
                "properties": {"plant": _PLANT_JSON, "first": _DAY, "last": _DAY,
                               "scopes": {"type": "array", "items": _SCOPE}},
            }),
            tags=["energy"],
        ),
        "/api/energy/demand/": openapi.get(
            "energy_demand", "A day's demand blocks, the contract, and today's prediction",
            [_PLANT, openapi.query("day", _DAY, "The day (default: today).")],
            openapi.json_body("The blocks, oldest first; `now` only for today.", {
                "type": "object",
                "required": ["plant", "day", "interval_min", "contracted_peak_kw", "warning_kw",
                             "blocks", "now"],
                "properties": {
                    "plant": _PLANT_JSON, "day": _DAY, "interval_min": {"type": "integer"},
                    "contracted_peak_kw": _NUMBER_OR_NULL, "warning_kw": _NUMBER_OR_NULL,
                    "blocks": {"type": "array", "items": {
                        "type": "object", "required": ["start", "end", "kwh", "kw"],
                        "properties": {"start": openapi.ref("Time"), "end": openapi.ref("Time"),
                                       "kwh": {"type": "number"}, "kw": {"type": "number"}},
                    }},
                    "now": {"oneOf": [{"type": "null"}, _NOW]},
                },
            }),
            tags=["energy"],
        ),
        "/energy/export.csv": openapi.get(
            "energy_export", "The energy API's days and shifts as CSV", _DAYS,
            openapi.csv_body("One row per line (and the plant) and day or shift."),
            tags=["energy"],
        ),
    },
    {"EnergyUsage": _USAGE},
)  # fmt: skip
