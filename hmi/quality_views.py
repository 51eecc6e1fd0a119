"""The quality screens (/quality/), their JSON API (/api/quality/) and the hourly CSV export.

A tag with SPC settings (plant.models.SpcSettings) gets a screen: its I-MR chart of the latest
values and the X̄–R chart of the last hour (polled every 5 s), Cp/Cpk and the ℮ batch of each
hour (plant.spc_history, in SQL), and the recommended fill-level setpoint with a button that
opens the tag's setpoint panel pre-filled: the operator's own reviewed write through the
audited path. Every view shows only tags of plants the user may see; another plant's tag is
answered as if it did not exist.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from hmi import openapi, spc_charts
from hmi.api import api_view, form_error
from hmi.csv_safety import csv_text
from hmi.history_views import _stream, iso
from hmi.quality_forms import ChartForm, QualityRangeForm
from plant import spc, spc_history
from plant.models import LatestValue, SpcSettings
from plant.queries import format_value, visible_plants
from plant.read_replica import reads_history
from plant.spc_tags import FLAG_SUFFIX, RULES_SUFFIX

LIVE_POINTS = 100  # the I-MR chart's window of latest values
DAY = timedelta(hours=24)


def visible_settings(user: User | AnonymousUser) -> QuerySet[SpcSettings]:
    """The SPC settings of every tag in a plant the user may see."""
    plants = visible_plants(user)
    return SpcSettings.objects.filter(tag__machine__line__plant__in=plants).select_related(
        "tag__machine__line__plant", "tag__setpoint_tag"
    )


def settings_or_404(user: User | AnonymousUser, tag_id: int) -> SpcSettings:
    found = visible_settings(user).filter(tag_id=tag_id).first()
    if found is None:
        raise Http404(f"no tag {tag_id} with SPC settings that you may see")
    return found


@require_safe
@reads_history
def quality_index(request: HttpRequest) -> HttpResponse:
    """Every tag with SPC settings the user may see, with its run-rule state."""
    rows = list(
        visible_settings(request.user).order_by("tag__machine__line__plant__name", "tag_id")
    )
    return render(request, "hmi/quality.html", {"rows": [(row, rule_state(row)) for row in rows]})


@require_safe
@reads_history
def quality_tag(request: HttpRequest, pk: int) -> HttpResponse:
    """One tag's quality screen; its two fragments load and refresh themselves."""
    settings = settings_or_404(request.user, pk)
    tag, tne = settings.tag, spc_history.tne_of(settings)
    return render(request, "hmi/quality_tag.html", {
        "spc": settings, "tag": tag, "plant": tag.machine.line.plant, "tne": f"{tne:g}",
        "t1": f"{settings.nominal - tne:g}", "t2": f"{settings.nominal - 2 * tne:g}",
        **live_context(settings, timezone.now()),
        **hours_context(request, settings, timezone.now()),
    })  # fmt: skip


@require_safe
@reads_history
def quality_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The charts and the run-rule state (polled every 5 s)."""
    settings = settings_or_404(request.user, pk)
    context = {"spc": settings, "tag": settings.tag, **live_context(settings, timezone.now())}
    return render(request, "hmi/fragments/quality_live.html", context)


@require_safe
@reads_history
def quality_hours(request: HttpRequest, pk: int) -> HttpResponse:
    """Cp/Cpk and the ℮ batch per hour, and the recommended setpoint (polled every minute)."""
    settings = settings_or_404(request.user, pk)
    context = {"spc": settings, "tag": settings.tag,
               **hours_context(request, settings, timezone.now())}  # fmt: skip
    return render(request, "hmi/fragments/quality_hours.html", context)


def rule_state(settings: SpcSettings) -> dict[str, Any]:
    """The run-rule flag as the worker last wrote it (plant.spc_tags), and when."""
    keys = [f"{settings.tag.key}{FLAG_SUFFIX}", f"{settings.tag.key}{RULES_SUFFIX}"]
    latest = {
        v.tag.key: v
        for v in LatestValue.objects.filter(tag__machine=settings.tag.machine_id, tag__key__in=keys)
        .select_related("tag")
    }  # fmt: skip
    flag, rules = latest.get(keys[0]), latest.get(keys[1])
    text = (rules.text or "") if rules else ""
    words = [spc.RULE_TEXT[int(r)] for r in text.split(", ") if r.isdigit()
             and int(r) in spc.RULE_TEXT]  # fmt: skip
    return {"known": flag is not None, "broken": bool(flag and flag.value),
            "at": flag.time if flag else None, "rules": text, "words": words}  # fmt: skip


# --- charts -------------------------------------------------------------------------------


def live_context(settings: SpcSettings, now: datetime) -> dict[str, Any]:
    tag = settings.tag
    recent = [v for _, v in spc_history.latest_values(tag.pk, now, LIVE_POINTS)]
    hour = [v for _, v in spc_history.values(tag.pk, now - timedelta(hours=1), now)]
    charts = charts_json(settings, recent, hour)
    return {"charts": {name: _svg(tag.pk, name, chart, tag.precision)
                       for name, chart in charts.items()},
            "chart_data": charts, "rule": rule_state(settings)}  # fmt: skip


def charts_json(settings: SpcSettings, recent: list[float], hour: list[float]) -> dict[str, Any]:
    """The I-MR chart of `recent` (limits from `hour`), and the X̄–R chart of `hour`."""
    out: dict[str, Any] = {"individuals": None, "moving_range": None, "xbar": None, "range": None}
    reference = hour if len(hour) >= 2 else recent
    if len(reference) >= 2 and len(recent) >= 2:
        limits = spc.individuals(reference)
        ranges = [abs(b - a) for a, b in itertools.pairwise(recent)]
        out["individuals"] = _chart(recent, limits.center, limits.ucl, limits.lcl, limits.sigma,
                                    settings.rules, n=1, settings=settings)  # fmt: skip
        out["moving_range"] = {"points": ranges, "center": limits.mr_bar, "ucl": limits.mr_ucl,
                               "lcl": None, "flagged": {}}  # fmt: skip
    n = settings.subgroup_size
    if len(hour) >= n:
        xbar = spc.xbar_r(hour, n)
        sigma = xbar.sigma_within / math.sqrt(n)
        means = [g.mean for g in xbar.subgroups]
        out["xbar"] = _chart(means, xbar.grand_mean, xbar.ucl, xbar.lcl, sigma, settings.rules,
                             n=n, settings=settings)  # fmt: skip
        out["range"] = {"points": [g.range for g in xbar.subgroups], "center": xbar.r_bar,
                        "ucl": xbar.r_ucl, "lcl": xbar.r_lcl, "flagged": {}}  # fmt: skip
    return out


def _chart(
    points: list[float], center: float, ucl: float, lcl: float, sigma: float, rules: list[int],
    *, n: int, settings: SpcSettings,
) -> dict[str, Any]:  # fmt: skip
    center = settings.center_line if settings.center_line is not None else center
    if settings.sigma is not None:
        sigma = settings.sigma / math.sqrt(n)
        ucl, lcl = center + 3 * sigma, center - 3 * sigma
    verdicts = spc.broken_rules(points, center, sigma, rules) if sigma > 0 else [()] * len(points)
    flagged = {i: ", ".join(map(str, v)) for i, v in enumerate(verdicts) if v}
    return {"points": points, "center": center, "ucl": ucl, "lcl": lcl, "sigma": sigma,
            "flagged": flagged}  # fmt: skip


TITLES = {
    "individuals": "Individual values (I chart)",
    "moving_range": "Moving range (MR chart)",
    "xbar": "Subgroup means of the last hour (X̄ chart)",
    "range": "Subgroup ranges of the last hour (R chart)",
}


def _svg(tag_id: int, name: str, chart: dict[str, Any] | None, precision: int) -> Any:
    if chart is None:
        return spc_charts.empty("Not enough values yet.")
    flagged = {i: f"Nelson rule {rules} broken" for i, rules in chart["flagged"].items()}
    return spc_charts.svg(spc_charts.Chart(
        chart_id=f"spc-{name}-{tag_id}", title=TITLES[name], points=chart["points"],
        center=chart["center"], ucl=chart["ucl"], lcl=chart["lcl"], precision=precision,
        flagged=flagged,
    ))  # fmt: skip


# --- hours and the recommended setpoint ---------------------------------------------------


def hours_context(request: HttpRequest, settings: SpcSettings, now: datetime) -> dict[str, Any]:
    hours = spc_history.hourly(settings, now - DAY, now)
    zone = ZoneInfo(settings.tag.machine.line.plant.time_zone)
    return {
        "hours": [(h, h.hour.astimezone(zone)) for h in reversed(hours)],
        "recommendation": recommendation(settings, hours, now),
    }


def recommendation(
    settings: SpcSettings, hours: list[spc_history.HourStats], now: datetime
) -> dict[str, Any] | None:
    """The target mean the last complete hour's spread asks for, and how to apply it."""
    current_hour = now - timedelta(minutes=now.minute, seconds=now.second,
                                   microseconds=now.microsecond)  # fmt: skip
    done = [h for h in hours if h.hour < current_hour and h.n >= 2] or [
        h for h in hours if h.n >= 2
    ]
    if not done:
        return None
    basis = done[-1]
    setpoint = settings.tag.setpoint_tag
    precision = setpoint.precision if setpoint is not None else settings.tag.precision
    step = 10.0**-precision
    target = math.ceil(round(basis.recommended / step, 6)) * step  # never below the need
    current = LatestValue.objects.filter(tag=setpoint).first() if setpoint else None
    reason = (f"SPC: σ {basis.sigma_overall:.2f} in the hour from {basis.hour:%H:%M} UTC asks "
              f"for a mean of at least {target:.{precision}f}")  # fmt: skip
    panel = None
    if setpoint is not None and setpoint.writable:
        query = urlencode({"value": f"{target:.{precision}f}", "reason": reason[:200]})
        panel = f"{reverse('hmi:setpoint_panel', args=[setpoint.pk])}?{query}"
    return {
        "basis": basis, "target": target, "target_text": f"{target:.{precision}f}",
        "setpoint": setpoint, "current": current,
        "current_text": (
            f"{format_value(setpoint, current.value, current.text)} {setpoint.unit}".strip()
            if setpoint and current else "—"
        ),
        "panel_url": panel, "reason": reason,
    }  # fmt: skip


# --- API and export -----------------------------------------------------------------------


def spec_json(settings: SpcSettings) -> dict[str, Any]:
    tne = spc_history.tne_of(settings)
    return {"tag": settings.tag_id, "unit": settings.tag.unit, "lsl": settings.lsl,
            "usl": settings.usl, "nominal": settings.nominal, "tne": tne,
            "t1": settings.nominal - tne, "t2": settings.nominal - 2 * tne,
            "e_marked": settings.e_marked, "subgroup_size": settings.subgroup_size,
            "rules": sorted(settings.rules), "rules_chart": settings.rules_chart}  # fmt: skip


def hour_json(hour: spc_history.HourStats) -> dict[str, Any]:
    batch = hour.batch
    return {
        "hour": iso(hour.hour), "n": hour.n, "mean": hour.mean,
        "sigma_overall": hour.sigma_overall, "sigma_within": hour.sigma_within,
        "subgroups": hour.subgroups, "cp": hour.cp, "cpk": hour.cpk, "pp": hour.pp,
        "ppk": hour.ppk, "recommended_target": hour.recommended,
        "e_rule": {"compliant": batch.compliant, "mean_ok": batch.mean_ok,
                   "below_t1": batch.below_t1, "t1_ok": batch.t1_ok,
                   "below_t2": batch.below_t2, "t2_ok": batch.t2_ok,
                   "problems": batch.problems},
    }  # fmt: skip


@api_view
@reads_history
def quality_api(request: HttpRequest) -> HttpResponse:
    """Per hour of a range (default the last 24 h, at most 2 days): capability and ℮ batch."""
    form = QualityRangeForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    query = form.cleaned_data
    settings = settings_or_404(request.user, query["tag"])
    hours = spc_history.hourly(settings, query["start"], query["end"])
    return JsonResponse({"start": iso(query["start"]), "end": iso(query["end"]),
                         "spec": spec_json(settings), "rule": _rule_json(settings),
                         "hours": [hour_json(h) for h in hours]})  # fmt: skip


def _rule_json(settings: SpcSettings) -> dict[str, Any]:
    state = rule_state(settings)
    return {"broken": state["broken"], "rules": state["rules"], "time": iso(state["at"])}


@api_view
@reads_history
def quality_chart_api(request: HttpRequest) -> HttpResponse:
    """The I-MR and X̄–R charts of a range (default the last hour, at most a day)."""
    form = ChartForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    query = form.cleaned_data
    settings = settings_or_404(request.user, query["tag"])
    values = [v for _, v in spc_history.values(settings.tag_id, query["start"], query["end"])]
    charts = charts_json(settings, values, values)
    for chart in charts.values():
        if chart is not None:
            chart["flagged"] = {str(i): rules for i, rules in chart["flagged"].items()}
    return JsonResponse({"start": iso(query["start"]), "end": iso(query["end"]),
                         "spec": spec_json(settings), "n": len(values), **charts})  # fmt: skip


CSV_HEAD = [
    "tag", "hour", "local_hour", "n", "mean", "sigma_overall", "sigma_within", "cp", "cpk",
    "pp", "ppk", "below_t1", "below_t2", "e_compliant", "recommended_target",
]  # fmt: skip


@api_view
@reads_history
def quality_export(request: HttpRequest) -> HttpResponseBase:
    """The hours of a range as CSV: capability, ℮ batch, recommended target."""
    form = QualityRangeForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    query = form.cleaned_data
    settings = settings_or_404(request.user, query["tag"])
    hours = spc_history.hourly(settings, query["start"], query["end"])
    response = StreamingHttpResponse(_stream(_csv(settings, hours)),
                                     content_type="text/csv; charset=utf-8")  # fmt: skip
    stamp = query["start"].strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="quality-{stamp}.csv"'
    return response


def _csv(settings: SpcSettings, hours: list[spc_history.HourStats]) -> Iterator[str]:
    zone = ZoneInfo(settings.tag.machine.line.plant.time_zone)
    yield csv_text([CSV_HEAD])
    yield csv_text(
        [settings.tag_id, iso(h.hour), h.hour.astimezone(zone).isoformat(), h.n, h.mean,
         h.sigma_overall, h.sigma_within, h.cp, h.cpk, h.pp, h.ppk, h.batch.below_t1,
         h.batch.below_t2, h.batch.compliant, h.recommended]
        for h in hours
    )  # fmt: skip


# --- the OpenAPI description of the API (hmi/openapi.py) -----------------------------------

_NUMBER = {"type": "number"}
_NULLABLE_NUMBER = openapi.ref("NullableNumber")
_RANGE_PARAMETERS = [
    openapi.query(
        "tag",
        {"type": "integer", "minimum": 1, "maximum": openapi.MAX_ID},
        "The SPC-watched tag's id.",
        required=True,
    ),
    openapi.query("start", openapi.ref("Time"), "Start of the range (default: end - the span)."),
    openapi.query("end", openapi.ref("Time"), "End of the range, exclusive (default: now)."),
]
_SPEC = {
    "type": "object",
    "required": [
        "tag",
        "unit",
        "lsl",
        "usl",
        "nominal",
        "tne",
        "t1",
        "t2",
        "e_marked",
        "subgroup_size",
        "rules",
        "rules_chart",
    ],
    "properties": {
        "tag": {"type": "integer"},
        "unit": {"type": "string"},
        "lsl": _NUMBER,
        "usl": _NUMBER,
        "nominal": _NUMBER,
        "tne": _NUMBER | {"description": "Tolerable negative error."},
        "t1": _NUMBER,
        "t2": _NUMBER,
        "e_marked": {"type": "boolean"},
        "subgroup_size": {"type": "integer"},
        "rules": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "The Nelson rules watched.",
        },
        "rules_chart": {"type": "string"},
    },
}
_HOUR = {
    "type": "object",
    "required": [
        "hour",
        "n",
        "mean",
        "sigma_overall",
        "sigma_within",
        "subgroups",
        "cp",
        "cpk",
        "pp",
        "ppk",
        "recommended_target",
        "e_rule",
    ],
    "properties": {
        "hour": openapi.ref("Time"),
        "n": {"type": "integer"},
        "mean": _NUMBER,
        "sigma_overall": _NUMBER,
        "sigma_within": _NULLABLE_NUMBER,
        "subgroups": {"type": "integer"},
        "cp": _NULLABLE_NUMBER,
        "cpk": _NULLABLE_NUMBER,
        "pp": _NULLABLE_NUMBER,
        "ppk": _NULLABLE_NUMBER,
        "recommended_target": _NUMBER,
        "e_rule": {
            "type": "object",
            "required": [
                "compliant",
                "mean_ok",
                "below_t1",
                "t1_ok",
                "below_t2",
                "t2_ok",
                "problems",
            ],
            "properties": {
                "compliant": {"type": "boolean"},
                "mean_ok": {"type": "boolean"},
                "below_t1": {"type": "integer"},
                "t1_ok": {"type": "boolean"},
                "below_t2": {"type": "integer"},
                "t2_ok": {"type": "boolean"},
                "problems": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
}
_CHART = {
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "required": ["points", "center", "ucl", "lcl", "flagged"],
            "properties": {
                "points": {"type": "array", "items": _NUMBER},
                "center": _NUMBER,
                "ucl": _NUMBER,
                "lcl": _NULLABLE_NUMBER,
                "sigma": _NUMBER,
                "flagged": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "The broken rules of a point, by its index.",
                },
            },
        },
    ]
}
openapi.add_paths(
    {
        "/api/quality/": openapi.get(
            "quality", "Per hour of a range (default the last 24 h, at most 2 days): "
            "capability and the ℮ rule's batch", _RANGE_PARAMETERS,
            openapi.json_body("The tag's specification, its run-rule flag, and its hours.", {
                "type": "object", "required": ["start", "end", "spec", "rule", "hours"],
                "properties": {
                    "start": openapi.ref("Time"), "end": openapi.ref("Time"),
                    "spec": openapi.ref("SpcSpec"),
                    "rule": {"type": "object", "required": ["broken", "rules", "time"],
                             "properties": {"broken": {"type": "boolean"},
                                            "rules": {"type": "string"},
                                            "time": {"oneOf": [openapi.ref("Time"),
                                                               {"type": "null"}]}}},
                    "hours": {"type": "array", "items": _HOUR},
                },
            }),
            tags=["quality"],
        ),
        "/api/quality/charts/": openapi.get(
            "quality_charts", "The I-MR and X̄-R control charts of a range (default the last "
            "hour, at most a day)", _RANGE_PARAMETERS,
            openapi.json_body("Each chart, or null with too few values.", {
                "type": "object",
                "required": ["start", "end", "spec", "n", "individuals", "moving_range",
                             "xbar", "range"],
                "properties": {
                    "start": openapi.ref("Time"), "end": openapi.ref("Time"),
                    "spec": openapi.ref("SpcSpec"), "n": {"type": "integer"},
                    "individuals": _CHART, "moving_range": _CHART, "xbar": _CHART,
                    "range": _CHART,
                },
            }),
            tags=["quality"],
        ),
    },
    {"SpcSpec": _SPEC},
)  # fmt: skip
