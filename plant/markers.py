"""Events marked on a trend's time axis: setpoint writes, alarm events, whatever else is added.

Each kind of marker comes from a model of the plant app, described by a MarkerSource. A
source whose model (or whose fields) does not exist in this installation gives no markers
instead of failing, so a trend works before, and while, the alarm and setpoint models land.
Add a kind by appending a MarkerSource to SOURCES.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from plant import alarming

log = logging.getLogger(__name__)
MAX_MARKERS = 500


@dataclass(frozen=True)
class Marker:
    """Something that happened to a tag at an instant."""

    time: datetime
    tag_id: int
    kind: str
    text: str


@dataclass(frozen=True)
class MarkerSource:
    """Where markers of one kind come from; fields are given as candidates, the first found wins.

    `time_fields` name the instant; `tag_paths` lead from a row to its tag (ORM lookups, such
    as "alarm__definition__tag"); `describe` words one row.
    """

    kind: str
    model: str
    time_fields: tuple[str, ...]
    tag_paths: tuple[str, ...]
    describe: Callable[[models.Model], str] = str

    def markers(self, tag_ids: Iterable[int], start: datetime, end: datetime) -> list[Marker]:
        """This source's markers of the tags in [start, end), oldest first; [] if unavailable."""
        resolved = self._resolve()
        if resolved is None:
            return []
        model, time_field, tag_path = resolved
        rows = (
            model._default_manager.filter(
                **{f"{tag_path}__in": list(tag_ids), f"{time_field}__gte": start},
                **{f"{time_field}__lt": end},
            )
            .annotate(marker_tag_id=models.F(tag_path))
            .order_by(time_field)[:MAX_MARKERS]
        )
        return [
            Marker(getattr(row, time_field), row.marker_tag_id, self.kind, self.describe(row))
            for row in rows
        ]

    def _resolve(self) -> tuple[type[models.Model], str, str] | None:
        try:
            model = apps.get_model("plant", self.model)
        except LookupError:
            return None
        time_field = next((f for f in self.time_fields if _leads_to(model, f)), None)
        tag_path = next((p for p in self.tag_paths if _leads_to(model, p)), None)
        if time_field is None or tag_path is None:
            log.debug("marker source %s: %s lacks the fields it needs", self.kind, self.model)
            return None
        return model, time_field, tag_path


def _leads_to(model: type[models.Model], path: str) -> bool:
    """True when the ORM lookup `path` (fields joined by __) exists on `model`."""
    current: type[models.Model] | None = model
    for name in path.split("__"):
        if current is None:
            return False
        try:
            field = current._meta.get_field(name)
        except FieldDoesNotExist:
            return False
        current = field.related_model if field.is_relation else None  # type: ignore[assignment]
    return True


def describe_setpoint_write(write: models.Model) -> str:
    value = getattr(write, "value", None)
    state = getattr(write, "get_state_display", lambda: "")()
    who = getattr(write, "user", None) or "system"
    return f"setpoint → {value:g} ({state}) by {who}" if value is not None else str(write)


def describe_alarm_event(entry: models.Model) -> str:
    event, message = getattr(entry, "event", ""), getattr(entry, "message", "")
    priority = getattr(entry, "priority", "")
    if not event:
        return str(entry)
    words = alarming.event_label(event)
    return f"{words} ({priority}): {message}" if priority else f"{words}: {message}"


SOURCES: list[MarkerSource] = [
    MarkerSource(
        "setpoint",
        "SetpointWrite",
        time_fields=("requested_at", "created_at"),
        tag_paths=("tag",),
        describe=describe_setpoint_write,
    ),
    MarkerSource(
        "alarm",
        "AlarmJournalEntry",
        time_fields=("at", "time", "occurred_at", "created_at"),
        tag_paths=("tag", "alarm__tag", "alarm__definition__tag", "definition__tag"),
        describe=describe_alarm_event,
    ),
]


def markers(tag_ids: Iterable[int], start: datetime, end: datetime) -> list[Marker]:
    """The markers of every available source for these tags in [start, end), oldest first."""
    ids = list(tag_ids)
    found = [marker for source in SOURCES for marker in source.markers(ids, start, end)]
    return sorted(found, key=lambda marker: marker.time)
