"""The SPC run rules, evaluated live inside the ingest worker as a derived job (ingest.derived).

Once a second, for each tag with SPC settings, the job reads the values stored since its
cursor, plots them on the run rules' chart (subgroup means of n consecutive values, or each
value), and judges each new point by the enabled Nelson rules (plant.spc) against a centre and
σ: the admin's frozen ones, or those of the hour before, recomputed once a minute. Each point's
verdict is written to the tag's derived tags (plant.spc_tags): the flag (1 while a rule's
pattern ends there) and which rules, on change and at least once a minute. An ordinary digital
alarm on the flag raises the run-rule alarm through the existing alarm engine.

Where an admin enabled it (`loop_may_apply`), the job also moves the tag's setpoint once an
hour towards the target mean the last complete hour's spread asks for (plant.spc), by at most
the admin's bound, through plant.actions.loops and the audited write path.

Everything the job needs to go on (where it got to, the last points it plotted, the limits,
what it last wrote) is its cursor, committed with the values it wrote: a restarted worker
continues exactly where the last commit left off.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError

from ingest.derived import DerivedValue, Output
from plant import spc, spc_history
from plant.actions.loops import do_apply_recommended_setpoint
from plant.historian import ORIGIN
from plant.models import Sample, SetpointWrite, SpcSettings
from plant.quality import Quality
from plant.spc_tags import JOB, SpcTags, ensure_spc_tags

log = logging.getLogger(__name__)

START_BACK = timedelta(minutes=15)  # a tag's first run starts this far back
REFERENCE = timedelta(hours=1)  # limits come from the hour before the points they judge
LIMITS_EVERY = timedelta(minutes=1)
HEARTBEAT = timedelta(minutes=1)  # the flag is written at least this often
MAX_ROWS = 10_000  # values read per tag and run (a backlog is worked off run by run)
HOUR = timedelta(hours=1)
MIN_REFERENCE_POINTS = 10  # fewer points in the reference hour: no limits, points not judged


class SpcJob:
    """The run rules of every tag with SPC settings, once a second."""

    name = JOB
    period_s = 1.0

    def __init__(self) -> None:
        self.tags: dict[int, tuple[datetime, SpcTags]] = {}  # per settings row, when it changed

    def run(self, now: datetime, cursors: Mapping[str, Any]) -> Output:
        out = Output()
        settings = SpcSettings.objects.select_related(
            "tag__machine__line__plant", "tag__setpoint_tag"
        )
        for row in settings.order_by("pk"):
            key = str(row.tag_id)
            cursor = dict(cursors.get(key) or {})
            try:
                values, cursor = evaluate(row, self._tags(row), cursor, now)
            except ValueError as exc:  # settings the database let through but SPC cannot use
                log.warning("SPC of %s not evaluated: %s", row.tag, exc)
                values = []
            out.values += values
            out.cursors[key] = cursor
            if row.loop_may_apply:
                self._apply_hourly(row, cursor, now)
        return out

    def _apply_hourly(self, row: SpcSettings, cursor: dict[str, Any], now: datetime) -> None:
        """Once an hour, where the admin let it: move the setpoint towards the target the
        last complete hour asks for (plant.actions.loops, bounded and audited)."""
        hour = ORIGIN + (now - ORIGIN) // HOUR * HOUR - HOUR
        if cursor.get("applied") == hour.isoformat():
            return
        stats = spc_history.hourly(row, hour, hour + HOUR)
        if not stats or stats[0].n < MIN_REFERENCE_POINTS * row.subgroup_size:
            cursor["applied"] = hour.isoformat()  # too few values to judge the hour by
            return
        basis = stats[0]
        reason = (f"SPC {hour:%Y-%m-%d %H:%M} UTC: σ {basis.sigma_overall:.2f} asks for a mean "
                  f"of {basis.recommended:.2f}")  # fmt: skip
        setpoint = row.tag.setpoint_tag
        if (
            setpoint is not None
            and not SetpointWrite.objects.filter(
                tag=setpoint, user=None, reason=reason[:200]
            ).exists()
        ):  # not twice, should the run that wrote it not have stored its cursor
            try:
                do_apply_recommended_setpoint(row, basis.recommended, reason=reason)
            except ValidationError as exc:  # the rate limit, say: the next run tries again
                log.info("SPC of %s: setpoint move refused: %s", row.tag, exc.messages[0])
                return
        cursor["applied"] = hour.isoformat()

    def _tags(self, row: SpcSettings) -> SpcTags:
        held = self.tags.get(row.pk)
        if held is None or held[0] != row.updated_at:
            held = (row.updated_at, ensure_spc_tags(row))
            self.tags[row.pk] = held
        return held[1]


def evaluate(
    row: SpcSettings, tags: SpcTags, cursor: dict[str, Any], now: datetime
) -> tuple[list[DerivedValue], dict[str, Any]]:
    """The verdicts on the points plotted since the cursor, and the cursor after them."""
    n = row.subgroup_size if row.rules_chart == SpcSettings.Chart.XBAR else 1
    if cursor.get("n") != n or cursor.get("rules") != sorted(row.rules):
        cursor = {"since": cursor.get("since")}  # another chart: start its points afresh
    since = _time(cursor.get("since")) or now - START_BACK
    rows = values_after(row.tag_id, since, MAX_ROWS)
    points = [
        (rows[i + n - 1][0], spc.mean([v for _, v in rows[i : i + n]]))
        for i in range(0, len(rows) // n * n, n)
    ]
    if not points:
        return [], cursor
    limits = _limits(row, n, cursor, points[0][0], now, [v for _, v in rows])
    if limits is None:  # too little data to judge by yet: judged once there is enough
        return [], cursor
    cursor.update(n=n, rules=sorted(row.rules), since=points[-1][0].isoformat())
    center, sigma = limits
    tail: list[float] = cursor.get("tail", [])
    series = tail + [v for _, v in points]
    verdicts = spc.broken_rules(series, center, sigma, row.rules)[len(tail) :]
    cursor["tail"] = series[-(spc.LONGEST_SPAN - 1) :]
    return _emit(tags, points, verdicts, cursor), cursor


def _emit(
    tags: SpcTags,
    points: list[tuple[datetime, float]],
    verdicts: list[tuple[int, ...]],
    cursor: dict[str, Any],
) -> list[DerivedValue]:
    """The flag and the rules' text at each point whose verdict changed, or once a minute."""
    out: list[DerivedValue] = []
    for (at, _), broken in zip(points, verdicts, strict=True):
        text = ", ".join(str(rule) for rule in broken)
        written = _time(cursor.get("written_at"))
        if text != cursor.get("text") or written is None or at - written >= HEARTBEAT:
            out.append(DerivedValue(tags.flag.pk, at, bool(broken)))
            out.append(DerivedValue(tags.rules.pk, at, None, text=text))
            cursor.update(text=text, written_at=at.isoformat())
    return out


def _limits(
    row: SpcSettings,
    n: int,
    cursor: dict[str, Any],
    first: datetime,
    now: datetime,
    new: list[float],
) -> tuple[float, float] | None:
    """(centre, σ of the plotted points): frozen, held in the cursor, or from the hour before
    (from the new values themselves when that hour holds too few, as on a first start)."""
    if row.center_line is not None and row.sigma is not None:
        return row.center_line, row.sigma / math.sqrt(n)
    computed = _time(cursor.get("limits_at"))
    if computed is None or not timedelta(0) <= now - computed < LIMITS_EVERY:
        reference = [v for _, v in values_between(row.tag_id, first - REFERENCE, first)]
        estimate = estimate_limits(reference, n) or estimate_limits(new, n)
        if estimate is None:
            cursor.pop("limits_at", None)
            return None
        cursor.update(center=estimate[0], sigma=estimate[1], limits_at=now.isoformat())
    center = row.center_line if row.center_line is not None else cursor["center"]
    sigma = row.sigma / math.sqrt(n) if row.sigma is not None else cursor["sigma"]
    return (center, sigma) if sigma > 0 else None


def estimate_limits(values: list[float], n: int) -> tuple[float, float] | None:
    """Centre and σ of the plotted points from reference values: X̄–R's (σ̂ = R̄/d2/√n) for
    subgroups of n, I-MR's (σ̂ = MR̄/1.128) for single values; None with too few values."""
    if n == 1:
        if len(values) < MIN_REFERENCE_POINTS:
            return None
        chart = spc.individuals(values)
        return chart.center, chart.sigma
    if len(values) < MIN_REFERENCE_POINTS * n:
        return None
    xbar = spc.xbar_r(values, n)
    return xbar.grand_mean, xbar.sigma_within / math.sqrt(n)


def values_after(tag_id: int, since: datetime, limit: int) -> list[tuple[datetime, float]]:
    rows = (
        Sample.objects.filter(
            tag_id=tag_id, time__gt=since, value__isnull=False, quality__lt=Quality.BAD
        )
        .order_by("time")
        .values_list("time", "value")[:limit]
    )
    return [(t, v) for t, v in rows if v is not None]


def values_between(tag_id: int, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    rows = (
        Sample.objects.filter(
            tag_id=tag_id,
            time__gte=start,
            time__lt=end,
            value__isnull=False,
            quality__lt=Quality.BAD,
        )
        .order_by("time")
        .values_list("time", "value")
    )
    return [(t, v) for t, v in rows if v is not None]


def _time(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None
