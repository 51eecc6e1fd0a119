"""Security events: signs of someone trying a door they may not open, append-only.

Login failures and lockouts, websockets refused for their origin or their user, bearer tokens
that are not valid or are used to write, MQTT identities the broker refused. Rows are written
only by plant.security_events.record; nothing edits or deletes one: the model refuses, and
database triggers (migration 0018) refuse UPDATE, DELETE and TRUNCATE from any client too.

Like the configuration history, a row holds names and ids rather than foreign keys, so that
removing a user or a plant never has to touch the record of what was tried.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone


class SecurityEvent(models.Model):
    """One refused attempt to get in or to do more than allowed, with who and from where."""

    class Kind(models.TextChoices):
        LOGIN_FAILED = "login_failed", "login failed"
        LOGIN_LOCKED_OUT = "login_locked_out", "login locked out"
        SOCKET_ORIGIN_REFUSED = "socket_origin_refused", "websocket from a foreign origin"
        SOCKET_UNAUTHENTICATED = "socket_unauthenticated", "websocket without a login"
        SOCKET_FORBIDDEN = "socket_forbidden", "websocket to a screen not allowed"
        TOKEN_REFUSED = "token_refused", "API token refused"
        TOKEN_MISUSED = "token_misused", "API token used to write"
        MQTT_IDENTITY_REFUSED = "mqtt_identity_refused", "MQTT identity refused"
        SSO_REFUSED = "sso_refused", "single sign-on refused"

    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    username = models.CharField(
        max_length=150, blank=True, help_text="The name given or logged in, if any."
    )
    user_id = models.IntegerField(null=True, help_text="The user's id, if a known user.")
    source = models.CharField(
        max_length=200, blank=True, help_text="Where it came from: an address or a client id."
    )
    plant_id = models.BigIntegerField(null=True, help_text="The plant it concerns, if any.")
    detail = models.CharField(max_length=500, blank=True, help_text="What was tried, in words.")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at", "-id"], name="security_event_recent"),
            models.Index(fields=["plant_id", "-at"], name="security_event_plant"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    kind__in=[
                        "login_failed",
                        "login_locked_out",
                        "socket_origin_refused",
                        "socket_unauthenticated",
                        "socket_forbidden",
                        "token_refused",
                        "token_misused",
                        "mqtt_identity_refused",
                        "sso_refused",
                    ]
                ),
                name="security_event_kind_known",
            ),
        ]

    def __str__(self) -> str:
        who = f" {self.username}" if self.username else ""
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()}{who}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("Security events are append-only: never edited.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("Security events are append-only: never deleted.")
