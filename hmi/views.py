"""Pages of the HMI."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from plant.queries import plant_overview, visible_plants


@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    """Every plant the user may see: its lines, machines and each tag's latest value."""
    plants = plant_overview(visible_plants(request.user), now=timezone.now())
    return render(request, "hmi/overview.html", {"plants": plants})
