"""The OEE screens, API and export: per machine and line, for the current shift (live), any past
shift, day or week; the state timeline, the losses and their Pareto, and the stops' reasons.

A machine or line of another plant is a 404, as on every screen. Giving a stop a reason is an
operator's (plant.actions.oee checks it again); changing one is a supervisor's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from hmi import openapi
from hmi.api import api_view, form_error
from hmi.csv_safety import csv_text
from hmi.history_views import iso
from hmi.oee_forms import PERIODS, PeriodForm, SubjectForm, parse_started_at
from plant import oee
from plant.actions.oee import RETAG_PERMISSION, TAG_PERMISSION, do_tag_stop
from plant.models import Line, OeeMachine, StopReason
from plant.oee import KINDS, LABELS, Category, Figures
from plant.oee_queries import MachineOee, Period, Stop, line_oee, machine_oee, resolve_period
from plant.queries import visible_plants
from plant.read_replica import reads_history
from plant.shifts import shift_at

REFRESH_S = 15  # the live shift's panel is fetched again this often


def oee_machines(user: User | AnonymousUser) -> QuerySet[OeeMachine]:
    """The OEE configurations of every machine the user may see, with what a screen reads."""
    return (
        OeeMachine.objects.filter(machine__line__plant__in=visible_plants(user))
        .select_related(
            "machine__line__plant", "state_tag", "produced_tag", "rejected_tag", "product_tag"
        )
        .prefetch_related("states", "products")
        .order_by("machine__line__plant__name", "machine__line__position", "machine__position")
    )


def visible_lines(user: User | AnonymousUser) -> QuerySet[Line]:
    return Line.objects.select_related("plant").filter(plant__in=visible_plants(user))


def period_of(line: Line, query: dict[str, Any], now: datetime) -> Period:
    return resolve_period(line, query["period"], now, day=query.get("date"),
                          shift=query.get("shift") or "", start=query.get("start"),
                          end=query.get("end"))  # fmt: skip


@require_safe
@reads_history
def oee_overview(request: HttpRequest) -> HttpResponse:
    """Every machine with OEE, its current shift's A, P, Q and OEE, by plant and line."""
    now = timezone.now()
    rows = []
    for config in oee_machines(request.user):
        period = resolve_period(config.machine.line, "shift", now)
        rows.append((config, period, machine_oee(config, period.windows, now)))
    return render(request, "hmi/oee.html", {"rows": rows, "now": now, "refresh_s": REFRESH_S})


def _machine_context(request: HttpRequest, pk: int) -> dict[str, Any]:
    config = get_object_or_404(oee_machines(request.user), machine__pk=pk)
    form = PeriodForm(request.GET)
    now = timezone.now()
    query = form.cleaned_data if form.is_valid() else {"period": "shift"}
    machine = config.machine
    period = period_of(machine.line, query, now)
    result = machine_oee(config, period.windows, now)
    reasons = StopReason.objects.filter(plant=machine.line.plant, active=True)
    user = request.user
    return {
        "config": config, "machine": machine, "line": machine.line, "plant": machine.line.plant,
        "form": form, "period": period, "result": result, "now": now,
        "live": period.live(now), "refresh_s": REFRESH_S, "query": request.GET.urlencode(),
        "reasons": list(reasons), "may_tag": user.has_perm(TAG_PERMISSION),
        "may_retag": user.has_perm(RETAG_PERMISSION),
        "bars": timeline_bars(result, period), "pareto": pareto_rows(result),
        "tiles": tiles(result.total if result else None),
    }  # fmt: skip


@require_safe
@reads_history
def oee_machine(request: HttpRequest, pk: int) -> HttpResponse:
    """A machine's OEE over a period, with its timeline, losses and stops."""
    context = _machine_context(request, pk)
    status = 200 if context["form"].is_valid() else 400
    return render(request, "hmi/oee_machine.html", context, status=status)


@require_safe
@reads_history
def oee_machine_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The machine page's panel alone, as its htmx poll fetches it while the shift runs."""
    return render(request, "hmi/fragments/oee_panel.html", _machine_context(request, pk))


@require_safe
@reads_history
def oee_line(request: HttpRequest, pk: int) -> HttpResponse:
    """A line's OEE (its bottleneck's, or its machines' together) and each machine's."""
    line = get_object_or_404(visible_lines(request.user), pk=pk)
    form = PeriodForm(request.GET)
    now = timezone.now()
    query = form.cleaned_data if form.is_valid() else {"period": "shift"}
    period = period_of(line, query, now)
    machines = [(c, machine_oee(c, period.windows, now))
                for c in oee_machines(request.user).filter(machine__line=line)]  # fmt: skip
    total = line_oee(line, period.windows, now)
    context = {"line": line, "plant": line.plant, "form": form, "period": period,
               "machines": machines, "tiles": tiles(total), "total": total,
               "bottleneck": next((c for c, _ in machines if c.is_bottleneck), None)}  # fmt: skip
    return render(request, "hmi/oee_line.html", context, status=200 if form.is_valid() else 400)


@require_POST
def tag_stop(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Give a stop of the machine a reason (or change it): the stop must be one its timeline
    shows, in the shift it began in."""
    if not request.user.has_perm(TAG_PERMISSION):
        raise PermissionDenied
    config = get_object_or_404(oee_machines(request.user), machine__pk=pk)
    machine = config.machine
    started_at = parse_started_at(request.POST.get("started_at", ""))
    reason = StopReason.objects.filter(
        pk=int(request.POST["reason"]) if request.POST.get("reason", "").isdigit() else 0,
        plant=machine.line.plant, active=True,
    ).first()  # fmt: skip
    now = timezone.now()
    stop = _stop_at(config, started_at, now) if started_at is not None else None
    if stop is None or reason is None:
        what = "a reason of this plant" if stop is not None else "a stop this machine had"
        return HttpResponse(f"Choose {what}.", status=400, content_type="text/plain")
    try:
        do_tag_stop(machine, stop.start, reason, by=request.user, ended_at=stop.end,
                    comment=request.POST.get("comment", ""), now=now)  # fmt: skip
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain")
    back = request.POST.get("back", "")
    target = reverse("hmi:oee_machine", args=[pk]) + (f"?{back}" if back else "")
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


def _stop_at(config: OeeMachine, started_at: datetime, now: datetime) -> Stop | None:
    """The stop of the machine's timeline that began at `started_at`, as the shift it began in
    shows it, or (for one cut by a shift's start) the day around it."""
    if started_at > now:
        return None
    line = config.machine.line
    window = shift_at(line.plant, started_at, line=line)
    day = timedelta(days=1)
    ranges = [[window]] if window is not None else []
    ranges.append(resolve_period(line, "range", now, start=started_at - day,
                                 end=min(started_at + day, now)).windows)  # fmt: skip
    for windows in ranges:
        result = machine_oee(config, windows, now)
        stop = next((s for s in result.stops if s.start == started_at), None) if result else None
        if stop is not None:
            return stop
    return None


@api_view
@reads_history
def oee_api(request: HttpRequest) -> HttpResponse:
    """A machine's or line's OEE over a period as JSON (times in UTC, durations in seconds)."""
    form = SubjectForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    query = form.cleaned_data
    now = timezone.now()
    if query.get("machine") is not None:
        config = _config_or_404(request, query["machine"])
        period = period_of(config.machine.line, query, now)
        result = machine_oee(config, period.windows, now)
        return JsonResponse(machine_json(config, period, result, now))
    line = _line_or_404(request, query["line"])
    period = period_of(line, query, now)
    machines = [(c, machine_oee(c, period.windows, now))
                for c in oee_machines(request.user).filter(machine__line=line)]  # fmt: skip
    total = line_oee(line, period.windows, now)
    return JsonResponse({
        "line": {"id": line.pk, "name": line.name, "plant": line.plant.name,
                 "time_zone": line.plant.time_zone},
        "period": period_json(period, now),
        "method": "bottleneck" if any(c.is_bottleneck for c, _ in machines) else "sum",
        "oee": figures_json(total),
        "losses": losses_json(total),
        "machines": [machine_json(c, period, r, now) | {"timeline": None, "stops": None}
                     for c, r in machines],
    })  # fmt: skip


def _config_or_404(request: HttpRequest, machine_id: int) -> OeeMachine:
    config = oee_machines(request.user).filter(machine__pk=machine_id).first()
    if config is None:
        raise Http404(f"no machine {machine_id} with OEE that you may see")
    return config


def _line_or_404(request: HttpRequest, line_id: int) -> Line:
    line = visible_lines(request.user).filter(pk=line_id).first()
    if line is None:
        raise Http404(f"no line {line_id} that you may see")
    return line


def period_json(period: Period, now: datetime) -> dict[str, Any]:
    return {"kind": period.kind, "label": period.label, "start": iso(period.start),
            "end": iso(period.end), "live": period.live(now)}  # fmt: skip


def figures_json(found: Figures | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "availability": found.availability, "performance": found.performance,
        "quality": found.quality, "oee": found.oee, "over_speed": found.over_speed,
        "planned_busy_s": found.planned_busy_s, "run_s": found.run_s, "ideal_s": found.ideal_s,
        "produced": found.produced, "good": found.good, "rejected": found.produced - found.good,
    }  # fmt: skip


def losses_json(found: Figures | None) -> list[dict[str, Any]]:
    if found is None:
        return []
    return [{"category": c.value, "label": LABELS[c], "kind": KINDS[c].value, "seconds": s}
            for c, s in found.losses.items() if s > 0]  # fmt: skip


def machine_json(
    config: OeeMachine, period: Period, result: MachineOee | None, now: datetime
) -> dict[str, Any]:
    machine = config.machine
    total = result.total if result else None
    return {
        "machine": {"id": machine.pk, "name": machine.name, "line": machine.line.name,
                    "plant": machine.line.plant.name, "time_zone": machine.line.plant.time_zone,
                    "ideal_cycle_s": config.base_cycle_s, "microstop_s": config.microstop_s},
        "period": period_json(period, now),
        "oee": figures_json(total),
        "losses": losses_json(total),
        "pareto": [{"category": c.value, "label": LABELS[c], "seconds": s, "cumulative": share}
                   for c, s, share in (oee.pareto(total.losses) if total else [])],
        "shifts": [{"name": w.name, "start": iso(w.start), "end": iso(w.end)} | (figures_json(f)
                   or {}) for w, f in (result.shifts if result else [])],
        "timeline": [{"start": iso(i.start), "end": iso(i.end), "state": i.state,
                      "category": i.category.value} for i in (result.timeline if result else [])],
        "stops": [stop_json(s) for s in (result.stops if result else [])],
    }  # fmt: skip


def stop_json(stop: Stop) -> dict[str, Any]:
    reason = stop.reason
    return {
        "start": iso(stop.start), "end": iso(stop.end), "seconds": stop.seconds,
        "category": stop.category.value, "label": LABELS[stop.category],
        "reason": reason.reason.name if reason else None,
        "comment": reason.comment if reason else None,
        "tagged_by": reason.tagged_by.get_username() if reason and reason.tagged_by else None,
        "tagged_at": iso(reason.tagged_at) if reason else None,
    }  # fmt: skip


CSV_HEAD = ["plant", "line", "machine", "shift", "start", "end", "availability", "performance",
            "quality", "oee", "planned_busy_s", "run_s", "ideal_s", "produced", "good",
            *[f"{c.value}_s" for c in Category]]  # fmt: skip


@api_view
@reads_history
def oee_export(request: HttpRequest) -> HttpResponse:
    """The figures of each shift of the period (and their total) as CSV, per machine."""
    form = SubjectForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    query = form.cleaned_data
    now = timezone.now()
    if query.get("machine") is not None:
        configs = [_config_or_404(request, query["machine"])]
        line = configs[0].machine.line
    else:
        line = _line_or_404(request, query["line"])
        configs = list(oee_machines(request.user).filter(machine__line=line))
    period = period_of(line, query, now)
    response = HttpResponse(csv_text([CSV_HEAD, *csv_rows(configs, period, now)]),
                            content_type="text/csv; charset=utf-8")  # fmt: skip
    response["Content-Disposition"] = (
        f'attachment; filename="oee-{period.start.astimezone(UTC):%Y%m%dT%H%M%SZ}.csv"'
    )
    return response


def csv_rows(configs: list[OeeMachine], period: Period, now: datetime) -> Iterator[list[Any]]:
    for config in configs:
        result = machine_oee(config, period.windows, now)
        if result is None:
            continue
        machine = config.machine
        lead = [machine.line.plant.name, machine.line.name, machine.name]
        for window, found in [*result.shifts, (None, result.total)]:
            name = window.name if window else f"total: {period.label}"
            start, end = (window.start, window.end) if window else (result.start, result.end)
            yield [*lead, name, iso(start), iso(end), *_csv_figures(found)]


def _csv_figures(found: Figures) -> list[Any]:
    return [found.availability, found.performance, found.quality, found.oee,
            found.planned_busy_s, found.run_s, found.ideal_s, found.produced, found.good,
            *[found.losses.get(c, 0.0) for c in Category]]  # fmt: skip


# --- what the templates draw -------------------------------------------------------------------


def tiles(found: Figures | None) -> list[tuple[str, str, float | None]]:
    """A, P, Q and OEE as (id, label, value 0..1 or None)."""
    if found is None:
        return [(k, label, None) for k, label in TILE_NAMES]
    values = [found.availability, found.performance, found.quality, found.oee]
    return [(k, label, v) for (k, label), v in zip(TILE_NAMES, values, strict=True)]


TILE_NAMES = [("availability", "Availability"), ("performance", "Performance"),
              ("quality", "Quality"), ("oee", "OEE")]  # fmt: skip


def timeline_bars(result: MachineOee | None, period: Period) -> list[dict[str, Any]]:
    """The state timeline as bars: left and width in % of the period, kind and category."""
    if result is None or period.end <= period.start:
        return []
    total = (period.end - period.start).total_seconds()
    return [{"left": (i.start - period.start).total_seconds() / total * 100,
             "width": i.seconds / total * 100, "kind": i.kind.value,
             "category": i.category.value, "label": LABELS[i.category], "interval": i}
            for i in result.timeline]  # fmt: skip


def pareto_rows(result: MachineOee | None) -> list[dict[str, Any]]:
    """The Pareto of the losses: each bar's share of the largest, and the cumulative line."""
    if result is None:
        return []
    rows = oee.pareto(result.total.losses)
    largest = rows[0][1] if rows else 1.0
    return [{"category": c.value, "label": LABELS[c], "seconds": s, "height": s / largest * 100,
             "cumulative": share * 100} for c, s, share in rows]  # fmt: skip


# --- the OpenAPI description of the API (hmi/openapi.py) -----------------------------------

_NUMBER = {"type": "number"}
_NULLABLE_NUMBER = openapi.ref("NullableNumber")
_NULLABLE_TEXT = {"type": ["string", "null"]}
_ID = {"type": "integer", "minimum": 1, "maximum": openapi.MAX_ID}
_PARAMETERS = [
    openapi.query("machine", _ID, "A machine with OEE (give machine or line, one of them)."),
    openapi.query("line", _ID, "A line (give machine or line, one of them)."),
    openapi.query(
        "period",
        {"enum": [key for key, _ in PERIODS]},
        "shift (the default: the one running now, or a named one of `date`), day, "
        "week (the ISO week of `date`), or range (`start` to `end`, 31 days at most).",
    ),
    openapi.query("date", {"type": "string", "format": "date"}, "A day of the plant's clock."),
    openapi.query("shift", {"type": "string", "maxLength": 50}, "A shift's name on `date`."),
    openapi.query("start", openapi.ref("Time"), "Start of a range."),
    openapi.query("end", openapi.ref("Time"), "End of a range, exclusive."),
]
_FIGURES_PROPERTIES = {
    "availability": _NULLABLE_NUMBER,
    "performance": _NULLABLE_NUMBER,
    "quality": _NULLABLE_NUMBER,
    "oee": _NULLABLE_NUMBER,
    "over_speed": {"type": "boolean"},
    "planned_busy_s": _NUMBER,
    "run_s": _NUMBER,
    "ideal_s": _NUMBER,
    "produced": _NUMBER,
    "good": _NUMBER,
    "rejected": _NUMBER,
}
_FIGURES = {
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "required": list(_FIGURES_PROPERTIES),
            "properties": _FIGURES_PROPERTIES,
        },
    ]
}
_PERIOD = {
    "type": "object",
    "required": ["kind", "label", "start", "end", "live"],
    "properties": {
        "kind": {"type": "string"},
        "label": {"type": "string"},
        "start": openapi.ref("Time"),
        "end": openapi.ref("Time"),
        "live": {"type": "boolean"},
    },
}
_LOSSES = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["category", "label", "kind", "seconds"],
        "properties": {
            "category": {"type": "string"},
            "label": {"type": "string"},
            "kind": {"type": "string"},
            "seconds": _NUMBER,
        },
    },
}
_TIMELINE = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["start", "end", "state", "category"],
        "properties": {
            "start": openapi.ref("Time"),
            "end": openapi.ref("Time"),
            "state": _NULLABLE_TEXT | {"description": "null: no data."},
            "category": {"type": "string"},
        },
    },
}
_STOPS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": [
            "start",
            "end",
            "seconds",
            "category",
            "label",
            "reason",
            "comment",
            "tagged_by",
            "tagged_at",
        ],
        "properties": {
            "start": openapi.ref("Time"),
            "end": openapi.ref("Time"),
            "seconds": _NUMBER,
            "category": {"type": "string"},
            "label": {"type": "string"},
            "reason": _NULLABLE_TEXT,
            "comment": _NULLABLE_TEXT,
            "tagged_by": _NULLABLE_TEXT,
            "tagged_at": {"oneOf": [openapi.ref("Time"), {"type": "null"}]},
        },
    },
}
_MACHINE = {
    "type": "object",
    "required": ["machine", "period", "oee", "losses", "pareto", "shifts", "timeline", "stops"],
    "properties": {
        "machine": {
            "type": "object",
            "required": [
                "id",
                "name",
                "line",
                "plant",
                "time_zone",
                "ideal_cycle_s",
                "microstop_s",
            ],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "line": {"type": "string"},
                "plant": {"type": "string"},
                "time_zone": {"type": "string"},
                "ideal_cycle_s": _NUMBER,
                "microstop_s": _NUMBER,
            },
        },
        "period": _PERIOD,
        "oee": _FIGURES,
        "losses": _LOSSES,
        "pareto": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["category", "label", "seconds", "cumulative"],
                "properties": {
                    "category": {"type": "string"},
                    "label": {"type": "string"},
                    "seconds": _NUMBER,
                    "cumulative": _NUMBER,
                },
            },
        },
        "shifts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "start", "end"],
                "properties": {
                    "name": {"type": "string"},
                    "start": openapi.ref("Time"),
                    "end": openapi.ref("Time"),
                    **_FIGURES_PROPERTIES,
                },
            },
        },
        "timeline": {"oneOf": [{"type": "null"}, _TIMELINE]},
        "stops": {"oneOf": [{"type": "null"}, _STOPS]},
    },
}
_LINE = {
    "type": "object",
    "required": ["line", "period", "method", "oee", "losses", "machines"],
    "properties": {
        "line": {
            "type": "object",
            "required": ["id", "name", "plant", "time_zone"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "plant": {"type": "string"},
                "time_zone": {"type": "string"},
            },
        },
        "period": _PERIOD,
        "method": {"enum": ["bottleneck", "sum"]},
        "oee": _FIGURES,
        "losses": _LOSSES,
        "machines": {
            "type": "array",
            "items": openapi.ref("MachineOee"),
            "description": "Each machine's figures, without timeline and stops.",
        },
    },
}
openapi.add_paths(
    {
        "/api/oee/": openapi.get(
            "oee", "A machine's or a line's OEE over a shift, day, week or range (times in "
            "UTC, durations in seconds)", _PARAMETERS,
            openapi.json_body("A machine's figures, shifts, timeline and stops; or a line's "
                              "figures and its machines'.",
                              {"oneOf": [openapi.ref("MachineOee"), _LINE]}),
            tags=["oee"],
        ),
        "/oee/export.csv": openapi.get(
            "oee_export", "Each shift's figures of the period (and their total) as CSV",
            _PARAMETERS, openapi.csv_body("One row per machine and shift, then the total."),
            tags=["oee"],
        ),
    },
    {"MachineOee": _MACHINE},
)  # fmt: skip
