"""The admin's page for plant configuration files: download an export, upload a file, see
its dry run, apply it.

The Apply button posts the uploaded text back in a signed field (salted with the user's id,
valid for an hour), so the content applied is exactly the content shown, nobody can apply a
text they did not upload, and the apply validates it again against the database as it is then.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.text import get_valid_filename

from plant.admin_scope import in_own_plants
from plant.config_file.exporter import export_text
from plant.config_file.importer import Result, import_text
from plant.models import Plant

SIGNED_FOR_S = 3600
MAX_BYTES = 20 * 1024 * 1024


class UploadForm(forms.Form):
    """A configuration file to check, and whether to remove what it no longer names."""

    file = forms.FileField(help_text="A YAML file written by the export.")
    prune = forms.BooleanField(
        required=False,
        help_text="Also remove what the file no longer names (never anything with history).",
    )


def _salt(request: HttpRequest) -> str:
    return f"plant.config_file:{request.user.pk}"


def _check(request: HttpRequest) -> User:
    """The person on the page: staff who may change plants (the admin's plant admins)."""
    user = request.user
    if not isinstance(user, User) or not user.is_staff or not user.has_perm("plant.change_plant"):
        raise PermissionDenied
    return user


def config_page(request: HttpRequest) -> HttpResponse:
    """The page: the user's plants to export, the upload form, and a dry run's report."""
    user = _check(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    context = _context(request, form)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        name = get_valid_filename(upload.name) or "upload.yaml"
        text = _read(upload, form)
        if text is not None:
            prune = form.cleaned_data["prune"]
            result = import_text(text, filename=name, by=user, prune=prune)
            payload = {"name": name, "text": text, "prune": prune}
            context["result"] = result
            context["signed"] = signing.dumps(payload, salt=_salt(request), compress=True)
    return TemplateResponse(request, "admin/plant/plant_config.html", context)


def _context(request: HttpRequest, form: UploadForm) -> dict[str, Any]:
    return {
        **admin.site.each_context(request),
        "title": "Plant configuration files",
        "plants": in_own_plants(Plant.objects.order_by("name"), request.user),
        "form": form,
    }


def _read(upload: Any, form: UploadForm) -> str | None:
    if upload.size > MAX_BYTES:
        form.add_error("file", f"The file is larger than {MAX_BYTES // 1024 // 1024} MB.")
        return None
    try:
        return str(upload.read().decode("utf-8"))
    except UnicodeDecodeError:
        form.add_error("file", "The file is not UTF-8 text.")
        return None


def apply_config(request: HttpRequest) -> HttpResponse:
    """Apply the text a dry run showed, checked again; a forged or stale post is refused."""
    user = _check(request)
    if request.method != "POST":
        return redirect("admin:plant_plant_config")
    try:
        payload = signing.loads(request.POST.get("signed", ""), salt=_salt(request),
                                max_age=SIGNED_FOR_S)  # fmt: skip
    except signing.BadSignature:
        messages.error(request, "That upload is not yours, or older than an hour: upload again.")
        return redirect("admin:plant_plant_config")
    result = import_text(payload["text"], filename=payload["name"], by=user,
                         apply=True, prune=payload["prune"])  # fmt: skip
    if not result.applied:
        context = {**_context(request, UploadForm()), "result": result}
        return TemplateResponse(request, "admin/plant/plant_config.html", context)
    messages.success(request, f"Applied {payload['name']}: {_summary(result)}.")
    return redirect("admin:plant_plant_config")


def export_config(request: HttpRequest, slug: str) -> HttpResponse:
    """The plant's configuration file, as a download."""
    _check(request)
    plant = get_object_or_404(in_own_plants(Plant.objects.all(), request.user), slug=slug)
    response = HttpResponse(export_text(plant), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{plant.slug}.yaml"'
    return response


def _summary(result: Result) -> str:
    c = result.counts()
    return f"{c['create']} created, {c['change']} changed, {c['remove']} removed"
