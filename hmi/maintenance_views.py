"""Predictive maintenance: the plant's machines by urgency, their health cards, the API, CSV.

Every machine with a vibration monitor (plant.models.VibrationMonitor) gets a card: its zone
(ISO 10816-3), a drift flag, the days to zone C and D with the fit's quality, its bearing
temperature and standing alarms (plant.maintenance computes them). Only machines of plants
the user may see are listed; another plant's machine is a 404, as if it did not exist.
"""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_safe

from hmi import openapi
from hmi.api import api_view, form_error
from hmi.csv_safety import csv_text
from hmi.history_views import iso
from plant import vibration
from plant.maintenance import MachineHealth, MonitorHealth, Reading, machine_health, plant_health
from plant.models import Machine, Plant
from plant.quality import label_of
from plant.queries import visible_plants
from plant.read_replica import reads_history

CSV_COLUMNS = [
    "plant", "line", "machine", "tag", "topic", "class", "value", "unit", "time", "zone",
    "drift", "drift_rise", "days_to_zone_c", "days_to_zone_d", "fit", "r2", "days_fitted",
    "withheld", "bearing_temperature", "bearing_unit", "standing_alarms",
]  # fmt: skip


class MaintenanceForm(forms.Form):
    """The list's one filter: a plant (by id), else every plant the user may see."""

    plant = forms.IntegerField(required=False, min_value=1)


def plants_of(request: HttpRequest) -> tuple[MaintenanceForm, QuerySet[Plant]]:
    """The form and the plants it selects (a form with errors selects none)."""
    form = MaintenanceForm(request.GET)
    plants = visible_plants(request.user)
    if not form.is_valid():
        return form, plants.none()
    if form.cleaned_data["plant"] is not None:
        plants = plants.filter(pk=form.cleaned_data["plant"])
        if not plants.exists():
            raise Http404(f"no plant {form.cleaned_data['plant']} that you may see")
    return form, plants


@require_safe
@reads_history
def maintenance_list(request: HttpRequest) -> HttpResponse:
    """Every monitored machine of the user's plants, the most urgent first."""
    form, plants = plants_of(request)
    if not form.is_valid():
        return render(request, "hmi/maintenance.html", {"form": form}, status=400)
    cards = plant_health(plants, timezone.now())
    context = {"form": form, "cards": cards, "plants": visible_plants(request.user),
               "thresholds": THRESHOLDS}  # fmt: skip
    return render(request, "hmi/maintenance.html", context)


@require_safe
@reads_history
def health_card(request: HttpRequest, pk: int) -> HttpResponse:
    """One machine's health card (the machine screen loads it after the page)."""
    plants = visible_plants(request.user)
    machine = get_object_or_404(Machine.objects.filter(line__plant__in=plants), pk=pk)
    card = machine_health(machine, plants, timezone.now())
    if card is None:
        raise Http404("this machine has no vibration monitor")
    return render(request, "hmi/fragments/health_card.html", {"card": card, "full": True})


@api_view
@reads_history
def maintenance_api(request: HttpRequest) -> HttpResponse:
    """The maintenance list as JSON: each machine's monitors with zone, drift and life."""
    form, plants = plants_of(request)
    if not form.is_valid():
        return form_error(form)
    now = timezone.now()
    cards = plant_health(plants, now)
    return JsonResponse({"time": iso(now), "thresholds": THRESHOLDS,
                         "machines": [card_json(card) for card in cards]})  # fmt: skip


@api_view
@reads_history
def maintenance_csv(request: HttpRequest) -> HttpResponse:
    """The maintenance list as CSV: one line per vibration monitor, most urgent first."""
    form, plants = plants_of(request)
    if not form.is_valid():
        return form_error(form)
    cards = plant_health(plants, timezone.now())
    rows = [csv_row(card, health) for card in cards for health in card.monitors]
    response = HttpResponse(csv_text([CSV_COLUMNS, *rows]), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="maintenance.csv"'
    return response


THRESHOLDS = {
    "drift": {"lambda": vibration.EWMA_LAMBDA, "L": vibration.EWMA_L,
              "baseline_hours": vibration.BASELINE_POINTS,
              "floor_share_of_zone_b": vibration.DRIFT_FLOOR_SHARE},
    "remaining_life": {"min_days": vibration.MIN_LIFE_POINTS, "min_r2": vibration.MIN_R2,
                       "max_extrapolation": vibration.MAX_EXTRAPOLATION},
}  # fmt: skip


def card_json(card: MachineHealth) -> dict[str, object]:
    machine = card.machine
    return {
        "machine": machine.pk, "name": machine.name, "line": machine.line.name,
        "plant": machine.line.plant.slug, "urgency": card.urgency[0],
        "monitors": [monitor_json(health) for health in card.monitors],
    }  # fmt: skip


def monitor_json(health: MonitorHealth) -> dict[str, object]:
    monitor, limits, life, drift = health.monitor, health.limits, health.life, health.drift
    zone = health.zone
    return {
        "tag": monitor.tag_id, "name": monitor.tag.description or monitor.tag.key,
        "class": {"group": monitor.machine_group, "foundation": monitor.foundation},
        "boundaries": {"ab": limits.ab, "bc": limits.bc, "cd": limits.cd},
        **reading_json(health.reading),
        "zone": zone.value if zone else None,
        "zone_meaning": vibration.ZONE_MEANING[zone] if zone else None,
        "drift": None if drift is None else {
            "flagged": drift.flagged, "ewma": drift.ewma, "baseline": drift.baseline,
            "limit": drift.limit, "since": iso(health.drift_since), "hours": drift.points,
        },
        "remaining_life": {
            "shown": life.shown, "withheld": life.withheld, "days_fitted": life.points,
            "fit": life.fit.model if life.fit else None,
            "r2": life.fit.r2 if life.fit else None,
            "days_to_zone_c": life.to_c if life.shown else None,
            "days_to_zone_d": life.to_d if life.shown else None,
            "horizon_days": life.horizon if life.shown else None,
            "zone_c": health.to_c_text() if life.shown else None,
            "zone_d": health.to_d_text() if life.shown else None,
        },
        "bearing_temperature": None if health.bearing is None else {
            "tag": health.bearing.tag.pk, **reading_json(health.bearing),
            "above_normal": health.bearing.above_normal,
        },
        "alarms": [{"id": a.pk, "kind": a.definition.kind, "state": a.state,
                    "priority": a.definition.priority, "message": a.definition.message}
                   for a in health.alarms],
    }  # fmt: skip


def reading_json(reading: Reading) -> dict[str, object]:
    return {
        "value": reading.value,
        "unit": reading.tag.unit,
        "time": iso(reading.time),
        "quality": label_of(reading.quality) if reading.quality is not None else None,
    }


def csv_row(card: MachineHealth, health: MonitorHealth) -> list[object]:
    tag, life, drift, bearing = health.monitor.tag, health.life, health.drift, health.bearing
    line = card.machine.line
    shown = life.shown
    return [
        line.plant.slug, line.slug, card.machine.slug, tag.key, tag.topic,
        health.monitor.class_label, health.reading.value, tag.unit, iso(health.reading.time),
        health.zone or "", "" if drift is None else ("flagged" if drift.flagged else "no"),
        "" if drift is None else round(drift.rise, 4),
        _days(life.to_c) if shown else "", _days(life.to_d) if shown else "",
        life.fit.model if life.fit else "", round(life.fit.r2, 4) if life.fit else "",
        life.points, life.withheld, bearing.value if bearing else "",
        bearing.tag.unit if bearing else "", len(health.alarms),
    ]  # fmt: skip


def _days(days: float | None) -> object:
    return "beyond horizon" if days is None else round(days, 1)


# --- the OpenAPI description of the API (hmi/openapi.py) -----------------------------------

_NUMBER = {"type": "number"}
_NULLABLE_NUMBER = openapi.ref("NullableNumber")
_NULLABLE_TEXT = {"type": ["string", "null"]}
_NULLABLE_TIME = {"oneOf": [openapi.ref("Time"), {"type": "null"}]}
_READING = {
    "value": _NULLABLE_NUMBER,
    "unit": {"type": "string"},
    "time": _NULLABLE_TIME,
    "quality": _NULLABLE_TEXT | {"description": "good, uncertain or bad; null: no value yet."},
}
_MONITOR = {
    "type": "object",
    "required": [
        "tag",
        "name",
        "class",
        "boundaries",
        *_READING,
        "zone",
        "zone_meaning",
        "drift",
        "remaining_life",
        "bearing_temperature",
        "alarms",
    ],
    "properties": {
        "tag": {"type": "integer"},
        "name": {"type": "string"},
        "class": {
            "type": "object",
            "required": ["group", "foundation"],
            "properties": {"group": {"type": "integer"}, "foundation": {"type": "string"}},
        },
        "boundaries": {
            "type": "object",
            "required": ["ab", "bc", "cd"],
            "properties": {"ab": _NUMBER, "bc": _NUMBER, "cd": _NUMBER},
            "description": "ISO 10816-3 zone boundaries, mm/s RMS.",
        },
        **_READING,
        "zone": {"enum": ["A", "B", "C", "D", None]},
        "zone_meaning": _NULLABLE_TEXT,
        "drift": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["flagged", "ewma", "baseline", "limit", "since", "hours"],
                    "properties": {
                        "flagged": {"type": "boolean"},
                        "ewma": _NUMBER,
                        "baseline": _NUMBER,
                        "limit": _NUMBER,
                        "since": _NULLABLE_TIME,
                        "hours": {"type": "integer"},
                    },
                },
            ]
        },
        "remaining_life": {
            "type": "object",
            "required": [
                "shown",
                "withheld",
                "days_fitted",
                "fit",
                "r2",
                "days_to_zone_c",
                "days_to_zone_d",
                "horizon_days",
                "zone_c",
                "zone_d",
            ],
            "properties": {
                "shown": {"type": "boolean"},
                "withheld": {"type": "string", "description": "Why no estimate is shown."},
                "days_fitted": {"type": "integer"},
                "fit": _NULLABLE_TEXT,
                "r2": _NULLABLE_NUMBER,
                "days_to_zone_c": _NULLABLE_NUMBER,
                "days_to_zone_d": _NULLABLE_NUMBER,
                "horizon_days": _NULLABLE_NUMBER,
                "zone_c": _NULLABLE_TEXT,
                "zone_d": _NULLABLE_TEXT,
            },
        },
        "bearing_temperature": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["tag", *_READING, "above_normal"],
                    "properties": {
                        "tag": {"type": "integer"},
                        **_READING,
                        "above_normal": {"type": "boolean"},
                    },
                },
            ]
        },
        "alarms": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "kind", "state", "priority", "message"],
                "properties": {
                    "id": {"type": "integer"},
                    "kind": {"type": "string"},
                    "state": {"type": "string"},
                    "priority": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
_PLANT_FILTER = [
    openapi.query(
        "plant",
        {"type": "integer", "minimum": 1, "maximum": openapi.MAX_ID},
        "Only this plant (default: every plant you may see).",
    )
]
openapi.add_paths(
    {
        "/api/maintenance/": openapi.get(
            "maintenance", "The monitored machines, the most urgent first: zone, drift, "
            "remaining life, bearing temperature and standing alarms", _PLANT_FILTER,
            openapi.json_body("Each machine's vibration monitors.", {
                "type": "object", "required": ["time", "thresholds", "machines"],
                "properties": {
                    "time": openapi.ref("Time"),
                    "thresholds": {"type": "object", "required": ["drift", "remaining_life"]},
                    "machines": {"type": "array", "items": {
                        "type": "object",
                        "required": ["machine", "name", "line", "plant", "urgency", "monitors"],
                        "properties": {
                            "machine": {"type": "integer"}, "name": {"type": "string"},
                            "line": {"type": "string"}, "plant": {"type": "string"},
                            "urgency": {"type": "integer"},
                            "monitors": {"type": "array", "items": openapi.ref("Monitor")},
                        },
                    }},
                },
            }),
            tags=["maintenance"],
        ),
        "/maintenance/export.csv": openapi.get(
            "maintenance_export", "The maintenance list as CSV", _PLANT_FILTER,
            openapi.csv_body("One row per vibration monitor, the most urgent first."),
            tags=["maintenance"],
        ),
    },
    {"Monitor": _MONITOR},
)  # fmt: skip
