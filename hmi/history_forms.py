"""The parameters of the history API, the export and the trend page, checked with forms.

API times are ISO-8601 and UTC unless they carry an offset. The trend page's custom range is
typed in the plant's own time zone, as its clocks show it. Every range is bounded: times between
2000 and 2200 and at most 400 days long, so no request can ask for millennia (seconds of CPU
per tag, then an OverflowError at year 9999) and every legal one is answered.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from plant.historian import MAX_POINTS, bucket_count

MAX_TAGS = 8  # a trend of more lines than this is no longer readable
MAX_EXPORT_BUCKETS = 10_000_000
# The historian holds nothing older than the product, and a plant runs for decades, not ages.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_SPAN = timedelta(days=400)  # a year and a month: a year over year comparison fits
MAX_BUCKET_S = int(MAX_SPAN.total_seconds())
RANGES = {
    "hour": timedelta(hours=1),
    "shift": timedelta(hours=8),
    "day": timedelta(days=1),
    "week": timedelta(days=7),
}
DEFAULT_SPAN = RANGES["hour"]


class TagIdsField(forms.Field):
    """One or more tag ids, from a repeated `tag` parameter: ?tag=1&tag=2."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, most: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.most = most

    def to_python(self, value: Any) -> list[int]:
        values = [v for v in (value or []) if str(v).strip()]
        if not values:
            return []
        try:
            ids = list(dict.fromkeys(int(v) for v in values))
        except ValueError:
            raise ValidationError("tag ids are whole numbers, e.g. tag=3&tag=7") from None
        if len(ids) > self.most:
            raise ValidationError(f"at most {self.most} tags at once")
        return ids


class BoundedDateTimeField(forms.DateTimeField):
    """A time between EARLIEST and LATEST: beyond them lie only overflows and empty tables."""

    def validate(self, value: datetime | None) -> None:
        super().validate(value)
        if value is not None and not EARLIEST <= value <= LATEST:
            raise ValidationError(
                f"give a time between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"
            )


def check_span(form: forms.Form, start: datetime, end: datetime) -> None:
    """Name `end` when the range is empty or longer than MAX_SPAN."""
    if start >= end:
        raise ValidationError("start must be before end")
    if end - start > MAX_SPAN:
        form.add_error("end", f"a range spans at most {MAX_SPAN.days} days; this one is longer")


class RangeForm(forms.Form):
    """A time range in UTC: `end` defaults to now, `start` to an hour before `end`."""

    tag = TagIdsField(most=MAX_TAGS)
    start = BoundedDateTimeField(required=False)
    end = BoundedDateTimeField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "start" in data and "end" in data:
            data["end"] = data["end"] or timezone.now()
            # The default start stays in bounds too: an hour before 2000-01-01T00:30 is not.
            data["start"] = data["start"] or max(data["end"] - DEFAULT_SPAN, EARLIEST)
            check_span(self, data["start"], data["end"])
        return data


class HistoryForm(RangeForm):
    """The history API: at most `points` values per tag, or buckets of `bucket` seconds."""

    points = forms.IntegerField(required=False, min_value=2, max_value=MAX_POINTS)
    bucket = forms.IntegerField(required=False, min_value=1, max_value=MAX_BUCKET_S)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("points") and data.get("bucket"):
            raise ValidationError("give points or bucket, not both")
        if data.get("bucket") and "start" in data and not self.errors:
            count = bucket_count(data["start"], data["end"], data["bucket"])
            if count > MAX_POINTS:
                raise ValidationError(
                    f"bucket={data['bucket']} cuts this range into {count} buckets; "
                    f"the most is {MAX_POINTS}"
                )
        return data


class ExportForm(RangeForm):
    """The CSV export: raw samples, or buckets of `bucket` seconds."""

    bucket = forms.IntegerField(required=False, min_value=1, max_value=MAX_BUCKET_S)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        bucket = data.get("bucket")
        count = (
            bucket_count(data["start"], data["end"], bucket)
            if bucket and "start" in data and not self.errors
            else 0
        )
        if count > MAX_EXPORT_BUCKETS:
            raise ValidationError(f"at most {MAX_EXPORT_BUCKETS} buckets per tag")
        return data


class CurrentForm(forms.Form):
    """The current-values API: the tags to read."""

    tag = TagIdsField(most=100)


class TrendForm(forms.Form):
    """The trend page: tags, and a range ending now or a custom one in the plant's time zone."""

    tag = TagIdsField(most=MAX_TAGS, required=False)
    range = forms.ChoiceField(choices=[(key, key) for key in [*RANGES, "custom"]], required=False)
    start = BoundedDateTimeField(
        required=False, widget=forms.DateTimeInput({"type": "datetime-local"})
    )
    end = BoundedDateTimeField(
        required=False, widget=forms.DateTimeInput({"type": "datetime-local"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["range"] = data.get("range") or "hour"
        if data["range"] == "custom":
            if not data.get("start") or not data.get("end"):
                raise ValidationError("a custom range needs a start and an end")
            check_span(self, data["start"], data["end"])
        return data

    def bounds(self, zone: str, now: datetime) -> tuple[datetime, datetime]:
        """The range in UTC; custom times are read as wall-clock times of `zone`."""
        data = self.cleaned_data
        if data["range"] != "custom":
            return now - RANGES[data["range"]], now
        tz = zoneinfo.ZoneInfo(zone)
        return (_wall_clock(data["start"], tz), _wall_clock(data["end"], tz))


def _wall_clock(value: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """The instant a clock in `zone` shows as `value`, whatever zone the form parsed it in."""
    naive = timezone.make_naive(value) if timezone.is_aware(value) else value
    return timezone.make_aware(naive, zone)
