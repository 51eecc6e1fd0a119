"""The one door for security events: record one, and keep their system alarm in step.

`record` is called from wherever a door is refused: the login (hmi.login_security), the
websocket origin check and consumers, the API's token check, and the ingest side for MQTT
identities the broker refused. It never raises into its caller: a login page or a refused
socket must answer the same whether or not the event could be stored (a failure is logged).

When SECURITY_ALARM_EVENTS events fall within SECURITY_ALARM_MINUTES, the system alarm
ALARM_KEY is raised, so the status bar of every screen says so; `settle_alarm` (the status
bar's poll calls it) clears it once the window holds fewer again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from plant.models import Plant, SecurityEvent, SystemAlarm
from plant.system_health import do_clear_system_alarm, do_raise_system_alarm

log = logging.getLogger(__name__)

Kind = SecurityEvent.Kind
ALARM_KEY = "security.events"


def record(
    kind: str, *, user: AbstractBaseUser | AnonymousUser | None = None, username: str = "",
    source: str = "", plant: Plant | int | None = None, detail: str = "",
    now: datetime | None = None,
) -> SecurityEvent | None:  # fmt: skip
    """Store one security event (None if it could not be stored), and raise the alarm when
    events cluster. `kind` is a SecurityEvent.Kind; an unknown one is logged, not stored."""
    try:
        if kind not in Kind.values:
            raise ValueError(f"unknown security event kind {kind!r}")
        person = user if user is not None and user.is_authenticated else None
        plant_id = plant.pk if isinstance(plant, Plant) else plant
        with transaction.atomic():  # a savepoint: a failure leaves the caller's work intact
            event = SecurityEvent.objects.create(
                at=now or timezone.now(), kind=kind,
                username=(username or (person.get_username() if person else ""))[:150],
                user_id=person.pk if person else None, source=source[:200], plant_id=plant_id,
                detail=detail[:500],
            )  # fmt: skip
            check_alarm(event.at)
    except Exception:
        log.exception("could not record a security event %s (%s, %s)", kind, username, detail)
        return None
    log.warning("security event %s: %s from %s %s", kind, event.username or "-", source, detail)
    return event


def window() -> timedelta:
    return timedelta(minutes=settings.SECURITY_ALARM_MINUTES)


def recent_count(now: datetime | None = None) -> int:
    """How many events fall within the alarm's window, ending now."""
    return SecurityEvent.objects.filter(at__gt=(now or timezone.now()) - window()).count()


def check_alarm(now: datetime) -> None:
    """Raise the system alarm when the window holds SECURITY_ALARM_EVENTS events or more."""
    count = recent_count(now)
    if count < settings.SECURITY_ALARM_EVENTS:
        return
    minutes = settings.SECURITY_ALARM_MINUTES
    latest = SecurityEvent.objects.filter(at__gt=now - window()).first()
    detail = f"latest: {latest}" if latest else ""
    do_raise_system_alarm(
        ALARM_KEY, f"{count} security events in {minutes} min: refused logins, sockets or "
        "tokens (see Security events)", detail=detail, now=now,
    )  # fmt: skip


def settle_alarm(now: datetime | None = None) -> bool:
    """Clear the system alarm once the window holds fewer events; True when it cleared."""
    now = now or timezone.now()
    if not SystemAlarm.objects.filter(key=ALARM_KEY, active=True).exists():
        return False
    if recent_count(now) >= settings.SECURITY_ALARM_EVENTS:
        return False
    return do_clear_system_alarm(ALARM_KEY, now=now)


def visible_events(
    user: AbstractBaseUser | AnonymousUser, plant_ids: list[int]
) -> QuerySet[SecurityEvent]:
    """The events a user may see: all for a superuser; else those of their plants, and the
    plantless ones (a login, a token) that name a member of one of their plants."""
    events = SecurityEvent.objects.all()
    if getattr(user, "is_superuser", False):
        return events
    members = Plant.members.through.objects.filter(plant_id__in=plant_ids).values("user_id")
    return events.filter(Q(plant_id__in=plant_ids) | Q(plant_id=None, user_id__in=members))
