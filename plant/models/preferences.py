"""How each person wants the screens to look: for now, the colour theme (light, dark, or as
the device is set). Rows change only through plant.actions.preferences."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UserPreference(models.Model):
    """One person's choices for the screens; a person who never chose has no row (auto)."""

    class Theme(models.TextChoices):
        AUTO = "auto", "as the device is set"
        LIGHT = "light", "light"
        DARK = "dark", "dark (control room)"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference"
    )
    theme = models.CharField(
        max_length=5, choices=Theme.choices, default=Theme.AUTO,
        help_text="Auto follows the device's light or dark setting (prefers-color-scheme).",
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(theme__in=["auto", "light", "dark"]), name="preference_theme"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.theme})"
