"""Plain constructors for test data that the product's own actions do not make."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from plant.models import LatestValue, Plant, Quality, Tag


def demo_tag(plant: Plant, key: str) -> Tag:
    """A tag of the demo plant by key, with its machine and line (the actions' groups)."""
    return Tag.objects.select_related("machine__line").get(machine__line__plant=plant, key=key)


def record_value(
    tag: Tag, value: float, *, quality: int = Quality.GOOD, age_s: float = 0.0
) -> LatestValue:
    """Make `value` the tag's latest value, as the ingest worker would, `age_s` seconds old."""
    at = timezone.now() - timedelta(seconds=age_s)
    latest, _ = LatestValue.objects.update_or_create(
        tag=tag,
        defaults={"time": at, "value": value, "quality": quality,
                  "good_at": at if quality == Quality.GOOD else None},
    )  # fmt: skip
    return latest
