"""API tokens: how scripts and other tools read the history API as one user, without a session.

A token expires (90 days unless its issuer chose otherwise, a year at most), reads only (its
scope), and can be revoked; who issued and who revoked it is kept on the row, which
plant.config_history records like any configuration change. Nothing deletes a token.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "scada_"
# Saving "last used" on every request would turn each read into a write; once a minute will do.
LAST_USED_RESOLUTION = timedelta(minutes=1)
DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=365)


def hash_secret(secret: str) -> str:
    """The stored form of a secret; a random 256-bit secret needs no slow, salted hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def default_expiry() -> datetime:
    return timezone.now() + DEFAULT_LIFETIME


class TokenRefused(Exception):
    """A bearer secret that lets no one in; the message says why, for the 401. `token` is the
    token it belongs to, when it is a real one (revoked, expired, or of an inactive user)."""

    def __init__(self, reason: str, token: ApiToken | None = None) -> None:
        super().__init__(reason)
        self.token = token


class ApiToken(models.Model):
    """A bearer token that acts as its user; only its hash is stored, so it is shown once."""

    class Scope(models.TextChoices):
        # Only reading for now: a token reaches the GET endpoints of the API and nothing else.
        READ = "read", "Read: the history, current-values and markers API"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'energy report'.")
    scope = models.CharField(
        max_length=16, choices=Scope.choices, default=Scope.READ, blank=True,
        help_text="What it may do; empty: read.",
    )  # fmt: skip
    prefix = models.CharField(
        max_length=16, editable=False, help_text="The first characters, to tell tokens apart."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(
        default=default_expiry, blank=True,
        help_text="At most a year after it is issued; empty: in 90 days.",
    )  # fmt: skip
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        editable=False, related_name="+", help_text="Empty: issued by a script or command.",
    )  # fmt: skip
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        editable=False, related_name="+",
    )  # fmt: skip
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["user", "name"]
        verbose_name = "API token"
        constraints = [
            # The year at most is checked on issue (clean): tokens older than the rule were given
            # 90 days from migration 0011, however old they were.
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="api_token_expires_after_issue",
            ),
            models.CheckConstraint(
                condition=models.Q(scope__in=["read"]), name="api_token_scope_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def clean(self) -> None:
        # Left empty in a form, scope and expiry take their defaults.
        self.scope = self.scope or self.Scope.READ
        if self.expires_at is None:
            self.expires_at = self.created_at + DEFAULT_LIFETIME
        if self.expires_at <= self.created_at:
            raise ValidationError({"expires_at": "A token must expire after it is issued."})
        if self.expires_at > self.created_at + MAX_LIFETIME:
            raise ValidationError({"expires_at": "A token lives a year at most."})

    def set_new_secret(self) -> str:
        """Give the token a fresh secret and return it: the only time it can be read."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.prefix = secret[: len(TOKEN_PREFIX) + 6]
        self.key_hash = hash_secret(secret)
        return secret

    @classmethod
    def issue(
        cls, user: User, name: str, *, lifetime: timedelta = DEFAULT_LIFETIME
    ) -> tuple[ApiToken, str]:
        """A new saved token of `user` issued by no person (a script, the bench), and its secret;
        people issue through plant.token_actions.do_issue_api_token."""
        from plant.token_actions import do_issue_api_token

        token = cls(user=user, name=name)
        token.expires_at = token.created_at + lifetime
        return token, do_issue_api_token(token, by=None)

    @classmethod
    def authenticate(cls, secret: str, *, now: datetime | None = None) -> ApiToken:
        """The live token a secret belongs to; TokenRefused says why there is none.

        Notes when the token was last used.
        """
        now = now or timezone.now()
        token = (
            cls.objects.select_related("user").filter(key_hash=hash_secret(secret)).first()
            if secret.startswith(TOKEN_PREFIX)
            else None
        )
        if token is None or not token.user.is_active:
            raise TokenRefused("the bearer token is not valid", token)
        if token.revoked_at is not None:
            raise TokenRefused(f"the bearer token was revoked at {_iso(token.revoked_at)}", token)
        if token.expires_at <= now:
            raise TokenRefused(f"the bearer token expired at {_iso(token.expires_at)}", token)
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            cls.objects.filter(pk=token.pk).update(last_used_at=now)
        return token


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
