"""The live contract: messages pushed to browsers over the channel layer, and their groups.

A page joins the group of what it shows (through hmi.feeds), which handles each `type` with
the handler named after it, dots replaced by underscores. Tag values are the exception: each
push tick the ingest worker sends all changed values as ONE `tag.values` message to
VALUES_GROUP, which every daphne process's hub joins, and the hub hands each value to the open
screens that show its tag (it knows them; one message per screen group would carry each value
three times, to its machine's, line's and plant's group, in a hundred messages a tick).
Messages carry plain values, never model instances: they cross Redis as msgpack. The builders
below are the only code that makes them, and a setpoint's or loop's message is also the one
input of the fragment that shows it, so a state looks the same at page load and after a push.

Every send goes through `group_send_many`, and all five ways in (`group_send`,
`group_send_many`, `send_values`, `send`, `send_on_commit`) follow one failure rule: a push
that the channel layer does not take within SEND_TIMEOUT_S (Redis down, or hanging) is dropped
and counted, never raised. A push announces a state change that is already committed, and
screens re-read the database when they reconnect, so a channel layer that is down must not
turn a committed action into an error or stop the ingest worker's loop. An outage is logged
when it starts and when it ends (`link`), not once per dropped push: a busy worker pushes many
times a second.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import zoneinfo
from collections.abc import Mapping
from datetime import datetime
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from plant import alarming
from plant.models import Alarm, ControlLoop, SetpointWrite, Tag
from plant.setpoints import fmt

log = logging.getLogger(__name__)

# A push waits at most this long for the channel layer: a Redis that hangs must not hold up
# the caller (a view, the ingest worker's loop or its live push) for redis-py's 15 s.
SEND_TIMEOUT_S = 2.0


# The group of the worker's live values: every daphne process's hub (hmi.feeds) joins it.
VALUES_GROUP = "values"


def plant_group(plant_id: int) -> str:
    return f"plant.{plant_id}"


def line_group(line_id: int) -> str:
    return f"line.{line_id}"


def machine_group(machine_id: int) -> str:
    return f"machine.{machine_id}"


def session_group(session_key: str) -> str:
    """The sockets opened by one login session. Named by a hash: a group's name is visible
    in Redis, and the session key itself would let its reader act as the session."""
    return f"session.{hashlib.sha256(session_key.encode()).hexdigest()[:40]}"


def user_group(user_id: int) -> str:
    """The sockets of one user, whatever session opened them."""
    return f"user.{user_id}"


def group_name(kind: str, pk: int) -> str:
    return {"plant": plant_group, "line": line_group, "machine": machine_group}[kind](pk)


def tag_groups(machine_id: int, line_id: int, plant_id: int) -> list[str]:
    """Every group whose pages show a tag of this machine."""
    return [machine_group(machine_id), line_group(line_id), plant_group(plant_id)]


def groups_of(tag: Tag) -> list[str]:
    """The groups of every page that shows this tag (its machine__line is preloaded)."""
    machine = tag.machine
    return tag_groups(machine.pk, machine.line_id, machine.line.plant_id)


# --- Messages ------------------------------------------------------------------------------


class TagValue(TypedDict):
    """One stored value. Its time and quality travel as the worker holds them, epoch seconds and
    the stored code: names and ISO strings would be made and parsed again for every value."""

    tag: int
    v: float | str | None  # numbers and bools as float (bools 0/1), state tags as text
    ts: float  # epoch seconds: the time the device gave the value
    q: int  # plant.quality.Quality: 0 good, 1 uncertain, 2 bad
    sent: float  # epoch seconds when the worker committed it (latency measurement)


class TagValues(TypedDict):
    type: Literal["tag.values"]
    values: list[TagValue]


class SetpointChanged(TypedDict):
    """A setpoint write moved to another state; pushed to every page showing its tag."""

    type: Literal["setpoint.changed"]
    write: int
    tag: int
    state: str  # SetpointWrite.State value: pending, sent, confirmed, failed, timed_out, expired
    state_label: str
    final: bool
    value: str  # the requested value, formatted with the tag's precision and unit
    old_value: str
    readback: str  # "" until the device reported one
    by: str  # a username, or "system"
    reason: str
    detail: str
    requested_at: str  # ISO-8601, UTC
    finished_at: str  # ISO-8601, UTC; "" while open
    time_text: str  # the time of the latest state change, in the plant's zone, e.g. "14:03:07"


class LoopChanged(TypedDict):
    """A control loop changed mode or wrote a new output; pushed to pages showing its tags."""

    type: Literal["loop.changed"]
    loop: int
    tags: list[int]  # its measurement, setpoint and output tags: a page showing any shows it
    name: str
    mode: Literal["auto", "manual"]
    output: str  # the last output written, formatted with the output tag's unit; "" if none
    note: str
    at: str  # ISO-8601, UTC


class AlarmChanged(TypedDict):
    """An alarm changed state; pushed to its plant's group, so every page of the plant hears it."""

    type: Literal["alarm.changed"]
    alarm: int
    plant: int
    tag: int
    from_state: str  # plant.alarming.State values
    to_state: str
    event: str  # activate, clear, acknowledge, shelve, unshelve, expire, suppress, restore
    priority: str  # critical, high, medium, low
    emergency: bool  # an emergency alarm (gas): the full-screen banner until acknowledged
    message: str
    by: str  # a username, or "system"
    at: str  # ISO-8601, UTC


class AccessEnded(TypedDict):
    """To a session's or a user's sockets: close now, with `code` (4401: the session ended,
    the user was deactivated or removed; hmi.consumers and the pages' scripts know it)."""

    type: Literal["access.ended"]
    code: int


class AccessChanged(TypedDict):
    """To a user's sockets: what the user may see changed (a plant's members, the superuser
    flag, the password); each socket checks its screen again now, not at its next turn."""

    type: Literal["access.changed"]


SIGNED_OUT = 4401  # the close code of a socket whose session or user is gone
FORBIDDEN = 4403  # the close code of a socket whose user may no longer see its screen


def access_ended(code: int = SIGNED_OUT) -> AccessEnded:
    return {"type": "access.ended", "code": code}


def access_changed() -> AccessChanged:
    return {"type": "access.changed"}


LiveMessage = TagValues | SetpointChanged | LoopChanged | AlarmChanged | AccessEnded | AccessChanged


def tag_value(
    tag_id: int, value: float | None, text: str | None, time: datetime, quality: int,
    committed_at: float,
) -> TagValue:  # fmt: skip
    """One stored value as the worker pushes it (a state tag's value is its text)."""
    return {
        "tag": tag_id, "v": value if text is None else text, "ts": time.timestamp(),
        "q": quality, "sent": committed_at,
    }  # fmt: skip


def tag_values(values: list[TagValue]) -> TagValues:
    return {"type": "tag.values", "values": values}


def setpoint_changed(write: SetpointWrite) -> SetpointChanged:
    """The message (and fragment input) of a write.

    Preload its user and tag__machine__line__plant: the message names the user, and shows
    the time in the plant's zone.
    """
    tag = write.tag
    return SetpointChanged(
        type="setpoint.changed",
        write=write.pk,
        tag=tag.pk,
        state=write.state,
        state_label=SetpointWrite.State(write.state).label,
        final=write.state in SetpointWrite.FINAL,
        value=fmt(tag, write.value),
        old_value=fmt(tag, write.old_value),
        readback=fmt(tag, write.readback) if write.readback is not None else "",
        by=write.user.get_username() if write.user else "system",
        reason=write.reason,
        detail=write.detail,
        requested_at=write.requested_at.isoformat(),
        finished_at=_iso(write.finished_at),
        time_text=_local_time(write.finished_at or write.sent_at or write.requested_at, tag),
    )


def loop_changed(loop: ControlLoop) -> LoopChanged:
    """The message (and fragment input) of a loop; its output tag is preloaded."""
    return LoopChanged(
        type="loop.changed",
        loop=loop.pk,
        tags=[loop.pv_tag_id, loop.sp_tag_id, loop.output_tag_id],
        name=loop.name,
        mode="auto" if loop.mode == ControlLoop.Mode.AUTO else "manual",
        output=fmt(loop.output_tag, loop.output) if loop.output is not None else "",
        note=loop.note,
        at=_iso(loop.output_at if loop.output_at else loop.changed_at),
    )


def alarm_changed(alarm: Alarm, record: alarming.Transition, at: datetime, by: str) -> AlarmChanged:
    """The message of one journaled change of an alarm; its definition__tag__machine__line
    is preloaded."""
    definition = alarm.definition
    return AlarmChanged(
        type="alarm.changed", alarm=alarm.pk, plant=definition.tag.machine.line.plant_id,
        tag=definition.tag_id, from_state=record.from_state.value,
        to_state=record.to_state.value, event=record.event, priority=definition.priority,
        emergency=definition.runs_emergency_actions, message=definition.message, by=by,
        at=at.isoformat(),
    )  # fmt: skip


def _local_time(at: datetime, tag: Tag) -> str:
    """A time of day in the plant's own zone, as screens show it."""
    return at.astimezone(zoneinfo.ZoneInfo(tag.machine.line.plant.time_zone)).strftime("%H:%M:%S")


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at else ""


# --- Sending -------------------------------------------------------------------------------


class Link:
    """How this process's pushes fare: an outage is logged once when the first push is dropped,
    and once when a push gets through again. Shared by the threads of a process (the ingest
    worker pushes from its loop and from its live-push thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down = False
        self.dropped = 0  # pushes dropped by this process, ever
        self.dropped_in_outage = 0
        self.error: Exception | None = None  # why the latest push was dropped

    def delivered(self) -> None:
        if not self.down:  # the common case, without the lock: one bool read
            return
        with self._lock:
            if not self.down:
                return
            self.down, dropped = False, self.dropped_in_outage
        log.info("live pushes resumed: the channel layer is back (%d dropped meanwhile)", dropped)

    def failed(self, exc: Exception, messages: Mapping[str, LiveMessage]) -> None:
        with self._lock:
            self.dropped += 1
            self.error = exc
            first, self.down = not self.down, True
            self.dropped_in_outage = 1 if first else self.dropped_in_outage + 1
        if first:
            kinds = ", ".join(sorted({message["type"] for message in messages.values()}))
            log.warning(
                "live pushes dropped until the channel layer is back: %s to %d group(s) failed "
                "(%s: %s)", kinds, len(messages), type(exc).__name__, exc,
            )  # fmt: skip


link = Link()


async def group_send_many(messages: Mapping[str, LiveMessage]) -> bool:
    """Send each group its message, addressed, at once; False if the push was dropped.

    Addressed: the copy that arrives names its `group`. A daphne process receives for all its
    open screens on one channel (hmi.feeds), and the name tells it which screens a message is
    for. This is where every push goes through (see the module's failure rule).
    """
    try:
        await asyncio.wait_for(_send_addressed(messages), timeout=SEND_TIMEOUT_S)
    except Exception as exc:  # down, hanging, or refusing the message: dropped, never raised
        link.failed(exc, messages)
        return False
    link.delivered()
    return True


async def _send_addressed(messages: Mapping[str, LiveMessage]) -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured (settings.CHANNEL_LAYERS)")
    # The channel layer's public API, one group_send a group: an action's push names one to
    # three groups, and the worker's live push one (VALUES_GROUP).
    for group, message in messages.items():
        await layer.group_send(group, {**message, "group": group})


async def group_send(group: str, message: LiveMessage) -> bool:
    """Send one group a message, addressed; False if the push was dropped."""
    return await group_send_many({group: message})


async def send_values(values: list[TagValue]) -> bool:
    """Send one push tick's values to every daphne process's hub; False if dropped."""
    return await group_send(VALUES_GROUP, tag_values(values))


def send(groups: list[str], message: LiveMessage) -> bool:
    """Send one message to several groups from sync code, in one trip through an event loop;
    False if the push was dropped.

    From sync code each async_to_sync call starts an event loop and a Redis connection of its
    own, so three groups sent one by one would cost three of those.
    """
    _check_groups(groups)
    try:
        return async_to_sync(group_send_many)(dict.fromkeys(groups, message))
    except Exception as exc:  # async_to_sync itself refused (called inside an event loop)
        link.failed(exc, dict.fromkeys(groups, message))
        return False


def send_on_commit(groups: list[str], message: LiveMessage) -> None:
    """Send once the current transaction commits (nothing if it rolls back)."""
    _check_groups(groups)
    transaction.on_commit(lambda: send(groups, message))


def _check_groups(groups: list[str]) -> None:
    """Refuse a bare group name at once: as a list of groups it would be one group per letter.

    A mistake in the caller's code, not a channel layer that is down: it is raised, before
    the commit, where the test of the caller finds it."""
    if isinstance(groups, str):
        raise TypeError(f"send a list of groups, not the bare name {groups!r}")
