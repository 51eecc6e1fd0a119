"""Setpoint writes from the faceplates, the fill-level loop's switch, and the audit trail.

A writable tag's faceplate (templates/hmi/fragments/setpoint_control.html) loads its panel from
here: the latest write's state, the loop's faceplate where the tag is a loop's setpoint, and
the form. Writing takes two posts: review (every check, nothing stored) then write (every check
again, inside the write's transaction). A refusal re-renders the form with status 422 and its
message next to the field; permission is checked here and again in the action.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST, require_safe

from hmi.forms import LoopModeForm, SetpointForm
from plant.actions.loops import do_set_loop_mode
from plant.actions.setpoints import do_request_setpoint
from plant.live import loop_changed, setpoint_changed
from plant.models import ControlLoop, SetpointWrite, Tag
from plant.queries import visible_plants
from plant.setpoints import WRITE_PERMISSION, fmt, limits_text

FRAGMENTS = "hmi/fragments/"
PREFILL = {"value": 40, "reason": 200}  # what a link may pre-fill, at the fields' lengths


def visible_tag(request: HttpRequest, pk: int, **filters: Any) -> Tag:
    """The tag if the user may see its plant; 404 otherwise (as if it did not exist)."""
    tags = Tag.objects.select_related("machine__line__plant")
    plants = visible_plants(request.user)
    return get_object_or_404(tags, pk=pk, machine__line__plant__in=plants, **filters)


def writable_tag(request: HttpRequest, pk: int) -> Tag:
    """A writable tag the user may see and write; 403 without the write permission."""
    if not request.user.has_perm(WRITE_PERMISSION):
        raise PermissionDenied
    return visible_tag(request, pk, writable=True)


@require_safe
def setpoint_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The setpoint panel of one writable tag: latest write, loop faceplate, form.

    `?value=…&reason=…` pre-fill the form (the quality screen's recommended setpoint): the
    operator still reviews and sends it, and every check runs as for a value typed in.
    """
    tag = visible_tag(request, pk, writable=True)
    return render(request, FRAGMENTS + "setpoint_panel.html", panel_context(request, tag))


def panel_context(request: HttpRequest, tag: Tag) -> dict[str, Any]:
    latest = tag.setpoint_writes.select_related("tag__machine__line__plant", "user").first()
    loop = ControlLoop.objects.filter(sp_tag=tag).select_related("output_tag").first()
    can_write = request.user.has_perm(WRITE_PERMISSION)
    initial = {name: request.GET[name][:size] for name, size in PREFILL.items()
               if name in request.GET}  # fmt: skip
    form = SetpointForm(tag=tag, user=request.user, initial=initial)
    return {
        "tag": tag,
        "status": setpoint_changed(latest) if latest else None,
        "loop": loop_changed(loop) if loop else None,
        "driven_by": ControlLoop.objects.filter(output_tag=tag).first(),
        "can_write": can_write,
        **(form_context(tag, form) if can_write else {}),
    }


def form_context(tag: Tag, form: SetpointForm) -> dict[str, Any]:
    return {
        "tag": tag,
        "form": form,
        "limits": limits_text(tag),
        "max_step": fmt(tag, tag.max_step) if tag.max_step is not None else "",
    }


@require_safe
def setpoint_form(request: HttpRequest, pk: int) -> HttpResponse:
    """A fresh form (the confirmation step's Cancel)."""
    tag = writable_tag(request, pk)
    form = SetpointForm(tag=tag, user=request.user)
    return render(request, FRAGMENTS + "setpoint_form.html", form_context(tag, form))


@require_POST
def review_setpoint(request: HttpRequest, pk: int) -> HttpResponse:
    """Check a new value and show what would be sent; nothing is stored or sent yet."""
    tag = writable_tag(request, pk)
    form = SetpointForm(request.POST, tag=tag, user=request.user)
    if not form.is_valid():
        return refused(request, tag, form)
    value = form.cleaned_data["value"]
    current = form.current.value if form.current else None
    return render(request, FRAGMENTS + "setpoint_confirm.html", {
        **form_context(tag, form), "raw_value": form.data["value"],
        "current": fmt(tag, current), "new": fmt(tag, value),
        "reason": form.cleaned_data["reason"],
    })  # fmt: skip


@require_POST
def write_setpoint(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue the write (all checks again, in its transaction); show its state as it moves."""
    tag = writable_tag(request, pk)
    form = SetpointForm(request.POST, tag=tag, user=request.user)
    if not form.is_valid():
        return refused(request, tag, form)
    try:
        write = do_request_setpoint(
            tag, form.cleaned_data["value"], by=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:  # something changed since the review, e.g. the value
        form.add_error("value", exc)
        return refused(request, tag, form)
    write = SetpointWrite.objects.select_related("tag__machine__line__plant", "user").get(
        pk=write.pk
    )
    fresh = SetpointForm(tag=tag, user=request.user)
    return render(request, FRAGMENTS + "setpoint_sent.html", {
        **form_context(tag, fresh), "status": setpoint_changed(write), "oob": True,
    })  # fmt: skip


def refused(request: HttpRequest, tag: Tag, form: SetpointForm) -> HttpResponse:
    """The form again with its messages next to the field; 422, which htmx swaps in."""
    context = form_context(tag, form)
    return render(request, FRAGMENTS + "setpoint_form.html", context, status=422)


@require_safe
def setpoint_status(request: HttpRequest, pk: int) -> HttpResponse:
    """One write's state (the panel polls it while open, in case the live socket is down)."""
    plants = visible_plants(request.user)
    writes = SetpointWrite.objects.select_related("tag__machine__line__plant", "user")
    write = get_object_or_404(writes, pk=pk, tag__machine__line__plant__in=plants)
    return render(request, FRAGMENTS + "setpoint_status.html", {"status": setpoint_changed(write)})


@require_POST
@permission_required(WRITE_PERMISSION, raise_exception=True)
def set_loop_mode(request: HttpRequest, pk: int) -> HttpResponse:
    """Switch a loop to auto or manual; a refusal (say, a stale measurement) says why."""
    loops = ControlLoop.objects.select_related("output_tag__machine__line", "sp_tag")
    plants = visible_plants(request.user)
    loop = get_object_or_404(loops, pk=pk, output_tag__machine__line__plant__in=plants)
    form = LoopModeForm(request.POST)
    error, status = "", 200
    if not form.is_valid():
        error, status = "Choose auto or manual.", 422
    else:
        try:
            do_set_loop_mode(loop, form.cleaned_data["mode"], by=request.user)
        except ValidationError as exc:
            error, status = exc.messages[0], 422
    loop.refresh_from_db()
    context = {"loop": loop_changed(loop), "error": error}
    return render(request, FRAGMENTS + "setpoint_loop_state.html", context, status=status)
