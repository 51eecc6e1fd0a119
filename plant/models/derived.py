"""Derived values: tags whose values the ingest worker computes (plant.derived, ingest.derived).

A derived tag is an ordinary tag (history, live screens, alarm definitions all work on it as on
any other), except that no device publishes it: the worker refuses MQTT messages on its topic.
A derived job is a periodic computation inside the worker that writes such tags; its row keeps
how far it has got (its cursors, committed with the values it wrote) and which worker holds
its lease. Rows change only through plant.actions.derived.
"""

from __future__ import annotations

from django.db import models


class DerivedJob(models.Model):
    """A periodic computation of the ingest worker: how far it has got, and who runs it."""

    name = models.SlugField(max_length=64, unique=True, help_text="e.g. 'spc'.")
    cursors = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per source, how far its results are stored; committed with those results, "
        "so a restart resumes there and recomputes what was not stored.",
    )
    runner = models.CharField(max_length=100, blank=True, help_text="The worker holding it.")
    lease_until = models.DateTimeField(null=True, blank=True)
    ran_at = models.DateTimeField(null=True, blank=True, help_text="Its latest stored run.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DerivedTag(models.Model):
    """Marks a tag as computed by a derived job, from a source tag where there is one."""

    tag = models.OneToOneField("plant.Tag", on_delete=models.CASCADE, related_name="derived")
    job = models.SlugField(max_length=64, help_text="The derived job that writes it.")
    source = models.ForeignKey(
        "plant.Tag",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="derived_tags",
        help_text="The tag it is computed from.",
    )

    class Meta:
        ordering = ["tag_id"]

    def __str__(self) -> str:
        return f"{self.tag} (derived by {self.job})"
