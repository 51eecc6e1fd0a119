"""The colour theme of every page: light, dark (ISA-101 control room), or auto, which follows
the device's own setting (prefers-color-scheme) until the person chooses.

The choice is a person's (plant.models.UserPreference, changed by plant.actions.preferences),
read once at login into the session, so a page costs no query for it; choosing again updates
the session too. Another session of the same person takes a new choice at its next login.
base.html loads static/hmi/dark.css always (dark), only for a dark device (auto), or never
(light); the admin's own dark mode follows the same choice (templates/admin/base_site.html).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from plant.models import UserPreference

SESSION_KEY = "hmi_theme"


def theme_of(user: AbstractBaseUser) -> str:
    """The theme a person chose, or auto (follow the device) if they never chose."""
    chosen = UserPreference.objects.filter(user_id=user.pk).values_list("theme", flat=True)
    return chosen.first() or UserPreference.Theme.AUTO


def remember(request: HttpRequest, theme: str) -> None:
    """Keep the theme in the session, where every page reads it."""
    request.session[SESSION_KEY] = theme


def theme(request: HttpRequest) -> dict[str, str]:
    """Context processor: `theme` (auto, light or dark) and the choices for the switch."""
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    return {"theme": chosen if chosen in UserPreference.Theme.values else "auto"}


@receiver(user_logged_in)
def read_theme_at_login(sender: object, request: HttpRequest | None, user: AbstractBaseUser,
                        **kwargs: Any) -> None:  # fmt: skip
    if request is not None and hasattr(request, "session"):
        remember(request, theme_of(user))
