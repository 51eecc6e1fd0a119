"""A person's choices for their own screens: the colour theme (hmi.theme)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from hmi import theme
from plant.actions.preferences import do_set_theme


@require_POST
def set_theme(request: HttpRequest) -> HttpResponse:
    """Remember the theme the person chose and go back to the page they chose it on."""
    if not isinstance(request.user, User):  # LoginRequiredMiddleware sent the others away
        raise PermissionDenied
    try:
        chosen = do_set_theme(request.POST.get("theme", ""), by=request.user)
    except ValidationError as exc:
        return HttpResponse("; ".join(exc.messages), status=400, content_type="text/plain")
    theme.remember(request, chosen)
    target = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(target, {request.get_host()})
    return HttpResponseRedirect(target if target and allowed else "/")
