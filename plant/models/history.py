"""The historian: samples, each tag's latest value, and the messages the worker turned away."""

from __future__ import annotations

from django.db import models

from plant.quality import Quality


class Sample(models.Model):
    """One stored value of one tag at one time; (tag, time) is the key, so a repeat adds nothing.

    With TimescaleDB this table is a hypertable compressed by tag (see migration 0003);
    without it, the primary key's (tag_id, time) index serves every history query.
    """

    pk = models.CompositePrimaryKey("tag_id", "time")
    # No database-level foreign key: the historian keeps history of deleted tags, and the
    # constraint check would cost the batch insert a lookup per row. No index of its own
    # either: the primary key's (tag_id, time) index serves lookups by tag, and a second
    # index cost every insert a quarter of its time.
    tag = models.ForeignKey(
        "plant.Tag",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    time = models.DateTimeField()
    value = models.FloatField(null=True, help_text="Numeric value; bools are 0/1.")
    text = models.TextField(null=True, help_text="Value of a string/state tag.")
    quality = models.SmallIntegerField(choices=Quality.choices, default=Quality.GOOD)

    class Meta:
        db_table = "plant_sample"

    def __str__(self) -> str:
        return f"{self.tag_id}@{self.time.isoformat()}"


class LatestValue(models.Model):
    """The newest value of a tag, kept current by the ingest worker for the screens."""

    tag = models.OneToOneField(
        "plant.Tag", on_delete=models.CASCADE, primary_key=True, related_name="latest"
    )
    time = models.DateTimeField()
    value = models.FloatField(null=True)
    text = models.TextField(null=True)
    quality = models.SmallIntegerField(choices=Quality.choices, default=Quality.GOOD)
    # The last time the value had good quality, so a stale or bad value can say since when.
    good_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.tag_id}={self.value if self.text is None else self.text}"


class RejectedMessage(models.Model):
    """A telemetry message the worker could not store, kept with the reason so nothing is lost."""

    received_at = models.DateTimeField(db_index=True)
    topic = models.CharField(max_length=1024, db_index=True)
    reason = models.CharField(max_length=300)
    payload = models.BinaryField(help_text="The first bytes of the payload, as received.")
    payload_size = models.PositiveIntegerField()

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.topic}: {self.reason}"

    @property
    def payload_preview(self) -> str:
        return bytes(self.payload).decode("utf-8", errors="backslashreplace")


class UnknownTopic(models.Model):
    """A topic that carried telemetry but matches no tag: a candidate for a new tag."""

    topic = models.CharField(max_length=1024, unique=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    message_count = models.PositiveBigIntegerField(default=0)
    last_payload = models.BinaryField()

    class Meta:
        ordering = ["-last_seen_at"]
        # The admin's listing and the retention's cap both go by the latest sighting.
        indexes = [models.Index(fields=["last_seen_at"], name="plant_unknowntopic_seen")]

    def __str__(self) -> str:
        return self.topic


class RejectionTally(models.Model):
    """How many messages the worker refused on one day (UTC), kept when the rejected messages
    and unknown topics themselves are purged (ingest.retention)."""

    day = models.DateField(primary_key=True)
    rejected = models.PositiveBigIntegerField(default=0, help_text="Messages refused.")
    unknown_topic = models.PositiveBigIntegerField(
        default=0, help_text="Of them, messages on a topic no tag has."
    )

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.rejected} rejected"
