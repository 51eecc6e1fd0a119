"""Messages pushed to browsers over the channel layer, and the groups they go to.

A page joins the group of what it shows (through hmi.feeds), which handles each `type` with
the handler named after it, dots replaced by underscores. Messages carry plain values, never model
instances: they cross Redis as msgpack.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

QualityLabel = Literal["good", "uncertain", "bad"]


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


class TagValue(TypedDict):
    tag: int
    v: float | str | None  # numbers and bools as float (bools 0/1), state tags as text
    ts: str  # ISO-8601, UTC: the time the device gave the value
    q: QualityLabel
    sent: float  # epoch seconds when the worker committed it (latency measurement)


class TagValues(TypedDict):
    type: Literal["tag.values"]
    values: list[TagValue]


def tag_values(values: list[TagValue]) -> TagValues:
    return {"type": "tag.values", "values": values}


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


async def group_send(group: str, message: LiveMessage) -> None:
    """Send a message to a group, addressed: the copy that arrives names its `group`.

    A daphne process receives for all its open screens on one channel (hmi.feeds), and the
    name tells it which screens a message is for. Every sender goes through here.
    """
    await get_channel_layer().group_send(group, {**message, "group": group})


async def group_send_many(messages: dict[str, LiveMessage]) -> None:
    """Send each group its message, addressed, at once (the worker's live push)."""
    layer = get_channel_layer()
    addressed = {group: {**message, "group": group} for group, message in messages.items()}
    send_many = getattr(layer, "group_send_many", None)  # plant.redis_layer.ChannelLayer's
    if send_many is not None:
        await send_many(addressed)
        return
    for group, message in addressed.items():  # another layer (a test's): one at a time
        await layer.group_send(group, message)


# A push from sync code waits at most this long for the channel layer: a Redis that hangs
# must not hold up the caller (a view, or the ingest worker's loop) for redis-py's 15 s.
SEND_TIMEOUT_S = 2.0


def send(group: str, message: LiveMessage) -> None:
    """Send from sync code (actions); a failed push is logged, never raised (see below)."""
    send_to_groups([group], message)


def send_on_commit(group: str, message: LiveMessage) -> None:
    """After the commit, send to the group; a failed push is logged, never raised."""
    send_to_groups_on_commit([group], message)


def send_to_groups(groups: list[str], message: LiveMessage) -> None:
    """Send one message to several groups in one trip through an event loop and to Redis.

    Every sync sender comes here, and all behave the same way when the layer is down or slow:
    the push is logged and dropped, never raised. A push is a notification of a state change
    that is already committed (screens re-read the database when they reconnect), so a
    channel layer that is down must not turn it into an error for the caller, or stop the
    ingest worker's loop. From sync code each async_to_sync call starts an event loop and a
    Redis connection of its own, so three groups sent one by one would cost three of those.
    """
    try:
        async_to_sync(_send_many_in_time)(dict.fromkeys(groups, message))
    except Exception as exc:
        log.warning("live push of %s to %s dropped: channel layer unavailable (%s: %s)",
                    message["type"], ", ".join(groups), type(exc).__name__, exc)  # fmt: skip


async def _send_many_in_time(messages: dict[str, LiveMessage]) -> None:
    await asyncio.wait_for(group_send_many(messages), timeout=SEND_TIMEOUT_S)


def send_to_groups_on_commit(groups: list[str], message: LiveMessage) -> None:
    """After the commit, send to the groups; a failed push is logged, never raised."""
    transaction.on_commit(lambda: send_to_groups(groups, message))


def tag_groups(machine_id: int, line_id: int, plant_id: int) -> list[str]:
    """Every group whose pages show a tag of this machine."""
    return [machine_group(machine_id), line_group(line_id), plant_group(plant_id)]
