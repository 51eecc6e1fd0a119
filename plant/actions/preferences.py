"""The only code that changes a person's screen preferences (plant.models.UserPreference)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from plant.models import UserPreference


@transaction.atomic
def do_set_theme(theme: str, *, by: User) -> str:
    """Remember the colour theme `by` chose for their own screens; return it.

    Only a person chooses, for themselves: there is no system default to write. An unknown
    theme is refused with the choices named, and nothing is stored.
    """
    if theme not in UserPreference.Theme.values:
        choices = ", ".join(UserPreference.Theme.values)
        raise ValidationError({"theme": f"Choose a theme: {choices} (not {theme!r})."})
    UserPreference.objects.update_or_create(user_id=by.pk, defaults={"theme": theme})
    return theme
