"""Security events for admins: a filtered list of refused logins, sockets and tokens, and a
CSV export.

Read-only, like the configuration history (hmi/config_history_views.py): rows are written
only by plant.security_events and never edited. Plant admins see the events of their plants
and the plantless ones (a login, a token) that name one of their plants' people; superusers
see every event, those naming no one (an unknown user name, a script without a session) too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from hmi.csv_safety import csv_download, csv_text
from hmi.setpoint_audit import page_zone
from plant.models import SecurityEvent
from plant.queries import visible_plants
from plant.security_events import visible_events

PAGE_SIZE = 50
VIEW_PERMISSION = "plant.view_securityevent"  # admins (plant/roles.py) and superusers
# "kind" in words for the person reading the sheet; "kind_code" for a script filtering it.
CSV_COLUMNS = ["at", "kind", "username", "source", "plant", "detail", "kind_code"]


class SecurityEventFilterForm(forms.Form):
    """Filters of the security events; every field is optional."""

    kind = forms.ChoiceField(
        required=False, label="What", choices=[("", "anything"), *SecurityEvent.Kind.choices]
    )
    plant = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    username = forms.CharField(required=False, label="User name", max_length=150)
    source = forms.CharField(required=False, label="From", max_length=200)
    since = forms.DateTimeField(
        required=False, label="Since", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="Until", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args: Any, plants: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plant = self.fields["plant"]
        assert isinstance(plant, forms.TypedChoiceField)
        plant.choices = [("", "any"), *sorted(plants.items(), key=lambda p: p[1])]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise ValidationError({"until": "Must not be before the start."})
        return data

    def filter(self, events: QuerySet[SecurityEvent]) -> QuerySet[SecurityEvent]:
        """The events that pass the filters (all of them if the form is not valid)."""
        if not self.is_valid():
            return events
        data = self.cleaned_data
        lookups = {"kind": data["kind"], "plant_id": data["plant"],
                   "username__iexact": data["username"], "source__startswith": data["source"],
                   "at__gte": data["since"], "at__lte": data["until"]}  # fmt: skip
        return events.filter(**{k: v for k, v in lookups.items() if v not in (None, "")})


def check_may_view(user: User | AnonymousUser) -> None:
    if not user.is_active or not user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied("Only admins see the security events.")


def filtered_events(
    request: HttpRequest,
) -> tuple[SecurityEventFilterForm, QuerySet[SecurityEvent], dict[int, str]]:
    """The filter form, the user's events that pass it (newest first), and plant names."""
    plants = dict(visible_plants(request.user).values_list("pk", "name"))
    form = SecurityEventFilterForm(request.GET or None, plants=plants)
    events = visible_events(request.user, list(plants))
    return form, form.filter(events).order_by("-at", "-id"), plants


@require_safe
def security_events_page(request: HttpRequest) -> HttpResponse:
    """Refused logins, sockets and tokens of the user's plants and people, newest first."""
    check_may_view(request.user)
    zone = page_zone(request)
    with timezone.override(zone):
        form, events, plants = filtered_events(request)
        page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            "form": form, "page": page, "zone": zone, "query": query.urlencode(),
            "rows": [(event, plants.get(event.plant_id or 0, "")) for event in page],
        }  # fmt: skip
        return render(request, "hmi/security_events.html", context)


@require_safe
def security_events_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered events as CSV, streamed; every text cell neutralised (hmi.csv_safety)."""
    check_may_view(request.user)
    with timezone.override(page_zone(request)):
        _, events, plants = filtered_events(request)
    return csv_download(csv_chunks(events.iterator(chunk_size=1000), plants), "security-events.csv")


def csv_chunks(events: Iterator[SecurityEvent], plants: dict[int, str]) -> Iterator[str]:
    yield csv_text([CSV_COLUMNS])
    batch: list[list[object]] = []
    for event in events:
        batch.append([event.at.isoformat(), event.get_kind_display(), event.username,
                      event.source, plants.get(event.plant_id or 0, ""), event.detail,
                      event.kind])  # fmt: skip
        if len(batch) == 1000:
            yield csv_text(batch)
            batch = []
    if batch:
        yield csv_text(batch)
