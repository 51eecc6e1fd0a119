"""The status bar every page shows: whether live values are current, and the product's own
faults (system alarms), in words an operator understands.

The page polls it over plain HTTP (htmx, every few seconds), not the websocket, so it keeps
telling the truth while Redis or the live push is down. Times are shown in the zone of the
page's plant, or of the user's first plant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from plant import security_events
from plant.models import SystemAlarm
from plant.queries import visible_plants
from plant.system_health import Health, read_health

SECURITY_COUNT_WINDOW = timedelta(hours=24)  # the admins' count of security events

# read_health's words for a worker that runs but lags; that case says how far behind it is.
NOT_KEEPING_UP = "not keeping up"


@dataclass(frozen=True)
class ShownAlarm:
    """A system alarm as the bar shows it."""

    message: str
    since: str


@require_safe
def system_status(request: HttpRequest) -> HttpResponse:
    """The status bar fragment (empty while all is well); ?plant=<pk> picks the time zone."""
    now = timezone.now()
    zone = ZoneInfo(plant_zone(request, request.GET.get("plant", "")))
    health = read_health(now)
    # The security events' alarm clears here, once they have gone quiet: every open screen
    # polls this every few seconds, so it clears within seconds of its window emptying.
    standing = any(alarm.key == security_events.ALARM_KEY for alarm in health.alarms)
    if standing and security_events.settle_alarm(now):
        health = read_health(now)
    context = status_context(health, now, zone)
    context |= security_context(request, now, zone)
    return render(request, "hmi/fragments/system_status.html", context)


def security_context(request: HttpRequest, now: datetime, zone: ZoneInfo) -> dict[str, object]:
    """For admins: the security events of their plants and people in the last 24 hours."""
    if not request.user.has_perm("plant.view_securityevent"):
        return {}
    since = now - SECURITY_COUNT_WINDOW
    plants = list(visible_plants(request.user).values_list("pk", flat=True))
    count = security_events.visible_events(request.user, plants).filter(at__gte=since).count()
    return {"security_count": count, "security_since": since.astimezone(zone)}


def plant_zone(request: HttpRequest, plant: str) -> str:
    """The time zone of the page's plant if the user may see it, else of their first plant."""
    chosen = int(plant) if plant.isdigit() else 0
    first = Case(When(pk=chosen, then=Value(0)), default=Value(1), output_field=IntegerField())
    plants = visible_plants(request.user).order_by(first, "pk")
    return plants.values_list("time_zone", flat=True).first() or settings.TIME_ZONE


def status_context(health: Health, now: datetime, zone: ZoneInfo) -> dict[str, object]:
    """What the fragment shows: a headline on values (or ""), and the active system alarms."""
    return {
        "headline": values_headline(health, now, zone),
        "problem": health.problem,
        "alarms": [ShownAlarm(a.message, alarm_since(a, now, zone)) for a in health.alarms],
    }


def values_headline(health: Health, now: datetime, zone: ZoneInfo) -> str:
    """The headline: "Values not updating since 14:02", "Values 45 s behind", or ""."""
    if health.updating:
        return ""
    if NOT_KEEPING_UP in health.problem and health.since is not None:
        return f"Values {duration(now - health.since)} behind"
    if health.since is None:
        return "Values not updating"
    return f"Values not updating since {clock(health.since, now, zone)}"


def alarm_since(alarm: SystemAlarm, now: datetime, zone: ZoneInfo) -> str:
    moment = alarm.raised_at or alarm.last_seen_at
    return clock(moment, now, zone) if moment else ""


def clock(moment: datetime, now: datetime, zone: ZoneInfo) -> str:
    """14:02 today; 3 Mar 14:02 on another day (in the plant's zone)."""
    local = moment.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M")
    return f"{local.day} {local:%b %H:%M}"


def duration(span: timedelta) -> str:
    """45 s, 12 min, 3 h 5 min: how far behind, to the precision an operator needs."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
