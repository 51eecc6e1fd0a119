"""The configuration history: a filtered list of every change, old → new, and a CSV export.

Read-only, like the setpoint audit (hmi/setpoint_audit.py): rows are written only by
plant.config_history and never edited. Supervisors and admins see the changes of their
plants; changes that belong to no plant (users, roles) only superusers, who make them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

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
from plant.config_history import TRACKED
from plant.models import ConfigChange
from plant.queries import visible_plants

PAGE_SIZE = 50
# Supervisors and admins. plant.roles does not grant view_configchange yet; until it does,
# the supervisors' alarm right stands for their role (viewers and operators hold neither).
VIEW_PERMISSIONS = ("plant.view_configchange",)  # supervisors and admins (plant/roles.py)
CSV_COLUMNS = ["at", "plant", "model", "object_id", "object", "action", "by", "field", "old",
               "new"]  # fmt: skip
MODELS = sorted((m._meta.label_lower, str(m._meta.verbose_name)) for m in TRACKED)


class ConfigHistoryFilterForm(forms.Form):
    """Filters of the configuration history; every field is optional."""

    plant = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    model = forms.ChoiceField(required=False, label="What", choices=[("", "anything"), *MODELS])
    user = forms.ChoiceField(required=False, label="By")
    since = forms.DateTimeField(
        required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args: Any, plants: dict[int, str], actors: list[str], **kw: Any) -> None:
        super().__init__(*args, **kw)
        # The fields declared above, as the classes they are.
        plant, user = (cast(forms.ChoiceField, self.fields[name]) for name in ("plant", "user"))
        plant.choices = [("", "any"), *sorted(plants.items(), key=lambda p: p[1])]
        user.choices = [("", "anyone"), *((name, name) for name in actors)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise ValidationError({"until": "Must not be before the start."})
        return data

    def filter(self, changes: QuerySet[ConfigChange]) -> QuerySet[ConfigChange]:
        """The changes that pass the filters (all of them if the form is not valid)."""
        if not self.is_valid():
            return changes
        data = self.cleaned_data
        lookups = {"plant_id": data["plant"], "model": data["model"], "actor": data["user"],
                   "at__gte": data["since"], "at__lte": data["until"]}  # fmt: skip
        return changes.filter(**{k: v for k, v in lookups.items() if v not in (None, "")})


def check_may_view(user: User | AnonymousUser) -> None:
    if not user.is_active or not any(user.has_perm(p) for p in VIEW_PERMISSIONS):
        raise PermissionDenied("Only supervisors and admins see the configuration history.")


def filtered_changes(
    request: HttpRequest,
) -> tuple[ConfigHistoryFilterForm, QuerySet[ConfigChange], dict[int, str]]:
    """The filter form, the user's changes that pass it (newest first), and plant names."""
    plants = dict(visible_plants(request.user).values_list("pk", "name"))
    changes = ConfigChange.objects.all()
    if not request.user.is_superuser:
        changes = changes.filter(plant_id__in=list(plants))
    actors = list(changes.order_by("actor").values_list("actor", flat=True).distinct())
    form = ConfigHistoryFilterForm(request.GET or None, plants=plants, actors=actors)
    return form, form.filter(changes).order_by("-at", "-id"), plants


@require_safe
def config_history(request: HttpRequest) -> HttpResponse:
    """Every change of the configuration of the user's plants, who made it, old → new."""
    check_may_view(request.user)
    zone = page_zone(request)
    with timezone.override(zone):
        form, changes, plants = filtered_changes(request)
        page = Paginator(changes, PAGE_SIZE).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        context: dict[str, Any] = {
            "form": form, "page": page, "zone": zone, "query": query.urlencode(),
            "rows": [history_row(change, plants) for change in page],
        }  # fmt: skip
        return render(request, "hmi/config_history.html", context)


def history_row(change: ConfigChange, plants: dict[int, str]) -> dict[str, Any]:
    """One change as the table shows it: each field with its old and new value in words."""
    fields = [
        {"name": name, "old": shown(pair.get("old")), "new": shown(pair.get("new"))}
        for name, pair in sorted(change.changes.items())
    ]
    return {"change": change, "plant": plants.get(change.plant_id or 0, ""), "fields": fields}


def shown(value: Any) -> str:
    """A recorded value in words: nothing as an empty string, a list as its names."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


@require_safe
def config_history_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered history as CSV, one line per changed field, streamed."""
    check_may_view(request.user)
    with timezone.override(page_zone(request)):
        _, changes, plants = filtered_changes(request)
    return csv_download(
        csv_chunks(changes.iterator(chunk_size=1000), plants), "configuration-history.csv"
    )


def csv_chunks(changes: Iterator[ConfigChange], plants: dict[int, str]) -> Iterator[str]:
    """The header, then each change's lines; csv_text neutralises every text cell."""
    yield csv_text([CSV_COLUMNS])
    for change in changes:
        yield csv_text(csv_rows(change, plants))


def csv_rows(change: ConfigChange, plants: dict[int, str]) -> list[list[Any]]:
    head = [_iso(change.at), plants.get(change.plant_id or 0, ""), change.model,
            change.object_id, change.object_repr, change.action, change.actor]  # fmt: skip
    pairs = sorted(change.changes.items()) or [("", {})]
    return [[*head, name, _cell(pair.get("old")), _cell(pair.get("new"))] for name, pair in pairs]


def _cell(value: Any) -> Any:
    """Numbers stay numbers; everything else is written as text (and so made safe)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return shown(value)


def _iso(at: datetime) -> str:
    return at.isoformat()
