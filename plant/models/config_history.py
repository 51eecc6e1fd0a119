"""The configuration history: every change to the plant's configuration, append-only.

Rows are written by the signal handlers of plant.config_history, in the transaction of the
change they record. Nothing edits or deletes one: the model refuses, and database triggers
(migration 0012) refuse UPDATE, DELETE and TRUNCATE from any other client too.

A row holds names and ids, not foreign keys: a foreign key would have to be cleared or
cascaded when the plant, the object or the user goes, and that is an UPDATE or DELETE here.
"""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class ConfigChange(models.Model):
    """One create, update or delete of a configured object, with who did it and what changed."""

    class Action(models.TextChoices):
        CREATE = "create", "created"
        UPDATE = "update", "changed"
        DELETE = "delete", "deleted"

    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(
        max_length=150, help_text="The user's name, 'system', or the command that made it."
    )
    actor_user_id = models.IntegerField(null=True, help_text="The user's id, if a person.")
    model = models.CharField(max_length=100, help_text="app_label.model, e.g. plant.tag.")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, help_text="The object in words, then.")
    plant_id = models.BigIntegerField(null=True, help_text="The plant it belongs to, if any.")
    action = models.CharField(max_length=6, choices=Action.choices)
    # {field: {"old": value, "new": value}}; a many-to-many field's values are lists of names.
    changes = models.JSONField(default=dict, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at", "-id"], name="config_change_recent"),
            models.Index(fields=["plant_id", "-at"], name="config_change_plant"),
            models.Index(fields=["model", "object_id", "-at"], name="config_change_object"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=["create", "update", "delete"]),
                name="config_change_action_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("The configuration history is append-only: never edited.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("The configuration history is append-only: never deleted.")
