"""What each live screen shows, and its pushed frames, rendered once per message.

Every browser tab of a screen (say, line 3) has its own LiveConsumer, and all of them in this
process share one `Screen` through the screen's `hmi.feeds.Feed`: it holds the display specs
and last values of the screen's tags, and the feed has it render each `tag.values` message
once for every tab. So one daphne can feed hundreds of tabs (STYLE: render once per group
message, not once per socket).
"""

from __future__ import annotations

import time
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser, User
from django.template.loader import render_to_string
from django.utils import timezone

from hmi import live_frames
from hmi.login_security import session_expired
from hmi.readings import ScreenReading, read_value, reading_html
from hmi.screen_queries import SparkPoint, active_alarm_counts, recent_samples, screen_tags
from plant import live
from plant.models import Line, Quality, Tag
from plant.queries import ScreenKind, screen_plant

# How each screen draws a value: a compact bar on plant tiles, bar gauges on line
# faceplates, radial gauges on the machine and tag screens.
GAUGE_STYLE = {"plant": "mini", "line": "bar", "machine": "radial", "tag": "radial"}
SPARK_WINDOW_S = 300  # the sparklines of the machine and tag screens: the last five minutes


@dataclass(frozen=True, slots=True)
class Held:
    """The last value a screen knows of a tag."""

    value: float | None
    text: str | None
    quality: int
    time: datetime
    good_at: datetime | None


@dataclass(frozen=True)
class Snapshot:
    """What a screen shows, read from the database when a tab connects."""

    tags: list[Tag]
    sparks: dict[int, list[SparkPoint]]


def screen_access(user: User | AnonymousUser, kind: ScreenKind, pk: int) -> tuple[str, str] | None:
    """The group and time zone of a screen the user may see; None if they may not."""
    plant = screen_plant(user, kind, pk)
    if plant is None:
        return None
    if kind == "tag":
        machine_id = Tag.objects.values_list("machine_id", flat=True).get(pk=pk)
        return live.machine_group(machine_id), plant.time_zone
    return live.group_name(kind, pk), plant.time_zone


def access_verdict(session_key: str | None, kind: ScreenKind, pk: int) -> int | None:
    """None while the session that opened a socket may still see its screen; else the close
    code: SIGNED_OUT when the session ended (logged out, expired, idle past its limit, the
    password changed) or its user was deactivated, FORBIDDEN when the user is no longer a
    member of the screen's plant."""
    if not session_key:
        return live.SIGNED_OUT
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    # Django's own check, as on every page: the session's user, their password unchanged.
    user = auth.get_user(SimpleNamespace(session=session))  # type: ignore[arg-type]
    if not user.is_authenticated or session_expired(session, time.time()):
        return live.SIGNED_OUT
    return None if screen_plant(user, kind, pk) is not None else live.FORBIDDEN


def still_allowed(session_key: str | None, kind: ScreenKind, pk: int) -> bool:
    """Whether the session that opened a socket still belongs to a user who may see its screen:
    not logged out or expired, the user active, still a member of the screen's plant."""
    return access_verdict(session_key, kind, pk) is None


def read_snapshot(kind: ScreenKind, pk: int) -> Snapshot:
    """The screen's tags with their latest values (and sparklines where the screen has them)."""
    tags = screen_tags(kind, pk)
    sparks = {}
    if kind in ("machine", "tag"):
        sparks = recent_samples(tags, timezone.now(), SPARK_WINDOW_S)
    return Snapshot(tags, sparks)


def same_plant(tag: Tag, other: Tag | None) -> bool:
    """Whether two tags (their machine__line preloaded) are of one plant: a screen follows
    the pushed values of a setpoint tag only then, as a hub may hand a screen's tabs only
    values of the plant the screen belongs to."""
    return other is not None and other.machine.line.plant_id == tag.machine.line.plant_id


def read_alarm_counts(plant_id: int) -> dict[int, dict[str, int]]:
    """Standing alarms by priority of each line of a plant (its tiles' count blocks)."""
    return active_alarm_counts(
        list(Line.objects.filter(plant_id=plant_id).values_list("pk", flat=True))
    )


def render_alarm_counts(counts: dict[int, dict[str, int]]) -> str:
    """The count blocks of the plant tiles, each swapped in by its id."""
    return "".join(
        render_to_string("hmi/fragments/alarm_counts.html", {"counts": c, "line": {"pk": line_id}})
        for line_id, c in counts.items()
    )


class Screen:
    """One screen's tags and their last values, shared by every tab of it in this process."""

    def __init__(self, kind: ScreenKind, pk: int, time_zone: str) -> None:
        self.kind = kind
        self.pk = pk
        self.time_zone = time_zone
        self.zone = zoneinfo.ZoneInfo(time_zone)
        self.style = GAUGE_STYLE[kind]
        self.tags: dict[int, Tag] = {}  # shown, in screen order
        self.held: dict[int, Held] = {}  # shown tags and their setpoint tags
        self.followers: dict[int, list[int]] = {}  # setpoint tag → shown tags it marks

    def load(self, snapshot: Snapshot) -> None:
        """Take the tags and latest values from the database; a newer pushed value wins."""
        self.tags = {tag.pk: tag for tag in snapshot.tags}
        self.followers = {}
        for tag in snapshot.tags:
            self._hold_latest(tag)
            if tag.setpoint_tag_id:
                self._hold_latest(tag.setpoint_tag)
                if same_plant(tag, tag.setpoint_tag):
                    self.followers.setdefault(tag.setpoint_tag_id, []).append(tag.pk)

    def routed(self) -> set[int]:
        """The tags whose pushed values this screen takes: the hub hands it no others."""
        return {*self.tags, *self.followers}

    def _hold_latest(self, tag: Tag | None) -> None:
        latest = getattr(tag, "latest", None)
        if latest is None:
            return
        held = self.held.get(latest.tag_id)
        if held is None or held.time <= latest.time:
            self.held[latest.tag_id] = Held(
                latest.value, latest.text, latest.quality, latest.time, latest.good_at
            )

    def render_all(self, snapshot: Snapshot) -> str:
        """Every shown value and sparkline: what a tab gets when it (re)connects."""
        readings = [self.reading(pk) for pk in self.tags]
        sparks = [(self.tags[pk], points) for pk, points in snapshot.sparks.items()]
        return self._render(readings, sparks)

    def render_push(self, values: list[live.TagValue]) -> str:
        """The compact frame (hmi.live_frames) of what a `tag.values` message changes ("" if
        none shown)."""
        changed = self._apply(values)
        readings = [self.reading(pk) for pk in changed]
        return live_frames.encode(readings, self.style, self.zone, timezone.now())

    def _apply(self, values: list[live.TagValue]) -> list[int]:
        """Hold the newer values; return the shown tags to redraw, in screen order."""
        changed: set[int] = set()
        for value in values:
            pk = value["tag"]
            if pk not in self.tags and pk not in self.followers:
                continue
            if not self._hold_pushed(pk, value):
                continue
            if pk in self.tags:
                changed.add(pk)
            changed.update(self.followers.get(pk, ()))
        return [pk for pk in self.tags if pk in changed]

    def _hold_pushed(self, pk: int, value: live.TagValue) -> bool:
        time = datetime.fromtimestamp(value["ts"], UTC)
        held = self.held.get(pk)
        if held is not None and held.time > time:
            return False  # an older value arriving late changes nothing
        quality = value["q"]
        v = value["v"]
        text, number = (v, None) if isinstance(v, str) else (None, v)
        good_at = time if quality == Quality.GOOD else (held.good_at if held else None)
        self.held[pk] = Held(number, text, quality, time, good_at)
        return True

    def reading(self, pk: int) -> ScreenReading:
        tag = self.tags[pk]
        held = self.held.get(pk)
        setpoint = self.held.get(tag.setpoint_tag_id) if tag.setpoint_tag_id else None
        setpoint_value = setpoint.value if setpoint else None
        if held is None:
            return ScreenReading(tag, "—", "none", setpoint=setpoint_value)
        return read_value(
            tag,
            value=held.value,
            text=held.text,
            quality=held.quality,
            time=held.time,
            now=timezone.now(),
            good_at=held.good_at,
            setpoint=setpoint_value,
        )

    def _render(
        self, readings: list[ScreenReading], sparks: list[tuple[Tag, list[SparkPoint]]]
    ) -> str:
        if not readings and not sparks:
            return ""
        if not sparks:  # the values alone, without the template engine's overhead
            with timezone.override(self.time_zone):
                return "".join(reading_html(reading, self.style) for reading in readings)
        context = {
            "readings": readings,
            "gauge": self.style,
            "sparks": sparks,
            "now": timezone.now(),
            "window_s": SPARK_WINDOW_S,
        }
        with timezone.override(self.time_zone):
            return render_to_string("hmi/fragments/tag_values.html", context)
