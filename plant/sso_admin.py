"""Single sign-on in the Django admin: the mapping of the provider's groups to roles and
plants, and the identities that signed in. Superusers only: a mapping grants roles in any plant."""

from __future__ import annotations

from django.contrib import admin

from plant.admin_base import ModelAdmin, ReadOnly, SuperusersOnly
from plant.models import SsoGroupMapping, SsoIdentity


@admin.register(SsoGroupMapping)
class SsoGroupMappingAdmin(SuperusersOnly, ModelAdmin):
    """A provider group → a role and plants; applied at each member's next sign-in."""

    list_display = ["group", "role", "updated_at"]
    search_fields = ["group"]
    filter_horizontal = ["plants"]


@admin.register(SsoIdentity)
class SsoIdentityAdmin(ReadOnly, SuperusersOnly, ModelAdmin):
    """Who came in through the provider, as which account, with which groups last time."""

    list_display = ["user", "subject", "issuer", "last_sign_in"]
    search_fields = ["user__username", "subject"]
