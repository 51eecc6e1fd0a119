"""API tokens: how scripts and other tools read the history API as one user, without a session."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "scada_"
# Saving "last used" on every request would turn each read into a write; once a minute will do.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    """The stored form of a secret; a random 256-bit secret needs no slow, salted hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token that acts as its user; only its hash is stored, so it is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'energy report'.")
    prefix = models.CharField(
        max_length=16, editable=False, help_text="The first characters, to tell tokens apart."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["user", "name"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def set_new_secret(self) -> str:
        """Give the token a fresh secret and return it: the only time it can be read."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.prefix = secret[: len(TOKEN_PREFIX) + 6]
        self.key_hash = hash_secret(secret)
        return secret

    @classmethod
    def issue(cls, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
        """A new saved token of `user`, and its secret."""
        token = cls(user=user, name=name)
        secret = token.set_new_secret()
        token.save()
        return token, secret

    @classmethod
    def user_for(cls, secret: str) -> AbstractBaseUser | None:
        """The active user a secret belongs to, or None; notes when the token was last used."""
        token = (
            cls.objects.select_related("user").filter(key_hash=hash_secret(secret)).first()
            if secret.startswith(TOKEN_PREFIX)
            else None
        )
        if token is None or not token.user.is_active:
            return None
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            cls.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user
