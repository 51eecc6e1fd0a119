"""The only code that issues and revokes API tokens: each keeps who did it and when on the
token, which plant.config_history records as a configuration change (it catches the saves)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from plant.models import ApiToken


@transaction.atomic
def do_issue_api_token(token: ApiToken, *, by: User | None) -> str:
    """Save a new token (its user, name, scope and expiry set) as issued by `by`; its secret.

    `by` is None for a script or command. The secret is returned once and never stored.
    """
    token.issued_by = by
    secret = token.set_new_secret()
    token.full_clean()
    token.save()
    return secret


@transaction.atomic
def do_revoke_api_token(token: ApiToken, *, by: User | None) -> bool:
    """Revoke a token for good, as `by`; False if it already was (the first revocation stands).

    A saved row, not a queryset update: the configuration history sees saves only.
    """
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is not None:
        return False
    locked.revoked_at = timezone.now()
    locked.revoked_by = by
    locked.save(update_fields=["revoked_at", "revoked_by"])
    token.revoked_at, token.revoked_by = locked.revoked_at, locked.revoked_by
    return True
