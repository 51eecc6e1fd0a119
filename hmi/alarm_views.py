"""Alarm pages: the banner every page shows, the summary, the journal, the KPIs, and the
acknowledge and shelve forms (the server checks the permission; the page only hides buttons).
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from hmi.emergency_screen import emergency
from plant import alarm_kpis
from plant.actions.alarms import (
    ACK_PERMISSION,
    SHELVE_PERMISSION,
    do_acknowledge_alarm,
    do_acknowledge_all,
    do_shelve_alarm,
    do_unshelve_alarm,
)
from plant.models import Alarm, AlarmJournalEntry, Line
from plant.models.alarms import STANDING
from plant.queries import visible_plants

PRIORITIES = ["critical", "high", "medium", "low"]
STATES = ["unack", "ack", "rtn_unack", "shelved", "suppressed"]
PRIORITY_ORDER = Case(
    *[When(definition__priority=p, then=Value(i)) for i, p in enumerate(PRIORITIES)],
    output_field=IntegerField(),
)
SORTS: dict[str, list[str | Case]] = {
    "priority": [PRIORITY_ORDER, "-changed_at"],
    "time": ["-changed_at"],
    "tag": ["definition__tag__key", PRIORITY_ORDER],
    "state": ["state", PRIORITY_ORDER],
}
SHELVE_MINUTES = [15, 60, 240, 480]


def visible_alarms(request: HttpRequest) -> QuerySet[Alarm]:
    return Alarm.objects.filter(
        definition__tag__machine__line__plant__in=visible_plants(request.user)
    ).select_related("definition__tag__machine__line__plant")


def banner_context(request: HttpRequest) -> dict[str, object]:
    """Counts by priority, the newest unacknowledged alarm, and open emergencies (with their
    gas values and actions: hmi.emergency_screen)."""
    alarms = visible_alarms(request)
    now = timezone.now()
    standing = list(alarms.filter(state__in=STANDING))
    waiting = sorted(
        (a for a in standing if a.state in ("unack", "rtn_unack")),
        key=lambda a: a.changed_at or timezone.now(), reverse=True,
    )  # fmt: skip
    return {
        "counts": [(p, sum(a.definition.priority == p for a in standing)) for p in PRIORITIES],
        "newest": waiting[0] if waiting else None,
        "unacked": len(waiting),
        "alerting": [a.pk for a in waiting if a.definition.priority in ("critical", "high")],
        "emergencies": [emergency(a, now) for a in waiting if a.definition.runs_emergency_actions],
        "plant_ids": list(visible_plants(request.user).values_list("pk", flat=True)),
        "can_ack": request.user.has_perm(ACK_PERMISSION),
        "next": _next(request, request.GET.get("next", "")),
    }


@require_safe
def alarm_banner(request: HttpRequest) -> HttpResponse:
    """The banner fragment; alarms.js fetches it on load and on every alarm push."""
    return render(request, "hmi/fragments/alarm_banner.html", banner_context(request))


@require_safe
def alarm_summary(request: HttpRequest) -> HttpResponse:
    """Alarms that need attention (or are shelved / out of service), filterable and sortable."""
    alarms = visible_alarms(request).exclude(state="normal")
    chosen = {k: request.GET.get(k, "") for k in ("plant", "line", "priority", "state", "sort")}
    if chosen["plant"].isdigit():
        alarms = alarms.filter(definition__tag__machine__line__plant_id=chosen["plant"])
    if chosen["line"].isdigit():
        alarms = alarms.filter(definition__tag__machine__line_id=chosen["line"])
    if chosen["priority"] in PRIORITIES:
        alarms = alarms.filter(definition__priority=chosen["priority"])
    if chosen["state"] in STATES:
        alarms = alarms.filter(state=chosen["state"])
    alarms = alarms.order_by(*SORTS.get(chosen["sort"], SORTS["priority"]))
    context = {
        "alarms": alarms, "chosen": chosen, "priorities": PRIORITIES, "states": STATES,
        "plants": visible_plants(request.user),
        "lines": Line.objects.filter(plant__in=visible_plants(request.user)),
        "can_ack": request.user.has_perm(ACK_PERMISSION),
        "can_shelve": request.user.has_perm(SHELVE_PERMISSION),
        "shelve_minutes": SHELVE_MINUTES,
    }  # fmt: skip
    return render(request, "hmi/alarms.html", context)


@require_safe
def alarm_history(request: HttpRequest) -> HttpResponse:
    """The alarm journal, newest first."""
    entries = AlarmJournalEntry.objects.filter(
        tag__machine__line__plant__in=visible_plants(request.user)
    ).select_related("tag__machine__line", "user")
    if request.GET.get("priority") in PRIORITIES:
        entries = entries.filter(priority=request.GET["priority"])
    return render(request, "hmi/alarm_history.html", {"entries": entries[:500]})


@require_safe
def alarm_kpis_page(request: HttpRequest) -> HttpResponse:
    """EEMUA 191 performance figures over the last day (or ?hours=)."""
    hours = request.GET.get("hours", "24")
    span = timedelta(hours=int(hours) if hours.isdigit() and 0 < int(hours) <= 24 * 31 else 24)
    now = timezone.now()
    kpis = alarm_kpis.compute(visible_plants(request.user), now - span, now, now)
    return render(request, "hmi/alarm_kpis.html", {"kpis": kpis, "targets": alarm_kpis.TARGETS})


@require_POST
def acknowledge_alarm(request: HttpRequest, pk: int) -> HttpResponse:
    alarm = get_object_or_404(visible_alarms(request), pk=pk)
    comment = request.POST.get("comment", "")[:200]
    do_acknowledge_alarm(alarm, by=request.user, comment=comment)
    return _back(request)


@require_POST
def acknowledge_all(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(ACK_PERMISSION):
        raise PermissionDenied
    ids = [int(i) for i in request.POST.getlist("alarm") if i.isdigit()]
    alarms = visible_alarms(request).filter(pk__in=ids) if ids else visible_alarms(request)
    comment = request.POST.get("comment", "")[:200]
    do_acknowledge_all(alarms, by=request.user, comment=comment)
    return _back(request)


@require_POST
def shelve_alarm(request: HttpRequest, pk: int) -> HttpResponse:
    alarm = get_object_or_404(visible_alarms(request), pk=pk)
    minutes = request.POST.get("minutes", "")
    try:
        do_shelve_alarm(
            alarm, by=request.user, reason=request.POST.get("reason", ""),
            duration_s=float(minutes) * 60 if minutes.isdigit() else 0,
        )  # fmt: skip
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=422, content_type="text/plain")
    return _back(request)


@require_POST
def unshelve_alarm(request: HttpRequest, pk: int) -> HttpResponse:
    alarm = get_object_or_404(visible_alarms(request), pk=pk)
    do_unshelve_alarm(alarm, by=request.user)
    return _back(request)


def _next(request: HttpRequest, target: str) -> str:
    allowed = url_has_allowed_host_and_scheme(target, {request.get_host()})
    return target if target and allowed else "/alarms/"


def _back(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(_next(request, request.POST.get("next", "")))
