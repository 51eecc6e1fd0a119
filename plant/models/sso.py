"""Single sign-on: the admin's mapping of the identity provider's groups, and who signed in.

The rules of the mapping are pure (plant.sso); a sign-in applies them through
plant.actions.sso, the one place that changes a signed-in user's role and plants.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from plant.roles import ROLES


class SsoGroupMapping(models.Model):
    """Members of one of the identity provider's groups get a role, in some plants."""

    group = models.CharField(
        max_length=200,
        unique=True,
        help_text="The group's name as the provider sends it in its groups claim "
        "(compared without regard to case; for Keycloak's '/a/b' paths the last part also works).",
    )
    role = models.CharField(
        max_length=20,
        blank=True,
        choices=[(role, role) for role in ROLES],
        help_text="Empty: the group only gives plants (the role comes from another group).",
    )
    plants = models.ManyToManyField("plant.Plant", blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group"]
        verbose_name = "single sign-on group mapping"

    def __str__(self) -> str:
        return f"{self.group} → {self.role or 'plants only'}"


class SsoIdentity(models.Model):
    """The provider's account (issuer and subject) a local user stands for, and its last groups.

    A user is linked only by these, never by a matching user name: a provider account named
    like a local administrator must not become that administrator.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity"
    )
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    groups = models.JSONField(default=list, help_text="The groups of the last sign-in.")
    last_sign_in = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique")
        ]
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"

    def __str__(self) -> str:
        return f"{self.user} ({self.subject} at {self.issuer})"
