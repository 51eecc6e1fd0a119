"""The historian's own rollups on plain PostgreSQL: per tag, per minute and per hour.

They hold what TimescaleDB's continuous aggregates sample_1m and sample_1h hold, column for
column, so the historian reads either with the same query (plant/historian.py). A trigger on
the samples table keeps them current as each insert commits (plant/rollups.py); no code
writes them otherwise, except `manage.py rollups --rebuild`.
"""

from __future__ import annotations

from django.db import models


class Rollup(models.Model):
    """The good numeric values of one tag within one bucket: [bucket, bucket + width)."""

    pk = models.CompositePrimaryKey("tag_id", "bucket")
    # As on Sample: no foreign key (the history of deleted tags is kept, and a constraint
    # check would cost every insert), and the primary key's index serves lookups by tag.
    tag = models.ForeignKey(
        "plant.Tag",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    bucket = models.DateTimeField()
    min = models.FloatField()
    max = models.FloatField()
    avg = models.FloatField()
    sum = models.FloatField(help_text="With count, merges buckets into wider ones exactly.")
    count = models.BigIntegerField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.tag_id}@{self.bucket.isoformat()}: {self.count} values"


class MinuteRollup(Rollup):
    """A tag's values within one minute (plain PostgreSQL's sample_1m)."""

    class Meta:
        db_table = "plant_rollup_1m"


class HourRollup(Rollup):
    """A tag's values within one hour (plain PostgreSQL's sample_1h)."""

    class Meta:
        db_table = "plant_rollup_1h"
