"""The parameters of the quality API, chart API and export, checked with forms (UTC times)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from hmi.history_forms import EARLIEST, BoundedDateTimeField

# Hourly capability and ℮ batches read every raw value (subgroup ranges, counts below T1):
# two days are 173,000 values at 1 Hz, well inside a web request's statement timeout on a
# loaded box; a week took seconds (bench/spc_query.py). Longer ranges need the closed hours
# pre-aggregated (not yet: see the README).
MAX_HOURS_SPAN = timedelta(days=2)
MAX_CHART_SPAN = timedelta(days=1)  # chart points: a day of values at most (10,000 of them)


class QualityRangeForm(forms.Form):
    """One tag's range: `end` defaults to now, `start` to `default_span` before it."""

    default_span = timedelta(hours=24)
    max_span = MAX_HOURS_SPAN

    tag = forms.IntegerField(min_value=1)
    start = BoundedDateTimeField(required=False)
    end = BoundedDateTimeField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "start" in data and "end" in data:
            data["end"] = data["end"] or timezone.now()
            data["start"] = data["start"] or max(data["end"] - self.default_span, EARLIEST)
            if data["start"] >= data["end"]:
                raise ValidationError("start must be before end")
            if data["end"] - data["start"] > self.max_span:
                days = self.max_span.days
                self.add_error("end", f"a range spans at most {days} days; this one is longer")
        return data


class ChartForm(QualityRangeForm):
    """The control charts' points: the last hour by default, a day at most."""

    default_span = timedelta(hours=1)
    max_span = MAX_CHART_SPAN
