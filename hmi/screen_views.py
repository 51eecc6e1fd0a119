"""The live screens: plant overview, line, machine and tag pages.

Each page renders every value from the database, then its websocket (hmi.consumers) keeps it
current. A page resolves its object within the plants the user may see, so another plant's
line, machine or tag is a 404, as if it did not exist.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_safe

from hmi.readings import read_latest, vibration_limits
from hmi.screen_queries import (
    line_machines,
    machine_readings,
    plant_overview,
    reading_tags,
    recent_samples,
)
from hmi.screens import SPARK_WINDOW_S
from plant.models import Line, Machine
from plant.queries import neuron_links, visible_plants


@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    """Every plant the user may see, each line a tile of machine states and key values."""
    plants = plant_overview(visible_plants(request.user), now=timezone.now())
    return render(request, "hmi/overview.html", {"plants": plants})


@require_safe
def plant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One plant's line tiles."""
    plants = plant_overview(visible_plants(request.user).filter(pk=pk), now=timezone.now())
    if not plants:
        raise Http404("No such plant")
    return render(request, "hmi/plant.html", {"entry": plants[0], "plant": plants[0].plant})


@require_safe
def line_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A line: one faceplate per machine, a bar gauge or indicator per tag."""
    lines = Line.objects.select_related("plant").filter(plant__in=visible_plants(request.user))
    line = get_object_or_404(lines, pk=pk)
    context = {"line": line, "plant": line.plant, "machines": line_machines(line, timezone.now())}
    return render(request, "hmi/line.html", context)


@require_safe
def machine_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A machine: every tag with a radial gauge or indicator and a live sparkline."""
    machines = Machine.objects.select_related("line__plant").filter(
        line__plant__in=visible_plants(request.user)
    )
    machine = get_object_or_404(machines, pk=pk)
    now = timezone.now()
    readings = machine_readings(machine, now)
    sparks = recent_samples([reading.tag for reading in readings], now, SPARK_WINDOW_S)
    context = {
        "machine": machine,
        "line": machine.line,
        "plant": machine.line.plant,
        "rows": [(reading, sparks.get(reading.tag.pk)) for reading in readings],
        "now": now,
        "window_s": SPARK_WINDOW_S,
        "links": neuron_links(machine),
        # Its health card loads after the page: it reads a month of history.
        "monitored": any(vibration_limits(reading.tag) for reading in readings),
    }
    return render(request, "hmi/machine.html", context)


@require_safe
def tag_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One tag: a large gauge, its sparkline, and how it is configured."""
    tags = reading_tags().select_related("machine__line__plant", "setpoint_tag")
    tag = get_object_or_404(
        tags.filter(machine__line__plant__in=visible_plants(request.user)), pk=pk
    )
    now = timezone.now()
    context = {
        "tag": tag,
        "reading": read_latest(tag, now),
        "machine": tag.machine,
        "line": tag.machine.line,
        "plant": tag.machine.line.plant,
        "spark": recent_samples([tag], now, SPARK_WINDOW_S).get(tag.pk),
        "now": now,
        "window_s": SPARK_WINDOW_S,
    }
    return render(request, "hmi/tag.html", context)
