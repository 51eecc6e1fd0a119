"""The historian's own rollups on plain PostgreSQL: per tag, per minute and per hour.

They hold what TimescaleDB's continuous aggregates sample_1m and sample_1h hold, column for
column. A trigger on the samples table adds each insert's partial minutes to PendingRollup
as it commits, and the ingest worker folds those into MinuteRollup and HourRollup every few
seconds; the historian reads both at once through the views rollup_1m and rollup_1h
(plant/rollups.py). No code writes them otherwise, except `manage.py rollups`.
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


class PendingRollup(models.Model):
    """A partial minute of one tag, from one insert, not yet folded into the rollups.

    Inserts add rows here instead of updating a minute's row again and again: the row of a
    busy minute would be rewritten by every batch, and its dead versions pile up whenever a
    long transaction holds back their cleanup. `batch` tells apart the inserts into one minute.
    """

    pk = models.CompositePrimaryKey("tag_id", "bucket", "batch")
    tag = models.ForeignKey(
        "plant.Tag",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    bucket = models.DateTimeField()
    batch = models.BigIntegerField(help_text="One number per insert statement.")
    min = models.FloatField()
    max = models.FloatField()
    sum = models.FloatField()
    count = models.BigIntegerField()

    class Meta:
        db_table = "plant_rollup_pending"

    def __str__(self) -> str:
        return f"{self.tag_id}@{self.bucket.isoformat()} (insert {self.batch}): {self.count}"
