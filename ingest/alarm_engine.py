"""The alarm engine: evaluates every committed sample against the alarm definitions.

It runs inside the ingest worker (ingest/worker.py calls `evaluate()` after every committed
batch and `step()` on every turn of its loop). The condition of each alarm (deadband, on- and
off-delay, rate, communication loss) is decided here, in memory, with plant.alarming; only a
change of condition touches the database, through plant.actions.alarms, which owns the state.
So does the start or end of an on- or off-delay (`Alarm.pending_since`), so that a restart
resumes a delay that was counting instead of starting it over. While an emergency alarm is
active, `tick()` has plant.actions.alarms see that each of its actions stands (retried,
journaled and raised as a system alarm until confirmed).
The definitions are reloaded when an admin changes one (a fingerprint poll, as the tag cache).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from ingest.batch import Decoded, Row
from plant import alarming
from plant.actions.alarms import (
    do_create_missing_alarms,
    do_ensure_emergency_actions,
    do_expire_shelf,
    do_run_emergency_actions,
    do_set_alarm_condition,
    do_set_alarm_pending,
    do_sync_alarm_service,
)
from plant.models import Alarm, AlarmDefinition
from plant.quality import Quality

log = logging.getLogger(__name__)

ENSURE_EVERY = timedelta(seconds=1)  # how often the actions of an active emergency are checked
RELOAD_S = 2.0  # how soon an admin's change of a definition takes effect
TICK_S = 0.25  # delays, shelf expiry and communication loss are checked this often
FINGERPRINT_SQL = """
    SELECT md5(coalesce(string_agg(concat_ws('|', d.id, d.updated_at, a.id), ',' ORDER BY d.id),
                        ''))
    FROM plant_alarmdefinition d LEFT JOIN plant_alarm a ON a.definition_id = d.id
"""


@dataclass(slots=True)
class Rule:
    """One definition, with the condition as the engine last decided it.

    Out-of-service alarms are evaluated too: their condition is stored, not annunciated, so
    returning to service shows at once whether the process is in alarm.
    """

    alarm_id: int
    tag_id: int
    setpoint_tag_id: int | None
    definition: alarming.Definition
    emergency: bool
    status: alarming.Status


class AlarmEngine:
    """Decides alarm conditions in memory and persists each change through the actions."""

    def __init__(self) -> None:
        self.rules: dict[int, list[Rule]] = {}  # by tag id
        self.values: dict[int, float] = {}  # the latest value per tag (deviation setpoints)
        self.fingerprint = ""
        self.next_reload = 0.0
        self.next_tick = 0.0
        self.last_ensure: datetime | None = None
        self.watching: set[int] = set()  # emergency alarms whose actions are being ensured

    def step(self, now: datetime | None = None) -> None:
        """Reload changed definitions and let time pass; cheap when nothing is due."""
        clock = time.monotonic()
        try:
            if clock >= self.next_reload:
                self.next_reload = clock + RELOAD_S
                self.reload(now)
            if clock >= self.next_tick:
                self.next_tick = clock + TICK_S
                self.tick(now or timezone.now())
        except (OperationalError, InterfaceError) as exc:
            log.warning("alarm engine paused: database unavailable (%s)", exc)
            connection.close()

    def reload(self, now: datetime | None = None) -> bool:
        """Reload the definitions if an admin changed them; True when it did."""
        with connection.cursor() as cursor:
            cursor.execute(FINGERPRINT_SQL)
            (fingerprint,) = cursor.fetchone()
        if fingerprint == self.fingerprint:
            return False
        now = now or timezone.now()
        definitions = list(AlarmDefinition.objects.select_related("tag"))
        alarms = do_create_missing_alarms(definitions)  # one an admin just added gets its row
        for definition in definitions:
            do_sync_alarm_service(alarms[definition.pk].pk, now=now)
        self.rules = self._rules(definitions, alarms, now)
        # Look at every emergency alarm once: a system alarm of one that cleared while no
        # worker ran is cleared, and an active one is watched again.
        self.watching |= {r.alarm_id for rs in self.rules.values() for r in rs if r.emergency}
        self.fingerprint = fingerprint
        log.info("alarm definitions loaded: %d", len(definitions))
        return True

    def _rules(
        self, definitions: list[AlarmDefinition], alarms: dict[int, Alarm], now: datetime
    ) -> dict[int, list[Rule]]:
        held = {rule.alarm_id: rule for rules in self.rules.values() for rule in rules}
        rules: dict[int, list[Rule]] = {}
        for definition in definitions:
            alarm = alarms[definition.pk]
            old = held.get(alarm.pk)
            # A restart starts from the stored condition and resumes a delay that was counting
            # (so an on-delay is not restarted by a restart); comm loss counts from now.
            pending = alarm.pending_since.timestamp() if alarm.pending_since else None
            status = alarming.Status(
                active=alarm.active, pending_since=pending, last_at=now.timestamp()
            )
            if old is not None and old.definition == definition.rule():
                status = old.status
            rule = Rule(alarm.pk, definition.tag_id, definition.tag.setpoint_tag_id,
                        definition.rule(), definition.runs_emergency_actions, status)  # fmt: skip
            rules.setdefault(definition.tag_id, []).append(rule)
        return rules

    def evaluate(self, decoded: Decoded, now: datetime | None = None) -> None:
        """Evaluate the batch's samples of alarmed tags, oldest first."""
        if not self.rules:
            return
        now = now or timezone.now()
        for latest in decoded.latest.values():
            if latest.value is not None and latest.quality != Quality.BAD:
                self.values[latest.tag_id] = latest.value
        try:
            for row in _samples_of(decoded, self.rules):
                self._evaluate_row(row, now)
        except (OperationalError, InterfaceError) as exc:
            log.warning("alarm evaluation skipped: database unavailable (%s)", exc)
            connection.close()

    def _evaluate_row(self, row: Row, now: datetime) -> None:
        tag_id, at, value = row.tag_id, row.time, row.value
        if value is None or row.quality == Quality.BAD:
            return  # a bad value says nothing about the process; comm loss covers silence
        for rule in self.rules.get(tag_id, []):
            sample_at = now if rule.definition.kind == alarming.Kind.COMM_LOSS else at
            setpoint = self.values.get(rule.setpoint_tag_id) if rule.setpoint_tag_id else None
            status, _ = alarming.evaluate(
                rule.definition, rule.status, value, sample_at.timestamp(), setpoint
            )
            self._decide(rule, status, value, sample_at)

    def tick(self, now: datetime) -> None:
        """Delays that matured, communication lost, shelves whose time is up."""
        for rules in self.rules.values():
            for rule in rules:
                status, _ = alarming.tick(rule.definition, rule.status, now.timestamp())
                self._decide(rule, status, rule.status.last_value, now)
        due = Alarm.objects.filter(state=alarming.State.SHELVED, shelved_until__lte=now)
        for alarm_id in due.values_list("pk", flat=True):
            do_expire_shelf(alarm_id, now=now)
        self._ensure_emergencies(now)

    def _ensure_emergencies(self, now: datetime) -> None:
        """While an emergency alarm is active, see that its actions stand (retry, journal)."""
        last = self.last_ensure
        if last is not None and timedelta(0) <= now - last < ENSURE_EVERY:
            return
        self.last_ensure = now
        for rules in self.rules.values():
            for rule in rules:
                if rule.emergency and (rule.status.active or rule.alarm_id in self.watching):
                    # Watched once more after it clears, so its system alarm clears too.
                    if do_ensure_emergency_actions(rule.alarm_id, now):
                        self.watching.add(rule.alarm_id)
                    else:
                        self.watching.discard(rule.alarm_id)

    def _decide(
        self, rule: Rule, status: alarming.Status, value: float | None, at: datetime
    ) -> None:
        """Keep the new condition; persist it first if it changed (kept only if that worked)."""
        if status.active != rule.status.active:
            record = do_set_alarm_condition(rule.alarm_id, status.active, value=value, at=at)
            if record is not None and record.event == "activate" and rule.emergency:
                self._emergency(rule)
        if status.pending_since != rule.status.pending_since:  # a delay started or stopped
            do_set_alarm_pending(rule.alarm_id, _when(status.pending_since))
        # The engine tracks the condition only; the stored state belongs to the actions.
        rule.status = replace(status, state=alarming.State.NORMAL, shelved_until=None)

    def _emergency(self, rule: Rule) -> None:
        alarm = Alarm.objects.select_related("definition__tag__machine").get(pk=rule.alarm_id)
        writes = do_run_emergency_actions(alarm)
        log.warning("emergency: %s: %d writes requested", alarm.definition.message, len(writes))


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def _samples_of(decoded: Decoded, rules: dict[int, list[Rule]]) -> list[Row]:
    """Every stored sample and newest value of the alarmed tags, oldest first, once each.

    A tag's newest value counts only when the deadband kept none of its samples: its time may
    differ from its sample's (a device clock running fast is timed at receipt), and the same
    value must not be evaluated twice.
    """
    rows = {(row.tag_id, row.time): row for row in decoded.rows if row.tag_id in rules}
    sampled = {tag_id for tag_id, _ in rows}
    for row in decoded.latest.values():
        if row.tag_id in rules and row.tag_id not in sampled:
            rows.setdefault((row.tag_id, row.time), row)
    return sorted(rows.values(), key=lambda row: row.time)
