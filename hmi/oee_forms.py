"""The parameters of the OEE screens, API and export: which machine or line, which period.

A period is a shift (the one running now, or a named shift of a plant-local date), a day or an
ISO week of the plant's calendar, or (the API) any range of at most 31 days, ISO-8601 in UTC
unless it carries an offset. Days are the plant's own (plant.shifts.day_window).
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from hmi.history_forms import BoundedDateTimeField

PERIODS = [("shift", "Shift"), ("day", "Day"), ("week", "Week"), ("range", "Range")]
MAX_RANGE = timedelta(days=31)
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2199, 12, 31)


class PeriodForm(forms.Form):
    """Which period: a shift, day or week of the plant's calendar, or a range (the API)."""

    period = forms.ChoiceField(choices=PERIODS, required=False)
    date = forms.DateField(required=False, widget=forms.DateInput({"type": "date"}))
    shift = forms.CharField(required=False, max_length=50)
    start = BoundedDateTimeField(required=False)
    end = BoundedDateTimeField(required=False)

    def clean_date(self) -> dt.date | None:
        day: dt.date | None = self.cleaned_data.get("date")
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise ValidationError(f"give a date between {EARLIEST_DAY} and {LATEST_DAY}")
        return day

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["period"] = data.get("period") or "shift"
        if data["period"] == "range":
            start, end = data.get("start"), data.get("end")
            if start is None or end is None:
                if not self.errors:
                    raise ValidationError("a range needs a start and an end")
                return data
            if start >= end:
                raise ValidationError("start must be before end")
            if end - start > MAX_RANGE:
                self.add_error("end", f"a range spans at most {MAX_RANGE.days} days")
        elif data.get("shift") and data.get("date") is None:
            self.add_error("date", "a named shift needs the date it starts on")
        return data


class SubjectForm(PeriodForm):
    """The API and export: a machine's or a line's OEE (one of them)."""

    machine = forms.IntegerField(required=False, min_value=1)
    line = forms.IntegerField(required=False, min_value=1)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (data.get("machine") is None) == (data.get("line") is None) and not self.errors:
            raise ValidationError("give machine=<id> or line=<id> (one of them)")
        return data


def parse_started_at(text: str) -> datetime | None:
    """A stop's start as posted back (ISO-8601 with its offset), or None if it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
