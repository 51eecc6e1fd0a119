"""The historian's pages and endpoints: the trend page, the history API, current values, export.

Every endpoint shows only tags of plants the user may see (plant.queries.visible_plants): a
tag of another plant is answered as if it did not exist. The API speaks UTC; the trend page
shows the plant's own time zone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from hmi import openapi
from hmi.api import api_view, form_error, json_error
from hmi.csv_safety import csv_text
from hmi.history_forms import CurrentForm, ExportForm, HistoryForm, TrendForm
from hmi.readings import vibration_limits
from plant.historian import (
    History,
    HistoryError,
    history,
    hold_seconds,
    iter_buckets,
    iter_raw,
)
from plant.markers import markers
from plant.models import LatestValue, Tag
from plant.quality import label_of
from plant.queries import format_value, visible_plants
from plant.read_replica import history_connection

RANGE_LABELS = [("hour", "Last hour"), ("shift", "Shift (8 h)"), ("day", "Day"), ("week", "Week")]


def iso(moment: datetime | None) -> str | None:
    """An instant as ISO-8601 in UTC with a Z, as the API gives every time."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def visible_tags(user: User | AnonymousUser) -> QuerySet[Tag]:
    """The tags of every plant the user may see, with their machine, line and plant."""
    return Tag.objects.filter(machine__line__plant__in=visible_plants(user)).select_related(
        "machine__line__plant"
    )


def tags_or_404(user: User | AnonymousUser, ids: list[int]) -> list[Tag]:
    """The tags with these ids, in this order; a 404 names any the user may not see."""
    found = {tag.pk: tag for tag in visible_tags(user).filter(pk__in=ids)}
    missing = [str(pk) for pk in ids if pk not in found]
    if missing:
        raise Http404(f"no tag {', '.join(missing)} that you may see")
    return [found[pk] for pk in ids]


def tag_label(tag: Tag) -> str:
    return f"{tag.machine.line.name} / {tag.machine.name} / {tag.description or tag.key}"


@api_view
def history_api(request: HttpRequest) -> HttpResponse:
    """History of one or more tags, raw or as min/max/avg buckets, with the times in UTC."""
    form = HistoryForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    query = form.cleaned_data
    tags = tags_or_404(request.user, query["tag"])
    reads = history_connection()  # the read replica, when there is one
    try:
        found = [
            history(
                tag,
                query["start"],
                query["end"],
                points=query["points"],
                bucket_s=query["bucket"],
                connection=reads,
            )
            for tag in tags
        ]
    except HistoryError as exc:
        return json_error(400, str(exc))
    series = [series_json(tag, one) for tag, one in zip(tags, found, strict=True)]
    return JsonResponse({"start": iso(query["start"]), "end": iso(query["end"]), "series": series})


def series_json(tag: Tag, found: History) -> dict[str, object]:
    """One tag's history as columns: time with value and quality, or with min, max, avg, count."""
    head: dict[str, object] = {
        "tag": tag.pk,
        "name": tag_label(tag),
        "unit": tag.unit,
        "precision": tag.precision,
        "data_type": tag.data_type,
        "time_zone": tag.machine.line.plant.time_zone,
        "start": iso(found.start),
        "end": iso(found.end),
        "bucket_s": found.bucket_s,
        "source": found.source,
        # Points further apart than this are not joined: the chart shows a gap between them.
        "max_gap_s": max(hold_seconds(tag), found.bucket_s or 0),
    }
    if found.bucket_s is None:
        rows = found.samples
        return head | {
            "time": [iso(s.time) for s in rows],
            "value": [s.value for s in rows],
            "text": [s.text for s in rows],
            "quality": [label_of(s.quality) for s in rows],
        }
    buckets = found.buckets
    return head | {
        "time": [iso(b.time) for b in buckets],
        "min": [b.min for b in buckets],
        "max": [b.max for b in buckets],
        "avg": [b.avg for b in buckets],
        "count": [b.count for b in buckets],
    }


@api_view
def current_api(request: HttpRequest) -> HttpResponse:
    """The latest value of each tag, as the live screens show it."""
    form = CurrentForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    tags = tags_or_404(request.user, form.cleaned_data["tag"])
    latest = {v.tag_id: v for v in LatestValue.objects.filter(tag__in=tags)}
    return JsonResponse({"values": [current_json(tag, latest.get(tag.pk)) for tag in tags]})


def current_json(tag: Tag, latest: LatestValue | None) -> dict[str, object]:
    if latest is None:
        return {"tag": tag.pk, "time": None, "value": None, "text": None, "quality": None}
    return {
        "tag": tag.pk,
        "time": iso(latest.time),
        "value": latest.value,
        "text": latest.text,
        "quality": label_of(latest.quality),
        "formatted": format_value(tag, latest.value, latest.text),
    }


@api_view
def markers_api(request: HttpRequest) -> HttpResponse:
    """Setpoint writes, alarm events and the like of the tags in a range, for the time axis."""
    form = HistoryForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    query = form.cleaned_data
    tags = tags_or_404(request.user, query["tag"])
    found = markers([tag.pk for tag in tags], query["start"], query["end"])
    rows = [{"time": iso(m.time), "tag": m.tag_id, "kind": m.kind, "text": m.text} for m in found]
    return JsonResponse({"markers": rows})


@api_view
def export_csv(request: HttpRequest) -> HttpResponseBase:
    """Raw samples or buckets of the tags over a range as CSV, streamed as it is read."""
    form = ExportForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    query = form.cleaned_data
    tags = tags_or_404(request.user, query["tag"])
    rows = csv_lines(tags, query["start"], query["end"], query["bucket"])
    response = StreamingHttpResponse(_stream(rows), content_type="text/csv; charset=utf-8")
    stamp = query["start"].strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="history-{stamp}.csv"'
    return response


def csv_lines(
    tags: list[Tag], start: datetime, end: datetime, bucket_s: int | None
) -> Iterator[str]:
    """The CSV text, one chunk of rows (one database query's worth) at a time."""
    lead = ["tag", "topic", "time", "local_time"]
    reads = history_connection()  # here, in the thread that pulls the chunks
    if bucket_s is None:
        yield csv_text([[*lead, "value", "text", "quality"]])
    else:
        yield csv_text([[*lead, "min", "max", "avg", "count"]])
    for tag in tags:
        zone = ZoneInfo(tag.machine.line.plant.time_zone)
        if bucket_s is None:
            for samples in iter_raw(tag.pk, start, end, connection=reads):
                yield csv_text(
                    [*_lead(tag, s.time, zone), s.value, s.text, label_of(s.quality)]
                    for s in samples
                )
        else:
            for buckets in iter_buckets(tag.pk, start, end, bucket_s, connection=reads):
                yield csv_text(
                    [*_lead(tag, b.time, zone), b.min, b.max, b.avg, b.count] for b in buckets
                )


def _lead(tag: Tag, moment: datetime, zone: ZoneInfo) -> list[object]:
    """The first columns of a row: the tag, and the time in UTC and in the plant's zone."""
    return [tag.pk, tag.topic, iso(moment), moment.astimezone(zone).isoformat()]


def _next_chunk(lines: Iterator[str]) -> str | None:
    return next(lines, None)


async def _stream(lines: Iterator[str]) -> AsyncIterator[bytes]:
    """Pull each chunk in Django's sync thread (it queries the database), then send it.

    An asynchronous iterator lets daphne send each chunk as it comes: Django's ASGI handler
    would read a synchronous one to the end first, holding the whole export in memory.
    """
    pull = sync_to_async(_next_chunk)
    while (chunk := await pull(lines)) is not None:
        yield chunk.encode()


@require_safe
def trend(request: HttpRequest) -> HttpResponse:
    """Pick tags and a range; trend.js draws them from the history API and keeps the tail live."""
    form = TrendForm(request.GET)
    valid = form.is_valid()
    tags = trend_tags(request.user)
    by_id = {tag.pk: tag for tag in tags}
    chosen = [by_id[pk] for pk in form.cleaned_data.get("tag", []) if pk in by_id]
    # The page shows the time zone of the first chosen tag's plant, or of the first plant.
    first = chosen[0] if chosen else (tags[0] if tags else None)
    zone = first.machine.line.plant.time_zone if first else "UTC"
    context: dict[str, object] = {"form": form, "tags": tags, "chosen": chosen, "zone": zone}
    context["ranges"] = RANGE_LABELS
    if valid:
        range_key = form.cleaned_data["range"]
        start, end = form.bounds(zone, timezone.now())
        context |= {
            "range": range_key,
            "start_local": wall_clock(start, zone),
            "end_local": wall_clock(end, zone),
            "config": trend_config(range_key, chosen, start, end, zone),
        }
    return render(request, "hmi/trend.html", context, status=200 if valid else 400)


def wall_clock(moment: datetime, zone: str) -> str:
    """An instant as the plant's clocks show it, for a datetime-local input."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def trend_tags(user: User | AnonymousUser) -> list[Tag]:
    """The tags a trend can draw (numbers and bools), in the order of the asset tree."""
    tags = visible_tags(user).exclude(data_type=Tag.DataType.STRING)
    tags = tags.select_related("vibration_monitor")  # its zones are drawn on the chart
    order = ["machine__line__plant__name", "machine__line__position", "machine__line__name"]
    return list(tags.order_by(*order, "machine__position", "machine__name", "key"))


def zones_json(tag: Tag) -> dict[str, float] | None:
    """A vibration tag's ISO 10816-3 zone boundaries, which the chart draws as lines."""
    limits = vibration_limits(tag)
    return None if limits is None else {"ab": limits.ab, "bc": limits.bc, "cd": limits.cd}


def trend_config(
    range_key: str, tags: list[Tag], start: datetime, end: datetime, zone: str
) -> dict[str, object]:
    """What trend.js needs, handed over as JSON in the page."""
    return {
        "range": range_key,
        "live": range_key != "custom",
        "start": iso(start),
        "end": iso(end),
        "timeZone": zone,
        "tags": [
            {"id": t.pk, "name": tag_label(t), "unit": t.unit, "precision": t.precision}
            | {"dataType": t.data_type, "zones": zones_json(t)}
            for t in tags
        ],
        "urls": {
            "history": reverse("hmi:history_api"),
            "current": reverse("hmi:current_api"),
            "markers": reverse("hmi:markers_api"),
            "export": reverse("hmi:history_export"),
        },
    }


# --- the OpenAPI description of these endpoints (hmi/openapi.py) ---------------------------

_RANGE = [
    openapi.query("start", openapi.ref("Time"), "Start of the range (default: end - 1 hour)."),
    openapi.query("end", openapi.ref("Time"), "End of the range, exclusive (default: now)."),
]
_SERIES = {
    "type": "object",
    "required": ["tag", "name", "unit", "precision", "data_type", "time_zone", "start", "end",
                 "bucket_s", "source", "max_gap_s", "time"],
    "properties": {
        "tag": {"type": "integer"}, "name": {"type": "string"}, "unit": {"type": "string"},
        "precision": {"type": "integer"},
        "data_type": {"enum": ["float", "int", "bool", "string"]},
        "time_zone": {"type": "string"}, "start": openapi.ref("Time"), "end": openapi.ref("Time"),
        "bucket_s": {"type": ["integer", "null"], "description": "null: raw values"},
        "source": {"enum": ["raw", "samples", "sample_1m", "sample_1h", "rollup_1m", "rollup_1h"]},
        "max_gap_s": {"type": "integer"},
        "time": {"type": "array", "items": openapi.ref("Time")},
        "value": {"type": "array", "items": openapi.ref("NullableNumber")},
        "text": {"type": "array", "items": {"type": ["string", "null"]}},
        "quality": {"type": "array", "items": {"enum": ["good", "uncertain", "bad"]}},
        "min": {"type": "array", "items": {"type": "number"}},
        "max": {"type": "array", "items": {"type": "number"}},
        "avg": {"type": "array", "items": {"type": "number"}},
        "count": {"type": "array", "items": {"type": "integer"}},
    },
}  # fmt: skip
openapi.add_paths(
    {
        "/api/history/": openapi.get(
            "history", "History of up to 8 tags: raw values, or min/max/avg buckets",
            [openapi.query("tag", openapi.ids(8), "Tag ids (repeat: tag=1&tag=2).",
                           required=True), *_RANGE,
             openapi.query("points", {"type": "integer", "minimum": 2, "maximum": 10_000},
                           "Most points per tag (default 1000): raw values if they fit."),
             openapi.query("bucket", {"type": "integer", "minimum": 1, "maximum": 400 * 86400},
                           "Bucket width in seconds (instead of points).")],
            openapi.json_body("Each tag's series.", {
                "type": "object", "required": ["start", "end", "series"],
                "properties": {"start": openapi.ref("Time"), "end": openapi.ref("Time"),
                               "series": {"type": "array", "items": openapi.ref("Series")}},
            }),
            tags=["history"],
        ),
        "/api/current/": openapi.get(
            "current", "The latest value of up to 100 tags",
            [openapi.query("tag", openapi.ids(100), "Tag ids (repeat).", required=True)],
            openapi.json_body("Each tag's latest value (nulls: none yet).", {
                "type": "object", "required": ["values"],
                "properties": {"values": {"type": "array", "items": {
                    "type": "object", "required": ["tag", "time", "value", "text", "quality"],
                    "properties": {
                        "tag": {"type": "integer"},
                        "time": {"oneOf": [openapi.ref("Time"), {"type": "null"}]},
                        "value": openapi.ref("NullableNumber"),
                        "text": {"type": ["string", "null"]},
                        "quality": {"enum": ["good", "uncertain", "bad", None]},
                        "formatted": {"type": "string"},
                    },
                }}},
            }),
            tags=["history"],
        ),
        "/api/markers/": openapi.get(
            "markers", "Setpoint writes and alarm events of tags in a range",
            [openapi.query("tag", openapi.ids(8), "Tag ids (repeat).", required=True), *_RANGE],
            openapi.json_body("The markers, oldest first.", {
                "type": "object", "required": ["markers"],
                "properties": {"markers": {"type": "array", "items": {
                    "type": "object", "required": ["time", "tag", "kind", "text"],
                    "properties": {"time": openapi.ref("Time"), "tag": {"type": "integer"},
                                   "kind": {"type": "string"}, "text": {"type": "string"}},
                }}},
            }),
            tags=["history"],
        ),
    },
    {"Series": _SERIES},
)  # fmt: skip
