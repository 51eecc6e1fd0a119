"""The audit trail of setpoint writes: a filtered list and a streamed CSV export; read-only.

Nothing here (or anywhere) edits or deletes a write: rows change only through
plant.actions.setpoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from hmi.csv_safety import csv_download, csv_text
from hmi.forms import AuditFilterForm
from plant.models import Plant, SetpointWrite, Tag
from plant.queries import visible_plants
from plant.setpoints import fmt

PAGE_SIZE = 50
VIEW_PERMISSION = "plant.view_setpointwrite"
# "state" in words for the person reading the sheet; "state_code" for a script filtering it.
CSV_COLUMNS = [
    "requested_at", "plant", "line", "machine", "tag", "topic", "unit", "old_value", "value",
    "user", "reason", "state", "sent_at", "confirmed_at", "finished_at", "readback", "detail",
    "command_id", "state_code",
]  # fmt: skip


def filtered_writes(request: HttpRequest) -> tuple[AuditFilterForm, QuerySet[SetpointWrite]]:
    """The filter form and the writes of the user's plants that pass it, newest first."""
    plants = visible_plants(request.user)
    writes = SetpointWrite.objects.filter(tag__machine__line__plant__in=plants).select_related(
        "tag__machine__line__plant", "user"
    )
    tags = Tag.objects.filter(writable=True, machine__line__plant__in=plants).select_related(
        "machine"
    )
    users = User.objects.filter(setpoint_writes__tag__machine__line__plant__in=plants)
    names = sorted(set(users.values_list("username", flat=True)))
    form = AuditFilterForm(request.GET or None, tags=tags.order_by("machine__name", "key"),
                           users=names)  # fmt: skip
    return form, form.filter(writes).order_by("-requested_at", "-id")


def page_zone(request: HttpRequest) -> str:
    """The time zone of the user's plants if they share one (the filters use it), else UTC."""
    zones = set(visible_plants(request.user).values_list("time_zone", flat=True))
    return zones.pop() if len(zones) == 1 else "UTC"


@require_safe
@permission_required(VIEW_PERMISSION, raise_exception=True)
def setpoint_audit(request: HttpRequest) -> HttpResponse:
    """Every setpoint write of the user's plants, by people and by the system, filterable."""
    zone = page_zone(request)
    with timezone.override(zone):
        form, writes = filtered_writes(request)
        page = Paginator(writes, PAGE_SIZE).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        context: dict[str, Any] = {
            "form": form, "page": page, "rows": [audit_row(w) for w in page], "zone": zone,
            "query": query.urlencode(),
        }  # fmt: skip
        return render(request, "hmi/audit.html", context)


def audit_row(write: SetpointWrite) -> dict[str, Any]:
    """One write as the audit table shows it: values with their unit and precision."""
    tag = write.tag
    return {
        "write": write,
        "tag": tag,
        "old_value": fmt(tag, write.old_value),
        "value": fmt(tag, write.value),
        "readback": fmt(tag, write.readback) if write.readback is not None else "",
        "by": write.user.get_username() if write.user else "system",
    }


@require_safe
@permission_required(VIEW_PERMISSION, raise_exception=True)
def setpoint_audit_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered audit trail as CSV, streamed so a long export holds no memory."""
    with timezone.override(page_zone(request)):
        _, writes = filtered_writes(request)
    rows = (csv_row(write) for write in writes.iterator(chunk_size=1000))
    return csv_download(csv_lines([CSV_COLUMNS], rows), "setpoint-writes.csv")


def csv_lines(*parts: Iterable[list[Any]]) -> Iterator[str]:
    """One line of CSV per row, every text cell safe to open in a spreadsheet."""
    for part in parts:
        for row in part:
            yield csv_text([row])


def csv_row(write: SetpointWrite) -> list[Any]:
    tag = write.tag
    line = tag.machine.line
    plant: Plant = line.plant
    return [
        _iso(write.requested_at), plant.slug, line.slug, tag.machine.slug, tag.key, tag.topic,
        tag.unit, write.old_value, write.value,
        write.user.get_username() if write.user else "system", write.reason,
        write.get_state_display(), _iso(write.sent_at), _iso(write.confirmed_at),
        _iso(write.finished_at), write.readback, write.detail, write.command_id, write.state,
    ]  # fmt: skip


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at else ""
